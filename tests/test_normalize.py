"""`amfast.normalize` on lists and Arrow columns, its options, and idempotence."""

# ruff: noqa: RUF001 - full-width and other look-alike characters are what these tests test

from __future__ import annotations

import dataclasses
import types

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amfast import NormalizeOptions, _core, normalize

STRING_TYPES = [pa.string(), pa.large_string(), pa.string_view()]

# Inputs and their default normalization; one long row so string_view stores it out of line.
SAMPLES = {
    "  Hello,   WORLD!! ": "hello world",
    "Ｆｕｌｌｗｉｄｔｈ　１２３": "fullwidth 123",
    "": "",
    "?!.": "",
    "A much longer row, past the twelve inline bytes of string_view": (
        "a much longer row past the twelve inline bytes of string view"
    ),
}

options_strategy = st.builds(
    NormalizeOptions,
    lowercase=st.booleans(),
    case_fold=st.booleans(),
    keep_digits=st.booleans(),
    math_operators=st.booleans(),
    strip_latex=st.booleans(),
)


def test_normalize_list_returns_list_with_nulls_in_place():
    texts = [*SAMPLES, None]
    result = normalize(texts)
    assert type(result) is list
    assert result == [*SAMPLES.values(), None]


def test_normalize_empty_list_returns_empty_list():
    assert normalize([]) == []


def test_normalize_tuple_input_returns_list():
    assert normalize(("A", None)) == ["a", None]


@pytest.mark.parametrize("string_type", STRING_TYPES, ids=str)
def test_normalize_arrow_array_keeps_kind_type_and_nulls(string_type):
    array = pa.array([*SAMPLES, None, "X"], type=string_type)
    result = normalize(array)
    assert isinstance(result, pa.Array)
    assert result.type == string_type
    assert result.to_pylist() == [*SAMPLES.values(), None, "x"]
    assert result.null_count == 1
    assert not result[len(SAMPLES)].is_valid


@pytest.mark.parametrize("string_type", STRING_TYPES, ids=str)
def test_normalize_chunked_array_keeps_chunks_type_and_nulls(string_type):
    chunks = [["A b", None], [], ["C, d", "E!", None]]
    chunked = pa.chunked_array([pa.array(chunk, string_type) for chunk in chunks], string_type)
    result = normalize(chunked)
    assert isinstance(result, pa.ChunkedArray)
    assert result.type == string_type
    assert [len(chunk) for chunk in result.chunks] == [2, 0, 3]
    assert result.to_pylist() == ["a b", None, "c d", "e", None]


@pytest.mark.parametrize("string_type", STRING_TYPES, ids=str)
def test_normalize_empty_arrow_array_keeps_type(string_type):
    result = normalize(pa.array([], string_type))
    assert isinstance(result, pa.Array)
    assert result.type == string_type
    assert len(result) == 0


@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string(), pa.string_view()], ids=str)
def test_normalize_chunked_array_without_chunks_keeps_type(string_type):
    result = normalize(pa.chunked_array([], string_type))
    assert isinstance(result, pa.ChunkedArray)
    assert len(result) == 0
    assert result.type == string_type


@pytest.mark.parametrize("string_type", STRING_TYPES, ids=str)
def test_normalize_reads_sliced_arrow_arrays_from_their_offset(string_type):
    array = pa.array(["Zero", "One!", None, "THREE three three three", "Four"], string_type)
    result = normalize(array.slice(1, 3))
    assert result.type == string_type
    assert result.to_pylist() == ["one", None, "three three three three"]


def test_normalize_arrow_and_list_inputs_agree_on_every_option():
    texts = ["Straße 12 + x", "ＡＢＣ－１２３", r"$\left(x\right)$", None, "Ǆemal"]
    for options in [
        NormalizeOptions(),
        NormalizeOptions(lowercase=False),
        NormalizeOptions(case_fold=True, keep_digits=False),
        NormalizeOptions(math_operators=True, strip_latex=True),
    ]:
        expected = normalize(texts, options)
        for string_type in STRING_TYPES:
            assert normalize(pa.array(texts, string_type), options).to_pylist() == expected


def test_case_fold_expands_sharp_s_and_default_lowercase_keeps_it():
    assert normalize(["Straße"], NormalizeOptions(case_fold=True)) == ["strasse"]
    assert normalize(["Straße"]) == ["straße"]


