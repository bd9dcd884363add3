"""The clean reader: JSONL blocks parsed by pyarrow give the rows of the per-line reader."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from amfast.clean import ingest as sources
from amfast.clean.ingest import FieldMap, RowParser, _block_table, iter_chunks, rows_table
from amfast.io import iter_line_blocks, iter_raw_lines


def am_row(row_id, question, info=None, response=None, **extra):
    messages = [{"role": "system", "content": "be helpful"}]
    messages.append({"role": "user", "content": question, "info": info})
    if response is not None:
        messages.append({"role": "assistant", "content": "draft", "info": {}})
        messages.append({"role": "assistant", "content": response, "info": {"think": "x"}})
    return {"id": row_id, "messages": messages, **extra}


def encode(records) -> list[bytes]:
    return [json.dumps(record, ensure_ascii=False).encode() for record in records]


FAST = {
    "am_schema": encode(
        [
            am_row("a", "q one", {"source": "s1", "reference_answer": "4", "test_case": None}),
            am_row("b", "q two", {"source": "", "reference_answer": "null"}, response="r"),
            am_row("", "q three", {"reference_answer": ""}, source="top"),
            am_row(None, "q four", {"source": "s2", "reference_answer": None}, response="t"),
        ]
    ),
    "am_schema_struct_tests": encode(
        [
            am_row("a", "q", {"test_case": {"input": "1", "output": "2"}}),
            am_row("b", "q", {"test_case": None}),
            am_row("c", "q", None),
        ]
    ),
    "flat": encode(
        [
            {"id": 7, "problem": "p1", "answer": "1", "source": "x", "response": "r"},
            {"problem": "p2", "solution": "", "completion": "c"},
            {"id": 8, "problem": "p3", "tests": [1, 2], "output": "o"},
            {"id": 9, "problem": "p4", "tests": [], "answer": None, "solution": "s"},
        ]
    ),
    "prompt": encode([{"prompt": "hello", "response": "hi"}, {"prompt": "x", "response": None}]),
}

ROW_BY_ROW = {
    "bad_lines": [
        *FAST["flat"],
        b'{"id": "bad", "problem": [',
        b"[1, 2]",
        b'{"problem": "caf\xe9"}',
    ],
    "missing_text": encode([{"problem": "p"}, {"prompt": "q"}]),
    "null_text": encode([{"problem": "p"}, {"problem": None}]),
    "mixed_test_case_types": encode(
        [am_row("a", "q", {"test_case": "[]"}), am_row("b", "q", {"test_case": {"x": 1}})]
    ),
    "empty_object": encode([am_row("a", "q", {"test_case": {}}), am_row("b", "q", {})]),
    "float_id": encode([{"id": 1.0, "problem": "p"}, {"id": 2, "problem": "q"}]),
    "no_user": encode([am_row("a", "q"), {"id": "b", "messages": [], "problem": "p"}]),
    "two_objects_on_a_line": [b'{"problem": "a"}{"problem": "b"}', b'{"problem": "c"}'],
    "byte_order_mark": [b'\xef\xbb\xbf{"problem": "a"}', b'{"problem": "b"}'],
}


def both_readers(tmp_path, lines, fields=None):
    fields = fields or FieldMap()
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    (chunk,) = iter_chunks(path, 10_000)
    parser = RowParser(fields)
    return chunk, parser.table(chunk, 10), rows_table(parser.parse(chunk), 10)


@pytest.mark.parametrize("name", sorted(FAST))
def test_arrow_block_reader_matches_the_row_reader(tmp_path, name):
    chunk, table, expected = both_readers(tmp_path, FAST[name])
    assert _block_table(chunk, FieldMap(), 10) is not None, "read as a block"
    assert table.to_pylist() == expected.to_pylist()


@pytest.mark.parametrize("name", sorted(ROW_BY_ROW))
def test_blocks_the_columns_cannot_read_exactly_go_row_by_row(tmp_path, name):
    chunk, table, expected = both_readers(tmp_path, ROW_BY_ROW[name])
    assert _block_table(chunk, FieldMap(), 10) is None
    assert table.equals(expected)


@pytest.mark.parametrize(
    ("fields", "fast"),
    [
        (FieldMap(prompt="meta.question", id="meta.key", source="origin"), True),
        (FieldMap(prompt="meta.question", response="meta.key", reference="meta.ref"), True),
        (FieldMap(prompt="messages.0.content"), False),
    ],
)
def test_named_fields_read_the_same_either_way(tmp_path, fields, fast):
    records = [
        {
            "meta": {"question": "q1", "key": 3, "ref": "r"},
            "origin": "o",
            "messages": [{"content": "m"}],
        },
        {"meta": {"question": "q2", "key": None}, "messages": [{"content": "n"}]},
    ]
    chunk, table, expected = both_readers(tmp_path, encode(records), fields)
    assert (_block_table(chunk, fields, 10) is not None) == fast
    assert table.to_pylist() == expected.to_pylist()


def test_line_blocks_hold_the_lines_and_numbers_of_the_line_reader(tmp_path):
    rng = random.Random(0)
    pieces = [b'{"a": 1}', b"", b"   ", b"\t\x0c", b' {"b": "\\u2028"} ', b"x" * 50, b"\xff\xfe"]
    lines = [rng.choice(pieces) + rng.choice([b"", b"\r", b"\r\r"]) for _ in range(400)]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))  # no newline after the last line
    expected = list(iter_raw_lines(path))
    for max_lines, read_bytes in [(1, 7), (3, 64), (50, 1000), (1000, 1 << 20)]:
        blocks = list(iter_line_blocks(path, max_lines, read_bytes))
        assert all(len(block) == max_lines for block in blocks[:-1])
        assert [line for block in blocks for line in block.lines()] == expected
        assert [raw for block in blocks for raw in block.as_arrow().to_pylist()] == [
            raw + b"\n" for _, raw in expected
        ]


def test_lines_separated_by_single_newlines_are_shared_not_copied(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 22}\n{"a": 333}')
    (block,) = iter_line_blocks(path, 10)
    lines = block.as_arrow()
    assert lines.to_pylist() == [b'{"a": 1}\n', b'{"a": 22}\n', b'{"a": 333}\n']
    assert lines.buffers()[2].address == pa.py_buffer(block.data).address


def test_a_bad_line_sends_only_a_few_lines_around_it_row_by_row(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "ROW_BY_ROW_LINES", 8)
    lines = encode({"id": i, "problem": f"question {i}"} for i in range(1_000))
    lines[500] = b'{"id": 500, "problem": '
    lines[501] = json.dumps({"id": "five hundred and one", "problem": "q"}).encode()
    chunk, table, expected = both_readers(tmp_path, lines)
    parsed = []
    parse = RowParser.parse
    monkeypatch.setattr(
        RowParser, "parse", lambda self, part: parsed.append(len(part)) or parse(self, part)
    )
    assert RowParser(FieldMap()).table(chunk, 10).equals(table)
    assert table.equals(expected)
    assert 0 < sum(parsed) <= 16
    (message,) = table.column("message").drop_null().to_pylist()
    assert message.endswith(":501: invalid JSON: Expecting value at column 24")


@pytest.mark.parametrize(
    "line",
    [
        b'{"problem": "x\ty"}',  # a raw control character: json.loads refuses it
        b'{"problem": "a", "score": NaN}',
        b'{"problem": "a", "score": 1e999}',
        b'{"problem": "\\u0000 nul"}',
        b'{"problem": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8
        b'{"problem": "a"} trailing',
        b'{"problem": "a",}',
        b'{"problem": "a", "problem": "b"}',
    ],
)
def test_lines_json_loads_and_pyarrow_may_disagree_on_read_the_same(tmp_path, line):
    lines = [*encode({"problem": f"q{i}", "score": i} for i in range(20)), line]
    _, table, expected = both_readers(tmp_path, lines)
    assert table.equals(expected)
