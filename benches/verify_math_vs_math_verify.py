r"""Math verification throughput: `amfast.verify.math.verify_math_batch` vs math-verify in a loop.

Input: the 500 MATH-500 rows (`../shared/benchmarks/eval/math500.jsonl`), three responses each,
so that right and wrong answers are both timed: the reference solution itself (right), the
answer re-typeset in equivalent LaTeX (`\dfrac`->`\frac`, no `\left`/`\right`, `3/4` for
`\frac{3}{4}`; right) and another row's answer (seed 0; almost always wrong), each as
`<think>...</think>` + text ending in `\boxed{}`. The reference is the bare `answer` field.

- math-verify: what its README shows, in one process: `verify(parse("$" + answer + "$"),
  parse(response))` per row, with its default signal-based timeouts (main thread only).
- amfast: `verify_math_batch(responses, answers)`: answer part only, final-answer extraction,
  one worker process per core (the shared pool), each check under its own deadline. Worker
  start-up (spawn + importing math-verify, about a second, once per process) is reported
  apart, not timed.

Each tool runs in a fresh interpreter pinned to `--cores` cores (default 2), after its imports,
so math-verify's parse caches start empty for both. Rows/s = rows / seconds, best of
`--repeat`. Agreement: share of rows where both give the same pass/fail.

    .venv/bin/python benches/verify_math_vs_math_verify.py [--repeat 3] [--cores 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import REPO, machine_info

MATH500 = REPO.parent / "shared" / "benchmarks" / "eval" / "math500.jsonl"
RESULTS_DIR = REPO / "benches" / "results"
PACKAGES = ("amfast", "math-verify", "latex2sympy2_extended", "sympy")


def retypeset(answer: str) -> str:
    """The same answer in other, equivalent LaTeX (as in tests/verify/test_math.py)."""
    text = re.sub(r"\\[dt]frac", r"\\frac", answer)
    text = re.sub(r"\\(left|right)(?![a-zA-Z])", "", text)
    text = re.sub(r"\\!\s*", "", text)
    text = re.sub(r"\^\{?\\circ\}?", "", text)

    def slash(match: re.Match[str]) -> str:
        if re.search(r"\d\s*$", text[: match.start()]):
            return match.group(0)  # a mixed number
        return f"{match.group(1)}/{match.group(2)}"

    text = re.sub(r"\\frac\{(-?\d+)\}\{(\d+)\}", slash, text)
    return re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt \1", text)


def load_rows() -> tuple[list[str], list[str], list[str]]:
    """(kinds, responses, references): 3 x 500 rows."""
    with MATH500.open(encoding="utf-8") as file:
        rows = [json.loads(line) for line in file if line.strip()]
    answers = [row["answer"] for row in rows]
    shuffled = answers[:]
    random.Random(0).shuffle(shuffled)
    kinds, responses, references = [], [], []
    for row, other in zip(rows, shuffled, strict=True):
        for kind, text in (
            ("solution", row["solution"]),
            ("retypeset", f"The final answer is $\\boxed{{{retypeset(row['answer'])}}}$."),
            ("shuffled", f"The final answer is $\\boxed{{{other}}}$."),
        ):
            kinds.append(kind)
            responses.append(f"<think>Let me work through it.</think>\n{text}")
            references.append(row["answer"])
    return kinds, responses, references


WARM_UP = ("<think>x</think> so $\\boxed{\\frac{2}{3}}$", "\\frac{4}{6}")  # not a MATH-500 row


def run_math_verify(
    responses: list[str], references: list[str], info: dict[str, Any]
) -> list[bool]:
    from math_verify import parse, verify

    verify(parse(f"${WARM_UP[1]}$"), parse(WARM_UP[0]))  # imports and the LaTeX parser warm
    started = time.perf_counter()
    passed = [
        bool(verify(parse(f"${reference}$"), parse(response)))
        for response, reference in zip(responses, references, strict=True)
    ]
    info["seconds"] = time.perf_counter() - started
    return passed


def run_amfast(responses: list[str], references: list[str], info: dict[str, Any]) -> list[bool]:
    from amfast.verify.math import verify_math_batch

    started = time.perf_counter()
    # Starts the shared pool (one worker per pinned core) on rows outside the input, so the
    # timed batch finds its workers up but math-verify's caches empty, like the loop's.
    verify_math_batch([WARM_UP[0]] * 16, [WARM_UP[1]] * 16)
    info["worker_start_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    verdicts = verify_math_batch(responses, references)
    info["seconds"] = time.perf_counter() - started
    return [v.passed for v in verdicts]


def worker(tool: str, cores: int, out: Path) -> None:
    """One timed run in this fresh interpreter: math-verify's caches start empty."""
    _, responses, references = load_rows()
    logging.disable(logging.WARNING)  # math-verify warns about every parse it times out
    info: dict[str, Any] = {"tool": tool}
    if tool == "math-verify":
        info["passed"] = run_math_verify(responses, references, info)
    else:
        info["passed"] = run_amfast(responses, references, info)
    out.write_text(json.dumps(info))


