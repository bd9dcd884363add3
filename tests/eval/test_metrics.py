"""Evaluation statistics against hand-computed values."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from amfast.errors import InputError
from amfast.eval.metrics import (
    check_sample_counts,
    majority_answer,
    majority_at_k_estimate,
    mean_with_standard_error,
    pass_at_k,
    pass_at_k_estimate,
)


def _pass_at_k_by_enumeration(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (c correct) with at least one correct."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_pass_at_k_equals_enumerating_every_subset(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_pass_at_k_by_enumeration(n, c, k))


def test_pass_at_k_hand_values() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - (7 * 6) / (10 * 9))
    assert pass_at_k(16, 0, 16) == 0.0
    assert pass_at_k(16, 1, 16) == 1.0


def test_pass_at_k_refuses_more_k_than_samples() -> None:
    with pytest.raises(InputError, match=r"pass@8 needs at least 8 samples per problem, have 4"):
        pass_at_k(4, 2, 8)
    with pytest.raises(InputError):
        pass_at_k(4, 5, 1)


def test_standard_error_is_sample_sd_over_root_n() -> None:
    estimate = mean_with_standard_error([1.0, 0.5, 0.0])
    assert estimate.mean == pytest.approx(0.5)
    assert estimate.standard_error == pytest.approx(math.sqrt(0.25 / 3))
    assert mean_with_standard_error([0.7]).standard_error == 0.0


def test_pass_at_1_is_the_mean_over_samples_with_se_across_problems() -> None:
    outcomes = {"a": [True, True, False, False], "b": [True, True, True, True], "c": [False] * 4}
    estimate = pass_at_k_estimate(outcomes, 1)
    assert estimate.mean == pytest.approx(0.5)
    assert estimate.standard_error == pytest.approx(math.sqrt(0.25 / 3))
    assert estimate.problems == 3


def test_problems_with_missing_samples_are_named() -> None:
    with pytest.raises(InputError, match=r"1 problems do not have 4 samples \(b: 3\)"):
        pass_at_k_estimate({"a": [True] * 4, "b": [True] * 3}, 1)
    with pytest.raises(InputError, match="p2: 0"):
        check_sample_counts({"p1": 2, "p2": 0}, 2)


def test_majority_vote_counts_equivalent_answers_together() -> None:
    def same_number(a: str, b: str) -> bool:
        return float(a) == float(b)

    assert majority_answer(["3", "0.5", "1/2", "3"], lambda a, b: a == b) == "3"
    assert majority_answer(["3", "0.5", ".5", "3", "0.50"], same_number) == "0.5"


def test_majority_ties_go_to_the_answer_seen_first_and_none_never_wins() -> None:
    assert majority_answer(["7", "8", "8", "7"]) == "7"
    assert majority_answer([None, None, None, "2"]) == "2"
    assert majority_answer([None, None]) is None


def test_majority_at_k_uses_only_the_first_k_samples() -> None:
    samples = {
        "a": [("5", False), ("5", False), ("6", True), ("6", True), ("6", True)],
        "b": [("1", True), ("2", False), ("2", False), ("1", True), ("1", True)],
    }
    assert majority_at_k_estimate(samples, 2).mean == pytest.approx(0.5)  # a: 5 wins, b: tie->1
    assert majority_at_k_estimate(samples, 5).mean == pytest.approx(1.0)
    assert majority_at_k_estimate(samples, 3).mean == pytest.approx(0.0)  # a: 5,5,6 ; b: 2 wins
    with pytest.raises(InputError, match="maj@8"):
        majority_at_k_estimate(samples, 8)
