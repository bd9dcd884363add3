"""The LLM-judge tier of decontamination: near misses of the rules, put to a model.

The rules of `amfast.decontam` flag a row when a score passes a cut; a reworded copy can land
just below it, next to unrelated rows that merely share a template. NVIDIA's NeMo-Skills
pipeline settles such pairs by asking a model whether the two problems are the same; this tier
does that through the distillation backends (`amfast.generate.judge`), with one generation per
question:

1. Questions. A *borderline* match is the best item of a benchmark for a row no rule flagged,
   whose `content_words` item share is in [`judge_content_threshold`, `content_threshold`) (a
   second content query over those rows at the lower cut: the core names no item below a cut)
   or whose embedding cosine is in [`judge_embedding_threshold`, `embedding_threshold`). With
   `judge_confirm`, rows flagged by the fuzzy rules alone (`FUZZY_RULES`) are asked about too;
   a row any exact rule (`exact_no_digits`, `ngram`) flagged is never put to the judge.
2. Prompt: the training row and the benchmark item, "are they the same problem? True or
   False" (`SAME_PROBLEM_PROMPT`, in the style of NeMo-Skills' contamination check).
3. Strict reading (`parse_same_problem`): after any reasoning block, the reply must be the
   one word True or False; anything else is *unparsable*, recorded with the reply, never read
   as either answer.
4. Verdicts are rules: True flags a borderline row as `llm_judge`; an unparsable reply flags it
   as `llm_judge_unparsable` (when the judge cannot say, decontamination errs towards dropping,
   under a name of its own); False leaves it. A confirmation answered False unflags the row's
   fuzzy matches with that benchmark; True or unparsable leaves them. Every question, its
   match's rule and score, and the reply (clipped to `REPLY_CHARS`) is a `Judgement`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from amfast.benchmarks import Benchmark
from amfast.config import with_overrides
from amfast.decontam import BenchmarkHits, DecontamOptions, find_contamination
from amfast.errors import InputError
from amfast.generate.judge import Generate
from amfast.normalize import NormalizeOptions
from amfast.verify.answer import split_response

JUDGE_RULE = "llm_judge"
UNPARSABLE_RULE = "llm_judge_unparsable"
FUZZY_RULES = ("content_words", "content_words_no_digits", "embedding")
"""Rules that score similarity rather than prove a copy; only their flags can be confirmed."""
REPLY_CHARS = 500
"""Characters of a reply kept in a `Judgement` (longer replies are clipped, the length noted)."""

SAME_PROBLEM_PROMPT = """Help me determine if the following two math problems are the same.

Problem 1:
{problem1}

Problem 2:
{problem2}

Disregard names, formatting, the order of sentences and any instructions around a problem \
(such as "solve step by step"). If the two problems ask the same question and have the same \
answer, they are the same problem.
Answer with only one word: True if they are the same problem, False if they are different."""

_VERDICT = re.compile(r"[\s*_`'\"]*(true|false)[\s*_`'\".!]*", re.IGNORECASE)

Rules = list[tuple[str, npt.NDArray[np.int64]]]
"""One benchmark's rules as (name, item per row or -1), in naming order."""


def parse_same_problem(reply: str) -> bool | None:
    r"""The judge's answer: True / False, or None when the reply is not exactly one of them.

    A reasoning block (`<think>...</think>`) is skipped; quotes, emphasis and a final period
    around the word are allowed, nothing else.

    Example:
        >>> parse_same_problem("<think>Both ask for 3 + 4.</think>\nTrue")
        True
        >>> parse_same_problem("**False.**")
        False
        >>> parse_same_problem("True, they are the same") is None
        True
        >>> parse_same_problem("<think>comparing the") is None
        True
    """
    parts = split_response(reply)
    if parts.truncated:
        return None
    match = _VERDICT.fullmatch(parts.answer)
    return match.group(1).lower() == "true" if match else None


