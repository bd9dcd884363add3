"""The Rust boundary: input types, nulls, empty and huge rows, errors naming the row, zero-copy
outputs, and the GIL released while Rust works."""

# ruff: noqa: RUF001 - full-width and other look-alike characters are what these tests test

from __future__ import annotations

import random
import re
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest

import amfast.errors
from amfast import _core, normalize
from amfast.decontam import DecontamOptions
from amfast.dedup import GraphOptions, NearDuplicateIndex, exact_duplicates, near_duplicates
from amfast.errors import AmfastError, AmfastInternalError, InputError, InvalidRowError

# Every entry point that takes a text column, called on one column.
ENTRY_POINTS: dict[str, Callable[[object], object]] = {
    "normalize": normalize,
    "exact_duplicates": exact_duplicates,
    "near_duplicates": near_duplicates,
    "signatures": lambda texts: NearDuplicateIndex().signatures(texts),
}
DEDUP_ENTRY_POINTS = {name: ENTRY_POINTS[name] for name in ("exact_duplicates", "near_duplicates")}


# --- input types ---


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_list_with_an_int_raises_type_error_naming_the_row(call):
    with pytest.raises(TypeError, match=r"^row 1: expected str or None, got int$"):
        call(["a", 1, "b"])


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_list_of_bytes_raises_type_error_naming_the_row(call):
    with pytest.raises(TypeError, match=r"^row 0: expected str or None, got bytes$"):
        call([b"a"])


def test_numpy_int_array_raises_type_error_naming_the_row():
    with pytest.raises(TypeError, match=r"^row 0: expected str or None, got int64$"):
        normalize(np.array([1, 2], dtype=np.int64))


def test_numpy_string_array_is_read_as_strings():
    assert normalize(np.array(["A b", "C"])) == ["a b", "c"]


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_bare_str_raises_type_error(call):
    with pytest.raises(TypeError, match="got a single str"):
        call("not a column")


@pytest.mark.parametrize("value", [5, 1.5, None, object()], ids=["int", "float", "None", "object"])
def test_non_iterable_input_raises_type_error(value):
    with pytest.raises(TypeError, match="expected a list of strings or an Arrow string array"):
        normalize(value)


@pytest.mark.parametrize(
    "array",
    [
        pa.array([1, 2]),
        pa.array([b"a", b"b"]),
        pa.array(["a", "b"]).dictionary_encode(),
        pa.array([["a"], ["b"]]),
        pa.chunked_array([[1], [2]]),
    ],
    ids=lambda array: str(array.type),
)
@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_non_string_arrow_column_raises_type_error(call, array):
    with pytest.raises(TypeError, match="expected an Arrow string, large_string or string_view"):
        call(array)


# --- nulls, lone surrogates ---


@pytest.mark.parametrize("call", DEDUP_ENTRY_POINTS.values(), ids=DEDUP_ENTRY_POINTS.keys())
@pytest.mark.parametrize("string_type", [None, pa.string(), pa.large_string(), pa.string_view()])
def test_null_row_in_dedup_raises_invalid_row_error_with_row(call, string_type):
    texts = ["a b c", "d e f", None, "g"]
    column = texts if string_type is None else pa.array(texts, string_type)
    with pytest.raises(InvalidRowError, match=r"^row 2: text is null$") as error:
        call(column)
    assert error.value.row == 2


@pytest.mark.parametrize("call", DEDUP_ENTRY_POINTS.values(), ids=DEDUP_ENTRY_POINTS.keys())
def test_null_in_a_later_batch_is_named_by_its_global_row(call):
    batches = [["a", "b", "c"], pa.array(["d", None], pa.large_string())]
    with pytest.raises(InvalidRowError, match=r"^row 4: text is null$") as error:
        call(batches)
    assert error.value.row == 4


def test_null_in_a_later_chunk_of_a_chunked_array_is_named_by_its_global_row():
    column = pa.chunked_array([["a", "b"], ["c", None]])
    with pytest.raises(InvalidRowError) as error:
        exact_duplicates(column)
    assert error.value.row == 3


