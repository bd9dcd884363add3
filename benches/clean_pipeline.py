"""`amfast clean` end to end (default stages, no embeddings) on N rows made from the corpus.

Rows are the 63,920 real problems of ../shared/benchmarks, repeated and perturbed (a few words
swapped or dropped, numbers changed, case changed) up to `--rows`, written as JSONL outside the
timing. Prints rows, seconds, rows/s, peak RSS of the process and the funnel; saves a JSON
record. Goal (issue 4): >= 50,000 rows/s on 2 cores, < 4 GB for 1M rows.

    python benches/clean_pipeline.py --rows 1000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.filters import FILTER_NAMES
from machine import machine_info

CORPUS = Path(__file__).parents[2] / "shared/benchmarks/corpus/math_problems_union.jsonl.gz"


def perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 4:
        kind = rng.randrange(4)
        if kind == 0:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif kind == 1:
            del words[rng.randrange(len(words))]
        elif kind == 2:
            words = [str(rng.randrange(100)) if w.isdigit() else w for w in words]
        else:
            words[0] = words[0].upper()
    return " ".join(words)


def build_input(path: Path, rows: int, seed: int) -> None:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        base = [json.loads(line) for line in handle]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for row in range(rows):
            record = dict(base[row % len(base)])
            if row >= len(base):
                record["id"] = f"{record['id']}#{row // len(base)}"
                if rng.random() < 0.7:
                    record["problem"] = perturb(record["problem"], rng)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", default="benches/results/clean_pipeline.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amfast-bench-") as folder:
        source = Path(folder) / "input.jsonl"
        build_input(source, args.rows, args.seed)
        started = time.perf_counter()
        summary = clean(
            CleanConfig(
                input=str(source),
                output=str(Path(folder) / "out"),
                text_field="problem",
                num_threads=args.threads,
                progress=False,
            )
        )
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(summary.funnel.table(max_sources=0))
    print(f"\nrows {summary.rows:,}  kept {summary.kept:,}  seconds {seconds:.1f}")
    print(f"rows/s {summary.rows / seconds:,.0f}  peak RSS {peak_mb:,.0f} MB")
    stages = {stage["stage"]: stage["seconds"] for stage in summary.funnel.stages}
    filters = [name for name in stages if name in FILTER_NAMES]
    stage_seconds = {
        "read (parse JSONL, ingest shards)": summary.steps["read"],
        "frame (load, priority ranks)": summary.steps["frame"],
        **{name: spent for name, spent in stages.items() if name not in ("read", *filters)},
        f"filters ({len(filters)})": sum(stages[name] for name in filters),
        "write (kept shards)": summary.steps["write"],
        "ledger (ledger, row index, funnel)": summary.steps["ledger"],
    }
    print("\n| step | seconds | share |\n|---|---|---|")
    for name, step in stage_seconds.items():
        print(f"| {name} | {step:.2f} | {step / seconds:.0%} |")
    record = {
        "machine": machine_info(["amfast", "pyarrow", "numpy"]),
        "args": vars(args),
        "rows": summary.rows,
        "kept": summary.kept,
        "seconds": seconds,
        "rows_per_second": summary.rows / seconds,
        "peak_rss_mb": peak_mb,
        "stage_seconds": stage_seconds,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
