"""Multiple-choice letter extraction and grading (GPQA-style)."""

from __future__ import annotations

import math

import pytest

from amfast.verify.choice import extract_choice, verify_choice


def _response(answer: str) -> str:
    return f"<think>Option (A) looks tempting, but (C) fits.</think>\n<answer>{answer}</answer>"


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("(B)", "B"),
        ("B) 42 kJ", "B"),
        ("**B**", "B"),
        ("**(B)**", "B"),
        ("$\\boxed{B}$", "B"),
        ("$\\boxed{\\text{B}}$", "B"),
        ("\\boxed{(B)}", "B"),
        ("The answer is B", "B"),
        ("The correct answer is (B).", "B"),
        ("Answer: B", "B"),
        ("Final answer: **B**", "B"),
        ("答案是 B", "B"),
        ("Between (A) and (B), I pick:\nB", "B"),
        ("It cannot be (A). The answer is B.", "B"),
    ],
)
def test_chosen_letter_is_found_in_every_common_form(answer: str, letter: str) -> None:
    assert extract_choice(answer) == letter
    assert verify_choice(_response(answer), letter).passed


def test_the_reasoning_is_never_read() -> None:
    verdict = verify_choice(_response("I am not sure."), "C")
    assert verdict.reason == "no_answer"


@pytest.mark.parametrize(
    "answer",
    ["The answer is a function of x.", "A vaccine is a biological product.", "I think so."],
)
def test_prose_capitals_and_articles_are_not_choices(answer: str) -> None:
    assert extract_choice(answer) is None


def test_wrong_letter_fails_and_names_both() -> None:
    verdict = verify_choice(_response("The answer is (D)."), "(b)")
    assert (verdict.passed, verdict.reason, verdict.extracted) == (False, "wrong", "D")
    assert "chose D, key is B" in verdict.detail


def test_letters_beyond_the_option_set_are_ignored() -> None:
    assert extract_choice("The answer is (E).") is None
    assert extract_choice("The answer is (E).", letters="ABCDEFGHIJ") == "E"


def test_truncated_response_never_passes() -> None:
    verdict = verify_choice(_response("The answer is B"), "B", finish_reason="length")
    assert (verdict.passed, verdict.reason, verdict.extracted) == (False, "truncated", "B")


def test_key_that_is_not_a_letter_is_a_bad_reference_not_a_wrong_answer() -> None:
    verdict = verify_choice(_response("The answer is B"), "42")
    assert verdict.reason == "bad_reference"
    assert not verdict.graded
    assert math.isnan(verdict.score)


def test_among_weak_forms_the_last_letter_written_wins() -> None:
    assert extract_choice("Between (B) and (A), I pick:\nB") == "B"
    assert extract_choice("**A** is wrong; (C) is right") == "C"


PROMPT = "Which is largest?\n(A) 1.5\n(B) 15\n(C) $\\frac{1}{2}$\n(D) none of these"


@pytest.mark.parametrize(
    ("answer", "key", "passed"),
    [
        ("The answer is 15.", "B", True),
        ("The answer is $1.5$.", "A", True),
        ("So the answer is \\boxed{\\frac{1}{2}}.", "C", True),
        ("The answer is 15.", "A", False),
        ("The answer is 7.", "B", False),
    ],
)
def test_an_answer_given_as_option_text_chooses_that_option(
    answer: str, key: str, passed: bool
) -> None:
    verdict = verify_choice(answer, key, prompt=PROMPT)
    assert verdict.passed is passed
    if passed:
        assert verdict.detail == "rule option_text"


def test_option_text_is_only_read_when_no_letter_was_chosen() -> None:
    verdict = verify_choice("The answer is (A), i.e. 15.", "B", prompt=PROMPT)
    assert (verdict.reason, verdict.extracted) == ("wrong", "A")
