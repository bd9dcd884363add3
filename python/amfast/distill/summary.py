"""The end-of-job report: counts, and the sample-count integrity check.

The check compares, for every prompt of the job's shard, the samples on disk (from every run so
far) with the number asked for (`n`, or `k` passing samples when verifying), and explains each
shortfall key by key from the outcomes the runs recorded. A key written twice would be a bug;
the summary names it rather than hide it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from amfast.distill.inputs import BadRow
from amfast.distill.prompting import PromptSpec
from amfast.distill.store import KeyIndex, sample_key

_MAX_LISTED = 20


@dataclass(frozen=True)
class Shortfall:
    """A prompt with fewer samples than asked for, and why each missing one is missing."""

    prompt_id: str
    location: str
    have: int
    want: int
    reasons: list[str]


@dataclass
class DistillSummary:
    """What a distillation run did, and whether every prompt has its samples.

    Attributes:
        prompts: prompts in this job's shard (after `max_prompts`).
        samples_wanted: samples asked for over those prompts.
        done: samples on disk for those prompts (this run and earlier ones).
        generated: samples written by this run.
        failed: keys whose requests failed in this run (a rerun tries them again).
        truncated: replies that hit the token budget in this run (every attempt counted).
        truncated_dropped: keys given up as truncated (this run).
        rejected: keys whose every attempt failed verification (this run).
        regenerated: extra generations asked for by the truncation and verify policies.
        verified_passed: samples that passed verification (this run).
        prompt_tokens: prompt tokens over this run's replies.
        completion_tokens: completion tokens over this run's replies.
        seconds: wall-clock time of this run.
        bad_rows: input rows that were skipped, with the reason.
        shortfalls: prompts with fewer samples than asked for, with reasons.
        duplicate_keys: keys with more than one sample (should never happen).
    """

    prompts: int = 0
    samples_wanted: int = 0
    done: int = 0
    generated: int = 0
    failed: int = 0
    truncated: int = 0
    truncated_dropped: int = 0
    rejected: int = 0
    regenerated: int = 0
    verified_passed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    bad_rows: list[BadRow] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    duplicate_keys: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every prompt has the samples asked for, and no key is duplicated."""
        return not self.shortfalls and not self.duplicate_keys

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with `complete`."""
        return asdict(self) | {"complete": self.complete}

    def table(self) -> str:
        """A one-screen report."""
        rate = self.completion_tokens / self.seconds if self.seconds else 0.0
        lines = [
            f"prompts            {self.prompts:,}",
            f"samples wanted     {self.samples_wanted:,}",
            f"samples done       {self.done:,}  (this run: {self.generated:,})",
            f"failed             {self.failed:,}  (rerun to retry)",
            f"truncated          {self.truncated:,}  (dropped: {self.truncated_dropped:,})",
            f"rejected           {self.rejected:,}  (verified passes: {self.verified_passed:,})",
            f"regenerated        {self.regenerated:,}",
            f"bad input rows     {len(self.bad_rows):,}",
            f"tokens             {self.prompt_tokens:,} prompt, {self.completion_tokens:,} "
            f"completion ({rate:,.0f}/s)",
            f"seconds            {self.seconds:,.1f}",
        ]
        for bad in self.bad_rows[:_MAX_LISTED]:
            lines.append(f"  bad row {bad.location}: {bad.error}")
        if self.duplicate_keys:
            lines.append(f"DUPLICATE KEYS (a bug): {', '.join(self.duplicate_keys[:_MAX_LISTED])}")
        if self.complete:
            lines.append("integrity          OK: every prompt has the samples asked for")
        else:
            lines.append(f"integrity          {len(self.shortfalls):,} prompts are short:")
            for short in self.shortfalls[:_MAX_LISTED]:
                why = "; ".join(short.reasons)
                lines.append(
                    f"  {short.prompt_id} ({short.location}): {short.have}/{short.want}: {why}"
                )
            if len(self.shortfalls) > _MAX_LISTED:
                lines.append(
                    f"  ... and {len(self.shortfalls) - _MAX_LISTED:,} more (see summary JSON)"
                )
        return "\n".join(lines)


def _missing_reason(index: KeyIndex, key: str, sample_index: int) -> str:
    outcome = index.outcomes.get(key)
    if outcome is None:
        return f"sample {sample_index}: not generated yet (run again)"
    detail = f": {outcome['detail']}" if outcome.get("detail") else ""
    return (
        f"sample {sample_index}: {outcome['status']} after {outcome['attempts']} attempts{detail}"
    )


def check_integrity(
    summary: DistillSummary,
    specs: list[PromptSpec],
    index: KeyIndex,
    *,
    samples_per_prompt: int,
    wanted_per_prompt: int,
) -> None:
    """Fills `summary`'s prompt counts, shortfalls and duplicate keys from the store's index."""
    summary.prompts = len(specs)
    summary.samples_wanted = len(specs) * wanted_per_prompt
    summary.duplicate_keys = sorted(key for key, count in index.samples.items() if count > 1)
    summary.done = 0
    for spec in specs:
        have = index.samples_per_prompt[spec.prompt_id]
        summary.done += have
        if have >= wanted_per_prompt:
            continue
        reasons = [
            _missing_reason(index, sample_key(spec.prompt_id, i), i)
            for i in range(samples_per_prompt)
            if sample_key(spec.prompt_id, i) not in index.samples
        ]
        summary.shortfalls.append(
            Shortfall(spec.prompt_id, spec.location, have, wanted_per_prompt, reasons)
        )
