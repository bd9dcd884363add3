"""FSDP2 across 2 processes on CPU (gloo, started by `amfast train --nproc-per-node 2`), and a
run killed after a checkpoint that resumes on the loss curve of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch.distributed as dist

from amfast.train.sft import SftConfig, train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_gloo_available(), reason="torch was built without gloo"),
]
STEPS = 8


def _flags(model: Path, data: Path, output: Path) -> list[str]:
    return [
        "--model", str(model), "--data", str(data), "--output-dir", str(output),
        "--max-seq-len", "512", "--global-batch-size", "2", "--lr", "3e-3",
        "--max-steps", str(STEPS), "--num-proc", "1", "--save-every", "2", "--keep-last", "2",
        "--no-export", "--nproc-per-node", "2", "--loss-chunk-tokens", "64",
    ]  # fmt: skip


def _command(model: Path, data: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "amfast.cli.main", "train", *_flags(model, data, output)]


def _run(model: Path, data: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """The 2-rank training command to its end, on a free port."""
    command = [*_command(model, data, output), "--master-port", _free_port()]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _losses(output: Path) -> list[float]:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@pytest.fixture(scope="module")
def two_process_run(
    tiny_model: Path, am_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    output = tmp_path_factory.mktemp("fsdp2")
    port = _free_port()
    command = [*_command(tiny_model, am_data, output), "--master-port", port]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return output


def test_two_processes_match_one_process_on_the_same_global_batch(
    two_process_run: Path, tiny_model: Path, am_data: Path, tmp_path: Path
) -> None:
    config = SftConfig(
        model=str(tiny_model), data=str(am_data), output_dir=str(tmp_path), max_seq_len=512,
        global_batch_size=2, lr=3e-3, max_steps=STEPS, num_proc=1, save_every=0, export=False,
        loss_chunk_tokens=0,
    )  # fmt: skip
    # ... and the 2 ranks run the chunked loss (64 positions a chunk), this one full logits.
    single = train(config).losses
    assert len(single) == STEPS
    assert _losses(two_process_run) == pytest.approx(single, rel=1e-4)
    saved = json.loads(
        (two_process_run / "checkpoints" / f"step-{STEPS:08d}" / "trainer_state.json").read_text()
    )
    assert saved["world_size"] == 2
    assert saved["step"] == STEPS


def test_killed_run_resumes_on_the_uninterrupted_loss_curve(
    two_process_run: Path, tiny_model: Path, am_data: Path, tmp_path: Path
) -> None:
    port = _free_port()
    command = [*_command(tiny_model, am_data, tmp_path), "--master-port", port]
    log = (tmp_path / "killed.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    first = tmp_path / "checkpoints" / "step-00000002"
    deadline = time.monotonic() + 300
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # torchrun starts each rank in a session of its own: killing the launcher's group must
    # still end them (they die with their agent), or they write checkpoints next to the resume.
    ranks = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and torchrun's agent, mid-run
    process.wait()
    log.close()
    _, alive = psutil.wait_procs(ranks, timeout=60)
    assert not alive, f"processes outlived their launcher: {[p.pid for p in alive]}"
    assert first.exists(), (tmp_path / "killed.log").read_text()[-4000:]
    finished = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*"))
    assert f"step-{STEPS:08d}" not in finished, "the run finished before it could be killed"

    resumed = _run(tiny_model, am_data, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "amfast: resuming from" in resumed.stderr
    assert _losses(tmp_path) == pytest.approx(_losses(two_process_run), rel=1e-6)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == [f"step-{STEPS - 2:08d}", f"step-{STEPS:08d}"]


def test_a_finished_run_started_again_resumes_at_its_end_and_exits_cleanly(
    two_process_run: Path, tiny_model: Path, am_data: Path, tmp_path: Path
) -> None:
    # The same command run twice (a scheduler retry, a user): nothing left to train.
    output = tmp_path / "again"
    shutil.copytree(two_process_run, output)
    before = _losses(output)
    again = _run(tiny_model, am_data, output)
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"resuming from {output / 'checkpoints' / f'step-{STEPS:08d}'}" in again.stderr
    assert _losses(output) == before
