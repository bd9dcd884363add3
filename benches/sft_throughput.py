"""SFT throughput and MFU of amfast's training step on a Qwen2.5-0.5B-shaped model, 8k and 32k.

What runs is `amfast.train.train` itself, not a copy of its loop: FSDP2 over one process, bf16
compute on CUDA (fp32 on CPU), activation checkpointing, samples packed best-fit decreasing into
`--seq-len` with position ids restarting per sample (varlen flash attention when flash-attn is
installed, else SDPA with the block-diagonal mask the trainer uses), the chunked output layer +
loss, AdamW. Each sequence length runs `--warmup` + `--steps` optimizer steps of
`--batch-sequences` packed sequences; the warmup steps are left out of every number.

Model: a `Qwen2Config` with Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 KV heads,
intermediate 4864, vocabulary 151,936, tied embeddings, rope theta 1e6; 494M parameters, 358M
outside the embeddings) and random weights, built here (no hub). `--shape tiny` (the default
without CUDA, also `--tiny`) is a 2-layer toy that keeps the bench runnable on a CPU.

Data: AM-schema rows of pseudo-words with a byte-level BPE tokenizer trained on them (about one
token per word). Prompts are 20-120 words; reply lengths are log-normal (median `--median-tokens`,
sigma `--sigma`: by default median 3,000 and mean about 4,100 tokens, with a tail past 16k, an
assumption modelled on R1-style reasoning traces, not a measured distribution), cut to fit.

Reported per sequence length: tokens per step, samples per packed sequence, step seconds,
tokens/s, achieved TFLOP/s, MFU and peak memory (CUDA: `max_memory_allocated`; CPU: the
process's peak RSS). MFU = FLOPs / step seconds / peak, with the recipe's own count
(`amfast.train.sft.training_flops`): 6 x non-embedding parameters x tokens, plus 6 x hidden x
vocabulary x tokens for the output layer, plus causal attention 6 x layers x heads x head_dim x s^2
per sample of s tokens (forward + backward; recomputation not counted). Peak: dense bf16 from
the GPU's name (H100 SXM and H200: 989 TFLOP/s), `--peak-tflops` to override; none on CPU unless
given.

    python benches/sft_throughput.py --shape qwen2.5-0.5b --seq-len 8192 32768   # one H100
    python benches/sft_throughput.py --tiny                                      # CPU, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
sys.path.insert(0, str(BENCHES))

from machine import machine_info  # noqa: E402 - benches/ is not a package
from sft_vs_trainer import bpe_tokenizer  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {
        "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
    },
    "tiny": {
        "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 176, "vocab_size": 4096,
    },
}  # fmt: skip
# Per shape: sequence lengths, packed sequences per optimizer step, median reply tokens.
DEFAULTS: dict[str, tuple[list[int], int, int]] = {
    "qwen2.5-0.5b": ([8192, 32768], 4, 3000),
    "tiny": ([512, 1024], 2, 120),
}
# System prompt + chat-template tokens around a sample: room kept when cutting replies to fit.
OVERHEAD_TOKENS = 160


def build_model(directory: Path, shape: str, words: list[str]) -> Path:
    """Saves a random-weight Qwen2 model of `shape` and its tokenizer (once per shape)."""
    import torch
    import transformers

    from amfast.train.data import AM_SYSTEM_PROMPT

    if (directory / "config.json").is_file():
        return directory
    sizes = SHAPES[shape]
    tokenizer = bpe_tokenizer([" ".join(words), AM_SYSTEM_PROMPT], min(8192, sizes["vocab_size"]))
    config = transformers.Qwen2Config(
        **sizes, tie_word_embeddings=True, rope_theta=1e6, max_position_embeddings=32768,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    partial = directory.with_name(directory.name + ".partial")
    transformers.Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    return directory


def pseudo_words(count: int = 1000) -> list[str]:
    """`count` distinct lowercase pseudo-words of 3-7 letters (fixed seed)."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    found: dict[str, None] = {}
    while len(found) < count:
        found["".join(rng.choice(letters, size=int(rng.integers(3, 8))))] = None
    return list(found)


