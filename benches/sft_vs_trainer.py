"""SFT training throughput: amfast's FSDP2 recipe vs a plain Hugging Face Trainer and TRL.

CPU-only here (the GPU benchmark at 8k/32k on a Qwen2.5-0.5B shape is `sft_throughput.py`): a small
Qwen2-shaped model with random weights and a byte-level BPE tokenizer, both built locally, is
fine-tuned for one epoch on the same AM-schema rows (MATH-500 problems with their reference
solutions as the reasoning, from ../shared/benchmarks, else generated text) by

- amfast: `amfast.train.train`, packed best-fit decreasing into `--seq-len`, assistant-only loss;
- trainer: `transformers.Trainer` on the same tokenized samples (amfast's masks), one sample per
  row, padded to the longest in the batch (the plain recipe most people start from);
- trl: `trl.SFTTrainer` on prompt/completion conversations, `packing=True` (bfd, padding-free),
  completion-only loss (when trl is installed: `pip install trl`).

Same model, data, sequence budget, optimizer steps of about `--batch-tokens` tokens, no activation
checkpointing, fp32, `--threads` torch threads; each tool runs in its own subprocess. Reported:
real (non-pad) tokens, target tokens (those with loss: an agreement check of the masks), loop
seconds (the training loop only, not model loading or tokenization), tokens/s, and the ratio to
amfast. No number here says anything about GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MATH500 = REPO.parent / "shared" / "benchmarks" / "eval" / "math500.jsonl"
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role != 'system' or not loop.first %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _rows(count: int) -> list[dict[str, Any]]:
    if MATH500.is_file():
        records = [json.loads(line) for line in MATH500.read_text().splitlines()[:count]]
        pairs = [(r["problem"], r["solution"], r["answer"]) for r in records]
    else:
        print(f"note: {MATH500} not found; generated text instead", file=sys.stderr)
        pairs = [(f"What is {i} + {i}?", f"{i} + {i} = {2 * i}. " * (5 + i % 40), str(2 * i))
                 for i in range(count)]  # fmt: skip
    return [
        {
            "messages": [
                {"role": "user", "content": problem},
                {
                    "role": "assistant",
                    "content": f"<think>{think}</think>\n<answer>{answer}</answer>",
                },
            ]
        }
        for problem, think, answer in pairs
    ]


def bpe_tokenizer(texts: list[str], vocab_size: int) -> Any:  # noqa: ANN401 - HF tokenizer
    """A byte-level BPE tokenizer trained on `texts`, with Qwen2.5's special tokens and template."""
    import tokenizers
    import transformers

    core = tokenizers.Tokenizer(tokenizers.models.BPE())
    core.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = tokenizers.decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": special[1:]})
    tokenizer.chat_template = QWEN_TEMPLATE
    return tokenizer


