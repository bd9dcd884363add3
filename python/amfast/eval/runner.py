"""`run_eval`: sample every task with the configured backend, grade, score, and report.

Writes into the run directory (`EvalConfig.output`):

- `<task>/samples/`: the cached samples (a distillation job per task; reruns resume it);
- `results.json`: the config, versions, and per task the metrics and every sample's verdict;
- `report.md`: the paper-style table, pass@k / maj@k and the breakdowns;
- `results.png`: pass@1 per benchmark with ±1 SE error bars.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib.metadata
import json
import platform
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from amfast.errors import InputError
from amfast.eval.report import DISPLAY_NAMES, Run, plot_results, results_table
from amfast.eval.sampling import EvalConfig, distill_config_for, generate_samples, read_samples
from amfast.eval.scoring import Sample, TaskScore, grade_samples, score_task
from amfast.eval.tasks import Task, load_task
from amfast.generate import create_backend
from amfast.generate.backend import Backend
from amfast.outputs import AtomicWriter
from amfast.verify.dispatch import VerifyOptions
from amfast.verify.verdict import Verdict


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("amfast", "torch", "transformers", "vllm", "math-verify"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def load_tasks(config: EvalConfig) -> list[Task]:
    """The configured tasks, loaded from local files."""
    tasks = []
    for name in config.tasks:
        path = config.gpqa_path if name == "gpqa_diamond" else None
        if name == "livecodebench":
            path = config.livecodebench_path
        tasks.append(
            load_task(
                name,
                config.benchmarks,
                path=path,
                seed=config.gpqa_seed,
                date_window=(config.livecodebench_start, config.livecodebench_end),
                limit=config.limit,
            )
        )
    return tasks


def _cached(task: Task, config: EvalConfig) -> list[Sample] | None:
    """The task's samples when an earlier run generated all of them, else None."""
    directory = Path(config.output) / task.name / "samples"
    marker = directory / "run.json"
    if not marker.is_file():
        return None
    # Samples made with other settings are not reused: distill refuses them, naming the change.
    settings = json.loads(marker.read_text(encoding="utf-8"))
    if settings != json.loads(json.dumps(distill_config_for(task, config).fingerprint())):
        return None
    samples = read_samples(directory)
    wanted = {(p.id, i) for p in task.problems for i in range(config.samples_for(task))}
    return samples if {(s.problem_id, s.index) for s in samples} >= wanted else None


async def _generate_all(
    tasks: list[Task], config: EvalConfig, backend: Backend | None
) -> dict[str, list[Sample]]:
    owned = backend is None
    samples = {}
    try:
        for task in tasks:
            cached = _cached(task, config)
            if cached is not None:
                samples[task.name] = cached  # no model load when nothing is left to generate
                continue
            if backend is None:
                backend = await create_backend(distill_config_for(task, config))
            samples[task.name], _ = await generate_samples(task, config, backend)
        return samples
    finally:
        if owned and backend is not None:
            await backend.aclose()


def _task_results(
    task: Task, samples: list[Sample], verdicts: list[Verdict], score: TaskScore
) -> dict[str, Any]:
    per_problem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample, verdict in zip(samples, verdicts, strict=True):
        per_problem[sample.problem_id].append(
            {
                "index": sample.index,
                "seed": sample.seed,
                "finish_reason": sample.finish_reason,
                "passed": verdict.passed,
                "reason": verdict.reason,
                "extracted": (verdict.extracted or "")[:200] or None,
            }
        )
    problems = {}
    for problem in task.problems:
        rows = sorted(per_problem[problem.id], key=lambda row: row["index"])
        problems[problem.id] = {
            "pass_rate": sum(row["passed"] for row in rows) / len(rows),
            "meta": problem.meta,
            "samples": rows,
        }
    return {"grader": task.grader, "score": score.to_json(), "problems": problems}


def markdown_report(run: Run, scores: list[TaskScore]) -> str:
    """The run's report: the headline table, then every task's details."""
    lines = [f"# {run.label}", "", "pass@1 (%) ± standard error across problems", ""]
    lines += [results_table([run]), ""]
    for score in scores:
        lines.append(f"## {DISPLAY_NAMES.get(score.task, score.task)}")
        lines.append("")
        lines.append(f"{score.pass_at_1.problems} problems x {score.samples_per_problem} samples")
        lines.append("")
        lines.append("| metric | % | SE |")
        lines.append("|---|---|---|")
        for k, estimate in score.pass_at_k.items():
            lines.append(
                f"| pass@{k} | {100 * estimate.mean:.1f} | {100 * estimate.standard_error:.1f} |"
            )
        for k, estimate in score.majority_at_k.items():
            lines.append(
                f"| maj@{k} | {100 * estimate.mean:.1f} | {100 * estimate.standard_error:.1f} |"
            )
        for key, groups in score.breakdown.items():
            lines += [
                "",
                f"By {key}:",
                "",
                f"| {key} | pass@1 % | SE | problems |",
                "|---|---|---|---|",
            ]
            for value, estimate in groups.items():
                lines.append(
                    f"| {value or '-'} | {100 * estimate.mean:.1f} | "
                    f"{100 * estimate.standard_error:.1f} | {estimate.problems} |"
                )
        verdicts = ", ".join(f"{reason} {count}" for reason, count in score.reasons.items())
        lines += [
            "",
            f"Verdicts: {verdicts}" + (f" ({score.ungraded} ungraded)" if score.ungraded else ""),
            "",
        ]
    return "\n".join(lines)


def run_eval(config: EvalConfig, backend: Backend | None = None) -> Path:
    """Samples, grades and scores every task; returns the path of `results.json`.

    Args:
        config: the run's settings.
        backend: a ready generation backend (tests, custom models) instead of `config.backend`.

    Raises:
        InputError: a task cannot be loaded, or some problem lacks samples after generation
            (rerun to finish; the error names the problems).
    """
    tasks = load_tasks(config)
    samples = asyncio.run(_generate_all(tasks, config, backend))
    options = VerifyOptions(num_workers=config.verify_workers, progress=config.progress)
    label = config.label or config.model
    results: dict[str, Any] = {
        "label": label,
        "model": config.model,
        "backend": config.backend,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "config": asdict(config),
        "tasks": {},
    }
    scores = []
    for task in tasks:
        task_samples = samples[task.name]
        verdicts = grade_samples(task, task_samples, options)
        try:
            score = score_task(
                task, task_samples, verdicts, samples_per_problem=config.samples_for(task)
            )
        except InputError as error:
            raise InputError(
                f"{task.name}: {error}; rerun the same command to finish generating"
            ) from error
        scores.append(score)
        results["tasks"][task.name] = _task_results(task, task_samples, verdicts, score)
    directory = Path(config.output)
    with AtomicWriter(directory / "results.json") as temporary:
        temporary.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    run = Run(label, results["tasks"], directory / "results.json")
    with AtomicWriter(directory / "report.md") as temporary:
        temporary.write_text(markdown_report(run, scores), encoding="utf-8")
    plot_results([run], directory / "results.png")
    return directory / "results.json"
