"""The verification audit: what was decided, by which verifier, for which source.

Three tables: verifier x reason, source x outcome (passed / failed / ungraded), and, when the
LLM judge ran, math-verify's decision x the judge's. Printed as text, saved as JSON.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from amfast.outputs import AtomicWriter
from amfast.verify.verdict import REASONS, UNGRADED_REASONS, Reason

OUTCOMES = ("passed", "failed", "ungraded")
JUDGE_COLUMNS = ("judge_yes", "judge_no", "judge_none")


def outcome_of(reason: Reason) -> str:
    """`passed`, `failed` or `ungraded` for a verdict reason."""
    if reason == "correct":
        return "passed"
    return "ungraded" if reason in UNGRADED_REASONS else "failed"


@dataclass
class VerifyAudit:
    """Counts of verdicts; `add` one row at a time, `merge` audits of parts.

    Example:
        >>> audit = VerifyAudit()
        >>> audit.add("math", "math500", "correct")
        >>> audit.add("math", "math500", "wrong", judged=True, judge=True)
        >>> audit.by_verifier["math"]["wrong"], audit.by_source["math500"]["passed"]
        (1, 1)
    """

    by_verifier: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_source: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    judge_agreement: Counter[str] = field(default_factory=Counter)
    unreadable_rows: int = 0

    def add(
        self,
        verifier: str,
        source: str,
        reason: Reason,
        *,
        judged: bool = False,
        judge: bool | None = None,
    ) -> None:
        """Counts one verdict; with `judged`, also the judge's decision (None: no YES/NO)."""
        self.by_verifier[verifier][reason] += 1
        self.by_source[source][outcome_of(reason)] += 1
        if judged:
            column = "judge_none" if judge is None else ("judge_yes" if judge else "judge_no")
            self.judge_agreement[f"{outcome_of(reason)}/{column}"] += 1

    @property
    def infrastructure_failures(self) -> int:
        """Rows whose verifier failed (`infra_error`): a rerun retries them."""
        return sum(counts["infra_error"] for counts in self.by_verifier.values())

    @property
    def rows(self) -> int:
        """Rows with a verdict."""
        return sum(sum(counts.values()) for counts in self.by_verifier.values())

    def agreement_rate(self) -> float | None:
        """Fraction of judged rows where math-verify and the judge agree (None if none judged)."""
        agree = self.judge_agreement["passed/judge_yes"] + self.judge_agreement["failed/judge_no"]
        judged = sum(
            count for key, count in self.judge_agreement.items() if not key.endswith("none")
        )
        return agree / judged if judged else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every table."""
        return {
            "rows": self.rows,
            "unreadable_rows": self.unreadable_rows,
            "by_verifier": {
                v: dict(sorted(c.items())) for v, c in sorted(self.by_verifier.items())
            },
            "by_source": {s: dict(sorted(c.items())) for s, c in sorted(self.by_source.items())},
            "judge_agreement": dict(sorted(self.judge_agreement.items())),
            "judge_agreement_rate": self.agreement_rate(),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes `to_json()` atomically."""
        with AtomicWriter(path) as temporary:
            temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def table(self) -> str:
        """The tables as aligned text, for the terminal and the README."""
        reasons: list[str] = [r for r in REASONS if any(c[r] for c in self.by_verifier.values())]
        lines = [f"rows: {self.rows}"]
        if self.unreadable_rows:
            lines[0] += f" ({self.unreadable_rows} unreadable, counted as bad_row)"
        lines += ["", *_grid("verifier", reasons, self.by_verifier)]
        lines += ["", *_grid("source", list(OUTCOMES), self.by_source, with_rate=True)]
        if self.judge_agreement:
            judge_rows: dict[str, Counter[str]] = defaultdict(Counter)
            for key, count in self.judge_agreement.items():
                outcome, column = key.split("/")
                judge_rows[f"math-verify {outcome}"][column] = count
            lines += ["", *_grid("math-verify vs judge", list(JUDGE_COLUMNS), judge_rows)]
            rate = self.agreement_rate()
            if rate is not None:
                lines.append(f"agreement: {rate:.1%}")
        return "\n".join(lines)


def _grid(
    corner: str, columns: list[str], rows: dict[str, Counter[str]], *, with_rate: bool = False
) -> list[str]:
    header = [corner, *columns, "total"] + (["pass rate"] if with_rate else [])
    body: list[list[str]] = []
    for name in sorted(rows):
        counts = rows[name]
        total = sum(counts.values())
        cells = [name, *(str(counts[c]) for c in columns), str(total)]
        if with_rate:
            graded = total - counts["ungraded"]
            cells.append(f"{counts['passed'] / graded:.1%}" if graded else "-")
        body.append(cells)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *body]
    ]
