"""`verify_code` on real benchmark data: HumanEval, MBPP, LiveCodeBench v5, DeepCoder LeetCode."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from amfast.verify.code import program_for, verify_code, verify_code_batch
from amfast.verify.sandbox import SandboxLimits

LIMITS = SandboxLimits(wall_seconds=10.0)


def respond(code: str) -> str:
    return (
        f"<think>\nI will solve it.\n</think>\n<answer>\nHere:\n```python\n{code}\n```\n</answer>"
    )


@pytest.fixture(scope="module")
def humaneval(benchmarks_dir: Path) -> list[dict]:
    with gzip.open(benchmarks_dir / "code" / "humaneval.jsonl.gz", "rt") as file:
        return [json.loads(line) for line in file]


@pytest.fixture(scope="module")
def livecodebench(benchmarks_dir: Path) -> list[dict]:
    return json.loads(
        (benchmarks_dir / "code" / "livecodebench_v5_test_2408_2501.json").read_text()
    )


def humaneval_tests(row: dict) -> dict:
    return {"test_code": row["test"], "test_entry_point": row["entry_point"]}


def lcb_tests(row: dict) -> dict:
    """LiveCodeBench rows (rllm format) as `verify_code` tests; the method name comes from the
    starter code."""
    tests = {
        "inputs": [case["input"] for case in row["tests"]],
        "outputs": [case["output"] for case in row["tests"]],
    }
    if row["starter_code"]:
        tests["fn_name"] = re.findall(r"def (\w+)\(self", row["starter_code"])[-1]
    return tests


@pytest.mark.slow
def test_humaneval_canonical_solutions_all_pass(humaneval):
    responses = [respond(row["prompt"] + row["canonical_solution"]) for row in humaneval]
    verdicts = verify_code_batch(responses, [humaneval_tests(row) for row in humaneval])
    failed = [
        (row["task_id"], v.detail)
        for row, v in zip(humaneval, verdicts, strict=True)
        if not v.passed
    ]
    assert len(verdicts) == 164
    assert failed == []


@pytest.mark.slow
def test_humaneval_solutions_returning_none_all_fail(humaneval):
    responses = [respond(row["prompt"] + "    return None\n") for row in humaneval]
    verdicts = verify_code_batch(responses, [humaneval_tests(row) for row in humaneval])
    reasons = {v.reason for v in verdicts}
    # A failed assert is `wrong`; None in arithmetic (a TypeError) is a `runtime_error`.
    assert reasons == {"wrong", "runtime_error"}


@pytest.mark.parametrize(
    ("task_id", "before", "after"),
    [
        ("HumanEval/2", "% 1.0", "% 2.0"),
        ("HumanEval/13", "a % b", "b % a"),
        ("HumanEval/23", "len(string)", "len(string) - 1"),
        ("HumanEval/53", "x + y", "x - y"),
        ("HumanEval/60", "range(n + 1)", "range(n)"),
    ],
)
def test_humaneval_mutated_solution_fails(humaneval, task_id, before, after):
    row = next(row for row in humaneval if row["task_id"] == task_id)
    assert before in row["canonical_solution"]
    mutated = row["prompt"] + row["canonical_solution"].replace(before, after, 1)
    verdict = verify_code(respond(mutated), humaneval_tests(row), limits=LIMITS)
    assert verdict.reason in ("runtime_error", "wrong")
    assert not verdict.passed


def test_humaneval_tests_accepted_as_json_text(humaneval):
    row = humaneval[0]
    tests = json.dumps(humaneval_tests(row))
    verdict = verify_code(respond(row["prompt"] + row["canonical_solution"]), tests)
    assert verdict.reason == "correct"


@pytest.mark.slow
def test_mbpp_reference_solutions_all_pass(benchmarks_dir: Path):
    lines = (benchmarks_dir / "code" / "mbpp.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    tests = [{"test_list": r["test_list"], "test_setup_code": r["test_setup_code"]} for r in rows]
    verdicts = verify_code_batch([respond(row["code"]) for row in rows], tests)
    failed = [
        (row["task_id"], v.detail) for row, v in zip(rows, verdicts, strict=True) if not v.passed
    ]
    assert len(rows) == 974
    assert failed == []


def test_mbpp_wrong_solution_fails_naming_the_assert(benchmarks_dir: Path):
    row = json.loads((benchmarks_dir / "code" / "mbpp.jsonl").read_text().splitlines()[0])
    wrong = row["code"].replace("return tc[m][n]", "return tc[m][n] + 1")
    tests = {"test_list": row["test_list"], "test_setup_code": row["test_setup_code"]}
    assert verify_code(respond(row["code"]), tests).passed
    verdict = verify_code(respond(wrong), tests)
    assert verdict.reason == "wrong"
    assert "AssertionError" in verdict.detail


@pytest.mark.slow
def test_deepcoder_leetcode_reference_solutions_pass(benchmarks_dir: Path):
    rows = json.loads((benchmarks_dir / "code" / "deepcoder_leetcode_test.json").read_text())
    verdicts = verify_code_batch(
        [respond(r["solutions"]) for r in rows], [r["tests"] for r in rows]
    )
    failed = [(index, v.detail) for index, v in enumerate(verdicts) if not v.passed]
    assert len(rows) == 200
    assert failed == []


SECOND_LARGEST = """
n = int(input())
a = list(map(int, input().split()))
second = sorted(a)[-2]
print(a.index(second) + 1)
"""

SHORTEST_DISTANCE = """
from collections import deque
class Solution:
    def shortestDistanceAfterQueries(self, n: int, queries: List[List[int]]) -> List[int]:
        graph = [[i + 1] for i in range(n - 1)] + [[]]
        answer = []
        for u, v in queries:
            graph[u].append(v)
            dist = [-1] * n
            dist[0] = 0
            queue = deque([0])
            while queue:
                node = queue.popleft()
                for nxt in graph[node]:
                    if dist[nxt] < 0:
                        dist[nxt] = dist[node] + 1
                        queue.append(nxt)
            answer.append(dist[n - 1])
        return answer
