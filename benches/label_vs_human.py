"""How well a labelling model's category and difficulty agree with MATH's human labels.

MATH rows carry a human `level` (1-5) and `type` (seven subjects). The script labels a
stratified sample of MATH test problems with `amfast label` (any backend), then reports: the
share labelled `Math` (every MATH problem is one), unparseable replies per reason, the
level x predicted-difficulty table, and Spearman's rank correlation between level and predicted
difficulty. On a GPU with a real instruct model (the paper used Qwen2.5-7B-Instruct):

    python benches/label_vs_human.py --model /models/Qwen2.5-7B-Instruct --backend vllm

With `--tiny` it builds a random-weight model and runs on CPU: a check of the plumbing, whose
agreement numbers mean nothing. Results are printed and saved under benches/results/.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from amfast.label import LabelConfig, run_label
from amfast.records import iter_records
from amfast.taxonomy import DIFFICULTY_LEVELS
from machine import REPO, machine_info

MATH_TEST = REPO.parent / "shared" / "benchmarks" / "math" / "math_test.jsonl.gz"
RESULTS_DIR = REPO / "benches" / "results"


def sample_rows(per_level: int) -> list[dict[str, Any]]:
    """`per_level` problems of each level, spread over the subjects (file order, every k-th)."""
    with gzip.open(MATH_TEST, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    by_level: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_level[row["level"]].append(row)
    chosen = []
    for level in sorted(name for name in by_level if name[-1].isdigit()):
        group = by_level[level]
        step = max(len(group) // per_level, 1)
        chosen += group[::step][:per_level]
    return chosen


def spearman(pairs: list[tuple[int, int]]) -> float | None:
    """Spearman's rho with average ranks for ties (None when a side is constant)."""

    def ranks(values: list[int]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2
            i = j + 1
        return result

    if len(pairs) < 2:
        return None
    left, right = ranks([a for a, _ in pairs]), ranks([b for _, b in pairs])
    mean_l, mean_r = sum(left) / len(left), sum(right) / len(right)
    cov = sum((a - mean_l) * (b - mean_r) for a, b in zip(left, right, strict=True))
    var_l = sum((a - mean_l) ** 2 for a in left)
    var_r = sum((b - mean_r) ** 2 for b in right)
    return cov / (var_l * var_r) ** 0.5 if var_l and var_r else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="labelling model (path or served name)")
    parser.add_argument("--backend", default="vllm", choices=["openai", "vllm", "transformers"])
    parser.add_argument("--base-url", action="append", default=[])
    parser.add_argument("--per-level", type=int, default=100)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--tiny", action="store_true", help="random-weight model on CPU")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="label-bench-"))
    model, backend, device = args.model, args.backend, None
    if args.tiny:
        sys.path.insert(0, str(REPO / "tests"))
        from tiny_models import build_tiny_teacher

        model, backend, device = str(build_tiny_teacher(scratch / "tiny")), "transformers", "cpu"
        args.per_level, args.max_tokens = min(args.per_level, 4), 16
    if not model:
        parser.error("--model is required (or --tiny)")
    rows = sample_rows(args.per_level)
    source = scratch / "math.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": r["unique_id"], "prompt": r["problem"], "level": r["level"]}) + "\n"
            for r in rows
        )
    )
    config = LabelConfig(
        input=str(source), output=str(scratch / "out"), model=model, backend=backend,
        base_url=args.base_url, device=device, max_tokens=args.max_tokens,
        labels=["category", "difficulty"],
    )  # fmt: skip
    started = time.perf_counter()
    summary = run_label(config)
    seconds = time.perf_counter() - started
    table: dict[str, Counter[str]] = defaultdict(Counter)
    pairs = []
    for _, row in iter_records(scratch / "out"):
        predicted = row["info"]["difficulty"]
        table[row["level"]][predicted or "(unparseable)"] += 1
        if predicted is not None:
            pairs.append((int(row["level"][-1]), DIFFICULTY_LEVELS.index(predicted)))
    math_share = summary.counts.get("category", {}).get("Math", 0) / max(summary.rows, 1)
    rho = spearman(pairs)
    columns = [*DIFFICULTY_LEVELS, "(unparseable)"]
    print(f"model {model} ({backend}), {summary.rows} MATH test problems, {seconds:.1f} s")
    print(f"labelled Math: {math_share:.1%}; unparseable: {summary.statuses}")
    print(f"Spearman(level, difficulty) over {len(pairs)} parsed rows: {rho}")
    print("| level | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for level in sorted(table):
        print(f"| {level} | " + " | ".join(str(table[level][c]) for c in columns) + " |")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": machine_info(["amfast", "torch", "transformers", "vllm"]),
        "args": vars(args), "seconds": seconds, "math_share": math_share, "spearman": rho,
        "statuses": summary.statuses, "table": {k: dict(v) for k, v in table.items()},
    }  # fmt: skip
    out = RESULTS_DIR / f"label_vs_human-{int(time.time())}.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
