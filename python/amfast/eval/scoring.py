"""Grade a task's samples with `amfast.verify` and turn the verdicts into metrics.

pass@1 (mean over samples, SE across problems), pass@k for every k up to the samples per
problem, maj@k for math and choice tasks (equivalent answers vote together: math-verify decides
equivalence for math), and pass@1 broken down by each problem metadata key (subject, level,
date...). Ungraded samples (the verifier failed, e.g. the sandbox) count as failures and are
reported, never hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from amfast.errors import InputError
from amfast.eval.metrics import (
    Estimate,
    check_sample_counts,
    majority_at_k_estimate,
    mean_with_standard_error,
    pass_at_k_estimate,
)
from amfast.eval.tasks import Task
from amfast.verify.dispatch import VerifyOptions, VerifyTask, verify_tasks
from amfast.verify.verdict import Verdict


@dataclass(frozen=True)
class Sample:
    """One generated response to one problem."""

    problem_id: str
    index: int
    response: str
    finish_reason: str | None = None
    seed: int | None = None


@dataclass
class TaskScore:
    """A task's metrics; `to_json()` is what the results file stores."""

    task: str
    samples_per_problem: int
    pass_at_1: Estimate
    pass_at_k: dict[int, Estimate]
    majority_at_k: dict[int, Estimate]
    breakdown: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    ungraded: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: every estimate as {mean, standard_error, problems}."""

        def plain(estimate: Estimate) -> dict[str, float | int]:
            return {
                "mean": estimate.mean,
                "standard_error": estimate.standard_error,
                "problems": estimate.problems,
            }

        return {
            "task": self.task,
            "samples_per_problem": self.samples_per_problem,
            "pass_at_1": plain(self.pass_at_1),
            "pass_at_k": {str(k): plain(e) for k, e in self.pass_at_k.items()},
            "majority_at_k": {str(k): plain(e) for k, e in self.majority_at_k.items()},
            "breakdown": {
                key: {value: plain(e) for value, e in groups.items()}
                for key, groups in self.breakdown.items()
            },
            "reasons": self.reasons,
            "ungraded": self.ungraded,
        }


def grade_samples(
    task: Task, samples: Sequence[Sample], options: VerifyOptions | None = None
) -> list[Verdict]:
    """One verdict per sample, from the task's grader (math, choice or code)."""
    problems = {problem.id: problem for problem in task.problems}
    tasks = []
    for sample in samples:
        problem = problems.get(sample.problem_id)
        if problem is None:
            raise InputError(f"{task.name}: sample for unknown problem {sample.problem_id!r}")
        code = task.grader == "code"
        tasks.append(
            VerifyTask(
                verifier=task.grader,
                prompt=problem.prompt,
                response=sample.response,
                reference=None if code else str(problem.reference),
                tests=problem.reference if code else None,
                source=task.name,
                finish_reason=sample.finish_reason,
            )
        )
    verdicts, _ = verify_tasks(tasks, options)
    return verdicts


def _math_equivalence() -> Callable[[str, str], bool]:
    from amfast.verify.math import verify_math

    @lru_cache(maxsize=65_536)
    def equivalent(left: str, right: str) -> bool:
        if "".join(left.split()) == "".join(right.split()):
            return True
        return verify_math(f"$\\boxed{{{left}}}$", right).passed

    return equivalent


def score_task(
    task: Task,
    samples: Sequence[Sample],
    verdicts: Sequence[Verdict],
    *,
    samples_per_problem: int,
) -> TaskScore:
    """Metrics of one task from its graded samples.

    Raises:
        InputError: a problem of the task does not have exactly `samples_per_problem` samples.
    """
    if len(samples) != len(verdicts):
        raise InputError(f"{len(samples)} samples but {len(verdicts)} verdicts")
    per_problem: dict[str, list[tuple[int, Verdict]]] = defaultdict(list)
    for sample, verdict in zip(samples, verdicts, strict=True):
        per_problem[sample.problem_id].append((sample.index, verdict))
    counts = {problem.id: len(per_problem.get(problem.id, [])) for problem in task.problems}
    check_sample_counts(counts, samples_per_problem)
    ordered = {
        problem.id: [verdict for _, verdict in sorted(per_problem[problem.id], key=lambda p: p[0])]
        for problem in task.problems
    }
    outcomes = {pid: [v.passed for v in rows] for pid, rows in ordered.items()}
    # Powers of two, and every sample: pass@n and maj@n.
    ks = sorted(
        {k for k in (1, 2, 4, 8, 16, 32, 64) if k <= samples_per_problem} | {samples_per_problem}
    )
    pass_at = {k: pass_at_k_estimate(outcomes, k) for k in ks}
    majority: dict[int, Estimate] = {}
    if task.grader in ("math", "choice"):
        equivalent = _math_equivalence() if task.grader == "math" else str.__eq__
        answers = {pid: [(v.extracted, v.passed) for v in rows] for pid, rows in ordered.items()}
        majority = {k: majority_at_k_estimate(answers, k, equivalent) for k in ks if k > 1}
    breakdown: dict[str, dict[str, Estimate]] = {}
    keys = sorted({key for problem in task.problems for key in problem.meta})
    for key in keys:
        groups: dict[str, list[float]] = defaultdict(list)
        for problem in task.problems:
            rows = outcomes[problem.id]
            groups[problem.meta.get(key, "")].append(sum(rows) / len(rows))
        breakdown[key] = {value: mean_with_standard_error(v) for value, v in sorted(groups.items())}
    reasons: dict[str, int] = defaultdict(int)
    for verdict in verdicts:
        reasons[verdict.reason] += 1
    return TaskScore(
        task=task.name,
        samples_per_problem=samples_per_problem,
        pass_at_1=pass_at[1],
        pass_at_k=pass_at,
        majority_at_k=majority,
        breakdown=breakdown,
        reasons=dict(sorted(reasons.items())),
        ungraded=sum(1 for verdict in verdicts if not verdict.graded),
    )
