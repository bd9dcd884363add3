"""Reading the prompts to distill: AM-schema rows, or flat JSONL/Parquet rows with a prompt field.

An AM-schema row (it has `messages`) asks its first user message; `reference_answer`,
`test_case` and `source` come from that message's `info`. A flat row asks `prompt_field` (a
dotted path), with `reference_answer`, `test_case` and `source` read from top-level fields of
those names when present.

A row that cannot be asked (unreadable line, missing or empty prompt, duplicate id) becomes a
`BadRow` naming its place in the file and the problem; the other rows go on.

Each prompt gets a stable id: the row's `id_field` when set and present, else a hash of the
prompt text, so a rerun (or another machine) gives every prompt the same id.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from amfast.distill.prompting import PromptSpec
from amfast.errors import InputError
from amfast.io import file_format, iter_raw_lines
from amfast.schema import field_at


@dataclass(frozen=True)
class BadRow:
    """An input row that was skipped, and why."""

    location: str
    error: str


@dataclass(frozen=True)
class Prompts:
    """The prompts of an input file, in file order, and the rows that were skipped."""

    specs: list[PromptSpec]
    bad_rows: list[BadRow]


def prompt_id_of(text: str) -> str:
    """A stable id for a prompt without one: the first 16 hex digits of its SHA-256.

    Example:
        >>> prompt_id_of("What is 1+1?")
        '31adf3e245f99d7b'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _iter_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(location, record) per row; an unreadable row comes as its error message."""
    if file_format(path) == "parquet":
        try:
            parquet = pq.ParquetFile(path)
            row = 0
            for batch in parquet.iter_batches(batch_size=4096):
                for record in batch.to_pylist():
                    yield f"{path}:row {row}", record
                    row += 1
        except (OSError, pa.ArrowInvalid) as error:
            raise InputError(f"{path}: cannot read as Parquet: {error}") from error
        return
    for line_number, raw in iter_raw_lines(path):
        location = f"{path}:{line_number}"
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            yield location, f"invalid JSON: {error}"
            continue
        if isinstance(record, dict):
            yield location, record
        else:
            yield location, f"expected a JSON object, got {type(record).__name__}"


def _text_or_none(value: Any) -> str | None:  # noqa: ANN401 - JSON values are untyped
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def _spec_of(record: dict[str, Any], prompt_field: str, location: str) -> PromptSpec:
    """The prompt of one row; ValueError says what is wrong with it."""
    if isinstance(record.get("messages"), list):
        users = [m for m in record["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            raise ValueError("no user message in 'messages'")
        info: dict[str, Any] = users[0].get("info") or {}
        if not isinstance(info, dict):
            raise ValueError("the user message's 'info' is not an object")
        prompt, what = users[0].get("content"), "the user message's content"
        reference, tests, source = (
            info.get("reference_answer"),
            info.get("test_case"),
            info.get("source"),
        )
    else:
        try:
            prompt = field_at(record, prompt_field)
        except KeyError:
            raise ValueError(f"prompt field {prompt_field!r} is missing") from None
        what = f"prompt field {prompt_field!r}"
        reference, tests, source = (
            record.get("reference_answer"),
            record.get("test_case"),
            record.get("source"),
        )
    if not isinstance(prompt, str):
        kind = "null" if prompt is None else type(prompt).__name__
        raise ValueError(f"{what} is {kind}, expected a string")
    if not prompt.strip():
        raise ValueError(f"{what} is empty")
    return PromptSpec(
        prompt_id="",
        prompt=prompt,
        reference_answer=_text_or_none(reference),
        test_case=tests if tests not in (None, "", {}, []) else None,
        source=_text_or_none(source),
        location=location,
    )


def read_prompts(
    path: str | os.PathLike[str], *, prompt_field: str = "prompt", id_field: str | None = "id"
) -> Prompts:
    """Every prompt of `path` (JSONL, .gz, .zst or Parquet), with the rows that were skipped.

    Raises:
        InputError: The file is missing or unreadable as a whole.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such input file")
    specs: list[PromptSpec] = []
    bad_rows: list[BadRow] = []
    seen: dict[str, str] = {}
    for location, record in _iter_records(path):
        if isinstance(record, str):
            bad_rows.append(BadRow(location, record))
            continue
        try:
            spec = _spec_of(record, prompt_field, location)
        except ValueError as error:
            bad_rows.append(BadRow(location, str(error)))
            continue
        given_id = _text_or_none(record.get(id_field)) if id_field else None
        prompt_id = given_id or prompt_id_of(spec.prompt)
        if prompt_id in seen:
            what = "id" if given_id else "prompt"
            bad_rows.append(
                BadRow(
                    location,
                    f"duplicate {what} (prompt id {prompt_id}, first at {seen[prompt_id]})",
                )
            )
            continue
        seen[prompt_id] = location
        specs.append(
            PromptSpec(
                prompt_id=prompt_id,
                prompt=spec.prompt,
                reference_answer=spec.reference_answer,
                test_case=spec.test_case,
                source=spec.source,
                location=location,
            )
        )
    return Prompts(specs, bad_rows)