def spawn(tool: str, cores: list[int], scratch: Path) -> dict[str, Any]:
    out = scratch / f"{tool}.json"
    command = [sys.executable, __file__, "--worker", tool, "--cores", str(len(cores))]
    command += ["--worker-out", str(out)]
    subprocess.run(command, check=True, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    info: dict[str, Any] = json.loads(out.read_text())
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the fastest counts")
    parser.add_argument("--cores", type=int, default=2, help="cores each run is pinned to")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.cores, args.worker_out)
        return
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    kinds, responses, references = load_rows()
    rows = len(responses)
    print(f"{rows} rows (MATH-500 x solution/retypeset/shuffled), {len(cores)} cores", flush=True)
    runs: dict[str, list[float]] = {"math-verify loop": [], "amfast": []}
    worker_start: list[float] = []
    passed: dict[str, list[bool]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for attempt in range(1, args.repeat + 1):
            for name, tool in (("math-verify loop", "math-verify"), ("amfast", "amfast")):
                info = spawn(tool, cores, Path(scratch))
                runs[name].append(info["seconds"])
                passed[name] = info["passed"]
                worker_start += [info["worker_start_seconds"]] if tool == "amfast" else []
            print(f"run {attempt}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in runs.items()))
    peer_passed, amfast_passed = passed["math-verify loop"], passed["amfast"]

    best = {name: min(seconds) for name, seconds in runs.items()}
    peer_rate = rows / best["math-verify loop"]
    same = [a == b for a, b in zip(amfast_passed, peer_passed, strict=True)]
    by_kind = {
        kind: {
            "rows": kinds.count(kind),
            "amfast_pass": sum(p for p, k in zip(amfast_passed, kinds, strict=True) if k == kind),
            "math_verify_pass": sum(
                p for p, k in zip(peer_passed, kinds, strict=True) if k == kind
            ),
            "agreement": sum(s for s, k in zip(same, kinds, strict=True) if k == kind)
            / kinds.count(kind),
        }
        for kind in ("solution", "retypeset", "shuffled")
    }
    header = ("tool", "cores", "rows", "seconds", "rows/s", "vs math-verify", "agreement")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name in ("math-verify loop", "amfast"):
        rate = rows / best[name]
        cells = (
            name,
            1 if name.startswith("math-verify") else len(cores),
            rows,
            f"{best[name]:.2f}",
            f"{rate:,.0f}",
            f"{rate / peer_rate:.2f}x",
            "-" if name.startswith("math-verify") else f"{sum(same) / rows:.4f}",
        )
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    print("\npasses by response kind (amfast / math-verify):")
    for kind, counts in by_kind.items():
        print(
            f"  {kind}: {counts['amfast_pass']} / {counts['math_verify_pass']} of {counts['rows']}"
            f", agreement {counts['agreement']:.4f}"
        )
    disagreements = [
        {"row": i, "kind": kinds[i], "reference": references[i], "amfast": a, "math_verify": b}
        | {"response_tail": responses[i][-120:]}
        for i, (a, b) in enumerate(zip(amfast_passed, peer_passed, strict=True))
        if a != b
    ]
    for item in disagreements[:20]:
        print(f"  differs: {item}")
    print(f"amfast worker start-up (not timed above): {min(worker_start):.2f}s")
    report = {
        "bench": "verify_math_vs_math_verify",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(PACKAGES),
        "args": vars(args) | {"pinned_cores": cores},
        "rows": rows,
        "seconds": runs,
        "amfast_worker_start_seconds": worker_start,
        "rows_per_s": {name: rows / seconds for name, seconds in best.items()},
        "agreement": sum(same) / rows,
        "by_kind": by_kind,
        "disagreements": disagreements,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"verify_math_vs_math_verify-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nsaved {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