def prepare(directory: Path, rows: int, hidden: int, layers: int) -> None:
    """Writes the data, a BPE tokenizer trained on it, and the random-weight model."""
    import torch
    import transformers

    from amfast.train.data import AM_SYSTEM_PROMPT

    directory.mkdir(parents=True, exist_ok=True)
    data = _rows(rows)
    (directory / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    texts = [m["content"] for r in data for m in r["messages"]] + [AM_SYSTEM_PROMPT]
    tokenizer = bpe_tokenizer(texts, 4096)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 11 // 4,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128), max_position_embeddings=32768,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None, tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.Qwen2ForCausalLM(config).save_pretrained(directory / "model")
    tokenizer.save_pretrained(directory / "model")


def run_amfast(directory: Path, seq_len: int, batch_tokens: int, lr: float) -> dict[str, Any]:
    import shutil

    from amfast.train.config import SftConfig
    from amfast.train.sft import train

    output = directory / "out-amfast"
    shutil.rmtree(output, ignore_errors=True)
    config = SftConfig(
        model=str(directory / "model"), data=str(directory / "data.jsonl"),
        output_dir=str(output), max_seq_len=seq_len, global_batch_tokens=batch_tokens,
        epochs=1, lr=lr, num_proc=1, save_every=0, export=False, device="cpu",
        activation_checkpointing=False, warmup_ratio=0.0,
    )  # fmt: skip
    result = train(config)
    lines = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    return {
        "steps": len(lines),
        "tokens": sum(line["tokens"] for line in lines),
        "target_tokens": sum(line["target_tokens"] for line in lines),
        "seconds": sum(line["seconds"] for line in lines),
        "mean_loss": sum(result.losses) / len(result.losses),
    }


def _loop_timer() -> Any:  # noqa: ANN401 - a transformers TrainerCallback
    """A callback timing the training loop alone (not setup or teardown)."""
    import transformers

    class LoopTimer(transformers.TrainerCallback):
        began = ended = 0.0

        def on_train_begin(self, *args: object, **kwargs: object) -> None:
            self.began = time.perf_counter()

        def on_train_end(self, *args: object, **kwargs: object) -> None:
            self.ended = time.perf_counter()

    return LoopTimer()


def run_trainer(directory: Path, seq_len: int, batch_tokens: int, lr: float) -> dict[str, Any]:
    import datasets
    import transformers

    from amfast.train.data import TokenizeOptions, tokenize_dataset

    encoded = tokenize_dataset(
        str(directory / "data.jsonl"), str(directory / "model"),
        TokenizeOptions(max_seq_len=seq_len), cache_dir=directory / "cache",
    )  # fmt: skip
    rows = []
    for index in range(len(encoded)):
        ids, mask = encoded.sample(index)
        labels = [int(t) if m else -100 for t, m in zip(ids.tolist(), mask.tolist(), strict=True)]
        rows.append({"input_ids": ids.tolist(), "labels": labels})
    dataset = datasets.Dataset.from_list(rows)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory / "model")
    model = transformers.AutoModelForCausalLM.from_pretrained(directory / "model")
    mean_length = encoded.lengths.mean()
    per_step = max(1, round(batch_tokens / mean_length))
    micro = 4
    arguments = transformers.TrainingArguments(
        output_dir=str(directory / "out-trainer"), per_device_train_batch_size=micro,
        gradient_accumulation_steps=max(1, per_step // micro), num_train_epochs=1,
        learning_rate=lr, lr_scheduler_type="cosine", report_to="none", save_strategy="no",
        logging_steps=1, use_cpu=True, dataloader_drop_last=False, disable_tqdm=True,
    )  # fmt: skip
    timer = _loop_timer()
    trainer = transformers.Trainer(
        model=model, args=arguments, train_dataset=dataset,
        data_collator=transformers.DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
        callbacks=[timer],
    )  # fmt: skip
    output = trainer.train()
    return {
        "steps": output.global_step,
        "tokens": int(encoded.lengths.sum()),
        "target_tokens": int(sum(sum(1 for x in r["labels"][1:] if x != -100) for r in rows)),
        "seconds": timer.ended - timer.began,
        "mean_loss": output.training_loss,
    }


def run_trl(directory: Path, seq_len: int, batch_tokens: int, lr: float) -> dict[str, Any]:
    import datasets
    import transformers
    import trl

    from amfast.train.data import AM_SYSTEM_PROMPT

    rows = [json.loads(line) for line in (directory / "data.jsonl").read_text().splitlines()]
    system = {"role": "system", "content": AM_SYSTEM_PROMPT}
    dataset = datasets.Dataset.from_list([
        {"prompt": [system, r["messages"][0]], "completion": [r["messages"][1]]} for r in rows
    ])  # fmt: skip
    model = transformers.AutoModelForCausalLM.from_pretrained(directory / "model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory / "model")
    arguments = trl.SFTConfig(
        output_dir=str(directory / "out-trl"), max_length=seq_len, packing=True,
        packing_strategy="bfd", completion_only_loss=True, per_device_train_batch_size=1,
        gradient_accumulation_steps=max(1, batch_tokens // seq_len), num_train_epochs=1,
        learning_rate=lr, lr_scheduler_type="cosine", report_to="none", save_strategy="no",
        logging_steps=1, use_cpu=True, gradient_checkpointing=False, disable_tqdm=True,
    )  # fmt: skip
    timer = _loop_timer()
    trainer = trl.SFTTrainer(
        model=model, args=arguments, train_dataset=dataset, processing_class=tokenizer,
        callbacks=[timer],
    )  # fmt: skip
    packed = trainer.train_dataset
    tokens = sum(len(ids) for ids in packed["input_ids"])
    targets = sum(sum(1 for x in labels if x != -100) for labels in packed["labels"])
    output = trainer.train()
    return {
        "steps": output.global_step,
        "tokens": tokens,
        "target_tokens": targets,
        "seconds": timer.ended - timer.began,
        "mean_loss": output.training_loss,
    }


WORKERS = {"amfast": run_amfast, "trainer": run_trainer, "trl": run_trl}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tools", default="amfast,trainer,trl")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest is kept")
    parser.add_argument("--work", type=Path, default=REPO / ".bench-data" / "train")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        result = WORKERS[args.worker](args.work, args.seq_len, args.batch_tokens, args.lr)
        print("RESULT " + json.dumps(result))
        return
    prepare(args.work, args.rows, args.hidden, args.layers)
    tools = [t for t in args.tools.split(",") if t != "trl" or _installed("trl")]
    if "trl" in args.tools and "trl" not in tools:
        print("trl: not installed (pip install trl); skipped", file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    # Rounds in alternating order, fastest loop kept: a busy machine slows whichever runs then.
    for round_number in range(args.repeat):
        for tool in tools if round_number % 2 == 0 else tools[::-1]:
            result = _run_worker(tool, args.threads)
            if result and (tool not in results or result["seconds"] < results[tool]["seconds"]):
                results[tool] = result
    _report(args, results)


def _run_worker(tool: str, threads: int) -> dict[str, Any] | None:
    command = [sys.executable, __file__, "--worker", tool, *sys.argv[1:]]
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        print(f"{tool}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    sys.path.insert(0, str(REPO / "benches"))
    from machine import version

    print(f"\nCPU only, {args.threads} threads; Qwen2 shape hidden={args.hidden} "
          f"layers={args.layers}; {args.rows} rows; seq_len={args.seq_len}; "
          f"~{args.batch_tokens} tokens/step; 1 epoch; fastest of {args.repeat}\n")  # fmt: skip
    print("| tool | steps | tokens | target tokens | loop s | tokens/s | vs amfast | mean loss |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = results.get("amfast")
    for tool, r in results.items():
        rate = r["tokens"] / r["seconds"]
        ratio = f"{rate / (base['tokens'] / base['seconds']):.2f}x" if base else "n/a"
        print(f"| {tool} | {r['steps']} | {r['tokens']} | {r['target_tokens']} | "
              f"{r['seconds']:.1f} | {rate:.0f} | {ratio} | {r['mean_loss']:.3f} |")  # fmt: skip
    saved = REPO / "benches" / "results" / f"sft_vs_trainer-{int(time.time())}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    versions = {p: version(p) for p in ("torch", "transformers", "trl", "amfast")}
    saved.write_text(json.dumps({"args": vars(args) | {"work": str(args.work)},
                                 "versions": versions, "results": results}, indent=2))  # fmt: skip
    print(f"\nsaved {saved.relative_to(REPO)}")


if __name__ == "__main__":
    main()