def test_null_rows_pass_through_normalize():
    assert normalize([None, "A", None]) == [None, "a", None]


def test_null_row_in_signatures_raises_invalid_row_error():
    with pytest.raises(InvalidRowError) as error:
        NearDuplicateIndex().signatures(["a", None])
    assert error.value.row == 1


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_lone_surrogate_raises_invalid_row_error_naming_the_row(call):
    with pytest.raises(InvalidRowError, match=r"^row 1: .*lone surrogate") as error:
        call(["fine", "bad \ud800 text", "fine"])
    assert error.value.row == 1


@pytest.mark.parametrize("call", DEDUP_ENTRY_POINTS.values(), ids=DEDUP_ENTRY_POINTS.keys())
def test_lone_surrogate_in_a_later_batch_is_named_by_its_global_row(call):
    with pytest.raises(InvalidRowError) as error:
        call([["a", "b"], ["c", "\udfff"]])
    assert error.value.row == 3


def test_invalid_row_error_is_a_value_error():
    assert issubclass(InvalidRowError, ValueError)
    with pytest.raises(ValueError, match="row 0"):
        exact_duplicates([None])


# --- empty and huge rows ---


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
@pytest.mark.parametrize(
    "empty",
    [[], (), pa.array([], pa.string()), pa.chunked_array([], pa.string())],
    ids=["list", "tuple", "array", "chunked"],
)
def test_empty_input_gives_empty_results(call, empty):
    result = call(empty)
    if call is normalize:
        assert len(result) == 0
    elif isinstance(result, np.ndarray):
        assert result.shape == (0, 128)
    else:
        assert len(result.representative) == 0
        assert result.representative.dtype == np.int64
        assert result.keep.tolist() == []
        assert result.duplicate_count == 0


def test_exact_empty_input_has_zero_by_two_hashes():
    assert exact_duplicates([]).hashes.shape == (0, 2)


def test_empty_near_result_has_no_pairs():
    result = near_duplicates([])
    assert len(result.pair_left) == len(result.pair_right) == len(result.pair_similarity) == 0
    assert result.candidates == 0


def test_exact_dedup_groups_all_empty_texts():
    texts = ["", "a", "  ", "?!", "", "A"]
    assert exact_duplicates(texts).representative.tolist() == [0, 1, 0, 0, 0, 1]


def test_near_dedup_never_pairs_empty_texts():
    texts = ["", "", "  ?! ", "a", "", "a"]
    result = near_duplicates(texts, threshold=0.01, bands=128, rows=1)
    assert result.representative.tolist() == [0, 1, 2, 3, 4, 3]
    assert result.similarity.tolist() == [1.0] * 6
    assert list(zip(result.pair_left.tolist(), result.pair_right.tolist(), strict=True)) == [(3, 5)]


def test_signature_of_an_empty_text_is_all_max():
    signatures = NearDuplicateIndex(num_perm=16).signatures(["", "!?"])
    assert (signatures == np.iinfo(np.uint32).max).all()


@pytest.fixture(scope="module")
def huge_row() -> str:
    """About 10 MB in one row: 330,000 distinct words of 30 characters."""
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz"
    text = " ".join("".join(rng.choices(letters, k=30)) for _ in range(330_000))
    assert len(text) > 10_000_000
    return text


def test_huge_row_normalizes(huge_row):
    (result,) = normalize([huge_row.upper()])
    assert result == huge_row


def test_huge_row_dedups_exactly_and_nearly(huge_row):
    variant = huge_row + " tail"
    exact = exact_duplicates([huge_row, huge_row.upper(), variant])
    assert exact.representative.tolist() == [0, 0, 2]
    # 32 permutations keep this quick in a debug build; the row size is what is tested.
    near = near_duplicates([huge_row, "short text", variant], num_perm=32, bands=8, rows=4)
    assert near.representative.tolist() == [0, 1, 0]
    assert near.similarity[2] > 0.99


# --- zero-copy outputs ---


def owner_of(array: np.ndarray) -> object:
    """The object at the end of an array's `.base` chain (what owns its memory)."""
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array