"""


def lcb_row(livecodebench: list[dict], prefix: str) -> dict:
    return next(row for row in livecodebench if row["problem"].startswith(prefix))


def test_livecodebench_stdin_problem_right_and_wrong(livecodebench):
    row = lcb_row(livecodebench, "You are given an integer sequence A=(A_1,\\ldots,A_N)")
    tests = lcb_tests(row)
    assert verify_code(respond(SECOND_LARGEST), tests).reason == "correct"
    largest = SECOND_LARGEST.replace("sorted(a)[-2]", "sorted(a)[-1]")
    assert verify_code(respond(largest), tests).reason == "wrong"


def test_livecodebench_functional_problem_right_and_wrong(livecodebench):
    row = lcb_row(livecodebench, "You are given an integer n and a 2D integer array queries.")
    tests = lcb_tests(row)
    assert program_for(SHORTEST_DISTANCE, tests)[0].kind == "call"
    assert verify_code(respond(SHORTEST_DISTANCE), tests).reason == "correct"
    off_by_one = SHORTEST_DISTANCE.replace("dist[n - 1])", "dist[n - 1] + 1)")
    assert verify_code(respond(off_by_one), tests).reason == "wrong"


def test_livecodebench_every_row_converts_to_a_runnable_program(livecodebench):
    kinds = [program_for("pass", lcb_tests(row))[0].kind for row in livecodebench]
    assert kinds.count("call") == 104
    assert kinds.count("stdin") == 175


def test_float_outputs_compare_with_tolerance():
    tests = {"inputs": [""], "outputs": ["0.3333333333\n"]}
    assert verify_code(respond("print(1 / 3)"), tests).passed
    assert not verify_code(respond("print(0.334)"), tests).passed


@pytest.mark.parametrize(
    ("response", "finish_reason", "reason"),
    [
        ("<think>\nstill thinking", None, "truncated"),
        (respond("print(3)"), "length", "truncated"),
        ("<think>x</think>\n<answer>The answer is 3.</answer>", None, "no_answer"),
        ("<think>```python\nprint(3)\n```</think>\n<answer>3</answer>", None, "no_answer"),
    ],
)
def test_responses_without_a_gradable_answer(response, finish_reason, reason):
    tests = {"inputs": [""], "outputs": ["3"]}
    assert verify_code(response, tests, finish_reason=finish_reason).reason == reason


@pytest.mark.parametrize(
    "tests",
    [
        "not json",
        "[1, 2]",
        {"inputs": ["1"]},
        {"inputs": ["1"], "outputs": ["1", "2"]},
        {"fn_name": "f", "inputs": ["{"], "outputs": ["1"]},
        {"test_code": "def check(candidate):\n    assert candidate()\n"},
        {"something": "else"},
    ],
)
def test_malformed_tests_are_bad_reference_and_ungraded(tests):
    verdict = verify_code(respond("print(1)"), tests)
    assert verdict.reason == "bad_reference"
    assert not verdict.graded


def test_a_failed_assert_is_wrong_and_another_exception_a_runtime_error():
    tests = {"test_code": "def check(f):\n    assert f(2) == 4\n", "test_entry_point": "double"}
    wrong = verify_code(respond("def double(x):\n    return x + 1"), tests)
    assert wrong.reason == "wrong"
    crashed = verify_code(respond("def double(x):\n    return x + None"), tests)
    assert crashed.reason == "runtime_error"
    assert "TypeError" in crashed.detail


THREADED_MAIN = """
import sys, threading
def main():
    sys.setrecursionlimit(1 << 25)
    n = int(input())
    print(pow(n, 3, 1000))
