"""Embedding texts/s: amfast's openvino and onnx backends against sentence-transformers.

Both embed the same real problems from ../shared/benchmarks/corpus (a seeded sample, English
and Chinese) with the same model on the CPU, one after the other, `--repeats` times in turn;
the best time of each is kept (the machine is shared, so the best run is the least disturbed).
Prints texts/s, the ratio, and the per-row cosine between the two backends' vectors (min and
max), plus the load average. With `openvino` installed, the openvino backend runs too, at the
precision it picks (bf16 on AMX / AVX512-BF16 CPUs, else f32) and, with `--openvino-f32`, also
forced to f32.

    python benches/embed_vs_sentence_transformers.py              # all-MiniLM-L6-v2, 512 texts
    python benches/embed_vs_sentence_transformers.py --min-tokens 96 --max-tokens 160
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amfast.embed import SentenceTransformerEmbedder, default_model_path
from amfast.onnx_embedder import OnnxEmbedder
from amfast.openvino_embedder import Precision
from machine import REPO, machine_info

RESULTS_DIR = REPO / "benches" / "results"
CORPUS = REPO.parent / "shared" / "benchmarks" / "corpus" / "math_problems_union.jsonl.gz"


def sample_texts(args: argparse.Namespace, onnx: OnnxEmbedder) -> list[str]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["problem"] for line in handle]
    random.Random(args.seed).shuffle(texts)
    pool = texts[: args.texts * 20]
    counts = [len(ids) for ids in onnx.token_ids(pool)]
    chosen = [
        text
        for text, count in zip(pool, counts, strict=True)
        if args.min_tokens <= count <= args.max_tokens
    ]
    return chosen[: args.texts]


def timed(embed: Callable[[Sequence[str]], np.ndarray], texts: list[str]) -> tuple[float, Any]:
    started = time.perf_counter()
    vectors = embed(texts)
    return time.perf_counter() - started, np.asarray(vectors, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default MiniLM-L6)")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--min-tokens", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=1 << 20)
    parser.add_argument("--batch-size", type=int, default=64, help="both backends")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--openvino-f32", action="store_true", help="also openvino forced to f32")
    args = parser.parse_args()
    model = Path(args.model) if args.model else default_model_path()

    onnx = OnnxEmbedder(model, device="cpu", batch_size=args.batch_size, progress=False)
    peer = SentenceTransformerEmbedder(
        model, device="cpu", batch_size=args.batch_size, progress=False
    )
    texts = sample_texts(args, onnx)
    tokens = np.array([len(ids) for ids in onnx.token_ids(texts)])
    runners: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
        "sentence-transformers": peer.embed,
        "amfast onnx (fp32)": onnx.embed,
    }
    try:
        from amfast.openvino_embedder import OpenVinoEmbedder

        precisions: list[Precision] = ["auto", "f32"] if args.openvino_f32 else ["auto"]
        for precision in precisions:
            ov = OpenVinoEmbedder(
                model, device="cpu", batch_size=args.batch_size, progress=False, precision=precision
            )
            runners[f"amfast openvino ({ov.precision})"] = ov.embed
    except ImportError:
        pass  # openvino is not installed: the onnx and sentence-transformers rows only
    for embed in runners.values():  # warm up: allocations, thread pools
        embed(texts[: args.batch_size])
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    vectors: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name, embed in runners.items():
            elapsed, vectors[name] = timed(embed, texts)
            seconds[name].append(elapsed)

    load = os.getloadavg()
    print(
        f"model {model.name}, {len(texts)} texts, tokens mean {tokens.mean():.0f} "
        f"median {np.median(tokens):.0f} max {tokens.max()}, batch {args.batch_size}, "
        f"{onnx.num_threads} threads, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    reference = vectors["sentence-transformers"]
    best_peer = min(seconds["sentence-transformers"])
    results = {}
    print(f"{'backend':34s} {'texts/s':>8s} {'ratio':>6s} {'cos min':>10s} {'cos max':>10s}")
    for name in runners:
        best = min(seconds[name])
        cosine = np.sum(vectors[name] * reference, axis=1)
        results[name] = {
            "seconds": seconds[name],
            "texts_per_second": len(texts) / best,
            "ratio": best_peer / best,
            "cosine_min": float(cosine.min()),
            "cosine_max": float(cosine.max()),
        }
        print(
            f"{name:34s} {len(texts) / best:8.1f} {best_peer / best:6.2f} "
            f"{cosine.min():10.7f} {cosine.max():10.7f}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "args": vars(args),
        "texts": len(texts),
        "tokens": {"mean": float(tokens.mean()), "median": float(np.median(tokens))},
        "load_average": load,
        "machine": machine_info(
            ("amfast", "onnxruntime", "sentence-transformers", "torch", "openvino", "numpy")
        ),
        "results": results,
    }
    target = RESULTS_DIR / f"embed_vs_sentence_transformers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
