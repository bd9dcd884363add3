r"""Find the answer to grade in a model's response: every extraction rule, named, in one place.

**Sections.** A response is cut into its reasoning and its answer section; only the answer
section is graded, so a right value in the reasoning never passes. Layouts understood
(`ResponseParts.layout`):

- `am`: `<think>...</think><answer>...</answer>`: inside `<answer>`.
- `think`: R1 / QwQ output, `<think>...</think>` then free text (the opening tag may be missing
  when the prompt forced it): everything after the last `</think>`.
- `sky_t1`: `<|begin_of_thought|>...<|end_of_thought|><|begin_of_solution|>...
  <|end_of_solution|>` (Sky-T1, Bespoke, OpenThoughts): inside the solution block.
- `s1`: s1's `think\n...\nanswer\n...` (the role names it was trained with): after `answer`.
- `plain`: no tags: all of it, and the rules below that read prose look only at its
  conclusion (the last two paragraphs).

A response is *truncated* when a tag it opened is never closed (except a Sky-T1 solution block
that ends cleanly: those models often omit `<|end_of_solution|>`) or the generator reported
`finish_reason == "length"`; math also counts as truncated a `plain` response that stops
mid-sentence (`stops_mid_sentence`: ends on an operator, an open bracket or a word with no
final punctuation) with no boxed, stated or bold answer in its conclusion
(`cut_off_without_answer`). Truncated responses never pass.

**Math rules** (`MATH_RULES`, strongest first; the first that finds something decides):

1. `boxed`: the last `\boxed{...}` / `\fbox{...}` (braces balanced: nested braces kept whole).
2. `final_answer_statement`: "The final answer is 12", "Answer: 12", `**Answer:** 12` (the
   value may be on the next line), "答案是 12"; the last statement wins.
3. `bold_in_conclusion`: the last `**...**` of the conclusion that holds a value.
4. `equation_last_line`: the last line is an equation `r = √5.`: its right-hand side.
5. `concluding_sentence`: a "Therefore / Thus / So / Hence ..." sentence among the last two of
   the conclusion: the value after its verb ("... is 24"), else its first.
6. `last_sentence`: the last sentence, when it states a value ("... is ½ × ½ = ¼").
7. `bare_answer`: an answer section that is one short line (`<answer>5</answer>`).

Values found in prose are rewritten for math-verify by `latex_from_plain`: Unicode math
(`½ √5 π × ° ²`), thousands separators, scientific notation (`1e-5` is 10⁻⁵, not Euler's e).

**Code rules** (`CODE_RULES`):

1. `fence_defining_entry_point`: the last fenced block (`python`, `py`, `python3` or untagged)
   that defines the entry point (`def name(` / `class Solution`), when the tests name one.
2. `last_python_fence`: else the last Python (or untagged) fenced block, else the last block.
3. `unfenced_code`: no fence: the whole answer section if it parses as Python, else its longest
   run of lines that starts at a `def` / `class` / `import` line and parses.

Each rule returns an `Extraction` (value + rule name); verifiers put the rule's name into
`Verdict.detail`, so every verdict says which rule found the answer.
"""

