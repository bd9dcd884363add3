"""Splitting responses into think/answer parts and finding the answer to grade."""

from __future__ import annotations

import pytest

from amfast.verify.answer import (
    MATH_RULES,
    Extraction,
    ResponseParts,
    cut_off_without_answer,
    extract_code,
    extract_math_answer,
    final_answer,
    last_boxed,
    last_code_block,
    latex_from_plain,
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


# ---------------------------------------------------------------- the named rules


@pytest.mark.parametrize(
    ("response", "answer", "layout"),
    [
        ("<think>maybe 3</think>\nSo **4**.", "So **4**.", "think"),
        (
            "<|begin_of_thought|>hm 3<|end_of_thought|>\n<|begin_of_solution|>\n"
            "\\boxed{4}\n<|end_of_solution|>",
            "\\boxed{4}",
            "sky_t1",
        ),
        ("think\nit is 3?\nanswer\nAnswer: 4", "Answer: 4", "s1"),
        ("<think>a</think><answer>4</answer>", "4", "am"),
        ("The answer is 4.", "The answer is 4.", "plain"),
    ],
)
def test_long_cot_layouts_grade_only_their_answer_section(
    response: str, answer: str, layout: str
) -> None:
    parts = split_response(response)
    assert (parts.answer, parts.layout, parts.truncated) == (answer, layout, False)


@pytest.mark.parametrize(
    "response",
    [
        "<|begin_of_thought|>\nLet me think about q_7 = \\frac{3}{",
        "<|begin_of_thought|>a<|end_of_thought|><|begin_of_solution|>So x = (",
        "think\nstill thinking about it",
    ],
)
def test_unfinished_long_cot_sections_are_truncated(response: str) -> None:
    assert split_response(response).truncated


def test_a_finished_sky_t1_solution_without_its_closing_tag_is_not_truncated() -> None:
    response = "<|begin_of_thought|>a<|end_of_thought|><|begin_of_solution|>So \\boxed{36}."
    assert not split_response(response).truncated


@pytest.mark.parametrize(
    ("answer_section", "value", "rule"),
    [
        ("first \\boxed{1}, then \\fbox{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}", "boxed"),
        ("Final Answer: The final answer is $7$. I hope", "$7$", "final_answer_statement"),
        ("**Answer:**\n5", "5", "final_answer_statement"),
        ("**Answer:** John is **45 miles** from home.", "45", "final_answer_statement"),
        ("**Answer:** You can run 10 cycles for $1 with it.", "10", "final_answer_statement"),
        ("答案是 12", "12", "final_answer_statement"),
        ("Therefore, Watson made **$3200** in April.", "$3200", "bold_in_conclusion"),
        ("she will be facing **east**.", "east", "bold_in_conclusion"),
        ("we need **three** treeks.", "3", "bold_in_conclusion"),
        ("Thus, the radius r is\nr = √5.", "√5", "equation_last_line"),
        ("\\[\nx = \\frac{12}{1.5} = 8\n\\]", "8", "equation_last_line"),
        ("Therefore, the number of trailing zeros in 42! is 9.", "9", "concluding_sentence"),
        ("Thus, 3 boxes contain neither pens nor pencils.", "3", "concluding_sentence"),
        ("Both win with probability ½ × ½ = ¼.", "¼", "last_sentence"),  # noqa: RUF001
        ("4", "4", "bare_answer"),
    ],
)
def test_each_math_rule_finds_its_answer_and_names_itself(
    answer_section: str, value: str, rule: str
) -> None:
    found = extract_math_answer(ResponseParts(None, answer_section, False, "am"))
    assert found == Extraction(value, rule)


def test_rules_are_tried_strongest_first_and_each_has_a_unique_name() -> None:
    names = [name for name, _ in MATH_RULES]
    assert names[0] == "boxed"
    assert len(set(names)) == len(names)
    both = "The answer is 3, i.e. \\boxed{3.0}"
    assert extract_math_answer(ResponseParts(None, both, False, "am")) == Extraction("3.0", "boxed")


def test_prose_rules_read_only_the_conclusion_of_an_untagged_response() -> None:
    reasoning = "Suppose the answer is 12.\n\n" + "More work here.\n\n" * 3
    parts = split_response(reasoning + "Let me know if you need anything else!")
    assert extract_math_answer(parts) is None


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("Suppose I have the NAND function: F(A,", True),
        ("Wait, but earlier I thought \\( q_7 = \\frac{3}{", True),
        ("x = 3.\n\nAlternatively, perhaps I need to consider that for n", True),
        ("So, 3 boxes contain neither.", False),
        ("**Answer:** 8", False),
        ("x = 5", False),
        ("So $\\boxed{104}$.\n~author", False),
    ],
)
def test_an_untagged_response_cut_off_without_an_answer_is_truncated(text: str, cut: bool) -> None:
    assert cut_off_without_answer(split_response(text)) is cut


@pytest.mark.parametrize(
    ("prose", "latex"),
    [
        ("½ × ½ = ¼", "\\frac{1}{2} \\times  \\frac{1}{2} = \\frac{1}{4}"),  # noqa: RUF001
        ("√5", "\\sqrt{5}"),
        ("2√(x+1)", "2\\sqrt{x+1}"),
        ("5π", "5\\pi"),
        ("30°", "30^\\circ"),
        ("1e-5", "1\\times 10^{-5}"),
        ("6.02e23", "6.02\\times 10^{23}"),
        ("3,200", "3200"),
        ("1,000,000", "1000000"),
        ("1, 2", "1, 2"),
        ("e^2", "e^2"),
    ],
)
def test_prose_math_is_rewritten_for_math_verify(prose: str, latex: str) -> None:
    assert latex_from_plain(prose) == latex


# ---------------------------------------------------------------- code rules


def test_the_block_that_defines_the_entry_point_wins_over_a_later_usage_block() -> None:
    text = "```py\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python3\nprint(add(1, 2))\n```"
    assert extract_code(text, "add") == Extraction(
        "def add(a, b):\n    return a + b\n", "fence_defining_entry_point"
    )
    assert extract_code(text) == Extraction("print(add(1, 2))\n", "last_python_fence")


def test_an_unfenced_answer_is_the_program_when_it_parses_as_python() -> None:
    code = "from typing import List\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
    assert extract_code(code, "total") == Extraction(code, "unfenced_code")
    prose = "Here is my solution:\n" + code + "\nThis runs in O(n)."
    assert extract_code(prose) == Extraction(code, "unfenced_code")
    assert extract_code("I cannot solve this.") is None


def test_bold_headings_and_labels_are_not_answers() -> None:
    section = "**Part 4: Distance from Home**\n**Verification**\nThus, the distance is 45 miles."
    found = extract_math_answer(ResponseParts(None, section, False, "am"))
    assert found == Extraction("45", "concluding_sentence")
