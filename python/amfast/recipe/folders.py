"""A run folder's files: stage markers and the JSONL rows stages hand each other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amfast.io import AtomicWriter, iter_jsonl

MARKER = "recipe-stage.json"
"""Written in a stage's folder when it finishes: its fingerprint and summary."""


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The finished stage's marker in `folder`, or None when it has not finished."""
    try:
        marker: dict[str, Any] = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker


def read_started(folder: Path) -> str | None:
    """The fingerprint the stage in `folder` was started with, or None."""
    try:
        return str(json.loads((folder / "recipe-started.json").read_text())["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_json(path: Path, value: Any) -> None:  # noqa: ANN401 - any JSON value
    """Writes `value` as JSON, atomically."""
    with AtomicWriter(path) as temporary:
        temporary.write_text(json.dumps(value, indent=1, default=str) + "\n")


def write_rows(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    """Writes `rows` as JSONL, atomically; returns how many."""
    count = 0
    with AtomicWriter(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Every row of the JSONL files `paths`, in order."""
    for path in paths:
        for line in iter_jsonl(path):
            yield line.record


def parts_of(folder: Path, pattern: str = "*.jsonl") -> list[Path]:
    """The row files of `folder` matching `pattern`, in name order (never the marker)."""
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.name != MARKER)
