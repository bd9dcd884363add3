r"""Split a response into its think and answer parts, and find the answer to grade.

Two response shapes are understood:

- AM format: `<think>...</think>\n<answer>...</answer>`: the answer part is inside `<answer>`.
- Plain R1 output: `<think>...</think>` then free text (the opening `<think>` may be missing when
  the prompt forced it): the answer part is everything after the last `</think>`.

A response with neither tag is all answer. Only the answer part is ever graded, so a correct
value written in the reasoning never passes. A response is *truncated* when a tag it opened is
never closed, or when the generator reported `finish_reason == "length"`; truncated responses
never pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_ANSWER_OPEN = "<answer>"
_ANSWER_CLOSE = "</answer>"


@dataclass(frozen=True, slots=True)
class ResponseParts:
    """A response cut into its reasoning and its answer.

    Attributes:
        think: the reasoning (without tags), or None if the response has no think block.
        answer: the part to grade (stripped); empty when there is nothing after the reasoning.
        truncated: the response was cut off; it must not pass.
    """

    think: str | None
    answer: str
    truncated: bool


def split_response(response: str, finish_reason: str | None = None) -> ResponseParts:
    r"""Cuts `response` into think and answer parts and tells whether it was truncated.

    Args:
        response: the assistant's text.
        finish_reason: the generator's finish reason, if known; `"length"` means truncated.

    Example:
        >>> split_response("<think>2+2=5?</think>\n<answer>It is 4.</answer>").answer
        'It is 4.'
        >>> split_response("<think>no end in sight").truncated
        True
        >>> split_response("We get 4.</think>The answer is 4.").think
        'We get 4.'
    """
    truncated = finish_reason == "length"
    think: str | None = None
    rest = response
    close = response.rfind(_THINK_CLOSE)
    if close >= 0:
        opened = response.find(_THINK_OPEN)
        start = opened + len(_THINK_OPEN) if 0 <= opened < close else 0
        think = response[start:close].strip()
        rest = response[close + len(_THINK_CLOSE) :]
    elif _THINK_OPEN in response:
        # Reasoning opened and never closed: the generator stopped mid-thought.
        opened = response.find(_THINK_OPEN)
        return ResponseParts(response[opened + len(_THINK_OPEN) :].strip(), "", True)
    answer_open = rest.find(_ANSWER_OPEN)
    if answer_open >= 0:
        body = rest[answer_open + len(_ANSWER_OPEN) :]
        answer_close = body.rfind(_ANSWER_CLOSE)
        if answer_close < 0:
            truncated = True
        else:
            body = body[:answer_close]
        rest = body
    return ResponseParts(think, rest.strip(), truncated)


_BOXED = re.compile(r"\\(?:boxed|fbox)\b")


def last_boxed(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` or `\fbox{...}` in `text`, braces balanced.

    `\boxed 5` (no braces, as some models write) yields the token after the space. An unclosed
    brace yields None.

    Example:
        >>> last_boxed(r"first \boxed{1}, then \boxed{\frac{1}{2}}.")
        '\\frac{1}{2}'
        >>> last_boxed(r"so $\boxed 7$")
        '7'
        >>> last_boxed("no box") is None
        True
    """
    matches = list(_BOXED.finditer(text))
    for match in reversed(matches):
        content = _box_content(text, match.end())
        if content is not None:
            return content
    return None


def _box_content(text: str, position: int) -> str | None:
    rest = text[position:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        start = position + (len(rest) - len(stripped)) + 1
        depth = 1
        for index in range(start, len(text)):
            char = text[index]
            if char == "\\":
                continue
            if char == "{" and text[index - 1] != "\\":
                depth += 1
            elif char == "}" and text[index - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return text[start:index].strip()
        return None
    if rest[:1] == " ":
        token = re.match(r"\s*([^\s$]+)", rest)
        if token:
            return token.group(1).rstrip(".,;")
    return None


_STATED = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)?\s*[:=]?\s*(.+)",
    re.IGNORECASE,
)


_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")


def stated_final_answer(text: str) -> str | None:
    r"""The answer stated in words on the last line that states one ("The final answer is 12.").

    Example:
        >>> stated_final_answer("Adding up.\nThe final answer is 12.")
        '12'
        >>> stated_final_answer("Answer: $x = 3$")
        '$x = 3$'
        >>> stated_final_answer("Final Answer: The final answer is $7$. I hope it is correct.")
        '$7$'
    """
    for line in reversed(text.splitlines()):
        statements = list(_STATED.finditer(line))
        if not statements:
            continue
        value = statements[-1].group(1)
        # "Final Answer: The final answer is $7$. I hope it is correct." (Minerva's template)
        while (nested := _STATED.search(value)) is not None and nested.start() <= len("The "):
            value = nested.group(1)
        value = _SENTENCE_END.split(value, maxsplit=1)[0]
        value = value.strip().rstrip(".").strip().strip("*").strip()
        if value:
            return value
    return None


def final_answer(answer_part: str) -> str | None:
    r"""The answer to grade: the last boxed answer, else a stated final answer, else None.

    Example:
        >>> final_answer(r"Thus $\boxed{x^2}$.")
        'x^2'
        >>> final_answer("The answer is 5")
        '5'
    """
    boxed = last_boxed(answer_part)
    if boxed is not None:
        return boxed
    return stated_final_answer(answer_part)


_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S
)


def last_code_block(text: str, language: str = "python") -> str | None:
    r"""The body of the last fenced code block, preferring blocks tagged `language` or untagged.

    Example:
        >>> last_code_block("```python\nprint(1)\n```\nand\n```text\nout\n```")
        'print(1)\n'
        >>> last_code_block("no code") is None
        True
    """
    blocks: list[tuple[str, str]] = [
        (m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)
    ]
    if not blocks:
        return None
    wanted = {language.lower(), "py" if language.lower() == "python" else language.lower(), ""}
    for tag, body in reversed(blocks):
        if tag in wanted:
            return body
    return blocks[-1][1]
