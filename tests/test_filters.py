# ruff: noqa: RUF001 - Chinese test texts use full-width punctuation on purpose
import numpy as np
import pyarrow as pa
import pytest

from amfast import _core
from amfast.filters import FilterOptions, FilterStage, frequent_ngram_counts, quality_metrics
from amfast.stage import FRAME_SCHEMA, StageContext


def frame(texts, responses=None):
    rows = len(texts)
    return pa.table(
        {
            "row": np.arange(rows),
            "row_id": [str(i) for i in range(rows)],
            "source": ["s"] * rows,
            "text": texts,
            "response": responses or [None] * rows,
            "priority": np.arange(rows),
            "has_reference": [False] * rows,
            "has_test_case": [False] * rows,
        },
        schema=FRAME_SCHEMA,
    )


def dropped(name, texts, responses=None, **options):
    stage = FilterStage(name, FilterOptions(**options))
    drops = stage.run(frame(texts, responses), StageContext())
    return drops.positions.tolist(), drops.reasons


def test_repetition_filter_drops_a_response_stuck_in_a_loop():
    loop = "Let me check that again. " * 12
    positions, reasons = dropped(
        "repetition", ["q", "q"], [f"<think>{loop}</think>", "a normal answer with some words"]
    )
    assert positions == [0]
    assert reasons == "repetition"


def test_think_form_reason_codes_name_the_failure():
    responses = [
        "<think>ok</think><answer>4</answer>",
        "just an answer",
        "<answer>4</answer><think>ok</think>",
        "<think> </think><answer>4</answer>",
    ]
    positions, reasons = dropped("think_form", ["q"] * 4, responses)
    assert positions == [1, 2, 3]
    assert reasons == ["think_missing", "think_order", "think_empty"]


def test_filters_of_the_response_pass_rows_without_one():
    assert dropped("think_form", ["q", "q"]) == ([], [])


def test_language_filter_and_mixing():
    texts = ["What is two plus two?", "二加二等于多少？", "Сколько будет два плюс два?"]
    assert dropped("language", texts)[0] == [2]
    mixed = "We first compute the sum of the numbers. 然后我们把结果除以二得到答案。"
    assert dropped("language_mix", ["q", "q"], [mixed, "All in English, fine."])[0] == [0]


def test_query_filters_url_image_table_unicode_length():
    texts = [
        "See https://example.com for the problem",
        "As shown in the figure below, find x.",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "\ue000\ue001\ue002 garbled",
        "hi",
        "A fine problem about triangles and their areas",
    ]
    assert dropped("url", texts)[0] == [0]
    assert dropped("image", texts)[0] == [1]
    assert dropped("table", texts)[0] == [2]
    assert dropped("unicode", texts)[0] == [3]
    lengths = ["hi", "one two three four", "a fine problem about triangles and their areas"]
    positions, reasons = dropped("length", lengths, min_tokens=3, max_words=6)
    assert positions == [0, 2]
    assert reasons == ["too_short", "too_long"]


def test_frequent_ngrams_count_rows_across_the_dataset():
    boiler = "please reason step by step and put the final answer in a box"
    texts = pa.array([f"{boiler} question {i}" for i in range(5)] + ["unique text here today"])
    counts = frequent_ngram_counts(texts, 5, 3, batch_rows=2)
    assert (counts[:5] > 0).all()
    assert counts[5] == 0


def test_quality_metrics_accepts_arrow_and_lists_alike():
    texts = ["one two three", None, "二 三"]
    from_list = quality_metrics(texts)
    from_arrow = quality_metrics(pa.array(texts, pa.large_string()))
    for key, values in from_list.items():
        np.testing.assert_array_equal(values, from_arrow[key])
    assert from_list["words"].tolist() == [3, 0, 2]


def test_bad_options_raise_value_error():
    with pytest.raises(ValueError, match="repeat_min_repeats"):
        quality_metrics(["x"], repeat_min_repeats=1)
    with pytest.raises(ValueError, match="unknown filter"):
        FilterStage("nope", FilterOptions())
    with pytest.raises(ValueError, match="before finish"):
        _core.NgramCounter(3).count_frequent(["a b c"])
