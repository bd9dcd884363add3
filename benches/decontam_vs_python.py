"""Decontamination n-gram overlap: amfast's Rust index vs a Python set of n-grams.

Input: the 63,920 problems of ../shared/benchmarks/corpus/math_problems_union.jsonl.gz (repeated
`--repeat-corpus` times) against MATH-500 + AIME 2024 + AIME 2025 + GSM8K test. The baseline is
what most open pipelines do: lowercase, split on non-word runs, a `set` of benchmark 13-gram
tuples, and a loop over each row's n-grams. Agreement = rows flagged by both / flagged by either.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from pathlib import Path

from amfast.decontam import find_contamination, load_benchmark
from machine import REPO, machine_info

SHARED = REPO.parent / "shared" / "benchmarks"
WORD = re.compile(r"[^\W_]+")
RESULTS_DIR = REPO / "benches" / "results"


def python_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngram", type=int, default=13)
    parser.add_argument("--repeat-corpus", type=int, default=4)
    args = parser.parse_args()
    with gzip.open(SHARED / "corpus" / "math_problems_union.jsonl.gz", "rt") as handle:
        texts = [json.loads(line)["problem"] for line in handle if line.strip()]
    texts = texts * args.repeat_corpus
    benchmarks = [
        load_benchmark(SHARED / "eval" / "math500.jsonl"),
        load_benchmark(SHARED / "eval" / "aime24.jsonl"),
        load_benchmark(SHARED / "eval" / "aime25.jsonl"),
        load_benchmark(SHARED / "eval" / "gsm8k_test.jsonl"),
    ]

    started = time.perf_counter()
    # The same rule as the baseline: any shared n-gram, no exact or content rule.
    found = find_contamination(
        texts, benchmarks, ngram=args.ngram, exact=False, content=False, min_item_fraction=0.0
    )
    amfast_seconds = time.perf_counter() - started
    amfast_flags = set(found.flagged.nonzero()[0].tolist())

    started = time.perf_counter()
    index: set[tuple[str, ...]] = set()
    for benchmark in benchmarks:
        for item in benchmark.texts:
            index |= python_ngrams(item, args.ngram)
    python_flags = {
        row
        for row, text in enumerate(texts)
        if any(gram in index for gram in python_ngrams(text, args.ngram))
    }
    python_seconds = time.perf_counter() - started

    agreement = len(amfast_flags & python_flags) / max(1, len(amfast_flags | python_flags))
    rows = len(texts)
    print(f"rows {rows:,}  benchmarks {[b.name for b in benchmarks]}  ngram {args.ngram}\n")
    print("| tool | seconds | rows/s | flagged | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| amfast | {amfast_seconds:.2f} | {rows / amfast_seconds:,.0f} | {len(amfast_flags):,} "
        f"| {python_seconds / amfast_seconds:.1f}x |"
    )
    print(
        f"| python set | {python_seconds:.2f} | {rows / python_seconds:,.0f} "
        f"| {len(python_flags):,} | 1.0x |"
    )
    print(f"\nagreement (Jaccard of flagged rows): {agreement:.4f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "args": vars(args),
        "machine": machine_info(("amfast",)),
        "amfast_seconds": amfast_seconds,
        "python_seconds": python_seconds,
        "flagged": {"amfast": len(amfast_flags), "python": len(python_flags)},
        "agreement": agreement,
    }
    path = RESULTS_DIR / f"decontam_vs_python-{time.strftime('%Y%m%d-%H%M%S')}.json"
    Path(path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
