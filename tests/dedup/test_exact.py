"""Exact dedup: grouping, representatives, batches and the `amfast-hash-v1` content hash."""

# ruff: noqa: RUF001 - full-width and other look-alike characters are what these tests test

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pytest
import xxhash

from amfast import NormalizeOptions, _core, normalize
from amfast.dedup import content_hashes, exact_duplicates


def spec_content_hash(normalized: str) -> tuple[int, int]:
    """`amfast-hash-v1` exact key: xxh3_128(utf8(normalized)), split into (high, low) u64."""
    value = xxhash.xxh3_128_intdigest(normalized.encode("utf-8"))
    return value >> 64, value & (2**64 - 1)


def test_exact_duplicates_groups_rows_with_equal_normalized_text():
    texts = ["Hello, World", "x", "hello world!", "  HELLO   WORLD ", "y", "X"]
    result = exact_duplicates(texts)
    assert result.representative.tolist() == [0, 1, 0, 0, 4, 1]
    assert result.keep.tolist() == [True, True, False, False, True, False]
    assert result.duplicate_count == 3


def test_exact_duplicates_keeps_every_row_when_texts_differ():
    result = exact_duplicates(["a", "b", "a b", "b a"])
    assert result.representative.tolist() == [0, 1, 2, 3]
    assert result.duplicate_count == 0


def test_exact_duplicates_representative_is_lowest_row_id_by_default():
    texts = ["b", "a", "b", "a", "b"]
    assert exact_duplicates(texts).representative.tolist() == [0, 1, 0, 1, 0]


def test_exact_duplicates_priority_picks_the_representative():
    texts = ["b", "a", "b", "a", "b"]
    result = exact_duplicates(texts, priority=[5, 9, 1, 0, 1])
    # Group "b" = rows 0, 2, 4 with priorities 5, 1, 1: the tie goes to the lower row id.
    assert result.representative.tolist() == [2, 3, 2, 3, 2]
    assert result.keep.tolist() == [False, False, True, True, False]


def test_exact_duplicates_priority_accepts_any_integer_array_like():
    texts = ["a", "a", "a"]
    for priority in ([3, 2, 1], np.array([3, 2, 1], dtype=np.int32), (3, 2, 1)):
        assert exact_duplicates(texts, priority=priority).representative.tolist() == [2, 2, 2]


def test_exact_duplicates_rejects_priority_of_wrong_length():
    with pytest.raises(ValueError, match="one value per row"):
        exact_duplicates(["a", "b"], priority=[1, 2, 3])


def test_exact_duplicates_numbers_batches_consecutively():
    batches = [["Hello, World", "x"], [], ["hello world!", ""], ["X", ""]]
    result = exact_duplicates(batches)
    assert result.representative.tolist() == [0, 1, 0, 3, 1, 3]
    assert result.hashes.shape == (6, 2)


def test_exact_duplicates_accepts_an_iterator_of_mixed_column_kinds():
    batches = iter(
        [
            ["a", "b"],
            pa.array(["A!", "c"], pa.large_string()),
            pa.chunked_array([["B"], ["c."]], pa.string_view()),
        ]
    )
    result = exact_duplicates(batches)
    assert result.representative.tolist() == [0, 1, 0, 3, 1, 3]


def test_exact_duplicates_reads_a_list_of_numpy_string_arrays_as_batches():
    batches = [np.array(["a", "b"]), np.array(["B", "c"])]
    assert exact_duplicates(batches).representative.tolist() == [0, 1, 1, 3]


def test_exact_duplicates_reads_a_list_with_a_bad_row_as_one_column():
    with pytest.raises(TypeError, match=r"^row 2: expected str or None, got list$"):
        exact_duplicates(["a", "b", ["c"]])


def test_exact_duplicates_treats_one_arrow_array_as_one_column():
    result = exact_duplicates(pa.array(["a", "b", "A"]))
    assert result.representative.tolist() == [0, 1, 0]


def test_exact_duplicates_same_result_for_batches_and_one_column():
    texts = [f"text {i % 13}" for i in range(1_000)]
    one = exact_duplicates(texts)
    split = exact_duplicates([texts[:1], texts[1:400], texts[400:]])
    np.testing.assert_array_equal(one.representative, split.representative)
    np.testing.assert_array_equal(one.hashes, split.hashes)


def test_exact_duplicates_results_do_not_depend_on_thread_count():
    texts = [f"Text number {i % 101}, copy {i % 3}" for i in range(20_000)]
    one = exact_duplicates(texts, num_threads=1)
    two = exact_duplicates(texts, num_threads=2)
    np.testing.assert_array_equal(one.representative, two.representative)
    np.testing.assert_array_equal(one.hashes, two.hashes)


def test_exact_duplicates_normalize_options_change_the_groups():
    texts = ["Problem 12: add", "Problem 13: add"]
    assert exact_duplicates(texts).representative.tolist() == [0, 1]
    no_digits = NormalizeOptions(keep_digits=False)
    assert exact_duplicates(texts, normalize=no_digits).representative.tolist() == [0, 0]
    case_sensitive = NormalizeOptions(lowercase=False)
    assert exact_duplicates(["Ab", "ab"], normalize=case_sensitive).representative.tolist() == [
        0,
        1,
    ]


def test_content_hashes_follow_the_documented_spec():
    texts = ["", "hello world", "Hello,   World!", "Straße ３", "小明有３个苹果", "x" * 10_000]
    expected = [spec_content_hash(text) for text in normalize(texts)]
    hashes = content_hashes(texts)
    assert hashes.dtype == np.uint64
    assert hashes.shape == (len(texts), 2)
    assert [tuple(int(half) for half in row) for row in hashes] == expected


def test_content_hashes_match_golden_vectors_of_the_spec():
    assert _core.HASH_SPEC == "amfast-hash-v1"
    hashes = content_hashes(["", "hello world"])
    joined = [(int(high) << 64) | int(low) for high, low in hashes]
    assert joined == [
        0x99AA06D3014798D86001C324468D497F,
        0xDF8D09E93F874900A99B8775CC15B6C7,
    ]


def test_content_hashes_hash_the_text_after_the_given_normalization():
    options = NormalizeOptions(case_fold=True, math_operators=True)
    texts = ["Straße: x+1", "STRASSE x + 1"]
    hashes = content_hashes(texts, normalize=options)
    assert tuple(int(half) for half in hashes[0]) == spec_content_hash("strasse x + 1")
    assert (hashes[0] == hashes[1]).all()


def test_exact_duplicates_finds_math500_inside_math_test(benchmarks_dir):
    def problems(path):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    math_test = problems(benchmarks_dir / "math" / "math_test.jsonl.gz")
    math500 = problems(benchmarks_dir / "eval" / "math500.jsonl")
    texts = [row["problem"] for row in math_test + math500]
    result = exact_duplicates(texts)
    # Every MATH-500 problem is verbatim in the MATH test split (README of the benchmark data).
    kept_in = result.representative[len(math_test) :]
    assert (kept_in < len(math_test)).all()
    by_id = {row["unique_id"]: i for i, row in enumerate(math_test)}
    for offset, row in enumerate(math500):
        assert texts[kept_in[offset]] == texts[by_id[row["unique_id"]]]
