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
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from amfast.errors import InputError
from amfast.io import (
    LineBlock,
    input_kind,
    iter_line_blocks,
    table_batches,
)
from amfast.outputs import AtomicWriter, write_text_atomically
from amfast.schema import (
    PROMPT_FIELDS,
    REFERENCE_FIELDS,
    RESPONSE_FIELDS,
    TEST_CASE_FIELDS,
    FieldMap,
    RowProblem,
    field_at,
    read_sample,
)
from amfast.stage import FRAME_SCHEMA, fingerprint

if TYPE_CHECKING:
    from amfast.clean.config import CleanConfig

TEXT_FIELDS = PROMPT_FIELDS  # the query field's old name here
# A JSONL block that pyarrow cannot read is halved down to this many lines, then read line by line.
ROW_BY_ROW_LINES = 256
# Blocks of a few MB parse as fast as pyarrow's default 1 MB and leave fewer chunks to join.
JSON_READ_OPTIONS = pajson.ReadOptions(block_size=8 << 20)
# The ingest shards of `amfast clean`: the frame's columns, and each row's `record` as read (the
# JSONL line, or the row as JSON) followed by `\n`, so kept JSONL rows are written by
# concatenation; `error` / `message` say why a row could not be read.
SHARD_SCHEMA = pa.schema(
    [
        *[field for field in FRAME_SCHEMA if field.name != "priority"],
        pa.field("record", pa.large_string()),
        pa.field("error", pa.string()),
        pa.field("message", pa.string()),
    ]
)


def read_shard(path: Path, columns: list[str] | None = None) -> pa.Table:
    """An ingest shard (`SHARD_SCHEMA`, Arrow IPC file), memory-mapped: columns are not copied."""
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    return table.select(columns) if columns else table


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
    """Up to `chunk_rows` consecutive input rows of one file; `parse` turns them into rows.

    Attributes:
        path: The file.
        first: Position of the first row in the file.
        records: `(row, dict)` of Parquet / Arrow rows.
        lines: The JSONL lines, when the file is JSONL.
    """

    path: Path
    first: int
    records: list[tuple[int, Any]] = field(default_factory=list)
    lines: LineBlock | None = None

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.lines) if self.lines is not None else len(self.records)

    @property
    def raw(self) -> list[tuple[int, Any]]:
        """`(line, bytes)` for JSONL, `(row, dict)` otherwise."""
        return list(self.lines.lines()) if self.lines is not None else self.records


