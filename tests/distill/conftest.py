"""Fixtures for distillation tests (the helpers live in `distill_servers`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("aiohttp")

from distill_servers import HERE, MATH500, transformers_server

from loopback_servers import ServerProcess, free_port
from tiny_models import build_tiny_teacher


@pytest.fixture(scope="session")
def endless_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny teacher without an end-of-sequence token: it always hits max_tokens."""
    return build_tiny_teacher(tmp_path_factory.mktemp("endless"), stops=False)


@pytest.fixture(scope="session")
def openai_server(tiny_teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `transformers serve` running the tiny teacher (shared by the session)."""
    server = transformers_server(tiny_teacher, tmp_path_factory.mktemp("logs"))
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fault_server(openai_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the fault-planting proxy in front of `openai_server`."""
    port = free_port()
    upstream = openai_server.removesuffix("/v1")
    command = [
        sys.executable,
        str(HERE / "fault_server.py"),
        "--port",
        str(port),
        "--upstream",
        upstream,
    ]
    server = ServerProcess(command, port, tmp_path_factory.mktemp("logs") / "fault.log")
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def math_rows() -> list[dict[str, str]]:
    """Real MATH-500 problems with their reference answers (skips without the benchmark data)."""
    if not MATH500.is_file():
        pytest.skip(f"benchmark data not found at {MATH500}")
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()[:40]]
    return [
        {"id": row["unique_id"], "prompt": row["problem"], "reference_answer": row["answer"]}
        for row in rows
    ]
