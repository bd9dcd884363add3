"""The verdict every verifier returns, and its fixed set of reasons.

One vocabulary for all verifiers, so an audit can count verifier x reason in one table:

- `correct` / `wrong`: the answer was graded (for code, `correct` = every test passed).
- `no_answer`: nothing gradable in the answer part (no boxed answer, no code block, no letter).
- `truncated`: the response was cut off (no closing tag, or `finish_reason == "length"`);
  never a pass.
- `timeout`: the check (math) or the solution (code) ran past its time limit.
- `memory`: the solution ran past its address-space limit (code).
- `runtime_error`: the solution raised or exited non-zero before its tests finished (code).
- `parse_error`: the reference or the extracted answer could not be parsed.
- `bad_reference`: the row's reference / tests / key is missing or malformed: the row's fault,
  not the response's.
- `bad_row`: the row itself is unusable (unreadable JSON, no response, a field of the wrong
  type).
- `infra_error`: the verifier itself failed (sandbox could not start, model crashed). Such a row
  is *not graded*: its score is NaN, and a rerun tries it again.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

Reason = Literal[
    "correct",
    "wrong",
    "no_answer",
    "truncated",
    "timeout",
    "memory",
    "runtime_error",
    "parse_error",
    "bad_reference",
    "bad_row",
    "infra_error",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

# Reasons that say nothing about the response: the row is left ungraded and retried on rerun.
UNGRADED_REASONS: frozenset[Reason] = frozenset({"infra_error", "bad_reference", "bad_row"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a verifier decided about one response.

    Attributes:
        passed: True only when the answer was graded and found right.
        score: 1.0 / 0.0 for rule-based verifiers, the model's score for the reward model,
            NaN when the row was not graded (`infra_error`, `bad_reference`, `bad_row`).
        reason: one of `REASONS`.
        extracted: the answer that was graded (boxed answer, code, letter), if one was found.
        detail: a short human-readable explanation (failing test, error line), may be empty.

    Example:
        >>> Verdict.correct("42").passed
        True
        >>> Verdict.failed("truncated").score
        0.0
        >>> Verdict.ungraded("infra_error", detail="sandbox did not start").graded
        False
    """

    passed: bool
    score: float
    reason: Reason
    extracted: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown verdict reason {self.reason!r}; expected one of {REASONS}")
        if self.passed and self.reason != "correct":
            raise ValueError(f"a passed verdict must have reason 'correct', not {self.reason!r}")

    @classmethod
    def correct(cls, extracted: str | None, *, score: float = 1.0, detail: str = "") -> Verdict:
        """A graded pass."""
        return cls(True, score, "correct", extracted, detail)

    @classmethod
    def failed(
        cls, reason: Reason, extracted: str | None = None, *, score: float = 0.0, detail: str = ""
    ) -> Verdict:
        """A graded failure (`wrong`, `no_answer`, `truncated`, `timeout`, ...)."""
        if reason in UNGRADED_REASONS or reason == "correct":
            raise ValueError(f"{reason!r} is not a graded failure")
        return cls(False, score, reason, extracted, detail)

    @classmethod
    def ungraded(cls, reason: Reason, extracted: str | None = None, *, detail: str = "") -> Verdict:
        """The row could not be graded (`infra_error`, `bad_reference`, `bad_row`): NaN score."""
        if reason not in UNGRADED_REASONS:
            raise ValueError(f"{reason!r} is a graded reason, not an ungraded one")
        return cls(False, math.nan, reason, extracted, detail)

    @property
    def graded(self) -> bool:
        """False when the verifier, not the response, decided nothing (score is NaN)."""
        return self.reason not in UNGRADED_REASONS

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN score becomes None)."""
        row = asdict(self)
        if math.isnan(self.score):
            row["score"] = None
        return row
