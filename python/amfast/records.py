"""Rows as dicts, from a file or a stage's output folder: what label, selection and export read.

A row is either in the AM message schema (`messages[{role, content, info}]`; the first user
message is the query, the last assistant message the response) or flat (`{id, problem, ...}`).
Labels and verdicts live in `info`: the user message's for AM rows, a top-level `info` object for
flat rows, so a labelled row stays in the shape it came in.

A folder is read as a stage left it (`amfast.io.input_files`). Each row comes with its location
(`file:line` or `file: row N`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amfast.errors import InputError
from amfast.io import AtomicWriter, UnreadableRow, field_at, input_files, read_records

Row = dict[str, Any]


def iter_records(path: str | os.PathLike[str]) -> Iterator[tuple[str, Row]]:
    """`(location, row)` of every row of a file or folder (`amfast.io.input_files`), in order.

    Raises:
        InputError: An unreadable file or line, naming file and line (or row).
    """
    for location, row in read_records(path):
        if isinstance(row, UnreadableRow):
            raise InputError(f"{location}: {row.message}")
        yield location, row


def user_message(row: Row) -> Row | None:
    """The first user message of an AM row (None for a flat row)."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        return None
    return next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)


def assistant_message(row: Row) -> Row | None:
    """The last assistant message of an AM row (None when there is none)."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        return None
    replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    return replies[-1] if replies else None


def query_of(row: Row, prompt_field: str, location: str) -> str:
    """The query: the first user message's content, or `prompt_field` of a flat row.

    Raises:
        InputError: No query there, naming the location and the field.
    """
    user = user_message(row)
    if user is not None:
        value, what = user.get("content"), "the user message's content"
    elif isinstance(row.get("messages"), list):
        raise InputError(f"{location}: no user message in 'messages'")
    else:
        try:
            value, what = field_at(row, prompt_field), f"field {prompt_field!r}"
        except KeyError:
            raise InputError(f"{location}: field {prompt_field!r} is missing") from None
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise InputError(f"{location}: {what} is {kind}, expected a string")
    return value


def response_of(row: Row, response_field: str | None = None) -> str | None:
    """The response: the last assistant message's content, or `response_field` of a flat row."""
    reply = assistant_message(row)
    if reply is not None:
        content = reply.get("content")
        return content if isinstance(content, str) else None
    if response_field:
        try:
            value = field_at(row, response_field)
        except KeyError:
            return None
        return value if isinstance(value, str) else None
    return None


def info_of(row: Row) -> Row:
    """The `info` that holds the row's labels (created when missing; see the module docs)."""
    holder = user_message(row) or row
    info = holder.get("info")
    if not isinstance(info, dict):
        info = {}
        holder["info"] = info
    return info


def value_at(row: Row, field: str) -> Any:  # noqa: ANN401 - JSON values are untyped
    """A label or field: the labels' `info` first, then a dotted path into the row (read only).

    Example:
        >>> value_at({"level": "Level 2", "info": {"difficulty": "easy"}}, "difficulty")
        'easy'
        >>> value_at({"level": "Level 2"}, "level")
        'Level 2'
    """
    holder = user_message(row) or row
    info = holder.get("info")
    if isinstance(info, dict) and field in info:
        return info[field]
    try:
        return field_at(row, field)
    except KeyError:
        return None


def row_id_of(row: Row, id_field: str | None, query: str) -> str:
    """The row's stable id: `id_field`, else `prompt_id` (distill rows), else a hash of the query.

    The hash is `amfast distill`'s prompt id, so a prompt keeps one id across the stages.

    Example:
        >>> row_id_of({}, "id", "What is 1+1?")
        '31adf3e245f99d7b'
    """
    for name in (id_field, "prompt_id"):
        value = row.get(name) if name else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:16]


def check_output_apart(input_path: str | os.PathLike[str], output: str | os.PathLike[str]) -> None:
    """Refuses an output folder that is, holds or lies inside the input (it would overwrite it).

    Raises:
        InputError: The two overlap.
    """
    source, target = Path(input_path).resolve(), Path(output).resolve()
    if source == target or source.is_relative_to(target) or target.is_relative_to(source):
        raise InputError(f"{output}: the output folder may not overlap the input {input_path}")


def write_json(path: Path, document: Any) -> None:  # noqa: ANN401 - any JSON value
    """Writes `document` as indented JSON, atomically."""
    with AtomicWriter(path) as temporary:
        text = json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        temporary.write_text(text, encoding="utf-8")


def read_json(path: Path) -> Any:  # noqa: ANN401 - any JSON value
    """The JSON document at `path`, or None when it is missing or broken (a stale marker)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def input_fingerprint(path: str | os.PathLike[str]) -> list[list[Any]]:
    """Name, size and modification time of every input file: what a finished stage read."""
    return [[str(file), file.stat().st_size, file.stat().st_mtime_ns] for file in input_files(path)]