def assert_backed_by_rust(array: np.ndarray) -> None:
    # numpy did not allocate (or copy) this buffer: the Rust Vec was moved in, and the array
    # keeps the container that owns it alive.
    assert not array.flags.owndata
    owner = owner_of(array)
    assert not isinstance(owner, np.ndarray)
    assert owner is not None


def test_exact_result_arrays_are_rust_buffers_not_copies():
    result = exact_duplicates(["a", "b", "a"])
    assert_backed_by_rust(result.representative)
    assert_backed_by_rust(result.hashes)
    # The (rows, 2) matrix is a view of the one flat buffer, not a reshaped copy.
    assert np.shares_memory(result.hashes, result.hashes.base)
    assert result.hashes.flags.c_contiguous


def test_near_result_arrays_are_rust_buffers_not_copies():
    base = "the quick brown fox jumps over the lazy dog near the river bank"
    result = near_duplicates([base, base + "!", "other"], ngram=3)
    for name in (
        "cluster",
        "representative",
        "similarity",
        "pair_left",
        "pair_right",
        "pair_similarity",
    ):
        assert_backed_by_rust(getattr(result, name))
    assert result.cluster.dtype == np.int64
    assert result.similarity.dtype == np.float32


def test_signatures_and_candidate_pairs_are_rust_buffers_not_copies():
    index = NearDuplicateIndex(num_perm=32)
    signatures = index.signatures(["a b c d e f", "g h"])
    assert signatures.shape == (2, 32)
    assert_backed_by_rust(signatures)
    index.add(["a b c d e f", "a b c d e f"])
    left, right = index.candidate_pairs()
    assert (left.tolist(), right.tolist()) == ([0], [1])
    assert_backed_by_rust(left)
    assert_backed_by_rust(right)


def test_arrow_input_is_read_without_a_copy_into_the_arrow_pool():
    column = pa.array([f"Row {i % 500}, same text" for i in range(50_000)], pa.large_string())
    before = pa.total_allocated_bytes()
    exact_duplicates(column)
    near_duplicates(column.slice(0, 2_000))
    # A conversion of the input (cast, combine_chunks, to_pylist...) would allocate here.
    assert pa.total_allocated_bytes() == before


# --- the GIL is released while Rust works ---


def main_thread_iterations_during(work: Callable[[], object], *, calls: int = 1) -> int:
    """Counts the main thread's loop iterations while another thread runs `work()`.

    The worker reads the counter right before the first call and right after the last one; it
    calls `work` up to `calls` times, stopping early once the count is well past
    `MANY_ITERATIONS` (so a fast release build and a slow debug build both finish quickly). A
    long switch interval means the interpreter never forces the worker to give up the GIL: the
    main thread runs only while a call releases it. The main thread pauses briefly every 1,000
    iterations so that the worker gets the GIL back promptly once a call returns.
    """
    count = [0]
    during: list[int] = []
    errors: list[BaseException] = []
    started, finished = threading.Event(), threading.Event()

    def run() -> None:
        started.set()
        try:
            before = count[0]
            for _ in range(calls):
                work()
                if count[0] - before > 2 * MANY_ITERATIONS:
                    break
            during.append(count[0] - before)
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)
        finally:
            finished.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)
    try:
        worker = threading.Thread(target=run)
        worker.start()
        started.wait()
        while not finished.is_set():
            count[0] += 1
            if count[0] % 1_000 == 0:
                time.sleep(1e-4)
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    if errors:
        raise errors[0]
    return during[0]


# While a call releases the GIL the main thread makes about 5,000 iterations per millisecond;
# a call that holds it leaves the main thread at most the 1,000 before its next pause.
MANY_ITERATIONS = 20_000


@pytest.fixture(scope="module")
def big_column() -> pa.Array:
    """4,000 distinct rows of 80 words, some needing NFKC."""
    rng = random.Random(1)
    letters = "abcdefghijklmnop"
    vocabulary = ["Ünïcödé", "Straße", "Ｆｕｌｌ", "x²"] + [
        "".join(rng.choices(letters, k=rng.randint(2, 8))) for _ in range(5_000)
    ]
    return pa.array([" ".join(rng.choices(vocabulary, k=80)) + "!" for _ in range(4_000)])


