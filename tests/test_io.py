"""Reading text columns from JSONL / Parquet, errors naming file, line and field, and atomic
writes."""

from __future__ import annotations

import gzip
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amfast.errors import InputError
from amfast.io import (
    AtomicWriter,
    DroppedInfo,
    UnreadableRow,
    file_format,
    input_files,
    iter_jsonl,
    iter_text_batches,
    read_batches,
    read_records,
    write_jsonl,
    write_split,
)


def write_lines(path, lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def records(count: int) -> list[bytes]:
    return [
        json.dumps({"id": i, "text": f"row {i} ü", "messages": [{"content": f"m{i}"}]}).encode()
        for i in range(count)
    ]


def read_all(path, field="text", batch_size=1_000) -> list[str]:
    texts: list[str] = []
    for batch in iter_text_batches(path, field, batch_size):
        texts.extend(batch.to_pylist() if isinstance(batch, pa.Array) else batch)
    return texts


# --- reading ---


@pytest.mark.parametrize("name", ["data.jsonl", "data.jsonl.gz", "data.json", "data.ndjson"])
def test_jsonl_batches_hold_every_row_in_order(tmp_path, name):
    path = tmp_path / name
    write_lines(path, records(7))
    batches = list(iter_text_batches(path, "text", batch_size=3))
    assert [len(batch) for batch in batches] == [3, 3, 1]
    # Columnar: pyarrow parses each block for the field, no Python object per row.
    assert all(isinstance(batch, pa.Array) for batch in batches)
    assert read_all(path, batch_size=3) == [f"row {i} ü" for i in range(7)]


def test_zstd_jsonl_is_read_across_frames(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "data.jsonl.zst"
    lines = [line + b"\n" for line in records(4)]
    compressor = zstandard.ZstdCompressor()
    # Two concatenated frames, as `pzstd` or appending writers produce.
    path.write_bytes(
        compressor.compress(b"".join(lines[:3])) + compressor.compress(b"".join(lines[3:]))
    )
    assert read_all(path) == [f"row {i} ü" for i in range(4)]


def test_non_zstd_file_named_zst_is_an_input_error(tmp_path):
    pytest.importorskip("zstandard")
    path = tmp_path / "fake.jsonl.zst"
    path.write_bytes(b'{"text": "a"}\n' * 10)
    assert error_of(path).startswith(f"{path}: broken or truncated file")


def test_jsonl_blank_lines_are_skipped_and_crlf_accepted(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n\n   \n{"text": "b"}\r\n{"text": "c"}')
    assert read_all(path) == ["a", "b", "c"]
    lines = list(iter_jsonl(path))
    assert [line.line_number for line in lines] == [1, 4, 5]
    assert [line.raw for line in lines] == [b'{"text": "a"}', b'{"text": "b"}', b'{"text": "c"}']


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("messages.0.content", ["m0", "m1", "m2"]),
        ("messages.-1.content", ["m0", "m1", "m2"]),
        ("text", ["row 0 ü", "row 1 ü", "row 2 ü"]),
    ],
)
def test_jsonl_dotted_field_paths_reach_nested_values(tmp_path, field, expected):
    path = tmp_path / "data.jsonl"
    write_lines(path, records(3))
    assert read_all(path, field) == expected


def test_jsonl_dotted_path_prefers_a_key_named_like_an_index(tmp_path):
    path = tmp_path / "data.jsonl"
    write_lines(path, [b'{"a": {"0": "key"}}'])
    assert read_all(path, "a.0") == ["key"]


def test_jsonl_line_separator_inside_a_string_stays_in_its_row(tmp_path):
    path = tmp_path / "data.jsonl"
    write_lines(path, [json.dumps({"text": "a\u2028b"}, ensure_ascii=False).encode()])
    assert read_all(path) == ["a\u2028b"]


@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string()], ids=str)
def test_parquet_batches_are_arrow_string_arrays(tmp_path, string_type):
    path = tmp_path / "data.parquet"
    texts = [f"row {i}" for i in range(10)]
    table = pa.table({"id": list(range(10)), "text": pa.array(texts, string_type)})
    pq.write_table(table, path, row_group_size=4)
    batches = list(iter_text_batches(path, "text", batch_size=3))
    assert all(isinstance(batch, pa.Array) for batch in batches)
    assert all(batch.type == string_type for batch in batches)
    assert sum(len(batch) for batch in batches) == 10
    assert read_all(path) == texts


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.jsonl.gz"])
def test_empty_jsonl_file_gives_no_batches(tmp_path, name):
    path = tmp_path / name
    write_lines(path, [])
    assert list(iter_text_batches(path, "text")) == []


