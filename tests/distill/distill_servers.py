"""Test support for distillation: real OpenAI-compatible server processes on loopback
(`transformers serve` running the tiny random-weight teacher on CPU, and an aiohttp proxy in
front of it that can plant faults), started through `loopback_servers.ServerProcess`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from amfast.distill.store import read_sample_rows
from loopback_servers import ServerProcess, free_port

HERE = Path(__file__).parent
MATH500 = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "eval" / "math500.jsonl"


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