threading.stack_size(1 << 26)
threading.Thread(target=main).start()
"""


def test_a_threaded_main_runs_to_completion_with_three_argument_pow():
    # The output is printed by a non-daemon thread after the module body ends; `pow` must be
    # the builtin although the prelude star-imports math (as LiveCodeBench's does).
    verdict = verify_code(respond(THREADED_MAIN), {"inputs": ["12\n"], "outputs": ["728\n"]})
    assert verdict.reason == "correct", verdict


def test_published_test_formats_run_as_their_harnesses_ran_them():
    livecodebench = {
        "kind": "livecodebench",
        "starter_code": "class Solution:\n    def twice(self, x: int) -> int:\n        ",
        "public_tests": [{"input": "3", "output": "6", "testtype": "functional"}],
    }
    solution = "class Solution:\n    def twice(self, x: int) -> int:\n        return 2 * x\n"
    assert verify_code(respond(solution), livecodebench).passed
    humaneval = {
        "kind": "humaneval",
        "entry_point": "twice",
        "test": "def check(candidate):\n    assert candidate(3) == 6\n",
    }
    # HumanEval completions come without a fence; the detail names the rule that found them.
    verdict = verify_code("def twice(x):\n    return 2 * x\n", humaneval)
    assert verdict.passed
    assert verdict.detail.startswith("rule unfenced_code")
    stdin = {
        "kind": "livecodebench",
        "starter_code": "",
        "public_tests": [{"input": "2\n", "output": "4\n", "testtype": "stdin"}],
    }
    assert verify_code(respond("print(2 * int(input()))"), stdin).passed


def test_the_block_defining_the_entry_point_is_graded_not_the_usage_example():
    response = (
        "```python\ndef twice(x):\n    return 2 * x\n```\nExample:\n```python\nprint(twice(3))\n```"
    )
    tests = {"test_code": "def check(f):\n    assert f(3) == 6\n", "test_entry_point": "twice"}
    verdict = verify_code(response, tests)
    assert verdict.passed
    assert verdict.detail.startswith("rule fence_defining_entry_point")