@dataclass(frozen=True)
class Judgement:
    """One question put to the judge and its answer.

    Attributes:
        row: The training row.
        benchmark: The benchmark's name.
        item_id: The benchmark item the row was compared with.
        rule: The rule whose match was asked about (`content_words`, `embedding` ...).
        score: That rule's score for the pair (item share, or cosine).
        flagged: Whether the rules had flagged the row (a confirmation) or not (borderline).
        verdict: True (same problem), False, or None (unparsable reply).
        reply: The reply, clipped to `REPLY_CHARS`.
    """

    row: int
    benchmark: str
    item_id: str
    rule: str
    score: float
    flagged: bool
    verdict: bool | None = None
    reply: str = ""

    def record(self) -> dict[str, Any]:
        """The judgement as JSON fields (`judged_rule`, `judged_score`, `judge_verdict` ...)."""
        return {
            "judged_rule": self.rule,
            "judged_score": round(self.score, 4),
            "judged_flagged": self.flagged,
            "judge_verdict": self.verdict,
            "judge_reply": self.reply,
        }


@dataclass(frozen=True)
class _Question:
    """A match to put to the judge (the fields of `Judgement`, with indexes instead of ids)."""

    row: int
    benchmark: int
    item: int
    rule: str
    score: float
    flagged: bool


def _clip(reply: str) -> str:
    if len(reply) <= REPLY_CHARS:
        return reply
    return f"{reply[:REPLY_CHARS]}... [{len(reply):,} chars]"


def _score(hits: BenchmarkHits, rule: str, row: int) -> float:
    if rule == "content_words":
        return float(hits.content_share[row])
    if rule == "content_words_no_digits":
        return float(hits.content_no_digits_share[row])
    assert hits.embedding_similarity is not None  # the embedding rule ran
    return float(hits.embedding_similarity[row])


def _questions(
    texts: Sequence[str],
    benchmarks: Sequence[Benchmark],
    hits: dict[str, BenchmarkHits],
    rules: dict[str, Rules],
    options: DecontamOptions,
    *,
    normalize: NormalizeOptions | None = None,
    num_threads: int | None = None,
) -> list[_Question]:
    """What to ask the judge: one question per (row, benchmark) match near a cut (see module)."""
    per_benchmark = [rules[benchmark.name] for benchmark in benchmarks]
    proven = np.zeros(len(texts), bool)  # flagged by a rule that is not fuzzy
    fuzzy = np.zeros(len(texts), bool)
    for benchmark_rules in per_benchmark:
        for rule, items in benchmark_rules:
            if rule in FUZZY_RULES:
                fuzzy |= items >= 0
            else:
                proven |= items >= 0
    flagged, fuzzy_only = proven | fuzzy, fuzzy & ~proven
    asked: dict[tuple[int, int], _Question] = {}
    unflagged = np.flatnonzero(~flagged)
    if options.content and len(unflagged):
        lower = with_overrides(
            DecontamOptions,
            options,
            {
                "exact": False,
                "content_threshold": options.judge_content_threshold,
                "embedding_threshold": None,
                "judge_embedding_threshold": None,
            },
        )
        near = find_contamination(
            [texts[row] for row in unflagged.tolist()],
            benchmarks,
            lower,
            normalize=normalize,
            num_threads=num_threads,
        )
        for group, benchmark in enumerate(benchmarks):
            near_hits = near.hits[benchmark.name]
            for position in np.flatnonzero(near_hits.content_item >= 0).tolist():
                row = int(unflagged[position])
                item = int(near_hits.content_item[position])
                share = float(near_hits.content_share[position])
                asked[row, group] = _Question(row, group, item, "content_words", share, False)
    band = options.judge_embedding_threshold
    for group, benchmark in enumerate(benchmarks):
        benchmark_hits = hits[benchmark.name]
        nearest, similarity = benchmark_hits.embedding_item, benchmark_hits.embedding_similarity
        if band is not None and nearest is not None and similarity is not None:
            for row in np.flatnonzero(~flagged & (similarity >= band)).tolist():
                score = float(similarity[row])
                question = _Question(row, group, int(nearest[row]), "embedding", score, False)
                asked.setdefault((row, group), question)
        if options.judge_confirm:
            for rule, items in per_benchmark[group]:
                if rule not in FUZZY_RULES:
                    continue
                for row in np.flatnonzero(fuzzy_only & (items >= 0)).tolist():
                    score = _score(benchmark_hits, rule, row)
                    question = _Question(row, group, int(items[row]), rule, score, True)
                    asked.setdefault((row, group), question)
    return [asked[key] for key in sorted(asked)]


