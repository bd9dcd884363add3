"""Reading every input kind as record batches or rows, and writing row subsets atomically.

Inputs: a file or a folder. Files are JSONL (plain, `.gz`, `.zst`), Parquet (read by row
groups, streaming) and Arrow IPC (file or stream); a folder is a stage's output (its `shards/`
or `part-*` files), a Hugging Face `datasets` folder saved with `save_to_disk` (read with
pyarrow: `datasets` itself is not needed), or any folder of such files. The kind of a file is
decided once, by `input_kind`; `input_files` lists what a path holds and `read_batches` /
`read_records` read it. A text field is a top-level key or a dotted path into nested objects
and lists (`messages.0.content`). Every problem names the file, the 1-based line (JSONL) or
0-based row, and the field.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from amfast.errors import InputError
from amfast.outputs import AtomicWriter as AtomicWriter  # re-exported: its old home
from amfast.schema import field_at as field_at  # public here too (io.field_at predates schema)

Format = Literal["jsonl", "parquet"]
InputKind = Literal["jsonl", "parquet", "arrow"]
DEFAULT_BATCH_SIZE = 65_536
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
# Files a stage writes next to its data that are not rows (summaries, audits, outcomes).
_NOT_ROWS = (
    ".outcomes.jsonl",
    ".audit.json",
    "summary.json",
    "run.json",
    "state.json",
    "manifest.json",
    "funnel.json",
)
# Ledgers, indexes and markers a stage writes beside its rows (`dropped.parquet`, ...).
_SIDE_FILES = ("dropped", "ledger", "row_index", "funnel", "manifest", "journal", "recipe-")


def input_kind(path: str | os.PathLike[str]) -> InputKind | None:
    """The kind of a data file by its name, or None when it is not one.

    Example:
        >>> input_kind("a/part-00000.jsonl.zst"), input_kind("x.arrow"), input_kind("x.csv")
        ('jsonl', 'arrow', None)
    """
    name = Path(path).name.lower().removesuffix(".gz").removesuffix(".zst")
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    return None


def file_format(path: str | os.PathLike[str]) -> Format:
    """The format implied by a file name (`.jsonl`, `.json`, `.gz`/`.zst` of those, `.parquet`)."""
    kind = input_kind(path)
    if kind == "jsonl" or kind == "parquet":
        return kind
    raise InputError(f"{path}: unknown format; use .jsonl[.gz|.zst] or .parquet")


def _is_rows(path: Path, root: Path) -> bool:
    """A data file of rows under `root`, not in a work folder and not a stage report."""
    name = path.name
    inside = path.relative_to(root).parts[:-1]
    return (
        input_kind(path) is not None
        and not name.endswith((*_NOT_ROWS, ".json"))  # in a folder, .json files are reports
        and not name.startswith(_SIDE_FILES)
        and ".tmp-" not in name
        and not any(part.startswith(("_", ".")) or part.endswith(".parts") for part in inside)
        and path.is_file()
    )


def input_files(path: str | os.PathLike[str]) -> list[Path]:
    """The data files behind `path`, in name order.

    A file is itself. A folder is, in this order: a `datasets` save (its `state.json` lists
    the files); a stage's output with a `shards/` folder (distill), `part-*` files (clean,
    dedup, label, select) or `am_*` files (export), which alone are read (not the ledger or
    reports beside them); else every data file below it except work folders (`_work`, hidden
    ones, `*.parts`), stage reports (`.json`: name such a file to read it) and ledgers
    (`dropped*`, `ledger*`, ...).

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
    if (path / "shards").is_dir():
        path = path / "shards"
    for shards in ("part-*", "am_*"):  # clean, dedup, label, select; export's release
        parts = sorted(item for item in path.glob(shards) if _is_rows(item, path))
        if parts:
            return parts
    found = sorted(item for item in path.rglob("*") if _is_rows(item, path))
    if not found:
        raise InputError(f"{path}: no .jsonl[.gz|.zst], .parquet or .arrow files in this folder")
    return found