def iter_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Consecutive chunks of raw rows: `(line, bytes)` for JSONL, `(row, dict)` otherwise."""
    kind = input_kind(path)
    if kind is None:
        raise InputError(f"{path}: unknown format; use .jsonl[.gz|.zst], .parquet or .arrow")
    if kind == "jsonl":
        first = 0
        for block in iter_line_blocks(path, chunk_rows):
            yield Chunk(path, first, lines=block)
            first += len(block)
        return
    batches = table_batches(path, 16_384)
    rows = enumerate(record for batch in batches for record in batch.to_pylist())
    chunk = Chunk(path, 0)
    for count, item in enumerate(rows, start=1):
        chunk.records.append(item)
        if len(chunk.records) == chunk_rows:
            yield chunk
            chunk = Chunk(path, count)
    if chunk.records:
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

    def table(self, chunk: Chunk, first_row: int) -> pa.Table:
        """The chunk as a `SHARD_SCHEMA` table, rows numbered from `first_row`.

        JSONL is parsed as a whole block by pyarrow and its fields taken column by column. A
        block that pyarrow refuses, or whose shape the columns cannot tell exactly (a bad line,
        a field that is sometimes missing...), is cut in halves until the parts that still fail
        are at most `ROW_BY_ROW_LINES` lines, which go through `parse`, row by row.
        """
        if chunk.lines is None:
            return rows_table(self.parse(chunk), first_row)
        return pa.concat_tables(self._line_tables(chunk, first_row))

    def _line_tables(self, chunk: Chunk, first_row: int) -> list[pa.Table]:
        lines = chunk.lines
        assert lines is not None
        fast = _block_table(chunk, self.fields, first_row)
        if fast is not None:
            return [fast]
        if len(lines) <= ROW_BY_ROW_LINES:
            return [rows_table(self.parse(chunk), first_row)]
        half = len(lines) // 2
        return [
            *self._line_tables(
                Chunk(chunk.path, chunk.first, lines=lines.slice(0, half)), first_row
            ),
            *self._line_tables(
                Chunk(chunk.path, chunk.first + half, lines=lines.slice(half, len(lines))),
                first_row + half,
            ),
        ]

    def parse(self, chunk: Chunk) -> list[Row | RowError]:
        """Every raw row of the chunk, in order."""
        name = chunk.path.name
        jsonl = input_kind(chunk.path) == "jsonl"
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
        try:
            sample = read_sample(record, self.fields)
        except RowProblem as problem:
            row_id = _string(record, self.fields.id or "id") or fallback_id
            source = _string(record, self.fields.source or "source") or ""
            return RowError(row_id, source, problem.reason, f"{where}: {problem}", raw)
        return Row(
            sample.id or fallback_id,
            sample.source or "",
            sample.prompt,
            sample.response,
            sample.has_reference,
            sample.has_test_case,
            raw,
        )


def first_record_check(record: dict[str, Any], fields: FieldMap, where: str) -> None:
    """Fails fast when the first row lacks the text field: the mapping itself is wrong.

    Raises:
        InputError: Naming the field and the fields the row has.
    """
    if fields.prompt is None:
        if "messages" in record or any(name in record for name in TEXT_FIELDS):
            return
        raise InputError(
            f"{where}: no text field found (looked for messages or {', '.join(TEXT_FIELDS)}); "
            f"name it with --text-field (fields: {sorted(record)})"
        )
    found, _ = _get(record, fields.prompt)
    if not found:
        raise InputError(
            f"{where}: field {fields.prompt!r} is missing (fields: {sorted(record)}); "
            "check --text-field"
        )


def _get(record: dict[str, Any], path: str) -> tuple[bool, Any]:
    try:
        return True, field_at(record, path)
    except KeyError:
        return False, None


def _string(record: dict[str, Any], path: str | None) -> str | None:
    if not path:
        return None
    found, value = _get(record, path)
    if not found or value is None:
        return None
    return value if isinstance(value, str) else str(value)


def rows_table(rows: list[Row | RowError], first_row: int) -> pa.Table:
    """Parsed rows as a `SHARD_SCHEMA` table, numbered from `first_row`."""
    columns: dict[str, list[Any]] = {name: [] for name in SHARD_SCHEMA.names}
    for offset, item in enumerate(rows):
        columns["row"].append(first_row + offset)
        columns["row_id"].append(item.row_id)
        columns["source"].append(item.source)
        columns["record"].append(item.record + "\n")
        if isinstance(item, Row):
            columns["text"].append(item.text)
            columns["response"].append(item.response)
            columns["has_reference"].append(item.has_reference)
            columns["has_test_case"].append(item.has_test_case)
            columns["error"].append(None)
            columns["message"].append(None)
        else:
            columns["text"].append(None)
            columns["response"].append(None)
            columns["has_reference"].append(False)
            columns["has_test_case"].append(False)
            columns["error"].append(item.reason)
            columns["message"].append(item.message)
    return pa.table(columns, schema=SHARD_SCHEMA)


# --- JSONL blocks through pyarrow: the same rows as `RowParser._row`, column by column ---


class _RowByRow(Exception):
    """The block has a shape whose columns cannot reproduce `RowParser._row` exactly."""


def _block_table(chunk: Chunk, fields: FieldMap, first_row: int) -> pa.Table | None:
    """The chunk's rows via `pyarrow.json`, or None when it must be read row by row."""
    block = chunk.lines
    if block is None or (np.frombuffer(block.data, np.uint8)[block.starts] == 0xEF).any():
        return None  # a byte-order mark, which `json.loads` refuses, may start a line
    try:
        records = block.as_arrow().cast(pa.large_string())  # checks UTF-8
        parsed = pajson.read_json(pa.py_buffer(block.data), read_options=JSON_READ_OPTIONS)
    except pa.ArrowException:
        return None
    if parsed.num_rows != len(block):  # two objects on one line
        return None
    try:
        columns = _fields(parsed, fields, chunk.path.name, block.numbers)
    except _RowByRow:
        return None
    rows = len(block)
    nulls = pa.nulls(rows, pa.string())
    return pa.table(
        {
            "row": pa.array(np.arange(first_row, first_row + rows, dtype=np.int64)),
            **columns,
            "record": records,
            "error": nulls,
            "message": nulls,
        },
        schema=SHARD_SCHEMA,
    )