# The rules read Unicode math as models write it (×, −, ！): ambiguous characters are the point.
# ruff: noqa: RUF001, RUF002, RUF003

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Layout = Literal["am", "think", "sky_t1", "s1", "plain"]

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_ANSWER_OPEN = "<answer>"
_ANSWER_CLOSE = "</answer>"
_THOUGHT_OPEN = "<|begin_of_thought|>"
_THOUGHT_CLOSE = "<|end_of_thought|>"
_SOLUTION_OPEN = "<|begin_of_solution|>"
_SOLUTION_CLOSE = "<|end_of_solution|>"
_S1_THINK = re.compile(r"\A\s*think\s*\n")
_S1_ANSWER = re.compile(r"^answer[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ResponseParts:
    """A response cut into its reasoning and its answer section.

    Attributes:
        think: the reasoning (without tags), or None if the response has no think block.
        answer: the section to grade (stripped); empty when there is nothing after the reasoning.
        truncated: the response was cut off; it must not pass.
        layout: which response layout was recognised (see the module docstring).
    """

    think: str | None
    answer: str
    truncated: bool
    layout: Layout = "plain"


@dataclass(frozen=True, slots=True)
class Extraction:
    """An answer found in a response, and the name of the rule that found it."""

    value: str
    rule: str


def split_response(response: str, finish_reason: str | None = None) -> ResponseParts:
    r"""Cuts `response` into think and answer sections and tells whether it was truncated.

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
        >>> parts = split_response("<|begin_of_thought|>hm<|end_of_thought|>"
        ...     "<|begin_of_solution|>\\boxed{3}<|end_of_solution|>")
        >>> parts.answer, parts.layout
        ('\\boxed{3}', 'sky_t1')
    """
    length_cut = finish_reason == "length"
    if _THOUGHT_OPEN in response or _SOLUTION_OPEN in response:
        parts = _split_sky_t1(response)
    elif _THINK_CLOSE in response or _THINK_OPEN in response:
        parts = _split_think(response)
    elif _S1_THINK.match(response):
        parts = _split_s1(response)
    else:
        parts = _split_answer_tags(None, response, "plain")
    if length_cut and not parts.truncated:
        return ResponseParts(parts.think, parts.answer, True, parts.layout)
    return parts


def _split_think(response: str) -> ResponseParts:
    close = response.rfind(_THINK_CLOSE)
    opened = response.find(_THINK_OPEN)
    if close < 0:
        # Reasoning opened and never closed: the generator stopped mid-thought.
        return ResponseParts(response[opened + len(_THINK_OPEN) :].strip(), "", True, "think")
    start = opened + len(_THINK_OPEN) if 0 <= opened < close else 0
    think = response[start:close].strip()
    return _split_answer_tags(think, response[close + len(_THINK_CLOSE) :], "think")


def _split_sky_t1(response: str) -> ResponseParts:
    opened = response.find(_THOUGHT_OPEN)
    start = opened + len(_THOUGHT_OPEN) if opened >= 0 else 0
    thought_close = response.find(_THOUGHT_CLOSE)
    solution = response.rfind(_SOLUTION_OPEN)
    if solution < 0:
        end = thought_close if thought_close >= 0 else len(response)
        return ResponseParts(response[start:end].strip(), "", True, "sky_t1")
    think_end = thought_close if 0 <= thought_close < solution else solution
    think = response[start:think_end].strip()
    body = response[solution + len(_SOLUTION_OPEN) :]
    closed = body.find(_SOLUTION_CLOSE)
    if closed < 0:
        # Sky-T1 models often omit the closing tag after a finished solution: only a solution
        # that stops mid-sentence was cut off.
        return ResponseParts(think, body.strip(), stops_mid_sentence(body), "sky_t1")
    return ResponseParts(think, body[:closed].strip(), False, "sky_t1")


def _split_s1(response: str) -> ResponseParts:
    body = response[_S1_THINK.match(response).end() :]  # type: ignore[union-attr]
    markers = list(_S1_ANSWER.finditer(body))
    if not markers:
        return ResponseParts(body.strip(), "", True, "s1")
    last = markers[-1]
    return ResponseParts(body[: last.start()].strip(), body[last.end() :].strip(), False, "s1")


def _split_answer_tags(think: str | None, rest: str, layout: Layout) -> ResponseParts:
    answer_open = rest.find(_ANSWER_OPEN)
    if answer_open < 0:
        return ResponseParts(think, rest.strip(), False, layout)
    body = rest[answer_open + len(_ANSWER_OPEN) :]
    answer_close = body.rfind(_ANSWER_CLOSE)
    if answer_close < 0:
        return ResponseParts(think, body.strip(), True, "am")
    return ResponseParts(think, body[:answer_close].strip(), False, "am")


_TERMINAL_END = re.compile(r"(?:[.!?;:)\]}$*|>。！？）」\"'`]|\\\]|\\\)|\\end\{\w+\*?\})\s*\Z")
_OPEN_END = re.compile(r"(?:[(\[{=+\-*/^,\\_&<]|\\left|\\frac|\\[a-zA-Z]+\{)\s*\Z")
_MATH_LINE = re.compile(r"^[^A-Za-z]*(?:[A-Za-z](?![A-Za-z])[^A-Za-z]*)*$")


def stops_mid_sentence(text: str) -> bool:
    """Whether prose was cut off by a token limit (math grades such a plain response truncated).

    It was when it ends on an operator, an open bracket, or a line of words with no closing
    punctuation; a stated answer, a short line of math (`x = 5`) or a short line of words
    (a signature, "~author", "LaTeXed by ...") is an ending.

    Example:
        >>> stops_mid_sentence("So the answer is 5 and then we add ("), stops_mid_sentence("x = 5")
        (True, False)
        >>> stops_mid_sentence("Wait, perhaps I need to consider that for n")
        True
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return False
    last = _SIGNATURE.sub("", lines[-1]).strip()
    if _OPEN_END.search(last) and not _TERMINAL_END.search(last):
        return True
    if _TERMINAL_END.search(last) or _STATED.search(last) or _CHINESE_STATED.search(last):
        return False  # "**Answer:** 8", "The answer is: 3"
    if len(last) <= 60 and _MATH_LINE.match(last):
        return False
    return len(last) >= _SHORT_LINE or len(lines) == 1


_SIGNATURE = re.compile(r"\s[~\-—]\s?[\w.]+\Z")  # "... = 204$. -sepehr2010"
_SHORT_LINE = 25


# ---------------------------------------------------------------- boxed answers

_BOXED = re.compile(r"\\(?:boxed|fbox)\b")


def last_boxed(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` or `\fbox{...}` in `text`, braces balanced.

    `\boxed 5` (no braces, as some models write) yields the token after the space. An unclosed
    brace yields None; braces nest (`\boxed{\frac{1}{\sqrt{2}}}`).

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


# ---------------------------------------------------------------- stated answers

_STATED = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)?\s*[:=]?\s*(.*)",
    re.IGNORECASE,
)
_CHINESE_STATED = re.compile(r"答案\s*(?:是|为|[:：])\s*(.+)")
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")


def stated_final_answer(text: str, *, keep_bold: bool = False) -> str | None:
    r"""The answer stated in words on the last line that states one ("The final answer is 12.").

    A statement with nothing after it ("**Answer:**") takes the next non-empty line. With
    `keep_bold`, bold markup inside the value stays (a rule reads it).

    Example:
        >>> stated_final_answer("Adding up.\nThe final answer is 12.")
        '12'
        >>> stated_final_answer("Answer: $x = 3$")
        '$x = 3$'
        >>> stated_final_answer("Final Answer: The final answer is $7$. I hope it is correct.")
        '$7$'
        >>> stated_final_answer("**Answer:**\n5")
        '5'
    """
    lines = text.splitlines()
    for number in range(len(lines) - 1, -1, -1):
        line = lines[number]
        statements = list(_STATED.finditer(line)) or list(_CHINESE_STATED.finditer(line))
        if not statements:
            continue
        value = statements[-1].group(1)
        # "Final Answer: The final answer is $7$. I hope it is correct." (Minerva's template)
        while (nested := _STATED.search(value)) is not None and nested.start() <= len("The "):
            value = nested.group(1)
        value = _SENTENCE_END.split(value, maxsplit=1)[0]
        value = value.strip().rstrip(".").strip()
        if not keep_bold:
            value = value.strip("*").strip()
        elif value.count("**") % 2:
            value = value.strip("*").strip()  # an unpaired "**" of a bold statement
        if not value and _is_answer_heading(line):
            following = [later.strip() for later in lines[number + 1 :] if later.strip()]
            value = following[0].strip("*").strip().rstrip(".") if following else ""
        if value:
            return value
    return None


def _is_answer_heading(line: str) -> bool:
    """`**Answer:**` or `Final Answer:` alone on its line: the value follows."""
    bare = line.strip().strip("*#").strip().rstrip(":").strip("*").strip().lower()
    return bare in {"answer", "final answer", "the answer"}


# ---------------------------------------------------------------- prose conclusions

_PARAGRAPH = re.compile(r"\n\s*\n")
_BOLD_SPAN = re.compile(r"\*\*(.+?)\*\*", re.S)
_CONCLUDING = re.compile(
    r"^\W*(?:therefore|thus|so|hence|in conclusion|in total|finally|consequently|this means"
    r"|the result is|conclusion)\b",
    re.IGNORECASE,
)
_VERB_ANCHOR = re.compile(
    r"\b(?:is|are|was|were|equals|equal to|be|becomes|gives|yields|makes|made|of)\b|=|≈"
)
_INLINE_MATH = re.compile(r"\\\((.+?)\\\)|\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]", re.S)
# A number as prose writes it: 3,200 / -1.5 / 16/27 / 1e-5 / 2√3 / √(x+1) / 5π / ½ / 30° / 25%.
_PLAIN_VALUE = re.compile(
    r"(?<![\w.])[-−]?(?:\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*[/÷]\s*\d+(?:\.\d+)?)?"
    r"(?:\s*√\s*(?:\(\w+\)|\w+))?|√\s*(?:\([^)]*\)|\w+)|[½¼¾⅓⅔⅛])\s*(?:π|√\d+)?(?:°|%)?"
)
_MATHY = re.compile(r"[\d\\√π½¼¾⅓⅔⅛]")
_EQUATION_LHS = re.compile(r"^\W*[A-Za-z][\w()\\{}^ ,]{0,20}?=")  # "r =", "p(0) + p(4) ="


def _conclusion(section: str, layout: Layout) -> str:
    """Where prose rules look: the last two paragraphs (a plain response); all of a tagged one."""
    if layout != "plain":
        return section
    paragraphs = [p for p in _PARAGRAPH.split(section.strip()) if p.strip()]
    return "\n\n".join(paragraphs[-2:])


def _sentences(text: str) -> list[str]:
    """Sentences, split at `. ` / newlines but never inside inline math."""
    protected = _INLINE_MATH.sub(lambda m: m.group(0).replace(". ", ".\0"), text)
    pieces = re.split(r"(?<=[.?])\s+|(?<=[^\d!]!)\s+|\n+", protected)  # "42! is 9" is one
    return [piece.replace("\0", " ").strip() for piece in pieces if piece.strip()]


def _value_in_sentence(sentence: str) -> str | None:
    """The value a sentence states: the first after its last verb ("... is 24").

    Else its first ("they should order 8 meals for all 12 friends": answers lead).
    """
    anchors = list(_VERB_ANCHOR.finditer(sentence))
    tail = sentence[anchors[-1].end() :] if anchors else ""
    values = _values(tail) or _values(sentence)
    return values[0] if values else None


def _values(text: str) -> list[str]:
    found: list[tuple[int, str]] = []
    for math in _INLINE_MATH.finditer(text):
        inner = next(group for group in math.groups() if group is not None).strip()
        if inner and re.search(r"\d|\\(?:frac|sqrt|pi)|[a-zA-Z]", inner):
            found.append((math.start(), inner))
    plain = _INLINE_MATH.sub(lambda m: " " * len(m.group(0)), text)
    for match in _PLAIN_VALUE.finditer(plain):
        value = match.group(0).strip().rstrip(",")
        if value and value not in {"-", "−"}:
            found.append((match.start(), value))
    return [value for _, value in sorted(found)]


def _bold_in_conclusion(section: str, layout: Layout) -> str | None:
    conclusion = _conclusion(section, layout)
    for span in reversed(list(_BOLD_SPAN.finditer(conclusion))):
        content = span.group(1).strip()
        line_start = conclusion.rfind("\n", 0, span.start()) + 1
        line_end = conclusion.find("\n", span.end())
        line = conclusion[line_start : None if line_end < 0 else line_end].strip(" #.")
        heading = line == span.group(0) and not _MATHY.search(content)
        if not content or ":" in content or heading:
            continue  # a heading or a label ("**Conclusion:**", "**Part 4: Distance**")
        content = content.rstrip(".").strip()
        words = content.split()
        if len(words) == 1 or (len(words) <= 3 and _MATHY.search(content)):
            return _without_units(content)  # "**194**", "**4/9**", "**east**", "**√5 meters**"
        value = _prose_value(content)
        if value is not None:
            return value
    return None


def _equation_last_line(section: str, layout: Layout) -> str | None:
    lines = [line.strip() for line in _conclusion(section, layout).splitlines() if line.strip()]
    while lines and re.fullmatch(r"\\\]|\$\$|\\end\{\w+\*?\}", lines[-1]):
        lines.pop()  # the closing delimiter of a display block
    if not lines:
        return None
    last = re.sub(r"^(?:\\\[|\$\$|\\\(|\$)|(?:\\\]|\$\$|\\\)|\$)$", "", lines[-1]).strip()
    if _EQUATION_LHS.match(last) is None:
        return None
    rhs = last.rsplit("=", 1)[1].strip().rstrip(".,;$").strip()  # "x = 12/1.5 = 8" -> 8
    return rhs or None


def _concluding_sentence(section: str, layout: Layout) -> str | None:
    # Among the last two sentences only, and only the later one: an earlier "Thus, we have the
    # equation ... = 540" or "This means ... 90°" is a step, not the answer.
    last_two = _sentences(_conclusion(section, layout))[-2:]
    concluding = [sentence for sentence in last_two if _CONCLUDING.search(sentence)]
    return _prose_value(concluding[-1]) if concluding else None


def _last_sentence(section: str, layout: Layout) -> str | None:
    sentences = _sentences(_conclusion(section, layout))
    if not sentences or not _VERB_ANCHOR.search(sentences[-1]):
        return None
    return _prose_value(sentences[-1])  # "... both win is ½ × ½ = ¼."


def _final_answer_statement(section: str, layout: Layout) -> str | None:
    statement = stated_final_answer(_conclusion(section, layout), keep_bold=True)
    if statement is None:
        return None
    bold = _BOLD_SPAN.search(statement)
    if bold is not None:
        return _without_units(bold.group(1).strip().rstrip("."))  # "John is **45 miles** ..."
    statement = statement.strip("*").strip()
    if len(statement.split()) > 4 and not _INLINE_MATH.search(statement):
        return _prose_value(statement) or statement  # "You can run 10 cycles for $1"
    return statement


def _prose_value(sentence: str) -> str | None:
    value = _value_in_sentence(sentence)
    return _without_units(value) if value is not None else None


_NUMBER_WORDS = {
    word: str(number)
    for number, word in enumerate(
        [
            *("zero", "one", "two", "three", "four", "five", "six"),
            *("seven", "eight", "nine", "ten", "eleven", "twelve"),
        ]
    )
}
_TRAILING_WORDS = re.compile(r"^(?P<math>.*?[\d}.)°%π])\s+[A-Za-z][A-Za-z .,/]*$")


def _without_units(value: str) -> str:
    """`45 miles` -> `45`, `√5 meters` -> `√5`, `three` -> `3`; other values as they are."""
    value = value.strip()
    if value.lower() in _NUMBER_WORDS:
        return _NUMBER_WORDS[value.lower()]
    trailing = _TRAILING_WORDS.match(value)
    return trailing.group("math").strip() if trailing else value


def _boxed_rule(section: str, layout: Layout) -> str | None:
    del layout  # a box is an answer wherever it stands in the answer section
    return last_boxed(section)


def _bare_answer(section: str, layout: Layout) -> str | None:
    del layout
    if not section or "\n" in section or len(section) > 100:
        return None
    # "5", "x = 3", "\frac{1}{2}", "east"; a one-line remark ("Hope this helps!") is no answer.
    return section if len(section.split()) <= 3 or re.search(r"\d|\\", section) else None


MathRule = Callable[[str, Layout], "str | None"]

MATH_RULES: tuple[tuple[str, MathRule], ...] = (
    ("boxed", _boxed_rule),
    ("final_answer_statement", _final_answer_statement),
    ("bold_in_conclusion", _bold_in_conclusion),
    ("equation_last_line", _equation_last_line),
    ("concluding_sentence", _concluding_sentence),
    ("last_sentence", _last_sentence),
    ("bare_answer", _bare_answer),
)
"""Math extraction rules, strongest first: (name, rule(answer_section, layout) -> value)."""


def extract_math_answer(parts: ResponseParts) -> Extraction | None:
    r"""The math answer of a split response, and the name of the rule that found it.

    Example:
        >>> extract_math_answer(split_response("So $x=2$, thus $\\boxed{2}$.")).rule
        'boxed'
        >>> found = extract_math_answer(split_response("Thus, the radius r is\nr = √5."))
        >>> found.value, found.rule
        ('√5', 'equation_last_line')
        >>> extract_math_answer(split_response("Let me know if you need more help!")) is None
        True
    """
    for name, rule in MATH_RULES:
        value = rule(parts.answer, parts.layout)
        if value:
            return Extraction(value, name)
    return None


_STRONG_RULES = ("boxed", "final_answer_statement", "bold_in_conclusion")


def cut_off_without_answer(parts: ResponseParts) -> bool:
    r"""A plain response that stops mid-sentence and states no answer in its conclusion.

    Math grades it `truncated`. A box, a stated answer or a bold value in the last two
    paragraphs is an answer even when a line follows it (a signature, a closing remark).

    Example:
        >>> cut_off_without_answer(split_response("x = 3.\n\nWait, perhaps I need to try n"))
        True
        >>> cut_off_without_answer(split_response("So $\\boxed{104}$.\n~author"))
        False
    """
    if parts.layout != "plain" or not stops_mid_sentence(parts.answer):
        return False
    conclusion = _conclusion(parts.answer, "plain")
    rules = dict(MATH_RULES)
    return not any(rules[name](conclusion, "plain") for name in _STRONG_RULES)


def final_answer(answer_part: str) -> str | None:
    r"""The answer to grade in an answer section, by `MATH_RULES` (a tagged answer section).

    Example:
        >>> final_answer(r"Thus $\boxed{x^2}$.")
        'x^2'
        >>> final_answer("The answer is 5")
        '5'
    """
    found = extract_math_answer(ResponseParts(None, answer_part.strip(), False, "am"))
    return found.value if found else None


# ---------------------------------------------------------------- prose -> LaTeX

_UNICODE_LATEX = {
    "×": r"\times ",
    "·": r"\cdot ",
    "⋅": r"\cdot ",
    "÷": r"\div ",
    "−": "-",
    "–": "-",
    "π": r"\pi ",
    "∞": r"\infty ",
    "≤": r"\le ",
    "≥": r"\ge ",
    "≠": r"\ne ",
    "°": r"^\circ",
    "²": "^2",
    "³": "^3",
    "½": r"\frac{1}{2}",
    "¼": r"\frac{1}{4}",
    "¾": r"\frac{3}{4}",
    "⅓": r"\frac{1}{3}",
    "⅔": r"\frac{2}{3}",
    "⅛": r"\frac{1}{8}",
}
_SQRT = re.compile(r"√\s*(\([^()]*\)|[\w.]+)")
_SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?\d+)(?![\w.])")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])(?!\.\d*,)")


def latex_from_plain(value: str) -> str:
    r"""Rewrites prose math for math-verify: Unicode symbols, `1e-5`, `3,200`.

    Example:
        >>> latex_from_plain("½ × √5")
        '\\frac{1}{2} \\times  \\sqrt{5}'
        >>> latex_from_plain("1e-5"), latex_from_plain("3,200"), latex_from_plain("30°")
        ('1\\times 10^{-5}', '3200', '30^\\circ')
    """
    text = _SQRT.sub(lambda m: "\\sqrt{" + m.group(1).strip("()") + "}", value)
    for symbol, latex in _UNICODE_LATEX.items():
        text = text.replace(symbol, latex)
    text = _SCIENTIFIC.sub(lambda m: f"{m.group(1)}\\times 10^{{{int(m.group(2))}}}", text)
    if _THOUSANDS.fullmatch(text.strip().lstrip("$")):
        text = text.replace(",", "")
    return text.strip()


# ---------------------------------------------------------------- code

_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S
)
_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", ""})
_CODE_START = re.compile(r"^(?:def |class |import |from |@|async def |if __name__)", re.M)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]


def last_code_block(text: str, language: str = "python") -> str | None:
    r"""The body of the last fenced code block, preferring blocks tagged `language` or untagged.

    Example:
        >>> last_code_block("```python\nprint(1)\n```\nand\n```text\nout\n```")
        'print(1)\n'
        >>> last_code_block("no code") is None
        True
    """
    blocks = _fenced_blocks(text)
    if not blocks:
        return None
    wanted = _PYTHON_TAGS if language.lower() == "python" else {language.lower(), ""}
    for tag, body in reversed(blocks):
        if tag in wanted:
            return body
    return blocks[-1][1]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, entry_point: str) -> bool:
    name = re.escape(entry_point)
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b", code, re.M) is not None


def _fence_defining_entry_point(text: str, entry_point: str | None) -> str | None:
    if not entry_point:
        return None
    for tag, body in reversed(_fenced_blocks(text)):
        if tag in _PYTHON_TAGS and _defines(body, entry_point):
            return body
    return None


def _last_python_fence(text: str, entry_point: str | None) -> str | None:
    del entry_point
    return last_code_block(text)


def _unfenced_code(text: str, entry_point: str | None) -> str | None:
    del entry_point
    if _FENCE.search(text) or not text.strip():
        return None
    if _parses(text) and _CODE_START.search(text):
        return text
    lines = text.splitlines()
    for start in (m.start() for m in _CODE_START.finditer(text)):
        first = text[:start].count("\n")
        for end in range(len(lines), first, -1):
            candidate = "\n".join(lines[first:end])
            if _parses(candidate):
                return candidate.rstrip() + "\n"
        break  # only the first code-looking line starts a program
    return None


CodeRule = Callable[[str, "str | None"], "str | None"]

CODE_RULES: tuple[tuple[str, CodeRule], ...] = (
    ("fence_defining_entry_point", _fence_defining_entry_point),
    ("last_python_fence", _last_python_fence),
    ("unfenced_code", _unfenced_code),
)
"""Code extraction rules, strongest first: (name, rule(answer_section, entry_point) -> code)."""


def extract_code(answer_part: str, entry_point: str | None = None) -> Extraction | None:
    r"""The program to run from an answer section, and the name of the rule that found it.

    Args:
        answer_part: the answer section of a response (see `split_response`).
        entry_point: the function or class the tests call (`fn_name`, HumanEval's
            `entry_point`, `Solution`), if known: the block that defines it wins.

    Example:
        >>> text = "```python\ndef f(): return 1\n```\nUsage:\n```python\nprint(f())\n```"
        >>> extract_code(text, "f").rule, extract_code(text).value
        ('fence_defining_entry_point', 'print(f())\n')
        >>> extract_code("def g(x):\n    return x\n").rule
        'unfenced_code'
    """
    for name, rule in CODE_RULES:
        code = rule(answer_part, entry_point)
        if code is not None and code.strip():
            return Extraction(code, name)
    return None
