"""`SftConfig`: every setting of `amfast train` (field = TOML key = CLI flag), and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from amfast.train.data import AM_SYSTEM_PROMPT, TokenizeOptions, TrainOn

Dtype = Literal["auto", "bfloat16", "float32"]
AttnImplementation = Literal["auto", "sdpa", "eager", "flash_attention_2", "flex_attention"]


@dataclass
class SftConfig:
    """Settings of `amfast train` / `train()`; field = TOML key = CLI flag."""

    model: str = field(metadata={"help": "Hugging Face model directory to fine-tune"})
    data: str = field(
        metadata={
            "help": "verified rows (amfast verify's output), AM schema or flat: a file or folder "
            "(JSONL, Parquet, Arrow, HF dataset)"
        }
    )
    output_dir: str = field(
        metadata={"aliases": ("-o", "--output"), "help": "checkpoints, metrics and the final model"}
    )
    tokenizer: str | None = field(
        default=None, metadata={"help": "tokenizer directory (default: --model)"}
    )
    chat_template: str | None = field(
        default=None, metadata={"help": "Jinja chat template file replacing the model's"}
    )
    system_prompt: str = field(
        default=AM_SYSTEM_PROMPT, metadata={"help": 'system prompt added to rows ("" for none)'}
    )
    train_on: TrainOn = field(
        default="last", metadata={"help": "assistant turns with loss: the last one, or all"}
    )
    end_token: str | None = field(
        default=None, metadata={"help": "end-of-turn token (default: from the template)"}
    )
    messages_field: str = field(
        default="messages", metadata={"help": "column with the AM message list"}
    )
    prompt_field: str | None = field(
        default=None, metadata={"help": "flat rows: the prompt column"}
    )
    response_field: str | None = field(
        default=None, metadata={"help": "flat rows: the response column"}
    )
    include_unverified: bool = field(
        default=False,
        metadata={
            "help": "also train on rows amfast verify did not pass or never saw (default: "
            "only passed rows; a row without a verdict is an error)"
        },
    )
    max_seq_len: int = field(
        default=32768, metadata={"help": "packed sequence length; longer samples are dropped"}
    )
    packing: bool = field(
        default=True, metadata={"help": "pack samples (best-fit decreasing) into max_seq_len"}
    )
    num_proc: int = field(default=8, metadata={"help": "tokenizer processes"})
    cache_dir: str | None = field(
        default=None, metadata={"help": "tokenized-data cache (default: OUTPUT_DIR/tokenized)"}
    )
    epochs: int = field(default=2, metadata={"help": "passes over the data"})
    max_steps: int | None = field(
        default=None, metadata={"help": "optimizer steps (overrides --epochs)"}
    )
    global_batch_size: int = field(
        default=64, metadata={"help": "sequences per optimizer step, all ranks together"}
    )
    global_batch_tokens: int | None = field(
        default=None,
        metadata={
            "help": "tokens per optimizer step instead (rounded to whole max_seq_len sequences)"
        },
    )
    lr: float = field(default=8e-5, metadata={"help": "peak learning rate"})
    warmup_ratio: float = field(
        default=0.05, metadata={"help": "fraction of steps of linear warmup"}
    )
    min_lr_ratio: float = field(
        default=0.0, metadata={"help": "cosine decays to lr * min_lr_ratio"}
    )
    weight_decay: float = field(
        default=0.0, metadata={"help": "AdamW weight decay (matrices only)"}
    )
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1"})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping (0: off)"})
    seed: int = field(default=42, metadata={"help": "seed of data order and RNGs"})
    device: Literal["auto", "cpu", "cuda"] = field(
        default="auto", metadata={"help": "where to train"}
    )
    param_dtype: Dtype = field(
        default="auto", metadata={"help": "compute dtype (auto: bfloat16 on cuda, else float32)"}
    )
    reduce_dtype: Literal["float32", "bfloat16"] = field(
        default="float32", metadata={"help": "gradient reduce dtype"}
    )
    attn_implementation: AttnImplementation = field(
        default="auto",
        metadata={
            "help": "attention kernel (auto: flash_attention_2 if installed on cuda, else sdpa)"
        },
    )
    activation_checkpointing: bool = field(
        default=True, metadata={"help": "recompute decoder layers in backward"}
    )
    loss_chunk_tokens: int = field(
        default=4096,
        metadata={
            "help": "positions per chunk of output layer + loss, so no full-vocabulary logits "
            "exist for a whole sequence (0: all at once)"
        },
    )
    cpu_offload: bool = field(
        default=False, metadata={"help": "keep sharded params, grads, optimizer state on CPU"}
    )
    save_every: int = field(
        default=500, metadata={"help": "checkpoint every N steps (0: only at the end)"}
    )
    keep_last: int = field(default=2, metadata={"help": "checkpoints kept"})
    resume: bool = field(
        default=True, metadata={"help": "continue from the newest checkpoint in output_dir"}
    )
    export: bool = field(
        default=True, metadata={"help": "write a Hugging Face model to OUTPUT_DIR/final at the end"}
    )
    log_every: int = field(default=1, metadata={"help": "steps between metric lines"})
    tensorboard: bool = field(
        default=False, metadata={"help": "also log to TensorBoard (OUTPUT_DIR/tensorboard)"}
    )
    peak_tflops: float | None = field(
        default=None, metadata={"help": "accelerator peak TFLOP/s for MFU (auto on H100)"}
    )
    check_template: bool = field(
        default=False, metadata={"help": "render a few samples, show the loss mask and exit"}
    )
    nproc_per_node: int = field(
        default=1, metadata={"help": "processes per node (amfast runs torchrun for you)"}
    )
    nnodes: int = field(
        default=1, metadata={"help": "nodes (run amfast train on each, with its --node-rank)"}
    )
    node_rank: int = field(default=0, metadata={"help": "this node's rank"})
    master_addr: str = field(default="127.0.0.1", metadata={"help": "address of node 0"})
    master_port: int = field(default=29500, metadata={"help": "port on node 0"})

    def __post_init__(self) -> None:
        if self.global_batch_size < 1 or self.max_seq_len < 2 or self.epochs < 1:
            raise ValueError("global_batch_size, epochs must be >= 1 and max_seq_len >= 2")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.loss_chunk_tokens < 0:
            raise ValueError(f"loss_chunk_tokens must be >= 0, got {self.loss_chunk_tokens}")

    def tokenize_options(self) -> TokenizeOptions:
        """The data settings, as `amfast.train.data` takes them."""
        return TokenizeOptions(
            system_prompt=self.system_prompt,
            train_on=self.train_on,
            end_token=self.end_token,
            max_seq_len=self.max_seq_len,
            messages_field=self.messages_field,
            prompt_field=self.prompt_field,
            response_field=self.response_field,
            include_unverified=self.include_unverified,
        )


@dataclass
class TrainResult:
    """What a finished `train()` returns (on every rank)."""

    steps: int
    losses: list[float]
    metrics_path: Path
    export_dir: Path | None
    drops: dict[str, int]
