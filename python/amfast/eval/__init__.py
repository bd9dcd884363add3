"""Evaluation: benchmarks as tasks, the paper's sampling protocol, honest statistics, reports."""

from amfast.eval.metrics import (
    Estimate,
    majority_answer,
    mean_with_standard_error,
    pass_at_k,
    pass_at_k_estimate,
)
from amfast.eval.tasks import TASK_NAMES, Problem, Task, load_task

__all__ = [
    "TASK_NAMES",
    "Estimate",
    "Problem",
    "Task",
    "load_task",
    "majority_answer",
    "mean_with_standard_error",
    "pass_at_k",
    "pass_at_k_estimate",
]