def write_rows(
    path: Path, words: list[str], seq_len: int, tokens: int, args: argparse.Namespace
) -> None:
    """AM-schema rows with reasoning-like reply lengths, about `tokens` tokens in all."""
    rng = np.random.default_rng([args.seed, seq_len])
    vocabulary = np.array(words)
    lines = []
    total = 0
    while total < tokens:
        prompt = int(rng.integers(20, 121))
        longest = seq_len - prompt - OVERHEAD_TOKENS
        reply = int(np.clip(rng.lognormal(np.log(args.median_tokens), args.sigma), 16, longest))
        question = " ".join(rng.choice(vocabulary, size=prompt))
        think = " ".join(rng.choice(vocabulary, size=reply - 8))
        answer = " ".join(rng.choice(vocabulary, size=4))
        messages = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": f"<think>{think}</think>\n<answer>{answer}</answer>"},
        ]
        lines.append(json.dumps({"messages": messages}))
        total += prompt + reply + OVERHEAD_TOKENS
    path.write_text("\n".join(lines) + "\n")


def run_seq_len(
    args: argparse.Namespace, model: Path, words: list[str], seq_len: int, peak: float | None
) -> dict[str, Any]:
    """Runs the recipe at one sequence length and sums up its measured steps."""
    import torch

    from amfast.train.config import SftConfig
    from amfast.train.data import plan_sequences, tokenize_dataset
    from amfast.train.sft import attention_implementation, train

    steps = args.warmup + args.steps
    data = args.work / f"data-{args.shape}-{seq_len}.jsonl"
    # 30% more tokens than the steps need: packs are not quite full, a few samples get dropped.
    write_rows(data, words, seq_len, int(1.3 * steps * args.batch_sequences * seq_len), args)
    output = args.work / f"run-{args.shape}-{seq_len}"
    shutil.rmtree(output, ignore_errors=True)
    config = SftConfig(
        model=str(model), data=str(data), output_dir=str(output), max_seq_len=seq_len,
        global_batch_size=args.batch_sequences, max_steps=steps, lr=1e-5, warmup_ratio=0.0,
        num_proc=args.num_proc, save_every=0, keep_last=1, resume=False, export=False,
        activation_checkpointing=args.activation_checkpointing,
        loss_chunk_tokens=args.loss_chunk_tokens, peak_tflops=peak,
        include_unverified=True,  # synthetic rows: nothing to verify
    )  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train(config)
    # The recipe always checkpoints its last step: not part of the bench, 6 GB at the 0.5B shape.
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
    lines = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    measured = lines[args.warmup :]
    dataset = tokenize_dataset(
        str(data), str(model), config.tokenize_options(), cache_dir=output / "tokenized"
    )
    sequences = plan_sequences(dataset, seq_len, packing=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seconds = sum(line["seconds"] for line in measured)
    tokens = sum(line["tokens"] for line in measured)
    flops = sum(line["flops"] for line in measured)
    return {
        "shape": args.shape,
        "seq_len": seq_len,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": "bfloat16" if device == "cuda" else "float32",
        "attention": attention_implementation("auto", device),
        "activation_checkpointing": args.activation_checkpointing,
        "loss_chunk_tokens": args.loss_chunk_tokens,
        "batch_sequences": args.batch_sequences,
        "measured_steps": len(measured),
        "tokens_per_step": tokens / len(measured),
        "sample_tokens_mean": float(dataset.lengths.mean()),
        "sample_tokens_max": int(dataset.lengths.max()),
        "samples_per_sequence": len(dataset) / len(sequences),
        "step_seconds": seconds / len(measured),
        "tokens_per_s": tokens / seconds,
        "tflops_per_s": flops / seconds / 1e12,
        "mfu": flops / seconds / (peak * 1e12) if peak else None,
        "peak_memory_gb": max(line["peak_memory_gb"] for line in measured),
        "memory": "cuda max allocated" if device == "cuda" else "process peak RSS",
        "final_loss": result.losses[-1],
        "steps": lines,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from amfast.train.flops import device_peak_tflops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), default="qwen2.5-0.5b" if cuda else "tiny"
    )
    parser.add_argument("--tiny", action="store_true", help="same as --shape tiny")
    parser.add_argument(
        "--seq-len", type=int, nargs="+", help="default: 8192 32768 (tiny: 512 1024)"
    )
    parser.add_argument("--batch-sequences", type=int, help="packed sequences per optimizer step")
    parser.add_argument("--warmup", type=int, default=2, help="steps left out of the numbers")
    parser.add_argument("--steps", type=int, default=5, help="measured steps")
    parser.add_argument("--median-tokens", type=int, help="median reply length (tokens)")
    parser.add_argument("--sigma", type=float, default=0.8, help="log-normal sigma of replies")
    parser.add_argument("--loss-chunk-tokens", type=int, default=4096, help="0: full logits")
    parser.add_argument(
        "--no-activation-checkpointing", dest="activation_checkpointing", action="store_false"
    )
    parser.add_argument("--peak-tflops", type=float, help="default: from the GPU's name")
    parser.add_argument("--num-proc", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=REPO / ".bench-data" / "sft-throughput")
    parser.add_argument("--results-dir", type=Path, default=BENCHES / "results")
    args = parser.parse_args(argv)
    if args.tiny:
        args.shape = "tiny"
    seq_lens, batch_sequences, median = DEFAULTS[args.shape]
    args.seq_len = args.seq_len or seq_lens
    if min(args.seq_len) < 512:
        parser.error("--seq-len must be >= 512 (a prompt, the system prompt and a reply)")
    args.batch_sequences = args.batch_sequences or batch_sequences
    args.median_tokens = args.median_tokens or median
    peak = args.peak_tflops or (device_peak_tflops(torch.cuda.get_device_name()) if cuda else None)
    args.work.mkdir(parents=True, exist_ok=True)
    words = pseudo_words()
    model = build_model(args.work / f"model-{args.shape}", args.shape, words)
    results = [run_seq_len(args, model, words, seq_len, peak) for seq_len in args.seq_len]
    report = {
        "bench": "sft_throughput",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine_info(["torch", "transformers", "flash-attn", "amfast"]),
        "peak_tflops": peak,
        "results": results,
    }
    _print_table(report)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    saved = args.results_dir / f"sft_throughput-{args.shape}-{stamp}.json"
    saved.write_text(json.dumps(report, indent=2))
    print(f"\nsaved {saved}")
    return report


def _print_table(report: dict[str, Any]) -> None:
    first = report["results"][0]
    peak = report["peak_tflops"]
    warmup = report["args"]["warmup"]
    print(f"\n{first['shape']} on {first['device']}, {first['dtype']}, {first['attention']}, "
          f"activation checkpointing {first['activation_checkpointing']}, loss chunks of "
          f"{first['loss_chunk_tokens'] or 'off'}; peak {peak or 'unknown'} TFLOP/s; "
          f"{first['measured_steps']} steps measured after {warmup} warmup\n")  # fmt: skip
    print("| seq len | seqs/step | tokens/step | samples/seq | step s | tokens/s | TFLOP/s "
          "| MFU | peak mem GB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in report["results"]:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        print(f"| {r['seq_len']} | {r['batch_sequences']} | {r['tokens_per_step']:.0f} | "
              f"{r['samples_per_sequence']:.1f} | {r['step_seconds']:.3f} | "
              f"{r['tokens_per_s']:.0f} | {r['tflops_per_s']:.3f} | {mfu} | "
              f"{r['peak_memory_gb']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
