r"""Multiple choice (GPQA-style): find the letter the response chose and compare it with the key.

The letter is looked for in the answer part only, strongest evidence first:

1. `\boxed{B}` (also `\boxed{(B)}`, `\boxed{\text{B}}`, `\boxed{B. text}`)
2. a stated answer: "The answer is (B)", "Answer: B", "final answer: **B**", "答案是 B"; the
   last statement wins (models restate and correct themselves)
3. else the letter written last in a weaker form: bold `**B**`, parenthesised `(B)`, `B)` at
   a line start, or a line that is only the letter (`B`, `B.`)

Letters must be capitals ("the answer is a function of x" chooses nothing); the key may be
given in any case.

4. else, when the prompt is given, the option *text* the response answered with: its final
   answer (by `amfast.verify.answer.MATH_RULES`) equal to one option's text ("The answer is
   12" where the prompt offers "(C) 12") chooses that option.
"""

from __future__ import annotations

import re

from amfast.verify.answer import extract_math_answer, last_boxed, split_response
from amfast.verify.verdict import Verdict

DEFAULT_LETTERS = "ABCD"


def _letter_class(letters: str) -> str:
    return "[" + re.escape(letters) + "]"


# Full-width colon and brackets are how Chinese text writes them.
def _patterns(letters: str) -> list[re.Pattern[str]]:
    letter = _letter_class(letters)
    return [
        re.compile(
            r"(?i:final\s+answer|correct\s+(?:answer|option|choice)|answer|option|choice)"
            r"(?i:\s+is)?\s*[:：]?\s*(?:\*\*|\$)?\s*\(?(" + letter + r")\b(?![-'’])"  # noqa: RUF001
            r"|答案\s*(?:是|为|[:：])\s*[（(]?(" + letter + r")\b"  # noqa: RUF001
        ),
        re.compile(r"\*\*\s*\(?(" + letter + r")\)?[.:]?\s*\*\*"),
        re.compile(r"\((" + letter + r")\)"),
        re.compile(r"^\s*(" + letter + r")\)", re.MULTILINE),
        re.compile(r"^\s*(" + letter + r")\.?\s*$", re.MULTILINE),
    ]


_BOX_LETTER = re.compile(r"^\s*(?:\\text\{\s*)?\(?\s*([A-Za-z])\s*\)?(?:\s*\}|[.:)\s]|$)")


def extract_choice(answer_part: str, letters: str = DEFAULT_LETTERS) -> str | None:
    r"""The letter chosen in `answer_part`, or None.

    Args:
        answer_part: the answer part of a response (see `split_response`).
        letters: the valid option letters, e.g. "ABCD" or "ABCDEFGHIJ" (MMLU-Pro).

    Example:
        >>> extract_choice(r"So the answer is $\boxed{C}$.")
        'C'
        >>> extract_choice("I first thought (A), but the answer is **B**.")
        'B'
        >>> extract_choice("A vaccine is a biological product.") is None
        True
    """
    boxed = last_boxed(answer_part)
    if boxed is not None:
        match = _BOX_LETTER.match(boxed)
        if match and match.group(1).upper() in letters:
            return match.group(1).upper()
    stated, *weak = _patterns(letters)
    statements = list(stated.finditer(answer_part))
    if statements:
        return next(letter for letter in reversed(statements[-1].groups()) if letter)
    # Weaker forms compete by position: the last letter written is the final choice.
    last: tuple[int, str] | None = None
    for pattern in weak:
        for match in pattern.finditer(answer_part):
            if last is None or match.start(1) > last[0]:
                last = (match.start(1), match.group(1))
    return last[1] if last else None


def options_in_prompt(prompt: str, letters: str = DEFAULT_LETTERS) -> dict[str, str]:
    r"""The options a prompt offers, one per line: `(A) 12`, `A. 12`, `A) 12`, `A: 12`.

    Example:
        >>> options_in_prompt("Pick one.\n(A) 12\n(B) $\\frac{1}{2}$\nC. none")
        {'A': '12', 'B': '$\\frac{1}{2}$', 'C': 'none'}
    """
    letter = _letter_class(letters)
    found: dict[str, str] = {}
    pattern = r"^\s*(?:\*\*)?\(?(" + letter + r")(?:\)|\.|:)(?:\*\*)?\s+(.+?)\s*$"
    for match in re.finditer(pattern, prompt, re.MULTILINE):
        found.setdefault(match.group(1), match.group(2))
    return found


def _normalized(text: str) -> str:
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)  # \text{east} -> east
    return re.sub(r"[\s$*]|\\[,!;]|\\left|\\right", "", text).rstrip(".").lower()


def choice_by_option_text(answer_part: str, options: dict[str, str]) -> str | None:
    """The letter whose option text equals the response's final answer (`option_text` rule).

    Example:
        >>> choice_by_option_text("So the answer is $12$.", {"A": "10", "C": "12"})
        'C'
    """
    found = extract_math_answer(split_response(answer_part))
    if found is None:
        return None
    value = _normalized(found.value)
    matches = [letter for letter, text in options.items() if _normalized(text) == value]
    return matches[0] if len(matches) == 1 else None


def verify_choice(
    response: str,
    key: str,
    *,
    letters: str = DEFAULT_LETTERS,
    finish_reason: str | None = None,
    prompt: str | None = None,
) -> Verdict:
    r"""Grades a multiple-choice response against the key letter.

    Args:
        response: the assistant's text; only its answer part is read.
        key: the right letter (`"B"`, `"(B)"`, `"b"` are all accepted).
        letters: the valid option letters.
        finish_reason: the generator's finish reason; `"length"` means truncated.
        prompt: the question; when given, a response that answers with an option's text
            instead of its letter chooses that option.

    Example:
        >>> verify_choice("<think>B.</think>\n<answer>The answer is (B).</answer>", "B").passed
        True
        >>> verify_choice("<think>It is B.</think>\n<answer>Hmm.</answer>", "B").reason
        'no_answer'
    """
    normalized_key = key.strip().strip("()").strip().upper()
    if len(normalized_key) != 1 or normalized_key not in letters:
        return Verdict.ungraded(
            "bad_reference", detail=f"key {key!r} is not one of the letters {letters}"
        )
    parts = split_response(response, finish_reason)
    chosen = extract_choice(parts.answer, letters) if parts.answer else None
    rule = "choice_letter"
    if chosen is None and prompt and parts.answer:
        chosen = choice_by_option_text(parts.answer, options_in_prompt(prompt, letters))
        rule = "option_text"
    if parts.truncated:
        return Verdict.failed("truncated", chosen)
    if chosen is None:
        return Verdict.failed("no_answer", detail="no option letter and no option's text")
    if chosen == normalized_key:
        return Verdict.correct(chosen, detail=f"rule {rule}")
    detail = f"rule {rule}: chose {chosen}, key is {normalized_key}"
    return Verdict.failed("wrong", chosen, detail=detail)
