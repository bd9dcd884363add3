"""Scoring fixed, known responses: reference solutions score ~100%, shuffled ones ~0%."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amfast.errors import InputError
from amfast.eval.scoring import Sample, grade_samples, score_task
from amfast.eval.tasks import load_task


def _solutions(benchmarks_dir: Path) -> dict[str, str]:
    lines = (benchmarks_dir / "eval" / "math500.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return {row["unique_id"]: row["solution"] for row in rows}


def _as_response(solution: str) -> str:
    return f"<think>\nLet me solve it.\n</think>\n\n{solution}"


@pytest.mark.slow
def test_math500_reference_solutions_score_near_100_and_shuffled_near_0(
    benchmarks_dir: Path,
) -> None:
    task = load_task("math500", benchmarks_dir)
    solutions = _solutions(benchmarks_dir)
    ids = [problem.id for problem in task.problems]
    right = [Sample(pid, 0, _as_response(solutions[pid])) for pid in ids]
    shifted = [
        Sample(pid, 1, _as_response(solutions[ids[(i + 1) % len(ids)]]))
        for i, pid in enumerate(ids)
    ]
    samples = right + shifted
    verdicts = grade_samples(task, samples)
    right_score = score_task(task, right, verdicts[: len(ids)], samples_per_problem=1)
    shifted_score = score_task(task, shifted, verdicts[len(ids) :], samples_per_problem=1)
    assert right_score.pass_at_1.mean >= 0.99
    assert shifted_score.pass_at_1.mean <= 0.03
    both = score_task(task, samples, verdicts, samples_per_problem=2)
    assert both.pass_at_1.mean == pytest.approx(
        (right_score.pass_at_1.mean + shifted_score.pass_at_1.mean) / 2
    )
    assert both.pass_at_k[2].mean == pytest.approx(right_score.pass_at_1.mean, abs=0.01)
    assert set(both.breakdown) == {"level", "subject"}
    assert both.breakdown["level"]["5"].problems == sum(
        1 for p in task.problems if p.meta["level"] == "5"
    )


def test_majority_vote_groups_equivalent_math_answers(benchmarks_dir: Path) -> None:
    task = load_task("math500", benchmarks_dir, limit=2)
    first, second = task.problems
    assert first.reference == "\\left( 3, \\frac{\\pi}{2} \\right)"

    def boxed(answer: str) -> str:
        return f"<think>x</think>The answer is $\\boxed{{{answer}}}$."

    samples = [
        Sample(first.id, 0, boxed("(3, \\pi/2)")),
        Sample(first.id, 1, boxed("(0, 3)")),
        Sample(first.id, 2, boxed("\\left(3,\\frac{\\pi}{2}\\right)")),
        Sample(second.id, 0, boxed("7")),
        Sample(second.id, 1, boxed("8")),
        Sample(second.id, 2, boxed("8")),
    ]
    score = score_task(task, samples, grade_samples(task, samples), samples_per_problem=3)
    assert second.reference == "p - q"  # so both answers to problem 2 are wrong
    # Problem 1, first 2 samples: a tie, the first-seen (right) answer wins; problem 2: 7, wrong.
    assert score.majority_at_k[2].mean == pytest.approx(0.5)
    # Problem 1, all 3: two differently written but equivalent right answers outvote (0, 3).
    assert score.majority_at_k[3].mean == pytest.approx(0.5)
    assert score.pass_at_1.mean == pytest.approx((2 / 3 + 0) / 2)


def test_scoring_refuses_missing_samples(benchmarks_dir: Path) -> None:
    task = load_task("aime24", benchmarks_dir, limit=3)
    samples = [
        Sample(p.id, i, "<think>x</think>\\boxed{1}") for p in task.problems for i in range(4)
    ]
    samples.pop()
    verdicts = grade_samples(task, samples)
    with pytest.raises(InputError, match="do not have 4 samples"):
        score_task(task, samples, verdicts, samples_per_problem=4)