def judge_matches(
    texts: Sequence[str],
    benchmarks: Sequence[Benchmark],
    hits: dict[str, BenchmarkHits],
    rules: dict[str, Rules],
    options: DecontamOptions,
    judge: Generate,
    *,
    normalize: NormalizeOptions | None = None,
    num_threads: int | None = None,
) -> tuple[list[Judgement], dict[str, Rules]]:
    """Asks `judge` about the rules' near misses; returns the judgements and the new rules.

    The tier behind `find_contamination(..., judge=...)` (see its example), which passes the
    rules it found: per benchmark, `(rule, item per row or -1)` in naming order.

    The new rules are `rules` with `llm_judge` and `llm_judge_unparsable` appended to every
    benchmark's, and (with `judge_confirm`) the fuzzy matches the judge rejected removed.

    Raises:
        InputError: Nothing could ever be asked (no content rules, no embedding band, no
            confirmation), or the backend returned the wrong number of replies.
    """
    bands = options.content or options.judge_embedding_threshold is not None
    if not (bands or options.judge_confirm):
        raise InputError(
            "the LLM judge has nothing to ask about: it judges content_words near misses "
            "(turn the content rules on), embedding near misses (set "
            "judge_embedding_threshold) or, with judge_confirm, fuzzy flags"
        )
    questions = _questions(
        texts, benchmarks, hits, rules, options, normalize=normalize, num_threads=num_threads
    )
    prompts = [
        SAME_PROBLEM_PROMPT.format(
            problem1=texts[question.row],
            problem2=benchmarks[question.benchmark].texts[question.item],
        )
        for question in questions
    ]
    replies = judge(prompts) if prompts else []
    if len(replies) != len(prompts):
        raise InputError(
            f"the judge backend returned {len(replies)} replies for {len(prompts)} prompts"
        )
    rows = len(texts)
    judged = {b.name: np.full(rows, -1, np.int64) for b in benchmarks}
    unparsable = {b.name: np.full(rows, -1, np.int64) for b in benchmarks}
    rejected = {b.name: np.zeros(rows, bool) for b in benchmarks}
    judgements = []
    for question, reply in zip(questions, replies, strict=True):
        benchmark = benchmarks[question.benchmark]
        verdict = parse_same_problem(reply)
        judgements.append(
            Judgement(
                question.row,
                benchmark.name,
                benchmark.ids[question.item],
                question.rule,
                question.score,
                question.flagged,
                verdict,
                _clip(reply),
            )
        )
        if question.flagged:
            rejected[benchmark.name][question.row] = verdict is False
        elif verdict is True:
            judged[benchmark.name][question.row] = question.item
        elif verdict is None:
            unparsable[benchmark.name][question.row] = question.item
    updated: dict[str, Rules] = {}
    for benchmark in benchmarks:
        name = benchmark.name
        kept = [
            (rule, np.where(rejected[name], -1, items) if rule in FUZZY_RULES else items)
            for rule, items in rules[name]
        ]
        updated[name] = [*kept, (JUDGE_RULE, judged[name]), (UNPARSABLE_RULE, unparsable[name])]
    return judgements, updated


def judge_summary(judgements: Sequence[Judgement], benchmark: str) -> dict[str, int]:
    """Counts of one benchmark's judgements: asked, same, different, unparsable, cleared.

    Example:
        >>> asked = [Judgement(0, "b", "i", "content_words", 0.6, False, True)]
        >>> judge_summary(asked, "b")
        {'asked': 1, 'same': 1, 'different': 0, 'unparsable': 0, 'cleared': 0}
    """
    mine = [judgement for judgement in judgements if judgement.benchmark == benchmark]
    return {
        "asked": len(mine),
        "same": sum(j.verdict is True for j in mine),
        "different": sum(j.verdict is False for j in mine),
        "unparsable": sum(j.verdict is None for j in mine),
        "cleared": sum(j.flagged and j.verdict is False for j in mine),
    }


def judgement_index(judgements: Sequence[Judgement]) -> dict[tuple[int, str], Judgement]:
    """The judgements by (row, benchmark), to attach to the rows' flags."""
    return {(judgement.row, judgement.benchmark): judgement for judgement in judgements}


__all__ = [
    "FUZZY_RULES",
    "JUDGE_RULE",
    "REPLY_CHARS",
    "SAME_PROBLEM_PROMPT",
    "UNPARSABLE_RULE",
    "Judgement",
    "judge_matches",
    "judge_summary",
    "judgement_index",
    "parse_same_problem",
]