def _open_binary(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.name.endswith(".zst"):
        try:
            import zstandard  # optional dependency
        except ImportError as error:
            raise InputError(f"{path}: reading .zst needs `pip install amfast[zstd]`") from error
        # The raw reader has no readline: buffer it so lines can be iterated.
        reader = zstandard.ZstdDecompressor().stream_reader(
            path.open("rb"), read_across_frames=True
        )
        return io.BufferedReader(reader)
    return path.open("rb")


def _broken_file_errors() -> tuple[type[Exception], ...]:
    """What reading a broken file raises: I/O, gzip and (once imported) zstandard errors."""
    errors: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
    zstandard = sys.modules.get("zstandard")
    return (*errors, zstandard.ZstdError) if zstandard is not None else errors


@dataclass
class JsonlLine:
    """One JSONL record with its raw bytes (written back verbatim when the row is kept)."""

    line_number: int
    raw: bytes
    record: dict[str, Any]


def _open_input(path: Path) -> IO[bytes]:
    """`_open_binary`, with an unreadable file reported as an InputError naming it."""
    try:
        return _open_binary(path)
    except OSError as error:
        raise InputError(f"{path}: cannot open: {error.strerror or error}") from error


def iter_raw_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a (possibly compressed) text file with their 1-based numbers.

    Raises:
        InputError: The file cannot be opened, or is broken or truncated.
    """
    path = Path(path)
    handle = _open_input(path)
    with handle:
        try:
            for line_number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield line_number, raw.rstrip(b"\r\n")
        except _broken_file_errors() as error:
            raise InputError(f"{path}: broken or truncated file: {error}") from error


# Bytes that `bytes.strip()` removes: a line of only these is blank.
_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[list(b" \t\n\r\x0b\x0c")] = True
READ_BYTES = 1 << 23


@dataclass(frozen=True)
class LineBlock:
    r"""Consecutive non-blank lines of a file located in one buffer, without a bytes object each.

    Line `i` is `data[starts[i]:ends[i]]` (no `\r\n`), line number `numbers[i]` (1-based, blank
    lines counted); `data` also holds what lies between the lines (line breaks, blank lines)
    and ends with a newline.
    """

    data: bytes
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    numbers: npt.NDArray[np.int64]

    def __len__(self) -> int:
        """Number of lines."""
        return len(self.starts)

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """`(line number, bytes)` of every line, like `iter_raw_lines`."""
        data = self.data
        for number, start, end in zip(
            self.numbers.tolist(), self.starts.tolist(), self.ends.tolist(), strict=True
        ):
            yield number, data[start:end]

    def slice(self, begin: int, end: int) -> LineBlock:
        """Lines `begin` to `end` (exclusive) as a block of their own (a copy of their bytes)."""
        low, high = int(self.starts[begin]), int(self.ends[end - 1]) + 1  # up to its newline
        return LineBlock(
            self.data[low:high],
            self.starts[begin:end] - low,
            self.ends[begin:end] - low,
            self.numbers[begin:end],
        )

    def as_arrow(self) -> pa.LargeBinaryArray:
        r"""The lines, each followed by one `\n`, as one Arrow array.

        When the lines are separated by single newlines (the usual file), the array shares
        `data`; otherwise (`\r\n`, blank lines) the bytes are copied once, in numpy.
        """
        data = np.frombuffer(self.data, np.uint8)
        count = len(self)
        offsets = np.empty(count + 1, np.int64)
        if count == 0:
            offsets[0], chars = 0, data[:0]
        elif np.array_equal(self.starts[1:], self.ends[:-1] + 1) and self.ends[-1] + 1 == len(data):
            offsets[:-1], offsets[-1] = self.starts, len(data)  # starts[0] is 0
            chars = data
        else:
            inside = np.zeros(len(data) + 1, np.int8)
            inside[self.starts] += 1
            inside[self.ends] -= 1
            keep = np.cumsum(inside[:-1], dtype=np.int8).view(bool)
            keep[self.ends] = True  # where each line's newline goes
            chars = data[keep]
            offsets[0] = 0
            np.cumsum(self.ends - self.starts + 1, out=offsets[1:])
            chars[offsets[1:] - 1] = ord("\n")
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(chars)]
        return pa.LargeBinaryArray.from_buffers(pa.large_binary(), count, buffers)


def _split_lines(
    buffer: bytes, first_number: int, final: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """`(starts, ends, numbers, consumed)` of the non-blank complete lines in `buffer`.

    A last line without a newline counts only when `final`; `consumed` is where it starts.
    """
    data = np.frombuffer(buffer, np.uint8)
    breaks = np.flatnonzero(data == ord("\n")).astype(np.int64)
    consumed = int(breaks[-1]) + 1 if len(breaks) else 0
    starts = np.empty(len(breaks), np.int64)
    starts[:1] = 0
    starts[1:] = breaks[:-1] + 1
    ends = breaks.copy()
    if final and consumed < len(buffer):
        starts = np.append(starts, consumed)
        ends = np.append(ends, len(buffer))
        consumed = len(buffer)
    numbers = np.arange(first_number, first_number + len(starts), dtype=np.int64)
    while True:  # `rstrip(b"\r\n")`: a line may end in several carriage returns
        carriage = (ends > starts) & (data[np.maximum(ends - 1, 0)] == ord("\r"))
        if not carriage.any():
            break
        ends[carriage] -= 1
    # A line is blank when it strips to nothing; only one starting with whitespace can be.
    suspect = np.flatnonzero(
        (ends == starts) | _WHITESPACE[data[np.minimum(starts, max(len(data) - 1, 0))]]
    )
    blank = [i for i in suspect.tolist() if not buffer[starts[i] : ends[i]].strip()]
    if blank:
        keep = np.ones(len(starts), bool)
        keep[blank] = False
        starts, ends, numbers = starts[keep], ends[keep], numbers[keep]
    return starts, ends, numbers, consumed


def iter_line_blocks(
    path: str | os.PathLike[str], max_lines: int, read_bytes: int = READ_BYTES
) -> Iterator[LineBlock]:
    """The non-blank lines of a (possibly compressed) file in blocks of `max_lines` lines.

    The same lines and numbers as `iter_raw_lines`, found with numpy over large reads instead of
    one Python object per line.

    Raises:
        InputError: The file cannot be opened, or is broken or truncated.
    """
    path = Path(path)
    handle = _open_input(path)
    with handle:
        pending, first_number, final = b"", 1, False
        while not final:
            parts, breaks = [pending], pending.count(b"\n")
            while not final and (breaks < max_lines or len(parts) == 1):
                try:
                    data = handle.read(read_bytes)
                except _broken_file_errors() as error:
                    raise InputError(f"{path}: broken or truncated file: {error}") from error
                final = not data
                parts.append(data)
                breaks += data.count(b"\n")
            buffer = b"".join(parts)
            starts, ends, numbers, consumed = _split_lines(buffer, first_number, final)
            full = len(starts) if final else len(starts) - len(starts) % max_lines
            for begin in range(0, full, max_lines):
                stop = min(begin + max_lines, full)
                low, high = int(starts[begin]), int(ends[stop - 1])
                newline = buffer[high : high + 1] == b"\n"
                yield LineBlock(
                    buffer[low : high + 1] if newline else buffer[low:high] + b"\n",
                    starts[begin:stop] - low,
                    ends[begin:stop] - low,
                    numbers[begin:stop],
                )
            if full < len(starts):
                resume = int(starts[full])
                first_number = int(numbers[full])
            else:
                resume = consumed
                first_number += buffer.count(b"\n", 0, consumed)
            pending = buffer[resume:]


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Record batches of an Arrow IPC file or stream (`datasets` writes streams), memory-mapped."""
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


def table_batches(
    path: Path, batch_rows: int = DEFAULT_BATCH_SIZE, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of one Parquet or Arrow IPC file.

    Raises:
        InputError: The file is unreadable or lacks one of `columns`.
    """
    if input_kind(path) == "arrow":
        for batch in _arrow_batches(path):
            yield _select(batch, columns, path)
        return
    parquet = _parquet_file(path)
    _select(parquet.schema_arrow.empty_table(), columns, path)
    try:
        yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from error


def _select(batch: Any, columns: list[str] | None, path: Path) -> Any:  # noqa: ANN401 - batch or table
    if columns is None:
        return batch
    missing = [name for name in columns if name not in batch.schema.names]
    if missing:
        raise InputError(f"{path}: columns {missing} are missing (columns: {batch.schema.names})")
    return batch.select(columns)


def _jsonl_batch(path: Path, block: LineBlock, columns: list[str] | None) -> pa.RecordBatch:
    """One block of JSONL lines parsed by pyarrow as a whole; a bad line is named."""
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(
            pa.py_buffer(block.data), read_options=pajson.ReadOptions(block_size=8 << 20)
        )
    except pa.ArrowException as error:
        for number, raw in block.lines():  # the line-by-line parser names the culprit
            parse_jsonl_line(path, number, raw)
        raise InputError(
            f"{path}: lines {block.numbers[0]}-{block.numbers[-1]}: rows of different shapes "
            f"that Arrow cannot put in one column ({error})"
        ) from error
    if table.num_rows != len(block):
        raise InputError(f"{path}: line {block.numbers[0]} or after: two JSON objects on one line")
    return _select(table, columns, path).combine_chunks().to_batches()[0]


def read_batches(
    path: str | os.PathLike[str],
    *,
    columns: list[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_SIZE,
) -> Iterator[pa.RecordBatch]:
    r"""Every row of `path` (any input kind, see `input_files`) as Arrow record batches.

    Columnar for every format: JSONL blocks are parsed by pyarrow, Parquet by row groups,
    Arrow IPC memory-mapped. Batches of different files may differ in schema.

    Raises:
        InputError: An unreadable file, a bad JSONL line or a missing column, named.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "part-0.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
        >>> [batch.num_rows for batch in read_batches(folder)]
        [2]
    """
    for file in input_files(path):
        if input_kind(file) == "jsonl":
            for block in iter_line_blocks(file, batch_rows):
                yield _jsonl_batch(file, block, columns)
        else:
            yield from table_batches(file, batch_rows, columns)


@dataclass(frozen=True)
class UnreadableRow:
    """A JSONL line that is not a JSON object: why (`message`) and the whole line (`raw`)."""

    message: str
    raw: str

    def __str__(self) -> str:
        """The message."""
        return self.message


def read_records(
    path: str | os.PathLike[str], batch_rows: int = 1024
) -> Iterator[tuple[str, dict[str, Any] | UnreadableRow]]:
    """`(where, row)` for every row of `path` (any input kind), in order, one dict per row.

    For stages that hand rows on whole (distill, verify, train). `where` is `file:line` for
    JSONL and `file: row N` otherwise; a JSONL line that is not a JSON object comes as an
    `UnreadableRow` so the caller can record it and go on. JSONL rows are parsed by
    `json` and not through Arrow, so they come back exactly as written (no keys added).

    Raises:
        InputError: A file that cannot be read at all.
    """
    for file in input_files(path):
        if input_kind(file) == "jsonl":
            for number, raw in iter_raw_lines(file):
                where = f"{file}:{number}"
                try:
                    yield where, parse_jsonl_line(file, number, raw).record
                except InputError as error:
                    message = str(error).removeprefix(f"{where}: ")
                    yield where, UnreadableRow(message, raw.decode("utf-8", "replace"))
            continue
        row = 0
        for batch in table_batches(file, batch_rows):
            for record in batch.to_pylist():
                yield f"{file}: row {row}", record
                row += 1


def parse_jsonl_line(path: str | os.PathLike[str], line_number: int, raw: bytes) -> JsonlLine:
    """Parses one JSONL line into an object, or raises InputError naming file and line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}:{line_number}: invalid UTF-8 at byte {error.start} "
            f"({raw[error.start : error.start + 1]!r})"
        ) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}:{line_number}: invalid JSON: {error.msg} at column {error.colno}"
        ) from None
    if not isinstance(record, dict):
        raise InputError(
            f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}"
        )
    return JsonlLine(line_number, raw, record)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[JsonlLine]:
    """Parses a JSONL file line by line; blank lines are skipped (and do not count as rows).

    Raises:
        InputError: Invalid UTF-8, invalid JSON or a non-object line, naming file and line.
    """
    for line_number, raw in iter_raw_lines(path):
        yield parse_jsonl_line(path, line_number, raw)