def test_main_thread_counter_stalls_while_native_code_holds_the_gil():
    # Control for the two tests below: a regex backtracking in C holds the GIL throughout.
    pattern, subject = re.compile(r"(a+)+$"), "a" * 21 + "b"
    iterations = main_thread_iterations_during(lambda: pattern.match(subject), calls=5)
    assert iterations < MANY_ITERATIONS


def test_normalize_releases_the_gil(big_column):
    iterations = main_thread_iterations_during(
        lambda: normalize(big_column, num_threads=1), calls=100
    )
    assert iterations > MANY_ITERATIONS


def test_near_duplicates_releases_the_gil(big_column):
    iterations = main_thread_iterations_during(
        lambda: near_duplicates(big_column, num_threads=1), calls=100
    )
    assert iterations > MANY_ITERATIONS


# --- errors ---


def test_error_classes_are_shared_by_amfast_errors_and_the_core():
    assert amfast.errors.InvalidRowError is _core.InvalidRowError
    assert amfast.errors.AmfastInternalError is _core.AmfastInternalError
    assert amfast.errors.AmfastError is _core.AmfastError
    assert issubclass(InputError, AmfastError)
    assert issubclass(InputError, ValueError)


def test_every_error_class_is_an_amfast_error_and_the_expected_builtin():
    assert issubclass(AmfastInternalError, RuntimeError)
    assert issubclass(AmfastInternalError, AmfastError)
    assert issubclass(InvalidRowError, ValueError)
    assert issubclass(InvalidRowError, AmfastError)
    with pytest.raises(AmfastError, match="row 1: text is null"):
        exact_duplicates(["x", None])


def test_invalid_row_error_message_starts_with_its_row():
    with pytest.raises(InvalidRowError) as error:
        exact_duplicates(["x", "y", None])
    assert error.value.row == 2
    assert str(error.value).startswith("row 2:")


# --- the quality, n-gram and embedding entry points share the same input checks ---

CURATION_ENTRY_POINTS: dict[str, Callable[[object], object]] = {
    "quality_metrics": _core.quality_metrics,
    "row_ngram_hashes": lambda texts: _core.row_ngram_hashes(texts, 3),
    "count_frequent_ngrams": lambda texts: _core.count_frequent_ngrams(
        texts, 3, np.array([], np.uint64)
    ),
    "NgramCounter.add": lambda texts: _core.NgramCounter(3).add(texts),
    "NgramIndex.add": lambda texts: _core.NgramIndex(decontam=DecontamOptions()).add(texts),
    "NgramIndex.query": lambda texts: _core.NgramIndex(decontam=DecontamOptions()).query(texts),
}


@pytest.mark.parametrize("call", CURATION_ENTRY_POINTS.values(), ids=CURATION_ENTRY_POINTS.keys())
def test_curation_entry_points_name_the_bad_row(call):
    with pytest.raises(TypeError, match=r"^row 1: expected str or None, got int$"):
        call(["a", 1, "b"])
    with pytest.raises(InvalidRowError, match=r"^row 1: text is not valid UTF-8"):
        call(["a", "\ud800"])
    with pytest.raises(TypeError, match="expected an Arrow string"):
        call(pa.array([1, 2]))
    with pytest.raises(TypeError, match="single str"):
        call("abc")


@pytest.mark.parametrize("method", ["clustered", "hnsw", "exact"])
@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([[0.0, 0.0]], "all zeros"),
        ([[0.0, 0.0], [0.0, 0.0]], "all zeros"),
        ([[np.nan, 1.0]], "NaN"),
    ],
)
def test_a_lone_bad_embedding_row_is_an_error_for_both_methods(method, rows, reason):
    embeddings = np.array(rows, np.float32)
    with pytest.raises(InvalidRowError, match=rf"^row 0: embedding .*{reason}"):
        _core.similarity_graph(embeddings, GraphOptions(method=method))
