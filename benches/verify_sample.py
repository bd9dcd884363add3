"""Builds an AM-schema JSONL sample for `amfast verify` from the real benchmark data.

Rows (all real problems, references and test code from ../shared/benchmarks):
- MATH-500: the reference solution as the response (should pass); for every other row the
  final answer of a different problem (should fail); a few truncated.
- HumanEval: the canonical solution (should pass) and a mutated one (should fail).
- MBPP: the reference code against its asserts (should pass).
- Rows without a reference (ungraded without a reward model) and one malformed row.

Usage: python benches/verify_sample.py --out verify-sample.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def _row(prompt: str, response: str, source: str, **info: object) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": prompt, "info": {"source": source, **info}},
            {"role": "assistant", "content": response, "info": {"source": "reference"}},
        ]
    }


def _am(think: str, answer: str) -> str:
    return f"<think>\n{think}\n</think>\n<answer>{answer}</answer>"


def math_rows(benchmarks: Path, limit: int) -> list[dict[str, Any]]:
    lines = (benchmarks / "eval" / "math500.jsonl").read_text().splitlines()[:limit]
    problems = [json.loads(line) for line in lines]
    rows = []
    for index, problem in enumerate(problems):
        if index % 2 == 0:
            response = _am("I recall the worked solution.", problem["solution"])
        else:
            other = problems[(index + 7) % len(problems)]["answer"]
            response = _am("A guess.", f"The answer is $\\boxed{{{other}}}$.")
        finish = "length" if index % 50 == 49 else "stop"
        row = _row(problem["problem"], response, "math500", reference_answer=problem["answer"])
        row["messages"][1]["info"]["finish_reason"] = finish
        rows.append(row)
    return rows


_FLIP = {"<": " >= ", ">": " <= ", "<=": " > ", ">=": " < ", "+": " - ", "-": " + "}


def _flipped(operator: re.Match[str]) -> str:
    return _FLIP[operator.group(1)]


def humaneval_rows(benchmarks: Path, limit: int) -> list[dict[str, Any]]:
    with gzip.open(benchmarks / "code" / "humaneval.jsonl.gz", "rt") as handle:
        tasks = [json.loads(line) for line in handle][:limit]
    rows = []
    for index, task in enumerate(tasks):
        body = task["canonical_solution"]
        if index % 2:
            # Flip the first comparison or arithmetic operator: a plausible wrong solution;
            # bodies without one return None instead.
            body, flipped = re.subn(r" (<=|>=|<|>|\+|-) ", _flipped, body, count=1)
            if not flipped:
                body = "    return None\n"
        code = task["prompt"] + body
        tests = {"test_code": task["test"], "test_entry_point": task["entry_point"]}
        rows.append(
            _row(
                task["prompt"],
                _am("Write it.", f"```python\n{code}\n```"),
                "humaneval",
                test_case=json.dumps(tests),
            )
        )
    return rows


def mbpp_rows(benchmarks: Path, limit: int) -> list[dict[str, Any]]:
    rows = []
    with (benchmarks / "code" / "mbpp.jsonl").open() as handle:
        for line in list(handle)[10 : 10 + limit]:
            task = json.loads(line)
            code = task["code"].replace("\r\n", "\n")
            tests = "\n".join([task["test_setup_code"], *task["test_list"]])
            rows.append(
                _row(
                    task["text"],
                    _am("Simple.", f"```python\n{code}\n```"),
                    "mbpp",
                    test_case={"test_code": tests, "test_entry_point": ""},
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS)
    parser.add_argument("--math", type=int, default=500)
    parser.add_argument("--humaneval", type=int, default=164)
    parser.add_argument("--mbpp", type=int, default=100)
    args = parser.parse_args()
    rows = (
        math_rows(args.benchmarks, args.math)
        + humaneval_rows(args.benchmarks, args.humaneval)
        + mbpp_rows(args.benchmarks, args.mbpp)
        + [_row("Write a haiku about autumn.", _am("Syllables.", "Red leaves drift..."), "chat")]
    )
    with args.out.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.write('{"messages": [{"role": "user", "content": "truncated line"\n')
    print(f"{len(rows) + 1} rows -> {args.out}")


if __name__ == "__main__":
    main()
