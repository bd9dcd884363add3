"""Reports from eval results files: the paper's table, a plot with error bars, run comparisons.

A results file (`results.json`, written by `amfast eval`) holds, per task, the metrics and the
per-problem pass rates. The table has one row per model and one column per benchmark, cells
`pass@1 ± SE` in percent, in the paper's order (AIME 2024, MATH-500, GPQA-Diamond,
LiveCodeBench first). Comparing two runs of the same problems uses the paired difference of
per-problem pass rates, whose standard error is much smaller than that of two independent means.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amfast.errors import InputError

DISPLAY_NAMES = {
    "aime24": "AIME2024",
    "aime25": "AIME2025",
    "math500": "MATH-500",
    "gpqa_diamond": "GPQA-Diamond",
    "livecodebench": "LiveCodeBench",
    "amc23": "AMC23",
    "gsm8k": "GSM8K",
    "minerva": "Minerva",
    "olympiadbench": "OlympiadBench",
}
PAPER_ORDER = tuple(DISPLAY_NAMES)


@dataclass(frozen=True)
class Run:
    """One results file: the model's label and its tasks' results."""

    label: str
    tasks: dict[str, dict[str, Any]]
    path: Path | None = None


def load_run(path: str | os.PathLike[str]) -> Run:
    """Reads a results file written by `amfast eval`.

    Raises:
        InputError: not a readable results file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tasks = data["tasks"]
        label = str(data.get("label") or data.get("model") or path.parent.name)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not an amfast eval results file ({error})") from error
    return Run(label, tasks, path)


def _ordered_tasks(runs: list[Run]) -> list[str]:
    names = {name for run in runs for name in run.tasks}
    known = [name for name in PAPER_ORDER if name in names]
    return known + sorted(names - set(known))


def _cell(task: dict[str, Any] | None) -> str:
    if task is None:
        return "-"
    estimate = task["score"]["pass_at_1"]
    return f"{100 * estimate['mean']:.1f} ± {100 * estimate['standard_error']:.1f}"


def results_table(runs: list[Run]) -> str:
    """A markdown table: one row per run, one column per benchmark, pass@1 ± SE in percent.

    Example:
        >>> score = {"pass_at_1": {"mean": 0.727, "standard_error": 0.081, "problems": 30}}
        >>> print(results_table([Run("AM-Distill-Qwen-32B", {"aime24": {"score": score}})]))
        | Model | AIME2024 |
        |---|---|
        | AM-Distill-Qwen-32B | 72.7 ± 8.1 |
    """
    names = _ordered_tasks(runs)
    header = "| Model | " + " | ".join(DISPLAY_NAMES.get(n, n) for n in names) + " |"
    lines = [header, "|---" * (len(names) + 1) + "|"]
    for run in runs:
        cells = [_cell(run.tasks.get(name)) for name in names]
        lines.append(f"| {run.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_results(runs: list[Run], path: str | os.PathLike[str]) -> None:
    """A PNG bar chart: pass@1 per benchmark and run, with ±1 SE error bars.

    Raises:
        InputError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on servers
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise InputError("plots need matplotlib: pip install 'amfast[eval]'") from error
    names = _ordered_tasks(runs)
    width = 0.8 / max(len(runs), 1)
    figure, axes = plt.subplots(figsize=(max(4.0, 1.6 * len(names) + 1), 3.6), dpi=120)
    for offset, run in enumerate(runs):
        means, errors = [], []
        for name in names:
            task = run.tasks.get(name)
            estimate = (
                task["score"]["pass_at_1"] if task else {"mean": math.nan, "standard_error": 0}
            )
            means.append(100 * estimate["mean"])
            errors.append(100 * estimate["standard_error"])
        positions = [i + (offset - (len(runs) - 1) / 2) * width for i in range(len(names))]
        axes.bar(positions, means, width, yerr=errors, capsize=3, label=run.label)
    axes.set_xticks(range(len(names)), [DISPLAY_NAMES.get(n, n) for n in names])
    axes.set_ylabel("pass@1 (%) ± 1 SE")
    axes.set_ylim(0, 100)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _paired(first: dict[str, Any], second: dict[str, Any]) -> tuple[float, float, int] | None:
    """Mean and SE of per-problem pass-rate differences over the problems both runs share."""
    rates_a = {pid: row["pass_rate"] for pid, row in first.get("problems", {}).items()}
    rates_b = {pid: row["pass_rate"] for pid, row in second.get("problems", {}).items()}
    shared = sorted(rates_a.keys() & rates_b.keys())
    if len(shared) < 2:
        return None
    differences = [rates_a[pid] - rates_b[pid] for pid in shared]
    mean = math.fsum(differences) / len(differences)
    variance = math.fsum((d - mean) ** 2 for d in differences) / (len(differences) - 1)
    return mean, math.sqrt(variance / len(differences)), len(shared)


def compare_runs(first: Run, second: Run) -> str:
    """A markdown table of pass@1 differences (first - second) with their standard errors.

    Runs over the same problems are compared pairwise per problem; otherwise the two means'
    standard errors are combined as if independent. `*` marks |difference| > 2 SE.
    """
    names = [n for n in _ordered_tasks([first, second]) if n in first.tasks and n in second.tasks]
    if not names:
        raise InputError(f"{first.label} and {second.label} share no task")
    lines = [
        f"| Benchmark | {first.label} | {second.label} | difference | SE | problems |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        a, b = first.tasks[name], second.tasks[name]
        paired = _paired(a, b)
        if paired is None:
            ea, eb = a["score"]["pass_at_1"], b["score"]["pass_at_1"]
            difference = ea["mean"] - eb["mean"]
            error = math.hypot(ea["standard_error"], eb["standard_error"])
            problems = f"{ea['problems']} / {eb['problems']} (unpaired)"
        else:
            difference, error, shared = paired
            problems = f"{shared} (paired)"
        mark = " *" if abs(difference) > 2 * error else ""
        lines.append(
            f"| {DISPLAY_NAMES.get(name, name)} | {_cell(a)} | {_cell(b)} | "
            f"{100 * difference:+.1f}{mark} | {100 * error:.1f} | {problems} |"
        )
    return "\n".join(lines)
