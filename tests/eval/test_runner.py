"""`amfast eval` end to end on CPU: a tiny random-weight model through the transformers backend."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from amfast.cli.main import main
from amfast.errors import InputError
from amfast.eval.runner import run_eval
from amfast.eval.sampling import EvalConfig
from amfast.generate.backend import GenerationRequest, GenerationResult
from tiny_models import build_tiny_teacher

ALL_TASKS = "aime24,aime25,amc23,math500,gsm8k,minerva,olympiadbench,livecodebench,gpqa_diamond"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_teacher(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def gpqa_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gpqa") / "gpqa_diamond.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Question", "Correct Answer", *(f"Incorrect Answer {i}" for i in (1, 2, 3))]
        )
        for i in range(5):
            writer.writerow([f"Which is right, case {i}?", "right", "w1", "w2", "w3"])
    return path


def _config(tmp_path: Path, model: Path, benchmarks: Path, **settings: object) -> EvalConfig:
    values: dict[str, object] = {
        "model": str(model),
        "output": str(tmp_path / "run"),
        "backend": "transformers",
        "device": "cpu",
        "benchmarks": str(benchmarks),
        "limit": 5,
        "samples": 2,
        "max_tokens": 12,
        "progress": False,
        "verify_workers": 2,
    }
    values.update(settings)
    return EvalConfig(**values)  # type: ignore[arg-type]


@pytest.mark.slow
def test_every_task_runs_end_to_end_and_a_rerun_reuses_the_samples(
    tmp_path: Path, tiny_model: Path, benchmarks_dir: Path, gpqa_csv: Path
) -> None:
    config = _config(
        tmp_path, tiny_model, benchmarks_dir, tasks=[ALL_TASKS], gpqa_path=str(gpqa_csv)
    )
    results_path = run_eval(config)
    results = json.loads(results_path.read_text())
    assert list(results["tasks"]) == ALL_TASKS.split(",")
    for name, task in results["tasks"].items():
        assert len(task["problems"]) == 5, name
        assert task["score"]["samples_per_problem"] == 2
        assert 0.0 <= task["score"]["pass_at_1"]["mean"] <= 1.0
        for problem in task["problems"].values():
            seeds = [sample["seed"] for sample in problem["samples"]]
            assert [sample["index"] for sample in problem["samples"]] == [0, 1]
            assert all(isinstance(seed, int) for seed in seeds)
            assert len(set(seeds)) == 2  # each sample has its own recorded seed
    assert results["config"]["temperature"] == 0.6
    assert results["versions"]["torch"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| Model | AIME2024 | AIME2025 |" in report
    assert (tmp_path / "run" / "results.png").read_bytes()[:4] == b"\x89PNG"
    samples_dir = tmp_path / "run" / "math500" / "samples" / "shards"
    before = {p.name: p.stat().st_mtime_ns for p in samples_dir.iterdir()}
    rerun = json.loads(run_eval(config, backend=_NeverCalled()).read_text())
    assert {p.name: p.stat().st_mtime_ns for p in samples_dir.iterdir()} == before
    assert rerun["tasks"] == results["tasks"]
    hotter = _config(
        tmp_path,
        tiny_model,
        benchmarks_dir,
        tasks=[ALL_TASKS],
        gpqa_path=str(gpqa_csv),
        temperature=1.0,
    )
    with pytest.raises(InputError, match="other settings"):
        run_eval(hotter, backend=_NeverCalled())


class _NeverCalled:
    """A backend that fails the test if anything is generated (everything is cached)."""

    name, model, max_batch_size, max_concurrency = "never", "never", 1, 1

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        raise AssertionError(f"generated {len(requests)} requests although all were cached")

    async def aclose(self) -> None:
        pass


class _FailingTeacher:
    """A protocol backend that answers every request except those of one problem."""

    name, model, max_batch_size, max_concurrency = "scripted", "scripted", 16, 1

    def __init__(self, failing_prefix: str) -> None:
        self.failing_prefix = failing_prefix

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return [
            GenerationResult.failed(r.key, "server error")
            if r.key.startswith(self.failing_prefix)
            else GenerationResult(r.key, "x</think>\\boxed{7}", finish_reason="stop")
            for r in requests
        ]

    async def aclose(self) -> None:
        pass


def test_missing_samples_are_named_instead_of_scored(
    tmp_path: Path, tiny_model: Path, benchmarks_dir: Path
) -> None:
    config = _config(tmp_path, tiny_model, benchmarks_dir, tasks=["aime24"])
    first_problem = "60"
    with pytest.raises(InputError, match=r"aime24: .*60: 0.*rerun the same command"):
        run_eval(config, backend=_FailingTeacher(f"{first_problem}:"))


def test_cli_compare_and_report_of_finished_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def write_run(name: str, rates: list[float]) -> Path:
        problems = {str(i): {"pass_rate": rate} for i, rate in enumerate(rates)}
        mean = sum(rates) / len(rates)
        score = {"pass_at_1": {"mean": mean, "standard_error": 0.05, "problems": len(rates)}}
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        path.write_text(
            json.dumps(
                {"label": name, "tasks": {"math500": {"score": score, "problems": problems}}}
            )
        )
        return path.parent

    better = write_run("better", [1.0, 1.0, 0.5, 1.0])
    worse = write_run("worse", [0.5, 0.5, 0.0, 0.5])
    assert main(["eval", "--compare", str(better), str(worse)]) == 0
    printed = capsys.readouterr().out
    assert "| MATH-500 | 87.5 ± 5.0 | 37.5 ± 5.0 | +50.0 * | 0.0 | 4 (paired) |" in printed
    plot = tmp_path / "both.png"
    assert main(["eval", "--report", str(better), str(worse), "--plot", str(plot)]) == 0
    assert "| better | 87.5 ± 5.0 |" in capsys.readouterr().out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["eval", "--plot", str(plot), "--model", "m"]) == 2