def text_of(line: JsonlLine, field: str, path: str | os.PathLike[str]) -> str:
    """The string at `field` of a JSONL record, or an InputError naming file, line and field."""
    try:
        value = field_at(line.record, field)
    except KeyError:
        raise InputError(f"{path}:{line.line_number}: field {field!r} is missing") from None
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise InputError(f"{path}:{line.line_number}: field {field!r} is {kind}, expected a string")
    return value


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from error


def _parquet_text_column(batch: pa.RecordBatch, field: str, path: Path, first_row: int) -> pa.Array:
    column = batch.column(field)
    if not (
        pa.types.is_string(column.type)
        or pa.types.is_large_string(column.type)
        or pa.types.is_string_view(column.type)
    ):
        raise InputError(f"{path}: column {field!r} is {column.type}, expected a string column")
    if column.null_count:
        row = first_row + next(i for i, valid in enumerate(column.is_valid()) if not valid.as_py())
        raise InputError(f"{path}: row {row}: field {field!r} is null, expected a string")
    return column


def _block_texts(block: LineBlock, field: str) -> pa.Array | None:
    """`field` of every line of a JSONL block, parsed by pyarrow for that field alone.

    None when the block needs the line-by-line reader: a line it cannot parse, a value that is
    missing, null or not a string, a list index in the path, a byte-order mark or invalid
    UTF-8 (the line reader names the line and the problem).
    """
    import pyarrow.json as pajson

    parts = field.split(".")
    if any(part.lstrip("-").isdigit() for part in parts):
        return None
    data = np.frombuffer(block.data, np.uint8)
    if len(block) == 0 or (data[block.starts] == 0xEF).any():
        return None  # a byte-order mark, which `json.loads` refuses, may start a line
    kind: pa.DataType = pa.large_string()
    for name in reversed(parts[1:]):
        kind = pa.struct([(name, kind)])
    options = pajson.ParseOptions(
        explicit_schema=pa.schema([(parts[0], kind)]), unexpected_field_behavior="ignore"
    )
    try:
        block.as_arrow().cast(pa.large_string())  # validates UTF-8 in one pass
        table = pajson.read_json(
            pa.py_buffer(block.data),
            read_options=pajson.ReadOptions(block_size=8 << 20),
            parse_options=options,
        )
    except pa.ArrowException:
        return None
    if table.num_rows != len(block):  # two objects on one line
        return None
    column = table.column(0).combine_chunks()
    for name in parts[1:]:
        column = pc.struct_field(column, name)
    return None if column.null_count else column