def test_empty_parquet_file_gives_no_rows(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    assert read_all(path) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jsonl", "jsonl"),
        ("a.JSONL.GZ", "jsonl"),
        ("a.json.zst", "jsonl"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
    ],
)
def test_file_format_follows_the_name(name, expected):
    assert file_format(name) == expected


@pytest.mark.parametrize("name", ["a.csv", "a.txt.gz", "a"])
def test_unknown_format_is_an_input_error(name):
    with pytest.raises(InputError, match="unknown format"):
        file_format(name)


# --- bad input: InputError naming file, line and field ---


def error_of(path, field="text") -> str:
    with pytest.raises(InputError) as error:
        read_all(path, field, batch_size=2)
    return str(error.value)


@pytest.mark.parametrize(
    ("third_line", "problem"),
    [
        (b'{"other": "x"}', "field 'text' is missing"),
        (b'{"text": 3}', "field 'text' is int, expected a string"),
        (b'{"text": ["a"]}', "field 'text' is list, expected a string"),
        (b'{"text": null}', "field 'text' is null, expected a string"),
    ],
)
def test_bad_jsonl_field_names_file_line_and_field(tmp_path, third_line, problem):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"text": "a"}', b'{"text": "b"}', third_line])
    assert error_of(path) == f"{path}:3: {problem}"


def test_missing_nested_field_names_the_whole_path(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"messages": [{"content": "a"}]}', b'{"messages": []}'])
    assert error_of(path, "messages.0.content") == (
        f"{path}:2: field 'messages.0.content' is missing"
    )


def test_invalid_utf8_names_file_line_and_byte(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"text": "a"}', b'{"text": "\xff"}'])
    message = error_of(path)
    assert message.startswith(f"{path}:2: invalid UTF-8")
    assert "\\xff" in message


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"text": "a"}', b'{"text": "b"}', b'{"text": '])
    assert error_of(path).startswith(f"{path}:3: invalid JSON")


@pytest.mark.parametrize(("line", "kind"), [(b"[1, 2]", "list"), (b'"text"', "str"), (b"3", "int")])
def test_non_object_line_names_file_and_line(tmp_path, line, kind):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"text": "a"}', line])
    assert error_of(path) == f"{path}:2: expected a JSON object, got {kind}"


def test_error_is_raised_before_reading_past_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"text": "a"}', b"[]", *records(5)])
    batches = iter_text_batches(path, "text", batch_size=1)
    assert next(batches).to_pylist() == ["a"]
    with pytest.raises(InputError, match=":2: "):
        next(batches)


@pytest.fixture
def gzip_payload() -> bytes:
    rng = random.Random(0)
    lines = [
        json.dumps({"text": " ".join(f"{rng.random():.12f}" for _ in range(8))}).encode()
        for _ in range(3_000)
    ]
    return gzip.compress(b"".join(line + b"\n" for line in lines))


def test_truncated_gzip_is_an_input_error_naming_the_file(tmp_path, gzip_payload):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip_payload[: len(gzip_payload) // 2])
    message = error_of(path)
    assert message.startswith(f"{path}: broken or truncated file")


def test_corrupted_gzip_is_an_input_error_naming_the_file(tmp_path, gzip_payload):
    path = tmp_path / "corrupt.jsonl.gz"
    damaged = bytearray(gzip_payload)
    for i in range(100, 200):
        damaged[i] ^= 0x55
    path.write_bytes(bytes(damaged))
    assert error_of(path).startswith(f"{path}: broken or truncated file")


def test_plain_text_named_gz_is_an_input_error(tmp_path):
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(b'{"text": "a"}\n')
    assert error_of(path).startswith(f"{path}: broken or truncated file")


def test_missing_file_is_an_input_error(tmp_path):
    path = tmp_path / "nope.jsonl"
    assert error_of(path).startswith(f"{path}: cannot open")


def test_non_parquet_file_named_parquet_is_an_input_error(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_bytes(b'{"text": "a"}\n')
    assert error_of(path).startswith(f"{path}: not a readable Parquet file")


def test_parquet_int_column_is_an_input_error_naming_file_and_column(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), path)
    assert error_of(path) == f"{path}: column 'text' is int64, expected a string column"


def test_parquet_missing_column_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"body": ["a"]}), path)
    assert error_of(path) == f"{path}: field 'text' is missing (columns: ['body'])"


def test_parquet_null_names_file_row_and_field(tmp_path):
    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c", None, "e"]}), path)
    assert error_of(path) == f"{path}: row 3: field 'text' is null, expected a string"


# --- writing ---


def write_then_fail(target, error: BaseException) -> None:
    with AtomicWriter(target) as temporary:
        temporary.write_bytes(b"partial")
        raise error


