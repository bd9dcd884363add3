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

from amfast.verify.audit import VerifyAudit
from amfast.verify.dispatch import RowFields, VerifyOptions
from amfast.verify.job import verify_file
from machine import REPO, machine_info

DEV_TRACES = REPO.parent / "shared" / "benchmarks" / "real_traces" / "dev.jsonl.gz"
RESULTS_DIR = REPO / "benches" / "results"
PACKAGES = ("amfast", "math-verify", "latex2sympy2_extended", "sympy")
NO_FALSE_PASS_COUNT = "LiveCodeBench"  # hidden tests decided these labels
MATH_VERIFY_SECONDS = 10
_SKY = "NovaSky-AI/SkyThought@6840eb7df638ab178d20122099286db08e376851:skythought/Qwen2.5-Math/"
_SKY_OUT = _SKY + "evaluation/outputs/home/ubuntu/skyov1-dl/"
_MIP = "tianyi-lab/MiP-Overthinking@4090d3b15e7bb93cc5ed4d62250fdd0e8c51d5e2:response/math/normal/"
WRONG_LABELS: dict[str, tuple[bool, str]] = {
    _SKY_OUT + "Sky-T1-math-correct-5K-27B/minerva_math_eval/minerva_math/"
    "test_Sky-T1_-1_seed0_t0.0_s0_e-1.jsonl#53": (
        False,
        "cut off mid-sentence ('F(A,'), no final answer; the Qwen2.5-Math grader fell back to "
        "the last number in the text",
    ),
    _SKY_OUT + "Sky-T1-math-wrong-5K-27B/amc23_eval/amc23/"
    "test_Sky-T1_-1_seed0_t0.0_s0_e-1.jsonl#7": (
        False,
        "cut off inside a formula ('q_7 = \\frac{3}{'), no final answer; last-number fallback",
    ),
    _MIP + "Gemma227/response.json#3": (
        False,
        "gives no answer at all ('Let me know if you'd like me to walk through the steps'); "
        "the GPT-4o judge recorded it correct",
    ),
    "NovaSky-AI/SkyThought@7d3353150f42b70948782c37d8c2dd9e47137227:skythought/tools/"
    "Qwen2.5-32B-Instruct_MATH500_test_None_0_-1_still2_sys_zero.json#476": (
        True,
        "answers \\boxed{[-2, 7]}, the reference is 'x \\in [-2,7]': the same interval; the "
        "grader does not strip 'x \\in'",
    ),
    _MIP + "deepseekR1/response.json#50": (
        True,
        "answers \\boxed{59}, the reference is 59; the judge's 'premise insufficient' (0) is "
        "mapped to incorrect",
    ),
    "noahshinn/reflexion@218cf0ef1df84b05ce379dd4a8e47f17766733a0:programming_runs/root/"
    "simple_mbpp_py/mbpp-py._simple_1_gpt-4_pass_at_k_1_py.jsonl#277": (
        True,
        "`return sum(arr)` for 'find the sum of an array' passes the row's own three asserts",
    ),
}
"""Rows whose recorded verdict is itself wrong: origin -> (right verdict, why)."""


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


def corrected_label(row: dict[str, Any]) -> bool:
    """The row's recorded verdict, unless `WRONG_LABELS` corrects it."""
    fix = WRONG_LABELS.get(row["origin"])
    return fix[0] if fix is not None else bool(row["harness_verdict"])


def corrected_rates(
    rows: list[dict[str, Any]], verified: list[dict[str, Any]], verifier: str, sources: set[str]
) -> dict[str, Any]:
    """`amfast_rates` against the corrected labels, from the verified rows."""
    del sources
    mine = [
        (row, out) for row, out in zip(rows, verified, strict=True) if out["verifier"] == verifier
    ]
    graded = [(row, out) for row, out in mine if out["verify_score"] is not None]
    found = rates(
        [corrected_label(row) for row, _ in graded],
        [out["verify_reason"] == "correct" for _, out in graded],
    )
    counted = [(r, o) for r, o in graded if r["source"] != NO_FALSE_PASS_COUNT]
    false_found = rates(
        [corrected_label(row) for row, _ in counted],
        [out["verify_reason"] == "correct" for _, out in counted],
    )
    return found | {k: false_found[k] for k in ("label_false", "false_passes", "false_pass_rate")}


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
        verified_lines = (folder / "verified.jsonl").read_text().splitlines()

    verified = [json.loads(line) for line in verified_lines]
    corrected = {name: corrected_rates(rows, verified, name, sources) for name in ("math", "code")}
    math_rows = [row for row in rows if row["test_case"] is None]
    peer_passed = math_verify_verdicts(math_rows)
    peer = rates([row["harness_verdict"] for row in math_rows], peer_passed)
    results = {
        "amfast": {name: amfast_rates(audit, name, sources) for name in ("math", "code")},
        "amfast_corrected_labels": corrected,
        "math_verify": {"math": peer},
        "math_verify_corrected_labels": {
            "math": rates([corrected_label(row) for row in math_rows], peer_passed)
        },
        "disagreements": len(disagreements),
    }
    print(f"{'grader':<14}{'verifier':<9}{'rows+':>6}{'recall':>8}{'rows-':>7}{'false':>7}")
    lines = [("amfast", name, found) for name, found in results["amfast"].items()]
    lines.append(("math-verify", "math", peer))
    lines += [("amfast*", name, found) for name, found in corrected.items()]
    lines.append(("math-verify*", "math", results["math_verify_corrected_labels"]["math"]))
    for grader, name, found in lines:
        recall, false = found["recall"], found["false_pass_rate"]
        print(
            f"{grader:<14}{name:<9}{found['label_true']:>6}{recall:>8.1%}"
            f"{found['label_false']:>7}{false:>7.1%}"
        )
    print(
        f"(false passes exclude {NO_FALSE_PASS_COUNT}; * = against the labels corrected for "
        f"the {len(WRONG_LABELS)} rows of WRONG_LABELS; {len(disagreements)} disagreements)"
    )
    print("\n" + audit.table())
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"results": results, "machine": machine_info(PACKAGES), "args": vars(args)}
    out = RESULTS_DIR / f"verify_real_traces-{stamp}.json"
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