def iter_text_batches(
    path: str | os.PathLike[str], field: str, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[list[str] | pa.Array]:
    """Yields the texts of `field` in batches: Arrow arrays, or lists where JSONL needs them.

    JSONL blocks are parsed by pyarrow for `field` alone (no Python object per row); a block
    that pyarrow cannot read that way is read line by line, which names the bad line.

    Raises:
        InputError: A missing field, a non-string or null value, a broken file; the message
            names the file and the line or row.
    """
    path = Path(path)
    if file_format(path) == "parquet":
        parquet = _parquet_file(path)
        if field not in parquet.schema_arrow.names:
            raise InputError(
                f"{path}: field {field!r} is missing (columns: {parquet.schema_arrow.names})"
            )
        first_row = 0
        for batch in parquet.iter_batches(batch_size=batch_size, columns=[field]):
            yield _parquet_text_column(batch, field, path, first_row)
            first_row += batch.num_rows
        return
    for block in iter_line_blocks(path, batch_size):
        texts = _block_texts(block, field)
        if texts is not None:
            yield texts
            continue
        yield [
            text_of(parse_jsonl_line(path, number, raw), field, path)
            for number, raw in block.lines()
        ]


@dataclass(frozen=True)
class DroppedInfo:
    """Why each dropped row was dropped: parallel arrays indexed by row id."""

    representative: list[int]
    similarity: list[float]
    reason: str


def _open_text_output(temporary: Path, final: str | os.PathLike[str]) -> IO[bytes]:
    """Opens the temporary file, gzip-compressed when the final name ends in `.gz`."""
    if str(final).endswith(".gz"):
        return gzip.GzipFile(temporary, mode="wb", mtime=0)  # type: ignore[return-value]
    return temporary.open("wb")


def write_split(
    source: str | os.PathLike[str],
    keep: Sequence[bool] | npt.NDArray[np.bool_],
    kept_path: str | os.PathLike[str],
    dropped_path: str | os.PathLike[str] | None,
    dropped: DroppedInfo,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Re-reads `source` and writes kept rows to `kept_path`, dropped rows to `dropped_path`.

    Kept JSONL rows are copied byte for byte, a block of lines at a time; dropped rows get
    `row_id`, `dup_of` (the kept representative's row id), `similarity` and `reason`. Output
    format follows each file name. Both files appear only once complete.
    """
    source = Path(source)
    keep = np.asarray(keep, dtype=bool)
    with contextlib.ExitStack() as stack:
        kept_tmp = stack.enter_context(AtomicWriter(kept_path))
        dropped_tmp = stack.enter_context(AtomicWriter(dropped_path)) if dropped_path else None
        if file_format(source) == "parquet":
            _write_split_parquet(source, keep, kept_tmp, dropped_tmp, dropped, batch_size)
        else:
            dropped_target = (dropped_tmp, dropped_path) if dropped_tmp else None
            _write_split_jsonl(
                source, keep, (kept_tmp, kept_path), dropped_target, dropped, batch_size
            )


def _arrow_mask(mask: npt.NDArray[np.bool_]) -> pa.BooleanArray:
    """A numpy mask as an Arrow one, bit-packed in numpy (`pa.array` of numpy imports pandas)."""
    bits = pa.py_buffer(np.packbits(mask, bitorder="little"))
    return pa.BooleanArray.from_buffers(pa.bool_(), len(mask), [None, bits])


def _dropped_columns(rows: npt.NDArray[np.int64], dropped: DroppedInfo) -> dict[str, pa.Array]:
    return {
        "row_id": pa.array(rows, pa.int64()),
        "dup_of": pa.array(np.asarray(dropped.representative)[rows], pa.int64()),
        "similarity": pa.array(np.asarray(dropped.similarity)[rows], pa.float32()),
        "reason": pa.array([dropped.reason] * len(rows), pa.string()),
    }


def _write_split_parquet(
    source: Path,
    keep: npt.NDArray[np.bool_],
    kept_tmp: Path,
    dropped_tmp: Path | None,
    dropped: DroppedInfo,
    batch_size: int,
) -> None:
    parquet = _parquet_file(source)
    schema = parquet.schema_arrow
    dropped_schema = schema
    for name, column in _dropped_columns(np.zeros(0, np.int64), dropped).items():
        dropped_schema = dropped_schema.append(pa.field(name, column.type))
    with contextlib.ExitStack() as stack:
        kept_writer = stack.enter_context(pq.ParquetWriter(kept_tmp, schema))
        dropped_writer = (
            stack.enter_context(pq.ParquetWriter(dropped_tmp, dropped_schema))
            if dropped_tmp
            else None
        )
        first_row = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            mask = keep[first_row : first_row + batch.num_rows]
            kept_writer.write_batch(batch.filter(_arrow_mask(mask)))
            if dropped_writer is not None:
                rows = first_row + np.flatnonzero(~mask)
                removed = batch.filter(_arrow_mask(~mask))
                for name, column in _dropped_columns(rows, dropped).items():
                    removed = removed.append_column(name, column)
                dropped_writer.write_batch(removed)
            first_row += batch.num_rows


def _write_split_jsonl(
    source: Path,
    keep: npt.NDArray[np.bool_],
    kept: tuple[Path, str | os.PathLike[str]],
    dropped_target: tuple[Path, str | os.PathLike[str] | None] | None,
    dropped: DroppedInfo,
    batch_size: int,
) -> None:
    with contextlib.ExitStack() as stack:
        kept_out = stack.enter_context(_open_text_output(*kept))
        dropped_out = (
            stack.enter_context(_open_text_output(dropped_target[0], dropped_target[1] or ""))
            if dropped_target
            else None
        )
        first_row = 0
        for block in iter_line_blocks(source, batch_size):
            mask = keep[first_row : first_row + len(block)]
            # Kept lines leave as one buffer per block; only dropped lines are parsed again.
            lines = block.as_arrow().filter(_arrow_mask(mask))
            offsets = np.frombuffer(lines.buffers()[1], np.int64)[
                lines.offset : lines.offset + len(lines) + 1
            ]
            if len(lines):
                kept_out.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
            if dropped_out is not None:
                for position in np.flatnonzero(~mask).tolist():
                    row = first_row + position
                    raw = block.data[block.starts[position] : block.ends[position]]
                    number = int(block.numbers[position])
                    record = dict(parse_jsonl_line(source, number, raw).record)
                    record.update(
                        row_id=row,
                        dup_of=int(dropped.representative[row]),
                        similarity=round(float(dropped.similarity[row]), 6),
                        reason=dropped.reason,
                    )
                    line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
                    dropped_out.write(line)
            first_row += len(block)


def write_jsonl(path: str | os.PathLike[str], records: list[dict[str, Any]]) -> None:
    """Writes records as JSONL (gzip for `.gz`), atomically."""
    with AtomicWriter(path) as temporary, _open_text_output(temporary, path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")


def read_fields(path: str | os.PathLike[str], fields: list[str]) -> dict[str, list[Any]]:
    """Every row's value of each field (None where missing), e.g. for a priority expression.

    Raises:
        InputError: A broken file, or a Parquet file without one of the columns.
    """
    path = Path(path)
    if file_format(path) == "parquet":
        names = _parquet_file(path).schema_arrow.names
        missing = [field for field in fields if field not in names]
        if missing:
            raise InputError(f"{path}: columns {missing} are missing (columns: {names})")
        table = pq.read_table(path, columns=fields)
        return {field: table.column(field).to_pylist() for field in fields}
    values: dict[str, list[Any]] = {field: [] for field in fields}
    for line in iter_jsonl(path):
        for field in fields:
            try:
                values[field].append(field_at(line.record, field))
            except KeyError:
                values[field].append(None)
    return values


T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter); `itertools.batched` of 3.12.

    Example:
        >>> list(chunked(range(5), 2))
        [[0, 1], [2, 3], [4]]
    """
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
