"""Evaluation benchmark files: their items' texts and ids, as decontamination compares them.

MATH-500 / AIME / AMC JSONL (`problem`), AIME 2025 QwQ (`prompt`, the instruction suffix is
stripped), GPQA-Diamond CSV (`Question`), LiveCodeBench JSON / JSONL (`problem` or
`question_content`), or any JSONL with a named field.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amfast.errors import InputError
from amfast.io import iter_jsonl

TEXT_FIELDS = ("problem", "question", "Question", "question_content", "prompt", "text")
"""Fields tried, in order, when a benchmark file's text field is not named."""
ID_FIELDS = ("unique_id", "id", "question_id", "task_id", "Record ID")
INSTRUCTION_SUFFIXES = (
    "\nPlease reason step by step, and put your final answer within \\boxed{}.",
)
"""Prompt suffixes stripped from benchmark items (QwQ's AIME 2025 prompts end with this)."""


@dataclass(frozen=True)
class Benchmark:
    """An evaluation set: its name, item texts and item ids."""

    name: str
    texts: list[str]
    ids: list[str]


def _records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if path.name.endswith((".json", ".json.gz")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON array of objects")
        return data
    return [line.record for line in iter_jsonl(path)]


def load_benchmark(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    text_field: str | None = None,
    id_field: str | None = None,
) -> Benchmark:
    """Reads a benchmark file (JSONL, JSON array, or CSV such as GPQA's `gpqa_diamond.csv`).

    Args:
        path: The file.
        name: Benchmark name (default: the file name without extensions).
        text_field: The item text field (default: the first of `TEXT_FIELDS` present).
        id_field: The item id field (default: the first of `ID_FIELDS`, else the row number).

    Raises:
        InputError: Missing file or field, or an item whose text is not a string.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    records = _records(path)
    name = name or path.name.split(".")[0]
    if not records:
        return Benchmark(name, [], [])
    text_field = text_field or next((f for f in TEXT_FIELDS if f in records[0]), None)
    if text_field is None or text_field not in records[0]:
        raise InputError(f"{path}: no text field (tried {TEXT_FIELDS}); name one")
    id_field = id_field or next((f for f in ID_FIELDS if f in records[0]), None)
    texts, ids = [], []
    for row, record in enumerate(records):
        text = record.get(text_field)
        if not isinstance(text, str):
            raise InputError(f"{path}: item {row}: field {text_field!r} is not a string")
        for suffix in INSTRUCTION_SUFFIXES:
            text = text.removesuffix(suffix)
        texts.append(text)
        ids.append(str(record.get(id_field, row)) if id_field else str(row))
    return Benchmark(name, texts, ids)
