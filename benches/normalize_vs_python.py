"""Normalization throughput: `amfast.normalize` vs the same rules in pure Python.

Python equivalent: `unicodedata.normalize("NFKC")`, `.lower()`, runs of non-word characters
(`[\\W_]+`) to one space, stripped. Inputs: the shared corpus of 63,920 math problems, all rows,
the English rows and the Chinese rows separately. amfast runs on a list of `str` (a new list of
`str` comes back, like Python's) and on an Arrow `large_string` array (Arrow comes back), with
1 and 2 threads. MB/s = UTF-8 input bytes / seconds, best of `--repeat` runs. Agreement: share of
rows where amfast and Python produce the same string (ASCII rows: they must all agree).

    .venv/bin/python benches/normalize_vs_python.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any

import pyarrow as pa

import amfast
from machine import REPO, machine_info

SHARED_CORPUS = REPO.parent / "shared" / "benchmarks" / "corpus" / "math_problems_union.jsonl.gz"
RESULTS_DIR = REPO / "benches" / "results"
NON_WORD = re.compile(r"[\W_]+")


def python_normalize(texts: list[str]) -> list[str]:
    return [
        NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip() for text in texts
    ]


def load_rows() -> list[dict[str, str]]:
    if not SHARED_CORPUS.exists():
        raise SystemExit(f"{SHARED_CORPUS} not found (see ../shared/benchmarks/README.md)")
    with gzip.open(SHARED_CORPUS, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(name: str, texts: list[str], repeat: int) -> list[dict[str, Any]]:
    megabytes = sum(len(text.encode()) for text in texts) / 1e6
    arrow = pa.array(texts, pa.large_string())
    expected = python_normalize(texts)
    got: list[str] = amfast.normalize(texts, num_threads=1)  # type: ignore[assignment]
    same = [left == right for left, right in zip(expected, got, strict=True)]
    ascii_same = [ok for ok, text in zip(same, texts, strict=True) if text.isascii()]
    common = {"texts": name, "rows": len(texts), "megabytes": megabytes}
    common |= {
        "agreement": sum(same) / len(same),
        "ascii_rows": len(ascii_same),
        "ascii_agreement": sum(ascii_same) / len(ascii_same) if ascii_same else None,
    }
    variants: list[tuple[str, int, Callable[[], object]]] = [
        ("python", 1, lambda: python_normalize(texts))
    ]
    for threads in (1, 2):
        variants.append(
            ("amfast list", threads, lambda t=threads: amfast.normalize(texts, num_threads=t))
        )
        variants.append(
            ("amfast arrow", threads, lambda t=threads: amfast.normalize(arrow, num_threads=t))
        )
    rows = []
    for tool, threads, run in variants:
        seconds = best_seconds(run, repeat)
        rows.append(common | {"tool": tool, "threads": threads, "seconds": seconds})
        rows[-1]["mb_per_s"] = megabytes / seconds
    python_rate = rows[0]["mb_per_s"]
    for row in rows:
        row["ratio_vs_python"] = row["mb_per_s"] / python_rate
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant; best is kept")
    args = parser.parse_args()
    rows = load_rows()
    sets = {
        "all": [row["problem"] for row in rows],
        "en": [row["problem"] for row in rows if row["lang"] == "en"],
        "zh": [row["problem"] for row in rows if row["lang"] == "zh"],
    }
    results = [
        result for name, texts in sets.items() for result in measure(name, texts, args.repeat)
    ]
    header = ("texts", "rows", "MB", "tool", "threads", "MB/s", "x Python", "agree", "agree ASCII")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in results:
        ascii_agreement = "-" if r["ascii_agreement"] is None else f"{r['ascii_agreement']:.4f}"
        cells = (
            r["texts"], f"{r['rows']:,}", f"{r['megabytes']:.1f}", r["tool"], r["threads"],
            f"{r['mb_per_s']:.1f}", f"{r['ratio_vs_python']:.1f}", f"{r['agreement']:.4f}",
            f"{ascii_agreement} ({r['ascii_rows']:,})",
        )  # fmt: skip
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    report = {
        "bench": "normalize_vs_python",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(("amfast", "pyarrow")),
        "args": vars(args),
        "results": results,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"normalize_vs_python-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nsaved {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