def test_atomic_writer_leaves_no_file_when_the_body_raises(tmp_path):
    target = tmp_path / "out" / "kept.jsonl"
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(target, RuntimeError("boom"))
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_writer_keeps_an_existing_file_when_the_body_raises(tmp_path):
    target = tmp_path / "kept.jsonl"
    target.write_bytes(b"old\n")
    with pytest.raises(KeyboardInterrupt):
        write_then_fail(target, KeyboardInterrupt())
    assert target.read_bytes() == b"old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["kept.jsonl"]


def test_atomic_writer_renames_onto_the_target_on_success(tmp_path):
    target = tmp_path / "kept.jsonl"
    target.write_bytes(b"old\n")
    with AtomicWriter(target) as temporary:
        assert temporary != target
        assert temporary.name == f".kept.jsonl.amfast-tmp-{os.getpid()}"
        temporary.write_bytes(b"new\n")
        assert target.read_bytes() == b"old\n"
    assert target.read_bytes() == b"new\n"
    assert [path.name for path in tmp_path.iterdir()] == ["kept.jsonl"]


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_write_jsonl_round_trips_through_the_reader(tmp_path, name):
    path = tmp_path / name
    rows = [{"text": "ü \u2028 x", "id": 1}, {"text": "b", "id": 2}]
    write_jsonl(path, rows)
    assert [line.record for line in iter_jsonl(path)] == rows
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"


# --- one reader for every input kind ---


def test_jsonl_text_column_ignores_other_fields_of_changing_type(tmp_path):
    # `answer` is a number in one row and a string in another: only `text` is parsed.
    path = tmp_path / "mixed.jsonl"
    write_lines(path, [b'{"text": "a", "answer": 1}', b'{"text": "b", "answer": "two"}'])
    (batch,) = iter_text_batches(path, "text")
    assert isinstance(batch, pa.Array)
    assert batch.to_pylist() == ["a", "b"]


def test_write_split_copies_kept_jsonl_lines_byte_for_byte_and_annotates_dropped(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"text": "a", "k": [1]}\r\n\n{"text": "b"}\n{"text": "c",  "x": 1}')
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    info = DroppedInfo(representative=[0, 0, 2], similarity=[1.0, 0.9, 1.0], reason="dup")
    write_split(source, [True, False, True], kept, dropped, info, batch_size=2)
    assert kept.read_bytes() == b'{"text": "a", "k": [1]}\n{"text": "c",  "x": 1}\n'
    (row,) = [json.loads(line) for line in dropped.read_text().splitlines()]
    assert row == {"text": "b", "row_id": 1, "dup_of": 0, "similarity": 0.9, "reason": "dup"}


def test_input_files_of_stage_output_folders(tmp_path):
    clean = tmp_path / "clean"
    (clean / "_work").mkdir(parents=True)
    for name in ("part-00000.jsonl", "part-00001.jsonl", "dropped.parquet", "_work/x.jsonl"):
        (clean / name).write_text("")
    assert [p.name for p in input_files(clean)] == ["part-00000.jsonl", "part-00001.jsonl"]
    distill = tmp_path / "distill"
    (distill / "shards").mkdir(parents=True)
    for name in ("journal-00000-of-00001.jsonl", "shards/a-000000.parquet"):
        (distill / name).write_text("")
    (distill / "shards" / "a-000000.outcomes.jsonl").write_text("")
    assert [p.name for p in input_files(distill)] == ["a-000000.parquet"]
    with pytest.raises(InputError, match="no such file or folder"):
        input_files(tmp_path / "nope")


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "arrow"])
def test_read_batches_and_records_give_the_same_rows_for_every_kind(tmp_path, kind):
    rows = [{"id": i, "text": f"t{i}"} for i in range(5)]
    table = pa.Table.from_pylist(rows)
    folder = tmp_path / "rows"
    folder.mkdir()
    if kind == "jsonl":
        write_jsonl(folder / "part-0.jsonl", rows[:3])
        write_jsonl(folder / "part-1.jsonl.gz", rows[3:])
    elif kind == "parquet":
        pq.write_table(table, folder / "part-0.parquet")
    else:
        with pa.ipc.new_stream(folder / "data-00000-of-00001.arrow", table.schema) as writer:
            writer.write_table(table)
    batches = list(read_batches(folder, batch_rows=2))
    assert all(isinstance(batch, pa.RecordBatch) for batch in batches)
    assert [row for batch in batches for row in batch.to_pylist()] == rows
    assert [record for _, record in read_records(folder)] == rows


def test_read_records_keeps_an_unreadable_line_whole(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [b'{"text": "a"}', b'{"text": "b" oops'])
    (_, good), (where, bad) = read_records(path)
    assert good == {"text": "a"}
    assert where == f"{path}:2"
    assert isinstance(bad, UnreadableRow)
    assert bad.raw == '{"text": "b" oops'
    assert bad.message.startswith("invalid JSON")
