r"""Verdicts on real model outputs against the verdicts their own harnesses recorded.

Input: `../shared/benchmarks/real_traces/dev.jsonl.gz`, 750 responses of about 30 models
(DeepSeek-R1, QwQ, Sky-T1, s1.1, o1/o3-mini, GPT-4o, Gemma, Qwen2.5, ...) on MATH-500, AIME,
AMC, Minerva, OlympiadBench, GSM8K, LiveCodeBench, HumanEval and MBPP, each with
`harness_verdict`, the verdict the harness that produced it recorded.

- amfast: `verify_file(..., labels="harness_verdict")`, i.e. `amfast verify --labels
  harness_verdict`, on the rows as flat JSONL (the benchmark family as `source`). Every row
  whose verdict disagrees with its label goes to `<output>.disagreements.jsonl`.
- math-verify: what its README shows, on the math rows: `verify(parse("$" + reference + "$"),
  parse(response))` on the whole response, with its default timeouts.

Printed per verifier: recall (harness-correct rows we pass) and false passes
(harness-incorrect rows we pass). LiveCodeBench rows count for recall but not for false passes:
their harness also ran hidden tests that are not in the data, so passing every public test can
still be recorded incorrect. Goal (issue 16): recall >= 0.95 for math and for code, false
passes <= 0.5%. Rows whose recorded verdict is itself wrong are listed in benches/README.md.

    .venv/bin/python benches/verify_real_traces.py [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import logging
import signal
import tempfile
from pathlib import Path
from typing import Any

from machine import REPO, machine_info

from amfast.verify.audit import VerifyAudit
from amfast.verify.dispatch import RowFields, VerifyOptions
from amfast.verify.job import verify_file

DEV_TRACES = REPO.parent / "shared" / "benchmarks" / "real_traces" / "dev.jsonl.gz"
RESULTS_DIR = REPO / "benches" / "results"
PACKAGES = ("amfast", "math-verify", "latex2sympy2_extended", "sympy")
NO_FALSE_PASS_COUNT = "LiveCodeBench"  # hidden tests decided these labels
MATH_VERIFY_SECONDS = 10


def benchmark_family(benchmark: str) -> str:
    """`LiveCodeBench (atcoder, easy, 2023-05-13)` -> `LiveCodeBench`; others as they are."""
    return benchmark.split(" (")[0] if benchmark.startswith("LiveCodeBench") else benchmark


def flat_rows(path: Path) -> list[dict[str, Any]]:
    """The dev traces as flat rows for `amfast verify` (source = benchmark family)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    for row in rows:
        row["source"] = benchmark_family(row["benchmark"])
    return rows


def math_verify_verdicts(rows: list[dict[str, Any]]) -> list[bool]:
    """math-verify's own `parse` + `verify` on every math row (whole response)."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    verdicts = []
    for row in rows:
        signal.alarm(MATH_VERIFY_SECONDS * 3)  # a last resort above its own timeouts
        try:
            gold = parse(f"${row['reference_answer']}$")
            verdicts.append(bool(verify(gold, parse(row["response"]))))
        except Exception:  # math-verify's timeouts and parse failures count as fail
            verdicts.append(False)
        finally:
            signal.alarm(0)
    return verdicts


def rates(labels: list[bool], passed: list[bool]) -> dict[str, Any]:
    """Recall and false-pass rate of `passed` against `labels`."""
    true = [p for label, p in zip(labels, passed, strict=True) if label]
    false = [p for label, p in zip(labels, passed, strict=True) if not label]
    return {
        "label_true": len(true),
        "recall": sum(true) / len(true) if true else None,
        "label_false": len(false),
        "false_passes": sum(false),
        "false_pass_rate": sum(false) / len(false) if false else None,
    }


def amfast_rates(audit: VerifyAudit, verifier: str, sources: set[str]) -> dict[str, Any]:
    """Recall over every row of `verifier`; false passes over its rows outside LiveCodeBench."""
    everything = audit.agreement(verifier)
    counted = audit.agreement(verifier, sources - {NO_FALSE_PASS_COUNT})
    return {
        "label_true": everything.labelled_true,
        "recall": everything.recall,
        "label_false": counted.labelled_false,
        "false_passes": counted.passed_false,
        "false_pass_rate": counted.false_pass_rate,
        "ungraded": everything.ungraded,
    }


def main() -> None:
    """Runs both graders and prints (and saves) the agreement with the harnesses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="math processes / sandboxes")
    parser.add_argument("--keep", type=Path, help="write input, verdicts, disagreements here")
    args = parser.parse_args()

    rows = flat_rows(DEV_TRACES)
    sources = {row["source"] for row in rows}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / "dev_traces.jsonl"
        source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        audit = verify_file(
            source,
            folder / "verified.jsonl",
            options=VerifyOptions(num_workers=args.workers),
            fields=RowFields(),
            labels="harness_verdict",
            restart=True,
            progress=False,
        )
        disagreements = (folder / "verified.jsonl.disagreements.jsonl").read_text().splitlines()

    math_rows = [row for row in rows if row["test_case"] is None]
    peer = rates(
        [row["harness_verdict"] for row in math_rows], math_verify_verdicts(math_rows)
    )
    results = {
        "amfast": {name: amfast_rates(audit, name, sources) for name in ("math", "code")},
        "math_verify": {"math": peer},
        "disagreements": len(disagreements),
    }
    print(f"{'grader':<12}{'verifier':<9}{'rows+':>6}{'recall':>8}{'rows-':>7}{'false':>7}")
    lines = [("amfast", name, found) for name, found in results["amfast"].items()]
    lines.append(("math-verify", "math", peer))
    for grader, name, found in lines:
        recall, false = found["recall"], found["false_pass_rate"]
        print(
            f"{grader:<12}{name:<9}{found['label_true']:>6}{recall:>8.1%}"
            f"{found['label_false']:>7}{false:>7.1%}"
        )
    print(f"(false passes exclude {NO_FALSE_PASS_COUNT}; {len(disagreements)} disagreements)")
    print("\n" + audit.table())
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"results": results, "machine": machine_info(PACKAGES), "args": vars(args)}
    out = RESULTS_DIR / f"verify_real_traces-{stamp}.json"
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
