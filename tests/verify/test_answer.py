"""Splitting responses into think/answer parts and finding the answer to grade."""

from __future__ import annotations

import pytest

from amfast.verify.answer import (
    final_answer,
    last_boxed,
    last_code_block,
    split_response,
    stated_final_answer,
)


def test_am_format_answer_part_excludes_the_reasoning() -> None:
    parts = split_response("<think>maybe \\boxed{3}</think>\n<answer>so \\boxed{4}</answer>")
    assert parts.think == "maybe \\boxed{3}"
    assert parts.answer == "so \\boxed{4}"
    assert not parts.truncated


def test_plain_r1_output_answer_is_the_text_after_the_reasoning() -> None:
    parts = split_response("<think>\nwork\n</think>\n\nThe result is $\\boxed{7}$.")
    assert parts.answer == "The result is $\\boxed{7}$."
    assert not parts.truncated


def test_forced_think_prefix_without_opening_tag_is_understood() -> None:
    parts = split_response("work it out\n</think>\nAnswer: 9")
    assert parts.think == "work it out"
    assert parts.answer == "Answer: 9"


def test_a_response_without_tags_is_all_answer() -> None:
    assert split_response("  \\boxed{1}  ") == split_response("\\boxed{1}")
    assert split_response("\\boxed{1}").think is None


@pytest.mark.parametrize(
    ("response", "finish_reason"),
    [
        ("<think>unfinished reasoning \\boxed{4}", None),
        ("<think>done</think>\n<answer>\\boxed{4}", None),
        ("<think>done</think>\n<answer>\\boxed{4}</answer>", "length"),
    ],
)
def test_truncated_responses_are_flagged(response: str, finish_reason: str | None) -> None:
    assert split_response(response, finish_reason).truncated


def test_an_unfinished_think_block_leaves_nothing_to_grade() -> None:
    assert split_response("<think>the answer is \\boxed{4}").answer == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\boxed{42}", "42"),
        ("a \\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}"),
        ("\\fbox{x+1}", "x+1"),
        ("$\\boxed 5$", "5"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{\\text{(B)}}", "\\text{(B)}"),
        ("\\boxed{unclosed", None),
        ("nothing", None),
    ],
)
def test_last_boxed_balances_nested_braces(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


def test_unclosed_last_box_falls_back_to_the_previous_one() -> None:
    assert last_boxed("\\boxed{3} and later \\boxed{4") == "3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The final answer is 12.", "12"),
        ("Therefore, the answer is $\\frac{3}{4}$.", "$\\frac{3}{4}$"),
        ("**Answer:** 15", "15"),
        ("Final Answer: x = 2", "x = 2"),
        ("Final Answer: The final answer is $7$. I hope it is correct.", "$7$"),
        ("The answer is 3.5. Done.", "3.5"),
        ("We think hard.", None),
    ],
)
def test_stated_final_answer(text: str, expected: str | None) -> None:
    assert stated_final_answer(text) == expected


def test_boxed_answer_beats_a_stated_one() -> None:
    assert final_answer("The answer is 3, i.e. \\boxed{3.0}") == "3.0"


def test_last_code_block_prefers_python_over_other_languages() -> None:
    text = "```python\ndef f():\n    return 1\n```\nOutput:\n```\n1\n```\n```bash\nls\n```"
    assert last_code_block(text) == "1\n"  # untagged blocks count as code too
    assert last_code_block("```py\nx = 1\n```\n```bash\nls\n```") == "x = 1\n"
    assert last_code_block("```cpp\nint main(){}\n```") == "int main(){}\n"


def test_code_block_with_longer_fence_and_inner_backticks() -> None:
    text = "````python\ns = '```'\nprint(s)\n````"
    assert last_code_block(text) == "s = '```'\nprint(s)\n"