def _fields(
    table: pa.Table, fields: FieldMap, name: str, numbers: np.ndarray
) -> dict[str, pa.Array]:
    """The `FRAME_SCHEMA` fields of every row of a parsed block (see `RowParser._row`)."""
    rows = table.num_rows
    user, assistant = _roles(table)
    info = _struct_field(user, "info")
    if info is not None and not pa.types.is_struct(info.type):
        info = None  # an `info` that is not an object counts as empty
    if fields.prompt:
        text = _path(table, fields.prompt)
    elif user is not None:
        if user.null_count:  # rows without a user message look elsewhere for their text
            raise _RowByRow
        text = _struct_field(user, "content")
    else:
        text = next(
            (_path(table, name) for name in TEXT_FIELDS if name in table.column_names), None
        )
    if text is None or text.null_count or not _is_string(text.type):
        raise _RowByRow  # missing, null or not a string: the row-by-row reader names it
    ids = _non_empty(_strings(_path(table, fields.id or "id"), rows))
    if ids.null_count:
        numbered = pc.binary_join_element_wise(f"{name}:", pa.array(numbers).cast(pa.string()), "")
        ids = pc.coalesce(ids, numbered.cast(pa.large_string()))
    if fields.source:
        sources = [_path(table, fields.source)]
    else:
        sources = [_struct_field(info, "source"), _path(table, "source")]
    source = pc.coalesce(
        *[_non_empty(_strings(value, rows)) for value in sources], pa.scalar("", pa.large_string())
    )
    if fields.response:
        response = _strings(_path(table, fields.response), rows)
    else:
        flat = [_path(table, name) for name in RESPONSE_FIELDS]
        strings = [
            value.cast(pa.large_string())
            for value in flat
            if value is not None and _is_string(value)
        ]
        response = pc.coalesce(*strings, pa.nulls(rows, pa.large_string()))
        if assistant is not None:
            content = _struct_field(assistant, "content")
            if content is None or not _is_string(content):
                content = pa.nulls(rows, pa.large_string())
            response = pc.if_else(assistant.is_valid(), content.cast(pa.large_string()), response)
    return {
        "row_id": ids.cast(pa.string()),
        "source": source.cast(pa.string()),
        "text": text.cast(pa.large_string()),
        "response": response,
        "has_reference": _presence(table, info, fields.reference, REFERENCE_FIELDS),
        "has_test_case": _presence(table, info, fields.test_case, TEST_CASE_FIELDS),
    }


def _is_string(values: pa.Array | pa.DataType | None) -> bool:
    kind = values.type if isinstance(values, pa.Array) else values
    return kind is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _struct_field(values: pa.Array | None, name: str) -> pa.Array | None:
    """`values[name]` per row (null where the row is null); None when no row can have it."""
    if values is None or not pa.types.is_struct(values.type):
        return None
    if values.type.get_field_index(name) < 0:
        return None
    return pc.struct_field(values, name)


