"""Kill a running `amfast distill` with SIGKILL, rerun it: no key missing or duplicated, and
the shards the killed run had finished are left byte for byte as they were."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from distill_servers import shard_rows, write_jsonl

from amfast.cli.main import main

N_PROMPTS, N_SAMPLES = 20, 3


def sealed_shards(output: Path) -> dict[str, tuple[str, int]]:
    """Finished shards: each data file, with its outcomes file (the data file, renamed last,
    marks a shard finished)."""
    files = []
    for data in (output / "shards").glob("*.parquet"):
        files += [data, data.with_name(data.name.replace(".parquet", ".outcomes.jsonl"))]
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in files
    }


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, tiny_teacher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"id": f"q{i}", "prompt": f"what is the sum of {i} and two"} for i in range(N_PROMPTS)]
    source = write_jsonl(tmp_path / "p.jsonl", rows)  # type: ignore[arg-type]
    out = tmp_path / "out"
    argv = [
        "distill", str(source), "-o", str(out), "--backend", "transformers",
        "--model", str(tiny_teacher), "--device", "cpu", "--samples", str(N_SAMPLES),
        "--max-tokens", "16", "--truncation", "keep", "--shard-rows", "4", "--no-progress",
    ]  # fmt: skip
    job = subprocess.Popen(
        [sys.executable, "-m", "amfast.cli.main", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = out / "journal-00000-of-00001.jsonl"
    try:
        while len(list((out / "shards").glob("*.parquet"))) < 2 or not journal.exists():
            assert job.poll() is None, "the job finished before it could be killed"
            time.sleep(0.01)
        os.kill(job.pid, signal.SIGKILL)
    finally:
        job.kill()
        job.wait()
    finished = sealed_shards(out)
    done_before = len(shard_rows(out))
    assert 0 < done_before < N_PROMPTS * N_SAMPLES

    assert main(argv) == 0, capsys.readouterr().out

    counts = Counter(row["key"] for row in shard_rows(out))
    expected = {f"q{i}:{j}" for i in range(N_PROMPTS) for j in range(N_SAMPLES)}
    assert set(counts) == expected
    assert max(counts.values()) == 1
    after = sealed_shards(out)
    assert {name: after[name] for name in finished} == finished
    assert not journal.exists()
