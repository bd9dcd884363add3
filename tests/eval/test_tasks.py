"""Benchmark tasks read from the local benchmark files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from amfast.errors import InputError
from amfast.eval.tasks import MATH_DIRECTIVE, TASK_NAMES, load_task

EXPECTED_PROBLEMS = {
    "aime24": 30,
    "aime25": 30,
    "amc23": 40,
    "math500": 500,
    "gsm8k": 1319,
    "minerva": 272,
    "olympiadbench": 675,
    "livecodebench": 279,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_PROBLEMS))
def test_every_bundled_task_loads_all_its_problems(name: str, benchmarks_dir: Path) -> None:
    task = load_task(name, benchmarks_dir)
    assert len(task.problems) == EXPECTED_PROBLEMS[name]
    assert len({problem.id for problem in task.problems}) == len(task.problems)
    assert all(problem.reference not in (None, "") for problem in task.problems)
    assert task.default_samples == (16 if name.startswith("aime") else 4)


def test_math_prompts_carry_the_r1_directive_once(benchmarks_dir: Path) -> None:
    for name in ("aime24", "aime25", "math500"):
        for problem in load_task(name, benchmarks_dir).problems:
            assert problem.prompt.count(MATH_DIRECTIVE) == 1
            assert problem.prompt.endswith(MATH_DIRECTIVE)


def test_answers_are_read_the_way_each_file_stores_them(benchmarks_dir: Path) -> None:
    assert load_task("amc23", benchmarks_dir).problems[0].reference == "27"  # stored as 27.0
    assert load_task("gsm8k", benchmarks_dir).problems[0].reference == "18"  # after ####
    assert load_task("aime25", benchmarks_dir).problems[0].reference == "70"
    math500 = load_task("math500", benchmarks_dir).problems[0]
    assert math500.meta == {"subject": "Precalculus", "level": "2"}


def test_livecodebench_date_window_and_test_kinds(benchmarks_dir: Path) -> None:
    task = load_task("livecodebench", benchmarks_dir)
    dates = [problem.meta["date"] for problem in task.problems]
    assert all("2024-08-01" <= d <= "2025-01-31" for d in dates)
    kinds = [problem.meta["kind"] for problem in task.problems]
    assert kinds.count("stdin") == 175
    assert kinds.count("functional") == 104
    functional = next(p for p in task.problems if p.meta["kind"] == "functional")
    assert set(functional.reference) == {"fn_name", "inputs", "outputs"}
    august = load_task("livecodebench", benchmarks_dir, date_window=("2024-08-01", "2024-08-31"))
    assert 0 < len(august.problems) < len(task.problems)
    assert all(p.meta["date"].startswith("2024-08") for p in august.problems)


def _write_gpqa(path: Path, rows: int) -> Path:
    columns = ["Record ID", "Question", "Correct Answer"]
    columns += [f"Incorrect Answer {i}" for i in (1, 2, 3)]
    columns.append("High-level domain")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i in range(rows):
            writer.writerow(
                [f"rec{i}", f"Question {i}?", f"right {i}", "w1", "w2", "w3", "Physics"]
            )
    return path


def test_gpqa_options_are_shuffled_with_a_fixed_seed_and_the_key_follows(tmp_path: Path) -> None:
    path = _write_gpqa(tmp_path / "gpqa_diamond.csv", 40)
    task = load_task("gpqa_diamond", tmp_path, path=path)
    assert task.grader == "choice"
    for index, problem in enumerate(task.problems):
        assert f"({problem.reference}) right {index}" in problem.prompt
    keys = [p.reference for p in task.problems]
    assert set(keys) == set("ABCD")  # the right answer is not always in one place
    assert keys == [p.reference for p in load_task("gpqa_diamond", tmp_path, path=path).problems]
    reseeded = load_task("gpqa_diamond", tmp_path, path=path, seed=1)
    assert keys != [p.reference for p in reseeded.problems]


def test_gpqa_is_not_bundled_and_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs path"):
        load_task("gpqa_diamond", tmp_path)
    with pytest.raises(InputError, match=r"official dataset\.zip"):
        load_task("gpqa_diamond", tmp_path, path=tmp_path / "missing.csv")


def test_unknown_task_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="livecodebench"):
        load_task("mmlu", tmp_path)
    assert "gpqa_diamond" in TASK_NAMES


def test_limit_keeps_the_first_problems(benchmarks_dir: Path) -> None:
    assert [p.id for p in load_task("aime24", benchmarks_dir, limit=5).problems] == [
        p.id for p in load_task("aime24", benchmarks_dir).problems[:5]
    ]
