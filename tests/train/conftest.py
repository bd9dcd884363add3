"""Fixtures for training tests (the builders live in `sft_fixtures`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from sft_fixtures import am_rows, build_model, build_tokenizer, write_jsonl


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return build_tokenizer()


@pytest.fixture(scope="session")
def am_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 AM-schema rows as JSONL."""
    return write_jsonl(tmp_path_factory.mktemp("data") / "am.jsonl", am_rows(32))
