"""Killed and interrupted runs, as a user sees them: real processes, SIGKILL and SIGINT.

Each run is killed once its first durable piece of work exists (polled, not timed), then rerun
with the same command: the result must equal an uninterrupted run's, byte for byte, and no
temporary file may be left where an output glob sees it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import amfast
from amfast.outputs import TEMPORARY_MARK

PYTHONPATH = str(Path(amfast.__file__).parent.parent)


def amfast_process(*args: str | Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    return subprocess.Popen(
        [sys.executable, "-m", "amfast.cli.main", *(str(arg) for arg in args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def run_amfast(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    process = amfast_process(*args)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def signal_when(process: subprocess.Popen[bytes], ready: Path, signum: int) -> bool:
    """Sends `signum` once `ready` exists; False when the process ended first."""
    deadline = time.monotonic() + 600
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    process.send_signal(signum)
    return True


def opened(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (Linux /proc)."""
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return str(path) in links


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def temporaries(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if TEMPORARY_MARK in path.name]


@pytest.fixture(scope="module")
def corpus(benchmarks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12,000 real math problems (the shared corpus), with their exact and near duplicates."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    source = benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz"
    with gzip.open(source, "rb") as lines, path.open("wb") as out:
        for _, line in zip(range(12_000), lines, strict=False):
            out.write(line)
    return path


def clean_args(corpus: Path, out: Path) -> list[str | Path]:
    return [
        "clean", corpus, "-o", out, "--text-field", "problem", "--shard-rows", "1000",
        "--no-progress", "--num-threads", "1",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def clean_reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("reference") / "out"
    assert run_amfast(*clean_args(corpus, out)).returncode == 0
    return finished_outputs(out)


def finished_outputs(out: Path) -> dict[str, object]:
    """Everything a run leaves but its work folder; the funnel without its timings."""
    found: dict[str, object] = {
        name: data
        for name, data in files(out).items()
        if not name.startswith("_work") and name != "funnel.html"
    }
    funnel = json.loads(found.pop("funnel.json"))  # type: ignore[arg-type]
    for stage in funnel["stages"]:
        stage.pop("seconds"), stage.pop("resumed")
    return found | {"funnel.json": funnel}


@pytest.mark.slow
def test_clean_killed_then_rerun_equals_an_uninterrupted_run(
    corpus: Path, clean_reference: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = amfast_process(*clean_args(corpus, out))
    started = signal_when(process, out / "_work" / "ingest" / "part-00001.arrow", signal.SIGKILL)
    process.communicate(timeout=600)
    assert started, "the run ended before it could be killed"
    # What a killed run leaves is either finished or hidden from every output glob.
    assert not [p for p in out.glob("part-*") if TEMPORARY_MARK in p.name]
    # A temporary of a process that is gone is removed by the next run.
    stale = out / f".part-00000.jsonl{TEMPORARY_MARK}999999999"
    stale.write_bytes(b"half a shard")
    rerun = run_amfast(*clean_args(corpus, out))
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert finished_outputs(out) == clean_reference
    assert temporaries(out) == []


@pytest.mark.slow
def test_clean_resumes_after_its_folder_moved(
    corpus: Path, clean_reference: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "first"
    process = amfast_process(*clean_args(corpus, out))
    started = signal_when(process, out / "_work" / "ingest" / "part-00002.arrow", signal.SIGKILL)
    process.communicate(timeout=600)
    assert started
    moved = tmp_path / "second"
    shutil.move(out, moved)
    rerun = run_amfast(*clean_args(corpus, moved))
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert finished_outputs(moved) == clean_reference
    why = run_amfast("why", moved, "#0")
    assert why.returncode == 0, why.stderr.decode()


@pytest.mark.slow
def test_clean_interrupted_exits_130_without_a_traceback_and_resumes(
    corpus: Path, clean_reference: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = amfast_process(*clean_args(corpus, out))
    started = signal_when(process, out / "_work" / "ingest" / "part-00000.arrow", signal.SIGINT)
    _, err = process.communicate(timeout=600)
    assert started
    assert process.returncode == 130, err.decode()
    text = err.decode()
    assert "amfast: interrupted; finished steps are kept" in text
    assert "Traceback" not in text
    assert "PanicException" not in text
    assert run_amfast(*clean_args(corpus, out)).returncode == 0
    assert finished_outputs(out) == clean_reference


@pytest.mark.slow
def test_dedup_interrupted_in_the_rust_core_exits_130_and_writes_nothing(
    corpus: Path, tmp_path: Path
) -> None:
    args = ["dedup", corpus, "-o", tmp_path / "kept.jsonl", "--text-field", "problem"]
    args += ["--ngram", "2", "--batch-rows", "500", "--num-threads", "1"]
    # Ctrl-C once the input is open: at once, while reading, inside the MinHash calls, and
    # around the end, where the output is written and the interpreter shuts down. (Ctrl-C
    # during `import amfast` itself is Python's, before amfast runs.)
    for delay in (0.0, 0.5, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.5, 3.0):
        process = amfast_process(*args)
        while process.poll() is None and not opened(process.pid, corpus):
            time.sleep(0.01)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=600)
        text = err.decode()
        assert "Traceback" not in text
        assert "PanicException" not in text
        assert "panicked" not in text
        if (tmp_path / "kept.jsonl").exists():
            # The output was complete before the signal landed (the run was ending): exit 0,
            # or 130 when the signal came while the summary printed; never a half-written file
            # or a left temporary, and never a death by SIGINT.
            assert process.returncode in (0, 130), text
            assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.jsonl"]
            (tmp_path / "kept.jsonl").unlink()
            continue
        assert process.returncode == 130, text
        assert sorted(path.name for path in tmp_path.iterdir()) == []


def write_verify_rows(path: Path, benchmarks_dir: Path) -> Path:
    with gzip.open(benchmarks_dir / "math" / "math_test.jsonl.gz", "rt", encoding="utf-8") as f:
        problems = [json.loads(line) for _, line in zip(range(60), f, strict=False)]
    with path.open("w", encoding="utf-8") as out:
        for number, row in enumerate(problems):
            answer = "2" if number % 2 else "3"
            record = {
                "prompt": row["problem"],
                "response": f"So the answer is \\boxed{{{answer}}}.",
                "reference_answer": "2",
            }
            out.write(json.dumps(record) + "\n")
        out.write("{broken line\n")
    return path


@pytest.mark.slow
def test_verify_killed_then_rerun_equals_an_uninterrupted_run(
    benchmarks_dir: Path, tmp_path: Path
) -> None:
    source = write_verify_rows(tmp_path / "rows.jsonl", benchmarks_dir)
    common = ["--num-threads", "1", "--shard-rows", "5", "--no-progress"]
    reference = tmp_path / "reference.jsonl"
    assert run_amfast("verify", source, "-o", reference, *common).returncode == 0
    out = tmp_path / "verified.jsonl"
    process = amfast_process("verify", source, "-o", out, *common)
    ready = tmp_path / "verified.jsonl.parts" / "part-000001.jsonl"
    started = signal_when(process, ready, signal.SIGKILL)
    process.communicate(timeout=600)
    assert started
    assert not out.exists()
    rerun = run_amfast("verify", source, "-o", out, *common)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert out.read_bytes() == reference.read_bytes()
    assert temporaries(tmp_path) == []
