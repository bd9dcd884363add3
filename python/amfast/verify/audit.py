"""The verification audit: what was decided, by which verifier, for which source.

Three tables: verifier x reason, source x outcome (passed / failed / ungraded), and, when the
LLM judge ran, math-verify's decision x the judge's. With labels (`amfast verify --labels
FIELD`: a boolean verdict already in the rows, e.g. the harness that produced them), an
agreement table too: per verifier and per source, recall (labelled-correct rows we pass) and
false passes (labelled-incorrect rows we pass), and the labels per verifier x source x reason.
Printed as text, saved as JSON.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from amfast.outputs import AtomicWriter
from amfast.verify.verdict import REASONS, UNGRADED_REASONS, Reason

OUTCOMES = ("passed", "failed", "ungraded")
JUDGE_COLUMNS = ("judge_yes", "judge_no", "judge_none")
LABEL_COLUMNS = ("unlabelled", "label_true", "label_false")


@dataclass(frozen=True)
class LabelAgreement:
    """How verdicts agree with labels over some rows.

    Attributes:
        labelled_true: rows labelled correct (graded by us: ungraded rows left out).
        passed_true: of those, the rows we passed.
        labelled_false: rows labelled incorrect (graded by us).
        passed_false: of those, the rows we passed (false passes).
        ungraded: labelled rows we could not grade (`bad_reference`, `infra_error`, ...).
    """

    labelled_true: int
    passed_true: int
    labelled_false: int
    passed_false: int
    ungraded: int

    @property
    def recall(self) -> float | None:
        """Share of labelled-correct rows that pass (None without such rows)."""
        return self.passed_true / self.labelled_true if self.labelled_true else None

    @property
    def false_pass_rate(self) -> float | None:
        """Share of labelled-incorrect rows that pass (None without such rows)."""
        return self.passed_false / self.labelled_false if self.labelled_false else None


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
    label_agreement: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    unreadable_rows: int = 0

    def add(
        self,
        verifier: str,
        source: str,
        reason: Reason,
        *,
        judged: bool = False,
        judge: bool | None = None,
        label: bool | None = None,
        labelled: bool = False,
    ) -> None:
        """Counts one verdict, and the judge's decision and the row's label when given.

        `judge` None: the judge said neither YES nor NO; `label` None: the row has no boolean
        label (counted as `unlabelled` when `labelled`).
        """
        self.by_verifier[verifier][reason] += 1
        self.by_source[source][outcome_of(reason)] += 1
        if labelled:
            column = LABEL_COLUMNS[0 if label is None else (1 if label else 2)]
            self.label_agreement[verifier, source, reason, column] += 1
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

    def agreement(
        self, verifier: str | None = None, sources: Collection[str] | None = None
    ) -> LabelAgreement:
        """Agreement with the labels over one verifier (None: all) and some sources (None: all).

        Example:
            >>> audit = VerifyAudit()
            >>> audit.add("math", "aime", "correct", label=True, labelled=True)
            >>> audit.add("math", "aime", "wrong", label=True, labelled=True)
            >>> audit.add("math", "aime", "correct", label=False, labelled=True)
            >>> found = audit.agreement("math")
            >>> found.recall, found.false_pass_rate
            (0.5, 1.0)
        """
        counts = Counter[str]()
        for (name, source, reason, column), count in self.label_agreement.items():
            if (verifier is not None and name != verifier) or (
                sources is not None and source not in sources
            ):
                continue
            outcome = outcome_of(reason)  # type: ignore[arg-type]
            if column == "unlabelled":
                continue
            if outcome == "ungraded":
                counts["ungraded"] += 1 * count
                continue
            counts[column] += count
            if outcome == "passed":
                counts[f"passed_{column}"] += count
        return LabelAgreement(
            counts["label_true"],
            counts["passed_label_true"],
            counts["label_false"],
            counts["passed_label_false"],
            counts["ungraded"],
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every table."""
        labels: dict[str, Any] = {}
        if self.label_agreement:
            labels = {
                "by_verifier": {
                    name: _agreement_json(self.agreement(name)) for name in self._labelled("v")
                },
                "by_source": {
                    source: _agreement_json(self.agreement(sources={source}))
                    for source in self._labelled("s")
                },
                "by_verifier_source_reason": [
                    {"verifier": v, "source": s, "reason": r, "label": c, "rows": n}
                    for (v, s, r, c), n in sorted(self.label_agreement.items())
                ],
            }
        return {
            "rows": self.rows,
            "unreadable_rows": self.unreadable_rows,
            "by_verifier": {
                v: dict(sorted(c.items())) for v, c in sorted(self.by_verifier.items())
            },
            "by_source": {s: dict(sorted(c.items())) for s, c in sorted(self.by_source.items())},
            "judge_agreement": dict(sorted(self.judge_agreement.items())),
            "judge_agreement_rate": self.agreement_rate(),
            **({"label_agreement": labels} if labels else {}),
        }

    def _labelled(self, axis: str) -> list[str]:
        index = 0 if axis == "v" else 1
        return sorted({key[index] for key in self.label_agreement})

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
        if self.label_agreement:
            lines += ["", *self._label_table()]
        return "\n".join(lines)

    def _label_table(self) -> list[str]:
        header = ["vs labels", "label_true", "passed", "recall", "label_false", "passed", "false"]
        body = []
        groups = [(f"verifier {v}", self.agreement(v)) for v in self._labelled("v")]
        groups += [(f"source {s}", self.agreement(sources={s})) for s in self._labelled("s")]
        for name, found in groups:
            recall, false = found.recall, found.false_pass_rate
            body.append(
                [
                    name,
                    str(found.labelled_true),
                    str(found.passed_true),
                    "-" if recall is None else f"{recall:.1%}",
                    str(found.labelled_false),
                    str(found.passed_false),
                    "-" if false is None else f"{false:.1%}",
                ]
            )
        reasons: dict[str, Counter[str]] = defaultdict(Counter)
        for (verifier, source, reason, column), count in self.label_agreement.items():
            reasons[f"{verifier} {source} {reason}"][column] += count
        return [
            *_aligned([header, *body]),
            "",
            *_grid("verifier source reason", list(LABEL_COLUMNS), reasons),
        ]


def _agreement_json(found: LabelAgreement) -> dict[str, Any]:
    return {
        "label_true": found.labelled_true,
        "passed_label_true": found.passed_true,
        "recall": found.recall,
        "label_false": found.labelled_false,
        "passed_label_false": found.passed_false,
        "false_pass_rate": found.false_pass_rate,
        "ungraded": found.ungraded,
    }


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
    return _aligned([header, *body])


def _aligned(table: list[list[str]]) -> list[str]:
    header, *body = table
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *body]
    ]
