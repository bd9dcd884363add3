"""Reading the prompts to distill: any input kind, AM-schema or flat rows, through `FieldMap`.

Rows are read by `amfast.io.read_records` (a file, a folder of shards such as `amfast clean`'s
output, JSONL/.gz/.zst, Parquet, Arrow, `datasets` folders) and mapped by
`amfast.schema.read_sample`: an AM row asks its first user message, with `reference_answer`,
`test_case` and `source` from that message's `info`; a flat row asks its prompt field (named,
or the first of `problem`, `prompt`, `question`...), with the reference answer, test case and
source from the fields named or found (`reference_answer`, `answer`, `solution`...).

A row that cannot be asked (unreadable line, missing or empty prompt, duplicate id) becomes a
`BadRow` naming its place in the file and the problem; the other rows go on.

Each prompt gets a stable id: the row's `id_field` when set and present, else a hash of the
prompt text, so a rerun (or another machine) gives every prompt the same id.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from amfast.distill.prompting import PromptSpec
from amfast.io import read_records
from amfast.schema import FieldMap, RowProblem, is_present, read_sample


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


def _text_or_none(value: Any) -> str | None:  # noqa: ANN401 - JSON values are untyped
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def _spec_of(record: dict[str, Any], fields: FieldMap, location: str, use_ids: bool) -> PromptSpec:
    """The prompt of one row (its id: the row's, else a hash); ValueError says what is wrong."""
    try:
        sample = read_sample(record, fields)
    except RowProblem as problem:
        raise ValueError(f"prompt {problem}") from None
    if not sample.prompt.strip():
        raise ValueError(f"prompt field {fields.prompt or 'of the row'!r} is empty")
    tests = sample.test_case
    return PromptSpec(
        prompt_id=(sample.id if use_ids else None) or prompt_id_of(sample.prompt),
        prompt=sample.prompt,
        reference_answer=_text_or_none(sample.reference_answer),
        test_case=tests if is_present(tests) else None,
        source=_text_or_none(sample.source),
        location=location,
    )


def read_prompts(
    path: str | os.PathLike[str],
    *,
    fields: FieldMap | None = None,
    prompt_field: str | None = None,
    id_field: str | None = "id",
) -> Prompts:
    """Every prompt of `path` (any input kind), with the rows that were skipped.

    Args:
        path: a file or a folder (see `amfast.io.input_files`).
        fields: where flat rows keep prompt, reference, tests, source and id.
        prompt_field: shorthand for `fields.prompt` (used when `fields` is None).
        id_field: shorthand for `fields.id`; None: ids are hashes of the prompts.

    Raises:
        InputError: The path is missing or unreadable as a whole.
    """
    fields = fields or FieldMap(prompt=prompt_field, id=id_field)
    specs: list[PromptSpec] = []
    bad_rows: list[BadRow] = []
    seen: dict[str, str] = {}
    for location, record in read_records(path):
        if not isinstance(record, dict):
            bad_rows.append(BadRow(location, str(record)))
            continue
        try:
            spec = _spec_of(record, fields, location, use_ids=fields.id is not None)
        except ValueError as error:
            bad_rows.append(BadRow(location, str(error)))
            continue
        if spec.prompt_id in seen:
            what = "prompt" if spec.prompt_id == prompt_id_of(spec.prompt) else "id"
            first = seen[spec.prompt_id]
            message = f"duplicate {what} (prompt id {spec.prompt_id}, first at {first})"
            bad_rows.append(BadRow(location, message))
            continue
        seen[spec.prompt_id] = location
        specs.append(spec)
    return Prompts(specs, bad_rows)