def _path(table: pa.Table, path: str) -> pa.Array | None:
    """The dotted path through objects; None when no row has it (list indexes: row by row)."""
    first, *rest = path.split(".")
    if first not in table.column_names:
        return None
    values: pa.Array | None = table.column(first).combine_chunks()
    for part in rest:
        if values is None or not pa.types.is_struct(values.type):
            raise _RowByRow
        values = _struct_field(values, part)
    return values


def _strings(values: pa.Array | None, rows: int) -> pa.Array:
    """`_string`: the value as a string (integers written out), null when missing or null."""
    if values is None:
        return pa.nulls(rows, pa.large_string())
    kind = values.type
    if _is_string(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind):
        return values.cast(pa.large_string())
    raise _RowByRow  # str() of floats, booleans and objects differs from an Arrow cast


def _non_empty(values: pa.Array) -> pa.Array:
    """Empty strings as nulls (the `or` in `RowParser._row`); copies only when there is one."""
    empty = pc.equal(pc.binary_length(values), 0)
    if not pc.any(empty).as_py():
        return values
    return pc.if_else(empty, pa.scalar(None, values.type), values)


def _roles(table: pa.Table) -> tuple[pa.Array | None, pa.Array | None]:
    """The first `user` and the last `assistant` message of each row (null where none)."""
    messages = _path(table, "messages")
    if messages is None or pa.types.is_null(messages.type):
        return None, None
    if not pa.types.is_list(messages.type) or not pa.types.is_struct(messages.type.value_type):
        raise _RowByRow
    flat = pc.list_flatten(messages)
    parents = pc.list_parent_indices(messages).to_numpy()
    roles = _struct_field(flat, "role")
    picked = []
    for role, last in (("user", False), ("assistant", True)):
        position = np.full(len(messages), -1, np.int64)
        if _is_string(roles):
            is_role = pc.fill_null(pc.equal(roles, role), False)
            hits = np.flatnonzero(is_role.to_numpy(zero_copy_only=False))
            hits = hits[::-1] if last else hits
            owners, first = np.unique(parents[hits], return_index=True)
            position[owners] = hits[first]
        picked.append(flat.take(pa.array(position, mask=position < 0)))
    return picked[0], picked[1]


def _presence(
    table: pa.Table, info: pa.Array | None, path: str | None, names: tuple[str, ...]
) -> pa.Array:
    """`_present` per row: the first of `names` in `info`, then in the row, is non-empty."""
    rows = table.num_rows
    if path:
        found = [value for value in [_path(table, path)] if value is not None]
    else:
        candidates = [_struct_field(info, name) for name in names]
        candidates += [_path(table, name) for name in names]
        found = [value for value in candidates if value is not None]
    present = np.zeros(rows, bool)
    taken = np.zeros(rows, bool)  # a candidate before this one was not null
    for value in found:
        valid = value.is_valid().to_numpy(zero_copy_only=False)
        present |= ~taken & _non_empty_value(value)
        taken |= valid
    return pa.array(present)


