"""Verdicts on real model outputs agree with the verdicts their own harnesses recorded.

A fixed sample (every third row) of `../shared/benchmarks/real_traces/dev.jsonl.gz` goes through
`amfast verify --labels harness_verdict`; the floors are what the sample measured (the whole
file is `benches/verify_real_traces.py`). LiveCodeBench rows count for recall only: their
harness also ran hidden tests.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from amfast.cli.main import main
from amfast.verify.audit import VerifyAudit

SAMPLE_EVERY = 3
# Measured 119/125 = 0.952 on the sample; one of the misses (a long Minerva expression) is a
# math-verify timeout only on a loaded machine, hence one row of slack below the measurement.
MATH_RECALL_FLOOR = 118 / 125
CODE_RECALL_FLOOR = 1.0  # measured 28/28
MATH_FALSE_PASSES_MAX = 0  # measured 0 of 76
# Measured 1 of 8 (HumanEval, MBPP): an MBPP row its harness recorded wrong (benches/README.md).
CODE_FALSE_PASSES_MAX = 1
LIVECODEBENCH = "LiveCodeBench"


@pytest.fixture(scope="module")
def sample(benchmarks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with gzip.open(benchmarks_dir / "real_traces" / "dev.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()][::SAMPLE_EVERY]
    for row in rows:
        row["source"] = row["benchmark"].split(" (")[0]
    path = tmp_path_factory.mktemp("traces") / "sample.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def audited(sample: Path) -> tuple[VerifyAudit, list[dict[str, Any]], list[dict[str, Any]], str]:
    output = sample.with_name("verified.jsonl")
    argv = ["verify", str(sample), "-o", str(output), "--labels", "harness_verdict"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*argv, "--source-field", "source", "--num-threads", "2", "--no-progress"]) == 0
    audit_json = json.loads(output.with_name("verified.jsonl.audit.json").read_text())
    audit = VerifyAudit()
    for entry in audit_json["label_agreement"]["by_verifier_source_reason"]:
        column = entry["label"]
        label = None if column == "unlabelled" else column == "label_true"
        for _ in range(entry["rows"]):
            audit.add(
                entry["verifier"], entry["source"], entry["reason"], label=label, labelled=True
            )
    verified = [json.loads(line) for line in output.read_text().splitlines()]
    disagreements_path = output.with_name("verified.jsonl.disagreements.jsonl")
    disagreements = [json.loads(line) for line in disagreements_path.read_text().splitlines()]
    return audit, verified, disagreements, printed.getvalue()


def test_recall_against_the_harnesses_meets_the_floor(audited: Any) -> None:
    audit, *_ = audited
    assert audit.agreement("math").recall >= MATH_RECALL_FLOOR
    assert audit.agreement("code").recall >= CODE_RECALL_FLOOR


def test_false_passes_against_the_harnesses_stay_under_the_ceiling(audited: Any) -> None:
    audit, verified, *_ = audited
    sources = {row["source"] for row in verified} - {LIVECODEBENCH}
    assert audit.agreement("math", sources).passed_false <= MATH_FALSE_PASSES_MAX
    assert audit.agreement("code", sources).passed_false <= CODE_FALSE_PASSES_MAX


def test_every_disagreement_is_written_with_its_extracted_answer(audited: Any) -> None:
    _, verified, disagreements, _ = audited
    expected = [
        row
        for row, out in enumerate(verified)
        if out["verify_score"] is not None
        and (out["verify_reason"] == "correct") != out["harness_verdict"]
    ]
    assert [d["row"] for d in disagreements] == expected
    for record in disagreements:
        assert record["label"] == verified[record["row"]]["harness_verdict"]
        assert record["reason"] == verified[record["row"]]["verify_reason"]
        assert set(record) >= {"verifier", "source", "extracted", "detail"}


def test_every_extracted_answer_names_the_rule_that_found_it(audited: Any) -> None:
    _, verified, *_ = audited
    found = [row for row in verified if row["verify_reason"] in {"correct", "wrong"}]
    assert found
    for row in found:
        assert row["verify_detail"].startswith("rule "), row["verify_detail"]


def test_the_printed_audit_has_the_agreement_table(audited: Any) -> None:
    printed = audited[-1]
    assert "vs labels" in printed
    assert "verifier math" in printed
    assert "disagreements with harness_verdict" in printed
