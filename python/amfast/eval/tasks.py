"""Benchmarks as tasks: problems read from local files, each with a reference and a grader.

| task | file (under the benchmark directory) | grader | samples |
|---|---|---|---|
| aime24, aime25 | eval/aime24.jsonl, eval/aime25.jsonl | math | 16 |
| amc23, math500, gsm8k, minerva, olympiadbench | eval/*.jsonl(.gz) | math | 4 |
| gpqa_diamond | the official `gpqa_diamond.csv` the user supplies | choice | 4 |
| livecodebench | code/livecodebench_v5_test_2408_2501.json (+ dates) | code | 4 |

GPQA's four options are shuffled per question with a fixed seed and the right letter tracked.
LiveCodeBench problems are kept inside a contest-date window (default 2024-08-01 ... 2025-01-31,
the paper's); dates come from a `contest_date` field or are joined from the QwQ prompt file.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from amfast.errors import InputError
from amfast.io import iter_jsonl
from amfast.verify.answer import last_boxed

Grader = Literal["math", "choice", "code"]

MATH_DIRECTIVE = "Please reason step by step, and put your final answer within \\boxed{}."
CHOICE_DIRECTIVE = (
    "Please reason step by step, and put the letter of the correct option within \\boxed{}."
)
STDIN_DIRECTIVE = (
    "Read the inputs from stdin, solve the problem and write the answer to stdout. Enclose your "
    "Python code in a single ```python code block."
)
FUNCTIONAL_DIRECTIVE = (
    "Complete the starter code below. Enclose your Python code in a single ```python code block."
)
LCB_WINDOW = ("2024-08-01", "2025-01-31")


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes:
        id: stable within the task (used as the cache key of its samples).
        prompt: the user message (problem plus the answer-format directive).
        reference: the answer (math), the key letter (choice) or the tests (code, a dict).
        meta: breakdown keys such as subject, level, contest date.
    """

    id: str
    prompt: str
    reference: Any
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A benchmark: its problems, grader and default samples per problem."""

    name: str
    grader: Grader
    problems: list[Problem]
    default_samples: int


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path}: no such file (is the benchmark directory right?)")
    return [line.record for line in iter_jsonl(path)]


def _number(value: Any) -> str:  # noqa: ANN401 - JSON values are untyped
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _math_prompt(problem: str) -> str:
    return f"{problem.strip()}\n{MATH_DIRECTIVE}"


def _aime24(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "aime24.jsonl")
    return [Problem(str(r["id"]), _math_prompt(r["problem"]), _number(r["answer"])) for r in rows]


def _aime25(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "aime25.jsonl")
    suffix = "\n" + MATH_DIRECTIVE
    problems = []
    for index, row in enumerate(rows):
        text = row["prompt"].removesuffix(suffix)
        problems.append(Problem(str(index), _math_prompt(text), _number(row["answer"])))
    return problems


def _amc23(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "amc23.jsonl")
    return [Problem(str(r["id"]), _math_prompt(r["problem"]), _number(r["answer"])) for r in rows]


def _math500(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "math500.jsonl")
    return [
        Problem(
            r["unique_id"],
            _math_prompt(r["problem"]),
            r["answer"],
            {"subject": r["subject"], "level": str(r["level"])},
        )
        for r in rows
    ]


def _gsm8k(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "gsm8k_test.jsonl")
    problems = []
    for index, row in enumerate(rows):
        answer = row["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        problems.append(Problem(str(index), _math_prompt(row["question"]), answer))
    return problems


def _minerva(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "minerva_math.jsonl")
    problems = []
    for row in rows:
        answer = last_boxed(row["solution"])
        if answer is None:
            raise InputError(f"minerva_math idx {row['idx']}: no boxed answer in the solution")
        problems.append(
            Problem(str(row["idx"]), _math_prompt(row["problem"]), answer, {"type": row["type"]})
        )
    return problems


def _olympiadbench(root: Path) -> list[Problem]:
    rows = _read_jsonl(root / "eval" / "olympiadbench.jsonl.gz")
    problems = []
    for row in rows:
        answer = ", ".join(a.strip().strip("$").strip() for a in row["final_answer"])
        meta = {"subfield": row["subfield"] or "", "answer_type": row["answer_type"] or ""}
        problems.append(Problem(str(row["id"]), _math_prompt(row["question"]), answer, meta))
    return problems


def _gpqa(path: Path, seed: int) -> list[Problem]:
    if not path.is_file():
        raise InputError(
            f"{path}: GPQA-Diamond is not bundled (its authors ask that it not be republished); "
            "unzip the official dataset.zip and pass its gpqa_diamond.csv"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    needed = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2"]
    needed.append("Incorrect Answer 3")
    missing = [column for column in needed if rows and column not in rows[0]]
    if missing:
        raise InputError(f"{path}: missing columns {missing}")
    problems = []
    for index, row in enumerate(rows):
        options = [row["Correct Answer"], *(row[f"Incorrect Answer {i}"] for i in (1, 2, 3))]
        order = list(range(4))
        random.Random(f"{seed}:{index}").shuffle(order)
        letters = "ABCD"
        lines = [
            f"({letters[slot]}) {options[choice].strip()}" for slot, choice in enumerate(order)
        ]
        key = letters[order.index(0)]
        prompt = f"{row['Question'].strip()}\n\n" + "\n".join(lines) + f"\n\n{CHOICE_DIRECTIVE}"
        meta = {"domain": row.get("High-level domain", "") or ""}
        problems.append(Problem(row.get("Record ID") or str(index), prompt, key, meta))
    return problems


_FUNCTION_NAME = re.compile(r"def\s+(\w+)\s*\(\s*self")


def _lcb_dates(path: Path) -> dict[str, str]:
    """Problem-text prefix -> contest date, from the QwQ prompt file (which carries dates)."""
    if not path.is_file():
        return {}
    return {row["prompt"]: row["contest_date"][:10] for row in _read_jsonl(path)}


def _livecodebench(path: Path, window: tuple[str, str]) -> list[Problem]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = json.load(handle)
    dated_prompts = _lcb_dates(path.with_name("livecodebench_v5_qwq_prompts.jsonl"))
    problems = []
    for index, row in enumerate(rows):
        date = row.get("contest_date", "")[:10]
        if not date:
            head = row["problem"][:200]
            date = next((d for prompt, d in dated_prompts.items() if head in prompt), "")
        if date and not window[0] <= date <= window[1]:
            continue
        tests = row["tests"]
        inputs = [t["input"] for t in tests]
        outputs = [t["output"] for t in tests]
        if row["starter_code"]:
            name = _FUNCTION_NAME.search(row["starter_code"])
            if name is None:
                raise InputError(f"{path} problem {index}: no method name in the starter code")
            reference: dict[str, Any] = {
                "fn_name": name.group(1),
                "inputs": inputs,
                "outputs": outputs,
            }
            starter = f"```python\n{row['starter_code']}```"
            prompt = f"{row['problem'].strip()}\n\n{FUNCTIONAL_DIRECTIVE}\n{starter}"
        else:
            reference = {"inputs": inputs, "outputs": outputs}
            prompt = f"{row['problem'].strip()}\n\n{STDIN_DIRECTIVE}"
        kind = "functional" if row["starter_code"] else "stdin"
        problems.append(Problem(str(index), prompt, reference, {"date": date, "kind": kind}))
    return problems


_MATH_LOADERS: dict[str, tuple[Callable[[Path], list[Problem]], int]] = {
    "aime24": (_aime24, 16),
    "aime25": (_aime25, 16),
    "amc23": (_amc23, 4),
    "math500": (_math500, 4),
    "gsm8k": (_gsm8k, 4),
    "minerva": (_minerva, 4),
    "olympiadbench": (_olympiadbench, 4),
}
TASK_NAMES = (*_MATH_LOADERS, "gpqa_diamond", "livecodebench")


def load_task(
    name: str,
    benchmarks: str | Path,
    *,
    path: str | Path | None = None,
    seed: int = 0,
    date_window: tuple[str, str] = LCB_WINDOW,
    limit: int | None = None,
) -> Task:
    """Loads a task's problems from local files.

    Args:
        name: one of `TASK_NAMES`.
        benchmarks: the benchmark directory (with `eval/` and `code/`).
        path: the file for tasks that are not bundled (GPQA's CSV) or a different LCB file.
        seed: GPQA's option shuffle.
        date_window: LiveCodeBench contest dates kept (inclusive, ISO dates).
        limit: keep only the first `limit` problems (smoke runs).

    Raises:
        InputError: unknown task, missing file or malformed rows.

    Example:
        >>> load_task("fermat", ".")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        amfast.errors.InputError: unknown task 'fermat'; known: aime24, aime25, ...
    """
    root = Path(benchmarks)
    if name in _MATH_LOADERS:
        loader, samples = _MATH_LOADERS[name]
        task = Task(name, "math", loader(root), samples)
    elif name == "gpqa_diamond":
        if path is None:
            raise InputError("gpqa_diamond needs path=... (the official gpqa_diamond.csv)")
        task = Task(name, "choice", _gpqa(Path(path), seed), 4)
    elif name == "livecodebench":
        default = root / "code" / "livecodebench_v5_test_2408_2501.json"
        task = Task(name, "code", _livecodebench(Path(path or default), date_window), 4)
    else:
        raise InputError(f"unknown task {name!r}; known: {', '.join(TASK_NAMES)}")
    if limit is not None:
        task = Task(task.name, task.grader, task.problems[:limit], task.default_samples)
    return task
