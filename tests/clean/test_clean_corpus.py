"""The real 63,920-row corpus through the default config, and crash/resume on part of it."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import explain
from amfast.corpus import same_numbers

pytestmark = pytest.mark.slow
PYTHON_PATH = str(Path(__file__).parents[2] / "python")


@pytest.fixture(scope="module")
def corpus_run(benchmarks_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "out"
    config = CleanConfig(
        input=str(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz"),
        output=str(out),
        text_field="problem",
        progress=False,
    )
    return clean(config)


def test_default_config_funnel_on_the_real_corpus(corpus_run):
    summary = corpus_run
    assert summary.rows == 63_920
    assert summary.kept + summary.dropped == 63_920
    ledger = pq.read_table(summary.ledger)
    assert ledger.num_rows == summary.dropped
    assert len(set(ledger.column("row").to_pylist())) == summary.dropped
    index = pq.read_table(summary.output / "row_index.parquet")
    statuses = index.column("status").to_pylist()
    assert statuses.count("kept") == summary.kept
    stages = {stage["stage"]: stage for stage in summary.funnel.stages}
    exact = stages["exact_dedup"]["by_source"]
    # Known families (benchmarks/README.md): whole sources that are copies of another.
    assert exact["gsm8k_test_socratic"]["dropped"] == 1_319
    assert exact["math500"]["dropped"] == 500
    assert exact["deepscaler_math_train"]["dropped"] >= 7_400
    assert 8_000 < stages["exact_dedup"]["dropped"] < 12_000
    assert 300 < stages["near_dedup"]["dropped"] < 3_000
    for stage in summary.funnel.stages:
        assert stage["in"] - stage["dropped"] == stage["out"]
    assert 40_000 < summary.kept < 55_000


def test_no_row_is_dropped_for_a_near_duplicate_with_other_numbers(corpus_run, benchmarks_dir):
    with gzip.open(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz", "rt") as handle:
        problems = {row["id"]: row["problem"] for row in map(json.loads, handle)}
    columns = ["row_id", "stage", "kept_row_id", "score"]
    ledger = pq.read_table(corpus_run.ledger, columns=columns).to_pylist()
    near = [record for record in ledger if record["stage"] == "near_dedup"]
    assert near
    for record in near:
        assert same_numbers(problems[record["row_id"]], problems[record["kept_row_id"]])
        assert record["score"] >= 0.8  # greedy keep: never below the threshold
    # Before the math-safe defaults, 402 GSM8K test problems went for GSM-Hard copies.
    assert not [
        record
        for record in near
        if record["row_id"].startswith("gsm8k_test/")
        and record["kept_row_id"].startswith("gsm_hard/")
    ]
    assert "gsm8k_test/0 (input row" in explain(corpus_run.output, "gsm8k_test/0")
    assert "kept" in explain(corpus_run.output, "gsm8k_test/0").splitlines()[0]


def test_why_follows_a_duplicate_to_its_kept_row(corpus_run):
    text = explain(corpus_run.output, "gsm8k_test_socratic/0")
    assert "dropped by exact_dedup (exact_duplicate)" in text
    assert "duplicate of gsm8k_test/0" in text


def _command(source, out, work):
    return [
        sys.executable, "-m", "amfast.cli.main", "clean", str(source), "-o", str(out),
        "--text-field", "problem", "--shard-rows", "2000", "--work-dir", str(work),
        "--no-progress",
    ]  # fmt: skip


@pytest.mark.parametrize("wait_for", ["ingest/part-00002.arrow", "stages/02-near_dedup.parquet"])
def test_sigkill_mid_run_then_resume_gives_byte_identical_output(
    benchmarks_dir, tmp_path, wait_for
):
    source = tmp_path / "part.jsonl"
    with gzip.open(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz", "rb") as handle:
        lines = [line for _, line in zip(range(16_000), handle, strict=False)]
    source.write_bytes(b"".join(lines))
    env = {**os.environ, "PYTHONPATH": PYTHON_PATH}
    reference = tmp_path / "reference"
    subprocess.run(_command(source, reference, tmp_path / "w0"), check=True, env=env)
    out, work = tmp_path / "out", tmp_path / "w1"
    process = subprocess.Popen(_command(source, out, work), env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (work / wait_for).exists() and process.poll() is None:
        assert time.monotonic() < deadline, f"{wait_for} never appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "manifest.json").exists(), "killed before the end"
    resumed = subprocess.run(
        _command(source, out, work), check=True, env=env, capture_output=True, text=True
    )
    assert "reused from an earlier run" in resumed.stdout
    names = sorted(path.name for path in reference.iterdir() if path.is_file())
    assert names == sorted(path.name for path in out.iterdir() if path.is_file())
    for name in names:
        if name == "funnel.json":  # timings differ; compare everything else
            left = json.loads((reference / name).read_text())
            right = json.loads((out / name).read_text())
            for stage in left["stages"] + right["stages"]:
                stage.pop("seconds"), stage.pop("resumed")
            assert left == right
        elif name not in ("funnel.html", "manifest.json"):
            assert (reference / name).read_bytes() == (out / name).read_bytes(), name
