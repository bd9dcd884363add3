"""Input rows for `amfast clean`: every format in, one tolerant row model out.

Formats: JSONL (plain, `.gz`, `.zst`), Parquet, Arrow IPC (file or stream), and Hugging Face
`datasets` saved with `save_to_disk` (a folder with `state.json`; read with pyarrow, so
`datasets` itself is not needed) or a `datasets.Dataset` object. A folder of shards is read file
by file in name order. Everything streams in chunks of `chunk_rows`.

Rows are read tolerantly: AM message-schema rows (`messages[{role, content, info}]`, with
`info.source`, `info.reference_answer`, `info.test_case` as object, string or null) and flat rows
(`{problem, answer}`, `{prompt, response}`...) through a `FieldMap`. A line that cannot be used
(invalid UTF-8 or JSON, not an object, a missing or non-string text) becomes a `RowError` naming
file, line and field; the rest of the file is still read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from amfast.errors import InputError
from amfast.io import _lookup, iter_raw_lines

TEXT_FIELDS = ("problem", "prompt", "question", "query", "instruction", "text")
RESPONSE_FIELDS = ("response", "completion", "output")
REFERENCE_FIELDS = ("reference_answer", "answer", "solution")
TEST_CASE_FIELDS = ("test_case", "test_cases", "tests")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class FieldMap:
    """Where each part of a row lives; `None` means "find it" (AM schema, then common names).

    Attributes:
        text: The query (dotted paths allowed: `messages.0.content`).
        response: The response, if any.
        source: The row's source name.
        id: A stable id already in the data; otherwise `<file>:<line or row>`.
        reference: A reference answer (only its presence matters here, for keep priority).
        test_case: Test cases (presence only).
    """

    text: str | None = None
    response: str | None = None
    source: str | None = None
    id: str | None = None
    reference: str | None = None
    test_case: str | None = None


@dataclass
class Row:
    """One usable row in the clean pipeline's model."""

    row_id: str
    source: str
    text: str
    response: str | None
    has_reference: bool
    has_test_case: bool
    record: str


@dataclass
class RowError:
    """A row that could not be used, with where and why."""

    row_id: str
    source: str
    reason: str
    message: str
    record: str


@dataclass
class Chunk:
    """Up to `chunk_rows` consecutive input rows of one file; `parse` turns them into rows."""

    path: Path
    first: int
    raw: list[tuple[int, Any]] = field(default_factory=list)


def input_files(path: str | os.PathLike[str]) -> list[Path]:
    """The data files under `path` (itself when a file), in name order.

    Raises:
        InputError: Nothing readable there.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    state = path / "state.json"
    if state.is_file():
        try:
            files = [item["filename"] for item in json.loads(state.read_text())["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{state}: not a datasets save_to_disk state: {error}") from error
        return [path / name for name in files]
    found = sorted(item for item in path.rglob("*") if item.is_file() and _format(item))
    if not found:
        raise InputError(f"{path}: no .jsonl[.gz|.zst], .parquet or .arrow files in this folder")
    return found


def _format(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz").removesuffix(".zst")
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    return None


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Record batches of an Arrow IPC file or stream (datasets writes streams)."""
    try:
        with pa.memory_map(str(path)) as source:
            try:
                reader: Any = pa.ipc.open_file(source)
                for index in range(reader.num_record_batches):
                    yield reader.get_batch(index)
            except pa.ArrowInvalid:
                source.seek(0)
                yield from pa.ipc.open_stream(source)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: not a readable Arrow IPC file: {error}") from error


def _table_batches(path: Path, kind: str) -> Iterator[pa.RecordBatch]:
    if kind == "arrow":
        yield from _arrow_batches(path)
        return
    try:
        yield from pq.ParquetFile(path).iter_batches(batch_size=16_384)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from error


