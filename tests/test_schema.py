"""The AM message schema, its validation and the one mapping of flat rows (amfast.schema)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from amfast.errors import InputError
from amfast.schema import (
    AM_SCHEMA,
    FieldMap,
    RowProblem,
    am_record,
    read_sample,
    validate,
    verify_reason_of,
)


def test_flat_math_rows_of_the_shared_data_find_prompt_and_reference(benchmarks_dir: Path) -> None:
    with gzip.open(benchmarks_dir / "math" / "math_train.jsonl.gz", "rt") as handle:
        math_row = json.loads(handle.readline())
    with gzip.open(benchmarks_dir / "eval" / "gsm8k_train.jsonl.gz", "rt") as handle:
        gsm8k_row = json.loads(handle.readline())
    math = read_sample(math_row)
    assert (math.prompt, math.reference_answer) == (math_row["problem"], math_row["solution"])
    gsm8k = read_sample(gsm8k_row)
    assert (gsm8k.prompt, gsm8k.reference_answer) == (gsm8k_row["question"], gsm8k_row["answer"])
    assert gsm8k.response is None
    assert gsm8k.verified is None


def test_named_fields_are_read_there_and_nowhere_else() -> None:
    row = {"q": "x?", "problem": "other", "gold": 7, "answer": "no", "meta": {"src": "s"}}
    sample = read_sample(row, FieldMap(prompt="q", reference="gold", source="meta.src"))
    assert (sample.prompt, sample.reference_answer, sample.source) == ("x?", 7, "s")
    with pytest.raises(RowProblem, match="field 'missing' is missing") as caught:
        read_sample(row, FieldMap(prompt="missing"))
    assert caught.value.reason == "missing_field"
    with pytest.raises(RowProblem, match="field 'gold' is int, expected a string"):
        read_sample(row, FieldMap(prompt="gold"))


def test_am_rows_read_first_user_and_last_assistant_with_their_info() -> None:
    row = {
        "id": "r1",
        "messages": [
            {"role": "user", "content": "q", "info": {"source": "s", "test_case": {"a": 1}}},
            {"role": "assistant", "content": "old"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "new", "info": {"verify_reason": "wrong"}},
        ],
    }
    sample = read_sample(row)
    assert (sample.id, sample.prompt, sample.response, sample.source) == ("r1", "q", "new", "s")
    assert sample.has_test_case
    assert not sample.has_reference
    assert sample.verified is False
    assert verify_reason_of(row) == "wrong"
    assert am_record(sample)["messages"] is row["messages"]


def test_flat_row_becomes_a_valid_am_row_with_its_fields_in_info() -> None:
    flat = {
        "id": 3,
        "prompt": "p",
        "response": "r",
        "tests": [{"in": "1"}],
        "verify_reason": "correct",
    }
    record = am_record(read_sample(flat))
    table = pa.Table.from_pylist([record], schema=AM_SCHEMA)
    validate(table, "converted")
    user, assistant = table.to_pylist()[0]["messages"]
    assert user["info"]["test_case"] == '[{"in": "1"}]'
    assert assistant["info"]["verify_reason"] == "correct"
    assert record["id"] == "3"


def test_validate_names_the_first_bad_row() -> None:
    good = {"messages": [{"role": "user", "content": "q"}]}
    no_user = {"messages": [{"role": "assistant", "content": "a"}]}
    with pytest.raises(InputError, match=r"x\.parquet: row 1: no user message"):
        validate(pa.Table.from_pylist([good, no_user]), "x.parquet")
    with pytest.raises(InputError, match="no 'messages' column"):
        validate(pa.table({"text": ["a"]}), "y")
    no_content = {"messages": [{"role": "user", "content": None}]}
    with pytest.raises(InputError, match="row 1: a message has no 'content'"):
        validate(pa.Table.from_pylist([good, no_content]), "z")


def test_field_map_text_is_a_deprecated_name_of_prompt() -> None:
    with pytest.warns(DeprecationWarning, match="prompt"):
        fields = FieldMap(text="question")
    assert fields.prompt == "question"
