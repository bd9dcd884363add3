"""Pick a verifier for each row and run every verifier over its rows in batches.

Rows come in the AM message schema (the first user message's `info` holds `source`,
`reference_answer` and `test_case`; the last assistant message holds the response) or flat,
mapped by `amfast.schema.read_sample` with the fields named in `RowFields` (unnamed ones are
found: `prompt`/`problem`/`question`..., `response`/`completion`/`output`,
`reference_answer`/`answer`/`solution`, `test_case`/`tests`). The verifier of a row is, in
order:

1. the value of its `verifier` field, when present (`math`, `code`, `choice`, `reward`);
2. `code` when it has a test case;
3. `choice` when its reference is one letter that the prompt offers as an option ("(B)", "B.");
4. `math` when it has a reference answer;
5. `reward` when a reward model is configured;
6. else `none`: the row is ungraded (`bad_reference`: nothing to verify it against).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from amfast.schema import FieldMap, RowProblem, field_at, read_sample
from amfast.verify.choice import verify_choice
from amfast.verify.judge import LLMJudge
from amfast.verify.reward import RewardModel
from amfast.verify.verdict import Verdict

VerifierName = Literal["math", "code", "choice", "reward", "none"]
VERIFIERS: tuple[VerifierName, ...] = get_args(VerifierName)


class BadRow(ValueError):
    """A row that cannot be read as a verification task; the message says why."""


@dataclass(frozen=True)
class RowFields:
    """Where flat rows keep each value (dotted paths allowed; None: found by the common names).

    The first five are `amfast.schema.FieldMap`'s (`tests` is its `test_case`); `verifier` and
    `finish_reason` are verify's own.
    """

    prompt: str | None = None
    response: str | None = None
    reference: str | None = None
    tests: str | None = None
    source: str | None = None
    verifier: str = "verifier"
    finish_reason: str = "finish_reason"

    @property
    def field_map(self) -> FieldMap:
        """The schema mapping of these fields."""
        return FieldMap(
            prompt=self.prompt,
            response=self.response,
            reference=self.reference,
            test_case=self.tests,
            source=self.source,
        )


@dataclass(frozen=True)
class VerifyTask:
    """One row, ready for its verifier."""

    verifier: VerifierName
    prompt: str
    response: str
    reference: str | None
    tests: Any  # the test case as given: dict, JSON string or None
    source: str
    finish_reason: str | None


@dataclass
class VerifyOptions:
    """How each verifier runs; the defaults suit a 2-core laptop and a 64-core server alike.

    Attributes:
        num_workers: worker processes for math and concurrent sandboxes for code
            (None: one per core).
        math_timeout: seconds per math check.
        code_timeout: wall-clock seconds per code test run.
        code_memory_mb: address-space limit per code run.
        allow_unisolated: run code without the sandbox's namespaces where they are
            unavailable, instead of refusing (trusted inputs only).
        reward_model: scores rows without a reference; None leaves them ungraded.
        judge: asks an LLM about every math row that has an extracted answer.
    """

    num_workers: int | None = None
    math_timeout: float = 10.0
    code_timeout: float = 10.0
    code_memory_mb: int = 1024
    allow_unisolated: bool = False
    reward_model: RewardModel | None = None
    judge: LLMJudge | None = None
    progress: bool = False


def _value_or_none(record: Any, path: str) -> Any:  # noqa: ANN401 - JSON values are untyped
    """The value at a dotted path (list indices allowed), or None where a part is missing."""
    try:
        return field_at(record, path)
    except KeyError:
        return None


def _text(value: Any, what: str) -> str | None:  # noqa: ANN401 - JSON values are untyped
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRow(f"{what} is {type(value).__name__}, expected a string")
    text = str(value).strip()
    return text or None


def _has_tests(tests: Any) -> bool:  # noqa: ANN401 - JSON values are untyped
    if isinstance(tests, str):
        return bool(tests.strip()) and tests.strip() not in {"null", "{}", "[]"}
    return bool(tests)


def _offers_option(prompt: str, letter: str) -> bool:
    pattern = rf"(?:\({letter}\)|(?:^|\n)\s*{letter}[.):]|\*\*{letter}\*\*)"
    return re.search(pattern, prompt) is not None


def _choose_verifier(
    explicit: str | None,
    prompt: str,
    reference: str | None,
    tests: Any,  # noqa: ANN401 - JSON values are untyped
    reward: bool,
) -> VerifierName:
    if explicit is not None:
        if explicit not in VERIFIERS:
            raise BadRow(f"verifier {explicit!r} is not one of {', '.join(VERIFIERS)}")
        return explicit
    if _has_tests(tests):
        return "code"
    if reference is not None:
        letter = reference.strip("()").strip()
        if len(letter) == 1 and letter.isupper() and _offers_option(prompt, letter):
            return "choice"
        return "math"
    return "reward" if reward else "none"


def task_of(
    record: dict[str, Any], fields: RowFields = RowFields(), *, reward: bool = False
) -> VerifyTask:
    """Reads one row (AM schema when it has `messages`, else flat via `fields`).

    Raises:
        BadRow: the row has no response, or a field has the wrong type.

    Example:
        >>> row = {"messages": [
        ...     {"role": "user", "content": "1+1?", "info": {"reference_answer": "2"}},
        ...     {"role": "assistant", "content": "<think>..</think><answer>2</answer>"}]}
        >>> task_of(row).verifier
        'math'
    """
    messages = record.get("messages")
    if messages is not None and not (
        isinstance(messages, list) and all(isinstance(m, dict) for m in messages)
    ):
        raise BadRow("'messages' is not a list of objects")
    try:
        sample = read_sample(record, fields.field_map)
        prompt = sample.prompt
    except RowProblem as problem:
        if messages is not None:
            raise BadRow("no user message") from None
        if problem.reason == "wrong_type":
            raise BadRow(str(problem)) from None
        prompt = ""  # a prompt only helps pick the verifier; the response is what is graded
        sample = read_sample({**record, "prompt": ""}, replace(fields.field_map, prompt="prompt"))
    if sample.messages is not None:
        if not any(m.get("role") == "assistant" for m in sample.messages):
            raise BadRow("no assistant message: nothing to verify")
        response = _text(sample.response, "the assistant message's content")
        info = sample.user_info
        finish = sample.assistant_info.get("finish_reason") or record.get("finish_reason")
        explicit = info.get("verifier") or record.get(fields.verifier)
    else:
        raw = _value_or_none(record, fields.response) if fields.response else sample.response
        response = _text(raw, f"field {fields.response or 'response'!r}")
        finish = _value_or_none(record, fields.finish_reason)
        explicit = _value_or_none(record, fields.verifier)
    reference = _text(sample.reference_answer, f"the reference ({fields.reference or 'found'})")
    tests = sample.test_case
    source = sample.source or sample.assistant_info.get("source")
    if response is None:
        raise BadRow("the response is missing or empty")
    verifier = _choose_verifier(
        _text(explicit, "the verifier field"), prompt, reference, tests, reward
    )
    return VerifyTask(
        verifier=verifier,
        prompt=prompt,
        response=response,
        reference=reference,
        tests=tests,
        source=str(source) if source is not None else "unknown",
        finish_reason=_text(finish, "finish_reason"),
    )


def _verify_math_rows(tasks: Sequence[VerifyTask], options: VerifyOptions) -> list[Verdict]:
    from amfast.verify.math import verify_math_batch

    return verify_math_batch(
        [t.response for t in tasks],
        [t.reference or "" for t in tasks],
        finish_reasons=[t.finish_reason for t in tasks],
        num_workers=options.num_workers,
        timeout=options.math_timeout,
        progress=options.progress,
    )


def _verify_code_rows(tasks: Sequence[VerifyTask], options: VerifyOptions) -> list[Verdict]:
    from amfast.verify.code import verify_code_batch
    from amfast.verify.sandbox import SandboxLimits

    limits = SandboxLimits(
        wall_seconds=options.code_timeout,
        memory_bytes=options.code_memory_mb << 20,
        allow_unisolated=options.allow_unisolated,
    )
    return verify_code_batch(
        [t.response for t in tasks],
        [t.tests for t in tasks],
        finish_reasons=[t.finish_reason for t in tasks],
        limits=limits,
        concurrency=options.num_workers,
        progress=options.progress,
    )


def _verify_choice_rows(tasks: Sequence[VerifyTask], options: VerifyOptions) -> list[Verdict]:
    del options  # regular expressions only: nothing to configure
    letters = "ABCDEFGHIJ"
    return [
        verify_choice(
            t.response,
            t.reference or "",
            letters=letters,
            finish_reason=t.finish_reason,
            prompt=t.prompt,
        )
        for t in tasks
    ]


def _verify_reward_rows(tasks: Sequence[VerifyTask], options: VerifyOptions) -> list[Verdict]:
    if options.reward_model is None:
        return [Verdict.ungraded("bad_reference", detail="no reward model configured")] * len(tasks)
    return options.reward_model.verify_batch(
        [t.prompt for t in tasks],
        [t.response for t in tasks],
        finish_reasons=[t.finish_reason for t in tasks],
        progress=options.progress,
    )


def _unverifiable(tasks: Sequence[VerifyTask], options: VerifyOptions) -> list[Verdict]:
    del options
    verdict = Verdict.ungraded(
        "bad_reference", detail="no reference answer, no test case and no reward model"
    )
    return [verdict] * len(tasks)


_RUNNERS = {
    "math": _verify_math_rows,
    "code": _verify_code_rows,
    "choice": _verify_choice_rows,
    "reward": _verify_reward_rows,
    "none": _unverifiable,
}


@dataclass(frozen=True)
class Judgements:
    """The judge's decisions for the rows it saw (`judged[i]` False: not asked)."""

    judged: list[bool]
    decisions: list[bool | None]


def verify_tasks(
    tasks: Sequence[VerifyTask], options: VerifyOptions | None = None
) -> tuple[list[Verdict], Judgements]:
    """Runs each verifier on its rows (one batch per verifier); verdicts in input order."""
    options = options or VerifyOptions()
    verdicts: list[Verdict | None] = [None] * len(tasks)
    for name, runner in _RUNNERS.items():
        rows = [i for i, task in enumerate(tasks) if task.verifier == name]
        if rows:
            for row, verdict in zip(rows, runner([tasks[i] for i in rows], options), strict=True):
                verdicts[row] = verdict
    done = [verdict for verdict in verdicts if verdict is not None]
    judged = [False] * len(tasks)
    decisions: list[bool | None] = [None] * len(tasks)
    if options.judge is not None:
        rows = [i for i, t in enumerate(tasks) if t.verifier == "math" and done[i].extracted]
        answers = options.judge.judge(
            [tasks[i].prompt for i in rows],
            [tasks[i].reference or "" for i in rows],
            [done[i].extracted for i in rows],
        )
        for row, decision in zip(rows, answers, strict=True):
            judged[row] = True
            decisions[row] = decision
    return done, Judgements(judged, decisions)