def iter_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Consecutive chunks of raw rows: `(line, bytes)` for JSONL, `(row, dict)` otherwise."""
    kind = _format(path)
    if kind is None:
        raise InputError(f"{path}: unknown format; use .jsonl[.gz|.zst], .parquet or .arrow")
    chunk = Chunk(path, 0)
    if kind == "jsonl":
        rows: Iterator[tuple[int, Any]] = iter_raw_lines(path)
    else:
        rows = (
            (position, record)
            for position, record in enumerate(
                record for batch in _table_batches(path, kind) for record in batch.to_pylist()
            )
        )
    for count, item in enumerate(rows, start=1):
        chunk.raw.append(item)
        if len(chunk.raw) == chunk_rows:
            yield chunk
            chunk = Chunk(path, count)
    if chunk.raw:
        yield chunk


def dataset_records(dataset: Any) -> Iterator[dict[str, Any]]:  # noqa: ANN401 - datasets.Dataset
    """The rows of an in-memory `datasets.Dataset` (its Arrow table, batch by batch)."""
    table = dataset.data.table if hasattr(dataset, "data") else dataset
    for batch in table.to_batches(max_chunksize=16_384):
        yield from batch.to_pylist()


class RowParser:
    """Turns raw rows into `Row`s or `RowError`s under one `FieldMap`."""

    def __init__(self, fields: FieldMap) -> None:
        """Remembers the mapping; lookups are resolved per row (rows may differ in shape)."""
        self.fields = fields

    def parse(self, chunk: Chunk) -> list[Row | RowError]:
        """Every raw row of the chunk, in order."""
        name = chunk.path.name
        jsonl = _format(chunk.path) == "jsonl"
        out: list[Row | RowError] = []
        append = out.append
        for number, raw in chunk.raw:
            where = f"{chunk.path}:{number}" if jsonl else f"{chunk.path}: row {number}"
            fallback_id = f"{name}:{number}"
            if jsonl:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    message = f"{where}: invalid UTF-8 at byte {error.start}"
                    record = raw.decode("utf-8", "replace")
                    append(RowError(fallback_id, "", "invalid_utf8", message, record))
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as error:
                    message = f"{where}: invalid JSON: {error.msg} at column {error.colno}"
                    append(RowError(fallback_id, "", "bad_json", message, text))
                    continue
                if not isinstance(value, dict):
                    message = f"{where}: expected a JSON object, got {type(value).__name__}"
                    append(RowError(fallback_id, "", "bad_json", message, text))
                    continue
            else:
                value, text = raw, json.dumps(raw, ensure_ascii=False, default=str)
            append(self._row(value, text, where, fallback_id))
        return out

    def _row(
        self, record: dict[str, Any], raw: str, where: str, fallback_id: str
    ) -> Row | RowError:
        fields = self.fields
        messages = record.get("messages")
        user = assistant = None
        if isinstance(messages, list):
            for message in messages:
                if isinstance(message, dict):
                    role = message.get("role")
                    if role == "user" and user is None:
                        user = message
                    elif role == "assistant":
                        assistant = message
        user_info = _info(user)
        row_id = _string(record, fields.id or "id") or fallback_id
        source = (
            _string(record, fields.source)
            if fields.source
            else _string(record, "source") or _string(user_info, "source")
        ) or ""
        if fields.text:
            text_field = fields.text
            found, text = _get(record, text_field)
        elif user is not None:
            text_field = "messages[user].content"
            found, text = "content" in user, user.get("content")
        else:
            text_field = next((name for name in TEXT_FIELDS if name in record), TEXT_FIELDS[0])
            found, text = _get(record, text_field)
        if not found:
            message = f"{where}: field {text_field!r} is missing"
            return RowError(row_id, source, "missing_field", message, raw)
        if not isinstance(text, str):
            kind = "null" if text is None else type(text).__name__
            message = f"{where}: field {text_field!r} is {kind}, expected a string"
            return RowError(row_id, source, "wrong_type", message, raw)
        if fields.response:
            response = _string(record, fields.response)
        elif assistant is not None:
            response = assistant.get("content")
            response = response if isinstance(response, str) else None
        else:
            response = next(
                (record[name] for name in RESPONSE_FIELDS if isinstance(record.get(name), str)),
                None,
            )
        reference = _present(record, user_info, fields.reference, REFERENCE_FIELDS)
        test_case = _present(record, user_info, fields.test_case, TEST_CASE_FIELDS)
        return Row(row_id, source, text, response, reference, test_case, raw)


def first_record_check(record: dict[str, Any], fields: FieldMap, where: str) -> None:
    """Fails fast when the first row lacks the text field: the mapping itself is wrong.

    Raises:
        InputError: Naming the field and the fields the row has.
    """
    if fields.text is None:
        if "messages" in record or any(name in record for name in TEXT_FIELDS):
            return
        raise InputError(
            f"{where}: no text field found (looked for messages or {', '.join(TEXT_FIELDS)}); "
            f"name it with --text-field (fields: {sorted(record)})"
        )
    found, _ = _get(record, fields.text)
    if not found:
        raise InputError(
            f"{where}: field {fields.text!r} is missing (fields: {sorted(record)}); "
            "check --text-field"
        )


def _info(message: dict[str, Any] | None) -> dict[str, Any]:
    info = message.get("info") if message else None
    return info if isinstance(info, dict) else {}


def _get(record: dict[str, Any], path: str) -> tuple[bool, Any]:
    try:
        return True, _lookup(record, path)
    except KeyError:
        return False, None


def _string(record: dict[str, Any], path: str | None) -> str | None:
    if not path:
        return None
    found, value = _get(record, path)
    if not found or value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _present(
    record: dict[str, Any], info: dict[str, Any], path: str | None, names: tuple[str, ...]
) -> bool:
    """Whether a reference / test case is there (non-empty), wherever it is."""
    if path:
        value = _get(record, path)[1]
    else:
        value = next(
            (where[name] for where in (info, record) for name in names if name in where), None
        )
    return value not in (None, "", [], {}, "null")