def test_case_fold_applies_even_when_lowercase_is_off():
    assert normalize(["Hello WORLD"], NormalizeOptions(lowercase=False)) == ["Hello WORLD"]
    assert normalize(["Hello WORLD"], NormalizeOptions(lowercase=False, case_fold=True)) == [
        "hello world"
    ]


def test_keep_digits_false_deletes_digits_as_separators():
    options = NormalizeOptions(keep_digits=False)
    assert normalize(["Tom has 12 apples and x2y"], options) == ["tom has apples and x y"]
    assert normalize(["Tom has 12 apples and x2y"]) == ["tom has 12 apples and x2y"]


def test_keep_digits_false_also_deletes_non_ascii_digits():
    options = NormalizeOptions(keep_digits=False)
    assert normalize(["x１２y ٣ z"], options) == ["x y z"]


def test_math_operators_become_single_tokens():
    options = NormalizeOptions(math_operators=True)
    assert normalize(["2x+3=y^2, a<b"], options) == ["2x + 3 = y ^ 2 a < b"]
    assert normalize(["6 × 7 − 1 ÷ 2"], options) == ["6 * 7 - 1 / 2"]
    assert normalize(["2x+3=y^2, a<b"]) == ["2x 3 y 2 a b"]


def test_strip_latex_drops_sizing_commands_but_keeps_leftarrow():
    options = NormalizeOptions(strip_latex=True)
    text = r"$\left( \frac{1}{2} \right)$ \leftarrow \rightarrow \displaystyle x\,y"
    assert normalize([text], options) == ["frac 1 2 leftarrow rightarrow x y"]
    assert normalize([r"\left( x \right)"]) == ["left x right"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("小明有３个苹果，吃了1个。", "小明有3个苹果 吃了1个"),
        ("東京タワー！Ｈｅｌｌｏ", "東京タワー hello"),
        ("ｶﾀｶﾅ ﾃｽﾄ", "カタカナ テスト"),
        ("한국어 테스트", "한국어 테스트"),
        ("ＡＢＣ－１２３", "abc 123"),
        ("ﬁne ﬀ", "fine ff"),
        ("x² Ⅻ", "x2 xii"),
        ("Crème Brûlée", "crème brûlée"),
        ("e\u0301", "\u00e9"),
    ],
)
def test_normalize_applies_nfkc_to_cjk_fullwidth_and_compatibility_forms(text, expected):
    assert normalize([text]) == [expected]


def test_normalize_results_do_not_depend_on_thread_count():
    texts = [f"Row {i}: Ünïcödé, Ｆｕｌｌ {i % 7} and ß!" for i in range(5_000)]
    assert normalize(texts, num_threads=1) == normalize(texts, num_threads=2)


def test_normalize_options_reach_the_core_whole():
    # The core reads the options object attribute by attribute: each field is read, none is
    # restated as a keyword of its own.
    names = [item.name for item in dataclasses.fields(NormalizeOptions)]
    for missing in names:
        partial = types.SimpleNamespace(**{name: False for name in names if name != missing})
        with pytest.raises(AttributeError, match=missing):
            _core.normalize(["x"], options=partial)
    options = NormalizeOptions(case_fold=True, math_operators=True)
    assert _core.normalize(["Straße 1+1"], options=options) == ["strasse 1 + 1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.lowercase = False  # type: ignore[misc]


@given(st.lists(st.text(), max_size=8), options_strategy)
def test_normalize_is_idempotent_for_any_text_and_options(texts, options):
    once = normalize(texts, options)
    assert normalize(once, options) == once


@given(st.lists(st.text(), max_size=8), options_strategy)
def test_normalize_output_has_single_spaces_and_no_edge_spaces(texts, options):
    for text in normalize(texts, options):
        assert text == text.strip(" ")
        assert "  " not in text
        assert not any(ch.isspace() and ch != " " for ch in text)


@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8"))),
        max_size=8,
    ),
    options_strategy,
)
def test_normalize_arrow_path_matches_list_path(texts, options):
    expected = normalize(texts, options)
    assert normalize(pa.array(texts, pa.string_view()), options).to_pylist() == expected
    assert normalize(pa.array(texts, pa.large_string()), options).to_pylist() == expected
