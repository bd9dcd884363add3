"""Test support for distillation: a tiny random-weight Qwen2 teacher built from a config, and
real OpenAI-compatible server processes on loopback (`transformers serve` running that teacher
on CPU, and an aiohttp proxy in front of it that can plant faults).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amfast.distill.store import read_sample_rows

HERE = Path(__file__).parent
MATH500 = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "eval" / "math500.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class ServerProcess:
    """A server subprocess on loopback; `stop()` and `start()` it again on the same port."""

    command: list[str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> None:
        env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not _healthy(f"http://127.0.0.1:{self.port}/health"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def transformers_server(model: Path, log_dir: Path) -> ServerProcess:
    port = free_port()
    serve = Path(sys.executable).parent / "transformers"
    command = [
        str(serve), "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--device", "cpu", "--log-level", "warning",
    ]  # fmt: skip
    return ServerProcess(command, port, log_dir / f"serve-{port}.log")


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def shard_rows(output: Path) -> list[dict[str, Any]]:
    """Every sample row in the sealed shards of a job's output directory."""
    shards = output / "shards"
    files = sorted([*shards.glob("*.parquet"), *shards.glob("*[0-9].jsonl")])
    return [row for path in files for row in read_sample_rows(path)]
