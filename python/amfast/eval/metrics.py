"""Evaluation statistics: pass@1 with its standard error, unbiased pass@k, majority vote.

- pass@1 is the mean over problems of (correct samples / samples), with the standard error of
  that mean across problems (sample standard deviation / sqrt(problems)).
- pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
  Trained on Code"): 1 - C(n - c, k) / C(n, k) per problem, averaged over problems.
- maj@k (also called cons@k) takes the most frequent final answer among the first k samples,
  counting equivalent answers (`1/2` and `0.5`) as one; ties go to the answer seen first.

Every estimate refuses what peers silently get wrong: k larger than the samples generated, or
problems with fewer samples than asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from amfast.errors import InputError


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over problems and its standard error.

    Attributes:
        mean: the estimate, in [0, 1].
        standard_error: standard error of the mean across problems (0 for a single problem).
        problems: how many problems it averages.
    """

    mean: float
    standard_error: float
    problems: int

    def percent(self) -> str:
        """`72.7 ± 3.1` (both in percent, one decimal).

        Example:
            >>> Estimate(0.7271, 0.0312, 30).percent()
            '72.7 ± 3.1'
        """
        return f"{100 * self.mean:.1f} ± {100 * self.standard_error:.1f}"


def mean_with_standard_error(values: Sequence[float]) -> Estimate:
    """The mean of per-problem values and its standard error.

    Raises:
        InputError: no values.

    Example:
        >>> mean_with_standard_error([1.0, 0.0, 1.0, 0.0])
        Estimate(mean=0.5, standard_error=0.28867513459481287, problems=4)
    """
    if not values:
        raise InputError("no problems to average")
    count = len(values)
    mean = math.fsum(values) / count
    if count == 1:
        return Estimate(mean, 0.0, 1)
    variance = math.fsum((v - mean) ** 2 for v in values) / (count - 1)
    return Estimate(mean, math.sqrt(variance / count), count)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased probability that at least one of k samples (of n, c correct) passes.

    Raises:
        InputError: k > n, or counts out of range.

    Example:
        >>> pass_at_k(4, 1, 1)
        0.25
        >>> round(pass_at_k(4, 1, 2), 4)
        0.5
        >>> pass_at_k(4, 0, 4)
        0.0
    """
    if not 0 <= c <= n or n < 1:
        raise InputError(f"need 0 <= correct <= samples and samples >= 1, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise InputError(f"pass@{k} needs at least {k} samples per problem, have {n}")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k) / C(n, k) as a product: exact and stable for large n.
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def check_sample_counts(samples_per_problem: Mapping[str, int], expected: int) -> None:
    """Raises InputError naming every problem that does not have exactly `expected` samples.

    Example:
        >>> check_sample_counts({"p1": 4, "p2": 4}, 4)
    """
    wrong = {p: count for p, count in samples_per_problem.items() if count != expected}
    if wrong:
        shown = ", ".join(f"{p}: {count}" for p, count in sorted(wrong.items())[:10])
        more = f" and {len(wrong) - 10} more" if len(wrong) > 10 else ""
        raise InputError(
            f"{len(wrong)} problems do not have {expected} samples ({shown}{more}); "
            "finish or rerun the generation before scoring"
        )


def pass_at_k_estimate(outcomes: Mapping[str, Sequence[bool]], k: int) -> Estimate:
    """pass@k over problems (`outcomes[problem]` = pass/fail per sample), with its SE.

    Every problem must have the same number of samples, at least k.

    Example:
        >>> pass_at_k_estimate({"a": [True, False], "b": [False, False]}, 1)
        Estimate(mean=0.25, standard_error=0.25, problems=2)
    """
    if not outcomes:
        raise InputError("no problems to score")
    counts = {problem: len(samples) for problem, samples in outcomes.items()}
    check_sample_counts(counts, max(counts.values()))
    return mean_with_standard_error(
        [pass_at_k(len(s), sum(map(bool, s)), k) for s in outcomes.values()]
    )


def majority_answer(
    answers: Sequence[str | None], equivalent: Callable[[str, str], bool] = str.__eq__
) -> str | None:
    """The most frequent answer, equivalent answers counted together; ties: seen first.

    Missing answers (None) never win. Returns the first-seen spelling of the winning answer.

    Example:
        >>> majority_answer(["1/2", "3", "0.5", "3"], lambda a, b: eval(a) == eval(b))
        '1/2'
        >>> majority_answer([None, None, "7"])
        '7'
    """
    groups: list[tuple[str, int]] = []  # (first spelling, votes) in order of first appearance
    for answer in answers:
        if answer is None:
            continue
        for index, (spelling, votes) in enumerate(groups):
            if answer == spelling or equivalent(answer, spelling):
                groups[index] = (spelling, votes + 1)
                break
        else:
            groups.append((answer, 1))
    if not groups:
        return None
    best = max(votes for _, votes in groups)
    return next(spelling for spelling, votes in groups if votes == best)


def majority_at_k_estimate(
    samples: Mapping[str, Sequence[tuple[str | None, bool]]],
    k: int,
    equivalent: Callable[[str, str], bool] = str.__eq__,
) -> Estimate:
    """maj@k: per problem, is the majority answer of the first k samples a correct one?

    `samples[problem]` is a list of (extracted answer, passed) per sample, in sample order.
    The majority answer counts as correct when a sample giving an equivalent answer passed.

    Example:
        >>> majority_at_k_estimate({"a": [("2", True), ("3", False), ("2", True)]}, 3)
        Estimate(mean=1.0, standard_error=0.0, problems=1)
    """
    if not samples:
        raise InputError("no problems to score")
    counts = {problem: len(rows) for problem, rows in samples.items()}
    check_sample_counts(counts, max(counts.values()))
    if k > max(counts.values()):
        raise InputError(
            f"maj@{k} needs at least {k} samples per problem, have {max(counts.values())}"
        )
    scores = []
    for rows in samples.values():
        first = rows[:k]
        winner = majority_answer([answer for answer, _ in first], equivalent)
        right = winner is not None and any(
            passed and answer is not None and (answer == winner or equivalent(answer, winner))
            for answer, passed in first
        )
        scores.append(1.0 if right else 0.0)
    return mean_with_standard_error(scores)
