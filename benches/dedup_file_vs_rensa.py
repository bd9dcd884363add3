r"""Whole-process `amfast dedup` (read JSONL, near dedup, write kept + dropped) vs its kernel.

Input: the first `--rows` documents of `near_dedup_vs_peers.py`'s corpus (real math problems
from ../shared/benchmarks, planted variants), written once as JSONL `{"id", "text"}` under
`.bench-data/`. Timed in one process pinned to one core: `amfast.dedup.dedup_file` (what the CLI
runs: read, signatures, verification, write of kept and dropped rows), the kernel alone
(`NearDuplicateIndex` add / verify / finish on the memory-mapped Arrow column), and rensa's
documented dedup on the same texts when rensa is installed (read from the same JSONL with
`json`). It also times dedup's own I/O apart (both text passes, the kept/dropped write), which
does not depend on the build of the Rust core. The agreement column is the share of rows whose
kept/dropped flag matches the kernel's.

    .venv/bin/python benches/dedup_file_vs_rensa.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from machine import machine_info
from near_dedup_vs_peers import (
    BANDS,
    MINHASH_SEED,
    NGRAM,
    NUM_PERM,
    RESULTS_DIR,
    ROWS_PER_BAND,
    THRESHOLD,
    prepare_corpus,
    read_column,
    run_rensa,
)


def write_jsonl(directory: Path, rows: int) -> Path:
    """The corpus's first `rows` texts as JSONL, written once."""
    path = directory / f"first{rows}.jsonl"
    if not path.exists():
        texts = read_column(directory / "raw.arrow").to_pylist()[:rows]
        with path.open("w", encoding="utf-8") as handle:
            for number, text in enumerate(texts):
                handle.write(json.dumps({"id": number, "text": text}, ensure_ascii=False) + "\n")
    return path


def time_whole_process(source: Path, scratch: Path) -> tuple[float, np.ndarray]:
    from amfast.dedup.files import dedup_file

    started = time.perf_counter()
    summary = dedup_file(
        source,
        scratch / "kept.jsonl",
        dropped=scratch / "dropped.jsonl",
        text_field="text",
        threshold=THRESHOLD,
        num_perm=NUM_PERM,
        bands=BANDS,
        rows=ROWS_PER_BAND,
        ngram=NGRAM,
        seed=MINHASH_SEED,
        num_threads=1,
    )
    seconds = time.perf_counter() - started
    return seconds, summary.representative == np.arange(summary.rows)


def time_io(source: Path, scratch: Path, keep: np.ndarray) -> tuple[float, float]:
    """Seconds of dedup's own I/O: both text passes over the JSONL, then the kept/dropped write."""
    from amfast.dedup.files import TextPasses
    from amfast.io import DroppedInfo, write_split

    started = time.perf_counter()
    with TextPasses(source, "text", 65_536) as passes:
        for _ in passes.first_pass():
            pass
        for _ in passes.second_pass():
            pass
    read = time.perf_counter() - started
    representative = np.where(keep, np.arange(len(keep)), 0)
    info = DroppedInfo(representative.tolist(), [1.0] * len(keep), "near_duplicate")
    started = time.perf_counter()
    write_split(source, keep.tolist(), scratch / "k.jsonl", scratch / "d.jsonl", info)
    return read, time.perf_counter() - started


def time_kernel(directory: Path, rows: int) -> tuple[float, np.ndarray]:
    from amfast.dedup import NearDuplicateIndex

    texts = read_column(directory / "raw.arrow").slice(0, rows)
    started = time.perf_counter()
    index = NearDuplicateIndex(
        threshold=THRESHOLD, num_perm=NUM_PERM, bands=BANDS, rows=ROWS_PER_BAND, ngram=NGRAM,
        seed=MINHASH_SEED, num_threads=1,
    )  # fmt: skip
    index.add(texts)
    index.verify(texts)
    result = index.finish()
    return time.perf_counter() - started, result.representative == np.arange(rows)


def main() -> None:
    """Runs each tool `--repeat` times, prints a table and saves the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--io-only",
        action="store_true",
        help="time only dedup's I/O (with every 10th row dropped), e.g. on a debug build",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    directory = prepare_corpus(args.rows, 0)
    source = write_jsonl(directory, args.rows)
    results: dict[str, Any] = {}
    if args.io_only:
        keep = np.arange(args.rows) % 10 != 9
        with tempfile.TemporaryDirectory(prefix="amfast-bench-") as scratch:
            runs = [time_io(source, Path(scratch), keep) for _ in range(args.repeat)]
        read, write = min(run[0] for run in runs), min(run[1] for run in runs)
        print("| dedup I/O | rows | read (both passes) | write (kept + dropped) |")
        print("|---|---:|---:|---:|")
        print(f"| {args.rows:,} rows | {args.rows:,} | {read:.2f} s | {write:.2f} s |")
        return
    kernel_seconds, kernel_keep = min(time_kernel(directory, args.rows) for _ in range(args.repeat))
    results["kernel"] = kernel_seconds
    print(f"kernel: {kernel_seconds:.2f}s", flush=True)
    with tempfile.TemporaryDirectory(prefix="amfast-bench-") as scratch:
        io_runs = [time_io(source, Path(scratch), kernel_keep) for _ in range(args.repeat)]
        read_seconds = min(run[0] for run in io_runs)
        write_seconds = min(run[1] for run in io_runs)
        print(f"read {read_seconds:.2f}s write {write_seconds:.2f}s", flush=True)
        runs = [time_whole_process(source, Path(scratch)) for _ in range(args.repeat)]
    whole_seconds, whole_keep = min(runs, key=lambda run: run[0])
    results |= {"whole": whole_seconds, "read": read_seconds, "write": write_seconds}
    agreement = float(np.mean(whole_keep == kernel_keep))
    rows = [("amfast dedup_file (JSONL in, JSONL out)", whole_seconds, agreement)]
    rows.append(("amfast kernel (Arrow column in memory)", kernel_seconds, 1.0))
    rows.append(("dedup I/O: read (both text passes)", read_seconds, float("nan")))
    rows.append(("dedup I/O: write (kept + dropped)", write_seconds, float("nan")))
    if importlib.util.find_spec("rensa") is not None:
        info: dict[str, Any] = {}
        started = time.perf_counter()
        run_rensa(directory, 1, info)
        rows.append(("rensa (same corpus)", time.perf_counter() - started, float("nan")))
    print("| tool | rows | seconds | docs/s | x kernel time | kept flags = kernel |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, agree in rows:
        print(
            f"| {name} | {args.rows:,} | {seconds:.2f} | {args.rows / seconds:,.0f} | "
            f"{seconds / kernel_seconds:.2f} | {agree:.4f} |"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    record = {
        "args": vars(args),
        "machine": machine_info(("amfast", "pyarrow", "rensa")),
        "seconds": results,
        "rows": rows,
    }
    (RESULTS_DIR / f"dedup_file-{stamp}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