def _non_empty_value(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Whether each value is there and not one of `"", [], {}, "null"`."""
    kind = values.type
    valid: npt.NDArray[np.bool_] = values.is_valid().to_numpy(zero_copy_only=False)
    if _is_string(kind):
        valid &= ~pc.fill_null(pc.is_in(values, pa.array(["", "null"], kind)), True).to_numpy(
            zero_copy_only=False
        )
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        valid &= pc.fill_null(pc.list_value_length(values), 0).to_numpy() > 0
    elif pa.types.is_struct(kind):
        children = np.zeros(len(values), bool)
        for index in range(kind.num_fields):
            children |= pc.struct_field(values, index).is_valid().to_numpy(zero_copy_only=False)
        if (valid & ~children).any():
            raise _RowByRow  # `{}` and `{"x": null}` read the same
    return valid


def strip_newline(records: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Shard `record` values without the newline each one ends with."""
    return pc.utf8_slice_codeunits(records, 0, -1)


def read_state(path: Path) -> dict[str, Any]:
    """A state file's settings; `{}` when it is missing or damaged (the step is redone)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def prepare(config: CleanConfig, files: list[Path]) -> str:
    """The ingest fingerprint; clears state from another config (or all with `restart`)."""
    work = config.work_path
    if config.restart and work.exists():
        shutil.rmtree(work)
    stats = [(str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    key = fingerprint(stats, config.fields.__dict__, config.shard_rows, config.dedup_on)
    state = work / "state.json"
    if read_state(state).get("ingest") != key:
        shutil.rmtree(work / "ingest", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    write_text_atomically(state, json.dumps({"ingest": key}))
    return key


def ingest(config: CleanConfig, files: list[Path]) -> list[Path]:
    """Parses the input into Arrow shards under the work dir; finished shards are skipped."""
    folder = config.work_path / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    parser = RowParser(config.fields)
    shards: list[Path] = []
    first_row = 0
    checked = False
    with config.progress_bar("read") as bar:
        for path in files:
            for chunk in iter_chunks(path, config.shard_rows):
                shard = folder / f"part-{len(shards):05d}.arrow"
                shards.append(shard)
                if not shard.is_file():
                    table = compared_text(parser.table(chunk, first_row), config.dedup_on)
                    if not checked:
                        _check_first(table, chunk, config)
                    with (
                        AtomicWriter(shard) as temporary,
                        pa.OSFile(str(temporary), "wb") as sink,
                        pa.ipc.new_file(sink, SHARD_SCHEMA) as writer,
                    ):
                        writer.write_table(table)
                checked = True
                first_row += len(chunk)
                bar.update(len(chunk))
    return shards


def compared_text(table: pa.Table, dedup_on: str) -> pa.Table:
    """The shard with `text` as the stages compare it: the prompt, or prompt + response.

    With `prompt_response`, the samples of one prompt differ by their responses, so `clean`
    used as a filter on distilled or verified samples drops only true duplicates.
    """
    if dedup_on == "prompt":
        return table
    response = pc.coalesce(table.column("response"), pa.scalar("", pa.large_string()))
    separator = pa.scalar("\n\n", pa.large_string())
    joined = pc.binary_join_element_wise(table.column("text"), response, separator)
    return table.set_column(table.schema.get_field_index("text"), "text", joined)


def _check_first(table: pa.Table, chunk: Chunk, config: CleanConfig) -> None:
    """A wrong field mapping fails at once, naming the field, instead of dropping every row."""
    for position, reason in enumerate(table.column("error").to_pylist()):
        if reason is None:
            return
        if reason in ("missing_field", "wrong_type"):
            record = json.loads(table.column("record")[position].as_py())
            number = chunk.raw[position][0]
            first_record_check(record, config.fields, f"{chunk.path}:{number}")
            if reason == "wrong_type" and chunk.lines is None:
                # A typed column is wrong for every row: say so instead of dropping them all.
                raise InputError(
                    f"{table.column('message')[position].as_py()}; a Parquet/Arrow column has "
                    "one type for all rows: check --text-field"
                )
            return


def read_errors(table: pa.Table) -> pa.Table:
    """The rows of ingest shards (`row`, `error` columns) that could not be read, as decisions."""
    errors = table.filter(pc.is_valid(table.column("error")))
    return pa.table(
        {
            "row": errors.column("row"),
            "reason": errors.column("error"),
            "kept_row": pa.array(np.full(errors.num_rows, -1), pa.int64()),
            "score": pa.array(np.full(errors.num_rows, np.nan), pa.float64()),
            "detail": pa.nulls(errors.num_rows, pa.string()),
        }
    )


def read_shard_empty(names: list[str]) -> pa.Table:
    """An ingest shard with no rows, holding `names` and `error`."""
    return SHARD_SCHEMA.empty_table().select([*names, "error"])
