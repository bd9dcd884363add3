r"""Math answers: is the response's final answer equal to the reference?

The comparison is math-verify's (`parse` + `verify`: sympy equivalence of numbers, fractions,
mixed numbers, percentages, degrees, units, sets, intervals, tuples, matrices, complex numbers,
equations `x = 5` vs `5`). amfast adds what it lacks for grading datasets:

- Only the answer part is graded (`amfast.verify.answer.split_response`): a value written in the
  reasoning never passes, a truncated response never passes.
- The graded answer is ours to find and record (`Verdict.extracted`), by the named rules of
  `amfast.verify.answer.MATH_RULES` (boxed, stated, bold, last-line equation, concluding
  sentence, bare answer); `Verdict.detail` starts with `rule <name>`. A boxed answer is handed
  to math-verify re-wrapped as `$\boxed{...}$`, which parses every MATH-500 answer; bare text
  (no `$`) makes it miss sets, intervals, tuples and matrices. Prose values are rewritten
  first (`latex_from_plain`: Unicode math, `3,200`, `1e-5`).
- The reference may be a bare answer (`\frac{1}{2}`), a solution ending in `\boxed{...}` or a
  GSM8K solution ending in `#### 18`.
- Every check runs in a worker process under its own wall-clock deadline
  (`amfast.verify.pool`): math-verify's `signal.alarm` timeout, disabled here, fails off the
  main thread. A check past its deadline is a `timeout` verdict; a crashed worker an
  `infra_error` (ungraded, retried on rerun). One slow row never holds up or sinks a batch.

math-verify and sympy are imported in the workers only: importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from amfast.verify.answer import (
    MATH_RULES,
    cut_off_without_answer,
    extract_math_answer,
    last_boxed,
    latex_from_plain,
    split_response,
)
from amfast.verify.pool import CallFailed, DeadlinePool, ProgressCallback, shared_pool
from amfast.verify.verdict import Verdict

DEFAULT_TIMEOUT = 10.0
"""Seconds one check (parse reference + parse answer + compare) may take."""

_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)
_MATH_DELIMITERS = ("$", r"\(", r"\[")
_DETAIL_CHARS = 160
# Bold wrappers math-verify turns into `\text{}` (a string), hiding the number inside.
_BOLD = ("\\textbf{", "\\mathbf{", "\\bf{")
_RULE_NAMES = ", ".join(name for name, _ in MATH_RULES)


@dataclass(frozen=True, slots=True)
class _Check:
    """One row that needs math-verify: the texts it parses, and what we extracted."""

    prediction: str
    reference: str
    extracted: str
    rule: str  # the `amfast.verify.answer.MATH_RULES` rule that found `extracted`


def verify_math(
    response: str,
    reference: str,
    *,
    finish_reason: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Verdict:
    r"""Grades one response against a reference answer (or a solution containing `\boxed`).

    Safe to call from any thread; the check runs in a shared pool of warm worker processes.

    Args:
        response: the assistant's text; only its answer part (after `</think>`, or inside
            `<answer>`) is graded.
        reference: a bare answer (`5`, `\frac{1}{2}`, `(1,2)`), a solution whose last
            `\boxed{...}` holds the answer, or a GSM8K solution ending in `#### <answer>`.
        finish_reason: the generator's finish reason; `"length"` means truncated.
        timeout: wall-clock seconds the check may take before it is a `timeout` verdict.

    Returns:
        A `Verdict`; `extracted` holds the answer that was graded.

    Example:
        >>> verify_math(r"<think>...</think> So $\boxed{0.5}$.", r"\frac{1}{2}").reason
        'correct'
        >>> verify_math(r"<think>it is \boxed{2}</think> I give up.", "2").reason
        'no_answer'
    """
    return _grade_rows([response], [reference], [finish_reason], shared_math_pool(), timeout)[0]


def verify_math_batch(
    responses: Sequence[str],
    references: Sequence[str],
    *,
    finish_reasons: Sequence[str | None] | None = None,
    num_workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool | ProgressCallback = False,
) -> list[Verdict]:
    r"""Grades many responses in parallel worker processes; verdicts come back in input order.

    Each row gets its own deadline: a row that hangs becomes a `timeout` verdict and its worker
    is replaced; the rest of the batch is unaffected.

    Args:
        responses: the assistants' texts.
        references: one reference per response (see `verify_math`).
        finish_reasons: one per response, if known (`"length"` = truncated).
        num_workers: worker processes; default: the shared pool with one per usable core.
        timeout: wall-clock seconds each row's check may take.
        progress: True for a tqdm bar, or a callback given the number of newly finished rows.

    Returns:
        One `Verdict` per response.

    Example:
        >>> rows = verify_math_batch(["$\\boxed{3}$", "$\\boxed{4}$"], ["3", "x = 3"])
        >>> [verdict.reason for verdict in rows]
        ['correct', 'wrong']
    """
    if len(references) != len(responses):
        raise ValueError(f"{len(responses)} responses but {len(references)} references")
    reasons = [None] * len(responses) if finish_reasons is None else list(finish_reasons)
    if len(reasons) != len(responses):
        raise ValueError(f"{len(responses)} responses but {len(reasons)} finish_reasons")
    if num_workers is None:
        return _grade_rows(responses, references, reasons, shared_math_pool(), timeout, progress)
    with DeadlinePool(num_workers, initializer=load_math_verify) as pool:
        return _grade_rows(responses, references, reasons, pool, timeout, progress)


def shared_math_pool() -> DeadlinePool:
    """The process-wide worker pool for math checks (math-verify preloaded in each worker)."""
    return shared_pool(load_math_verify)


def _grade_rows(
    responses: Sequence[str],
    references: Sequence[str],
    finish_reasons: Sequence[str | None],
    pool: DeadlinePool,
    timeout: float,
    progress: bool | ProgressCallback = False,
) -> list[Verdict]:
    prepared = [
        _prepare(response, reference, finish_reason)
        for response, reference, finish_reason in zip(
            responses, references, finish_reasons, strict=True
        )
    ]
    checks = [(row, item) for row, item in enumerate(prepared) if isinstance(item, _Check)]
    outcomes = pool.map(_check, [check for _, check in checks], timeout=timeout, progress=progress)
    verdicts = [item if isinstance(item, Verdict) else None for item in prepared]
    for (row, check), outcome in zip(checks, outcomes, strict=True):
        verdicts[row] = _with_rule(_from_outcome(outcome, check, timeout), check.rule)
    return [verdict for verdict in verdicts if verdict is not None]


def _prepare(response: str, reference: str, finish_reason: str | None) -> Verdict | _Check:
    """Everything decidable without sympy: truncation, missing answers, empty references."""
    gold = reference_answer(reference)
    parts = split_response(response, finish_reason)
    found = extract_math_answer(parts)
    extracted = found.value if found else None
    if gold is None:
        return Verdict.ungraded("bad_reference", extracted, detail="empty or unclosed reference")
    if parts.truncated or cut_off_without_answer(parts):
        detail = f"response was cut off ({parts.layout} layout)"
        return Verdict.failed("truncated", extracted, detail=detail)
    letter = _choice_key(gold)
    if letter is not None:
        return _graded_choice(parts.answer, letter)
    if found is None:
        where = "answer section (the reasoning is not graded)" if parts.think else "response"
        detail = f"no final answer in the {where}; no rule of {_RULE_NAMES} matched"
        return Verdict.failed("no_answer", detail=detail)
    value = latex_from_plain(found.value)
    prediction = _boxed(value) if found.rule == "boxed" else _unboxed_prediction(value)
    return _Check(prediction, _boxed(gold), found.value, found.rule)


_CHOICE_KEY = re.compile(r"(?:\\text\{\s*)?\(?([A-E])\)?(?:\s*\})?")


def _choice_key(gold: str) -> str | None:
    r"""The option letter a math reference names (`\text{(B)}`, `(C)`), else None."""
    key = _CHOICE_KEY.fullmatch(gold.strip())
    return key.group(1) if key else None


def _graded_choice(answer_section: str, letter: str) -> Verdict:
    """A math row whose answer is an option letter: graded on the letter the response chose."""
    from amfast.verify.choice import extract_choice

    chosen = extract_choice(answer_section, "ABCDE")
    if chosen is None:
        return Verdict.failed("no_answer", detail="rule choice_letter: no option letter chosen")
    if chosen == letter:
        return Verdict.correct(chosen, detail="rule choice_letter")
    detail = f"rule choice_letter: chose {chosen}, key is {letter}"
    return Verdict.failed("wrong", chosen, detail=detail)


def reference_answer(reference: str) -> str | None:
    r"""The answer inside a reference: its last `\boxed{}`, a GSM8K `#### x`, or all of it.

    Returns None when there is none (empty text, an unclosed `\boxed{`).

    Example:
        >>> reference_answer(r"Adding, we get $\boxed{\frac{1}{2}}$.")
        '\\frac{1}{2}'
        >>> reference_answer("She pays 3 * 6 = 18 dollars.\n#### 18")
        '18'
        >>> reference_answer("$(1, 2)$")
        '(1, 2)'
    """
    text = reference.strip()
    if "\\boxed" in text or "\\fbox" in text:
        return last_boxed(text)
    gsm8k = _GSM8K_ANSWER.search(text)
    if gsm8k is not None:
        text = gsm8k.group(1).replace(",", "")
    if text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    return text or None


def _boxed(answer: str) -> str:
    if answer.startswith(_MATH_DELIMITERS):
        return answer  # already delimited: let math-verify find the math itself
    return f"$\\boxed{{{_tidy(answer)}}}$"


def _tidy(answer: str) -> str:
    r"""Undoes two habits math-verify cannot read: `\boxed{104.}` and `\boxed{\textbf{(073)}}`.

    Example:
        >>> _tidy("104."), _tidy(r"\textbf{(073)}"), _tidy(r"\textbf{a} + \textbf{b}")
        ('104', '(073)', '\\textbf{a} + \\textbf{b}')
    """
    answer = answer.strip()
    if answer.endswith(".") and not answer.endswith(".."):
        answer = answer[:-1].rstrip()
    for wrapper in _BOLD:
        if answer.startswith(wrapper) and answer.endswith("}"):
            inner = answer[len(wrapper) : -1]
            if _balanced(inner):
                return inner.strip()
    return answer


def _balanced(text: str) -> bool:
    depth = 0
    for char in text.replace("\\{", "").replace("\\}", ""):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _unboxed_prediction(answer: str) -> str:
    r"""A stated answer as math-verify reads it best.

    Delimited math and plain words go as they are: math-verify finds `12` in "12 dollars", where
    a box would read the unit as a product of symbols. Undelimited LaTeX (`\frac{1}{2}`) needs
    the box: without `$` math-verify misreads it.
    """
    if re.fullmatch(r"[A-Za-z]{2,}", answer):
        return f"$\\boxed{{\\text{{{answer}}}}}$"  # a word answer ("east") compares as text
    delimited = any(delimiter in answer for delimiter in _MATH_DELIMITERS)
    latex = "\\" in answer or "{" in answer
    return _boxed(answer) if latex and not delimited else answer


def _with_rule(verdict: Verdict, rule: str) -> Verdict:
    """The verdict with the extraction rule named first in its detail (`rule boxed: ...`)."""
    detail = f"rule {rule}: {verdict.detail}" if verdict.detail else f"rule {rule}"
    return dataclasses.replace(verdict, detail=detail)


def _from_outcome(outcome: Verdict | CallFailed, check: _Check, timeout: float) -> Verdict:
    if isinstance(outcome, Verdict):
        return outcome
    if outcome.reason == "timeout":
        detail = f"math-verify ran past {timeout:g}s"
        return Verdict.failed("timeout", check.extracted, detail=detail)
    return Verdict.ungraded("infra_error", check.extracted, detail=outcome.detail)


# ---------------------------------------------------------------- in the worker


@cache
def load_math_verify() -> ModuleType:
    """Imports math-verify (worker start-up, so imports are not charged to a check's deadline).

    Its one-time "timeout is disabled" warning is filtered: the pool enforces the deadline.
    """
    import math_verify

    module: ModuleType = math_verify  # untyped package
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_drop_timeout_disabled_warning)
    # Warm the LaTeX parser (ANTLR) too: its first use costs ~50 ms.
    module.parse("$\\boxed{1}$", parsing_timeout=None)
    return module


def _drop_timeout_disabled_warning(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Timeout is disabled")


def _check(check: _Check) -> Verdict:
    """Parses both sides with math-verify and compares them (runs in a worker)."""
    math_verify = load_math_verify()
    configs = [math_verify.LatexExtractionConfig(), math_verify.ExprExtractionConfig()]
    gold = math_verify.parse(check.reference, extraction_config=configs, parsing_timeout=None)
    if not gold:
        detail = _clip(f"math-verify cannot parse the reference {check.reference!r}")
        return Verdict.ungraded("bad_reference", check.extracted, detail=detail)
    predicted = math_verify.parse(check.prediction, extraction_config=configs, parsing_timeout=None)
    if not predicted:
        if check.rule == "bare_answer":
            return Verdict.failed("no_answer", detail="the answer part holds no math")
        return Verdict.failed("parse_error", check.extracted, detail="math-verify found no math")
    if math_verify.verify(gold, predicted, timeout_seconds=None):
        return Verdict.correct(check.extracted)
    if check.rule == "bare_answer" and not _has_math(predicted):
        # A one-line answer part with no math in it ("I give up.") is prose, not an answer.
        return Verdict.failed("no_answer", detail="the answer part holds no math")
    if not _has_math(gold):
        # Only verbatim comparison was possible, and it failed: we cannot say it is wrong.
        detail = _clip(f"math-verify cannot read the reference {check.reference!r} as math")
        return Verdict.ungraded("bad_reference", check.extracted, detail=detail)
    if not _has_math(predicted):
        # Only a string came out: compared verbatim; say it could not be read as math.
        detail = _clip(f"not parseable as math; expected {_shown(gold)}")
        return Verdict.failed("parse_error", check.extracted, detail=detail)
    detail = _clip(f"expected {_shown(gold)}, got {_shown(predicted)}")
    return Verdict.failed("wrong", check.extracted, detail=detail)


def _has_math(parsed: list[Any]) -> bool:
    return any(not isinstance(value, str) for value in parsed)


def _shown(parsed: list[Any]) -> str:
    """The LaTeX math-verify read (its string fallback), else the sympy form."""
    strings = [value for value in parsed if isinstance(value, str)]
    return strings[0] if strings else str(parsed[0])


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."
