r"""Verify code answers: run the answer's program against the row's tests.

The program is found by the named rules of `amfast.verify.answer.CODE_RULES` (the fenced block
that defines the entry point the tests call, else the last Python block, else an unfenced answer
that parses as Python); `Verdict.detail` starts with `rule <name>`.

Three test kinds, told apart by their keys (`tests` is a dict or a JSON string of one):

1. stdin/stdout `{"inputs": [str], "outputs": [str]}` (LiveCodeBench, Codeforces): the program
   runs once per case with the input on stdin; its output must match token by token, numbers
   with a decimal point or exponent within 1e-6 (relative or absolute).
2. call-based `{"fn_name": str, "inputs": [...], "outputs": [...]}` (LiveCodeBench LeetCode
   problems): each input is a list of positional arguments, or LCB's text form with one JSON
   value per line; `Solution().fn_name(*args)` is called when the code defines `class Solution`,
   else the function `fn_name`. The return value is serialized to JSON in the sandbox and
   compared in the parent (so a lying `__eq__` cannot pass).
3. assert-style `{"test_code": str | [str], "test_entry_point": str, "test_setup_code": str}`
   (HumanEval `check(candidate)`, MBPP asserts; `test_list` is accepted for `test_code`) and
   LeetCode `{"functional": "def check(candidate): ..."}`: the tests run in a judge process that
   calls the solution's functions through a pipe and compares plain data only (see
   `amfast.verify.sandbox_judge`). When the test code defines `check` and the entry point is
   known, `check(<entry point>)` is appended.

The formats harnesses publish are read as these: LiveCodeBench `{"public_tests": [{"input",
"output", "testtype"}], "starter_code"}` (stdin cases, or call cases of the starter code's
method) and HumanEval / MultiPL-E `{"entry_point", "test"}` (assert-style).

Call-based, stdin and LeetCode programs get LiveCodeBench's import prelude (`from typing import
*`, `collections`, `heapq`, ...), as the judges that wrote these problems do. A stdin program's
non-daemon threads are joined before the case ends (`threading.Thread(target=main).start()`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from tqdm.auto import tqdm

from amfast.verify.answer import extract_code, split_response
from amfast.verify.pool import ProgressCallback
from amfast.verify.sandbox import CaseResult, Program, SandboxLimits, SandboxRun, run_program
from amfast.verify.verdict import Verdict

PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
    "from json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string, re, datetime, collections, heapq, bisect, copy, math, random, statistics\n"
    "import itertools, functools, operator, io, sys, json\nsys.setrecursionlimit(50000)\n"
)
"""Imports LiveCodeBench puts before every solution (LeetCode code uses `List`, `inf`, ...).

`from builtins import *` comes after `from math import *`, as in LiveCodeBench: without it
`pow(a, b, mod)` is `math.pow` and fails.
"""

THREAD_EPILOGUE = (
    "\nimport threading as __amfast_threading\n"
    "for __amfast_thread in __amfast_threading.enumerate():\n"
    "    if __amfast_thread is not __amfast_threading.current_thread() "
    "and not __amfast_thread.daemon:\n"
    "        __amfast_thread.join()\n"
)
"""Appended to stdin programs: `threading.Thread(target=main).start()` (the deep-recursion
idiom of competitive programming) must finish, output and all, before the case process exits.
"""

_FLOAT_TOLERANCE = 1e-6
_SHOWN = 200  # characters of expected/actual output quoted in a verdict's detail


class _BadTests(ValueError):
    """The row's tests cannot be run: the row's fault (`bad_reference`)."""


def verify_code(
    response: str,
    tests: dict[str, Any] | str,
    *,
    finish_reason: str | None = None,
    limits: SandboxLimits | None = None,
) -> Verdict:
    r"""Runs the program in `response`'s answer (see `CODE_RULES`) against `tests`.

    Args:
        response: the model's full response; only the answer part is graded.
        tests: the row's tests (see the module docstring), a dict or its JSON text.
        finish_reason: the generator's finish reason; `"length"` means truncated.
        limits: sandbox limits per test case; None = `SandboxLimits()`.

    Returns:
        `correct` when every test passes; `wrong`, `timeout`, `memory` or `runtime_error` for a
        graded failure; `no_answer`, `truncated`; `bad_reference` for malformed tests and
        `infra_error` when the sandbox failed (both ungraded).

    Example:
        >>> answer = "<answer>```python\nprint(int(input()) + 1)\n```</answer>"
        >>> verify_code(answer, {"inputs": ["1\n"], "outputs": ["2\n"]}).reason
        'correct'
        >>> verify_code(answer, {"inputs": ["1\n"], "outputs": ["3\n"]}).reason
        'wrong'
    """
    parts = split_response(response, finish_reason)
    try:
        spec = _load_tests(tests)
    except _BadTests as error:
        return Verdict.ungraded("bad_reference", detail=str(error))
    found = extract_code(parts.answer, entry_point_of(spec))
    code = found.value if found else None
    if parts.truncated:
        return Verdict.failed("truncated", code, detail=f"response was cut off ({parts.layout})")
    if found is None or code is None:
        detail = "no code in the answer: no fenced block, and the answer does not parse as Python"
        return Verdict.failed("no_answer", detail=detail)
    try:
        program, expected = program_for(code, spec)
    except _BadTests as error:
        return Verdict.ungraded("bad_reference", code, detail=str(error))
    verdict = grade_run(program, expected, run_program(program, limits), code)
    detail = f"rule {found.rule}: {verdict.detail}" if verdict.detail else f"rule {found.rule}"
    return dataclasses.replace(verdict, detail=detail)


def verify_code_batch(
    responses: Sequence[str],
    tests: Sequence[dict[str, Any] | str],
    *,
    finish_reasons: Sequence[str | None] | None = None,
    limits: SandboxLimits | None = None,
    concurrency: int | None = None,
    progress: bool | ProgressCallback = False,
) -> list[Verdict]:
    r"""`verify_code` over many rows, `concurrency` sandboxes at a time (threads drive them).

    Args:
        responses: one response per row.
        tests: one test spec per row.
        finish_reasons: one finish reason per row, or None.
        limits: sandbox limits per test case.
        concurrency: sandboxes running at once; None = `os.cpu_count()`.
        progress: True for a tqdm bar, or a callback given the number of newly finished rows.

    Example:
        >>> answers = [f"```python\nprint({n})\n```" for n in (1, 2)]
        >>> tests = {"inputs": [""], "outputs": ["1"]}
        >>> [v.reason for v in verify_code_batch(answers, [tests, tests], concurrency=2)]
        ['correct', 'wrong']
    """
    if len(tests) != len(responses):
        raise ValueError(f"{len(responses)} responses but {len(tests)} test specs")
    reasons = list(finish_reasons) if finish_reasons is not None else [None] * len(responses)
    if len(reasons) != len(responses):
        raise ValueError(f"{len(responses)} responses but {len(reasons)} finish reasons")
    workers = max(1, concurrency or os.cpu_count() or 1)
    bar = tqdm(total=len(responses), desc="verify code", unit="row") if progress is True else None
    callback = bar.update if bar is not None else (progress if callable(progress) else None)

    def verify_row(row: int) -> Verdict:
        verdict = verify_code(responses[row], tests[row], finish_reason=reasons[row], limits=limits)
        if callback is not None:
            callback(1)
        return verdict

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="amfast-code") as pool:
            return list(pool.map(verify_row, range(len(responses))))
    finally:
        if bar is not None:
            bar.close()


def program_for(code: str, tests: dict[str, Any] | str) -> tuple[Program, list[Any]]:
    """The sandbox program for `code` under `tests`, and the expected result of each case.

    Raises:
        ValueError: the tests are malformed (`verify_code` reports `bad_reference`).

    Example:
        >>> program, expected = program_for("def f(x): return x", {"fn_name": "f",
        ...     "inputs": ["1"], "outputs": ["1"]})
        >>> program.kind, program.cases, expected
        ('call', ([1],), [1])
    """
    spec = _standard_tests(_load_tests(tests))
    if "functional" in spec:
        test_code = _text(spec["functional"], "functional")
        entry = spec.get("test_entry_point") or spec.get("fn_name")
        return Program("assert", code, (_with_check_call(test_code, entry),), None, PRELUDE), []
    if "test_code" in spec or "test_list" in spec:
        return _assert_program(code, spec), []
    if "inputs" not in spec or "outputs" not in spec:
        keys = sorted(spec)
        raise _BadTests(f"unknown test kind with keys {keys}; see amfast.verify.code")
    inputs, outputs = spec["inputs"], spec["outputs"]
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs:
        raise _BadTests("'inputs' and 'outputs' must be non-empty lists")
    if len(inputs) != len(outputs):
        raise _BadTests(f"{len(inputs)} inputs but {len(outputs)} outputs")
    if spec.get("fn_name"):
        arguments = tuple(_arguments(value) for value in inputs)
        expected = [_json_value(value) for value in outputs]
        return Program("call", code, arguments, str(spec["fn_name"]), PRELUDE), expected
    texts = tuple(_text(value, "inputs") for value in inputs)
    program = Program("stdin", code + THREAD_EPILOGUE, texts, None, PRELUDE)
    return program, [_text(v, "outputs") for v in outputs]


def entry_point_of(tests: dict[str, Any] | str) -> str | None:
    """The function or class the tests call (`fn_name`, `entry_point`, LCB starter code).

    Example:
        >>> entry_point_of({"fn_name": "twoSum", "inputs": [], "outputs": []})
        'twoSum'
        >>> entry_point_of({"kind": "humaneval", "entry_point": "add", "test": "..."})
        'add'
    """
    try:
        spec = _standard_tests(_load_tests(tests))
    except _BadTests:
        return None
    for key in ("fn_name", "test_entry_point", "entry_point"):
        name = spec.get(key)
        if isinstance(name, str) and name.isidentifier():
            return name
    return None


def _standard_tests(spec: dict[str, Any]) -> dict[str, Any]:
    """Test specs as published by their harnesses, in the keys above.

    - LiveCodeBench `{"public_tests": [{"input", "output", "testtype"}], "starter_code"}`:
      stdin cases, or call cases of the method that the starter code defines.
    - HumanEval / MultiPL-E `{"entry_point", "test"}`: assert-style tests.
    """
    if "public_tests" in spec:
        cases = spec["public_tests"]
        if not isinstance(cases, list) or not all(isinstance(case, dict) for case in cases):
            raise _BadTests("'public_tests' must be a list of {input, output, testtype} objects")
        standard: dict[str, Any] = {
            "inputs": [case.get("input") for case in cases],
            "outputs": [case.get("output") for case in cases],
        }
        if any(case.get("testtype") == "functional" for case in cases):
            method = re.search(r"def\s+(\w+)\s*\(\s*self", str(spec.get("starter_code") or ""))
            if method is None:
                raise _BadTests("functional tests but the starter code defines no method")
            standard["fn_name"] = method.group(1)
        return standard
    if "test" in spec and "entry_point" in spec and "test_code" not in spec:
        return {"test_code": spec["test"], "test_entry_point": spec["entry_point"]}
    return spec


def grade_run(program: Program, expected: list[Any], run: SandboxRun, code: str) -> Verdict:
    r"""The verdict for a finished sandbox run: the first failing case decides.

    Example:
        >>> from amfast.verify.sandbox import CaseResult, Program, SandboxRun
        >>> program = Program("stdin", "print(2)", ("",))
        >>> run = SandboxRun((CaseResult("ok", stdout="2\n"),))
        >>> grade_run(program, ["2"], run, "print(2)").reason
        'correct'
    """
    if run.infra_error:
        return Verdict.ungraded("infra_error", code, detail=run.infra_error)
    for index, case in enumerate(run.cases):
        failure = _case_failure(program, case, expected, index)
        if failure is not None:
            return failure if failure.extracted is not None else _with_code(failure, code)
    if len(run.cases) < len(program.cases):
        detail = f"only {len(run.cases)} of {len(program.cases)} test cases reported"
        return Verdict.failed("runtime_error", code, detail=detail)
    return Verdict.correct(code, detail=f"{len(program.cases)} test case(s) passed")


def _case_failure(
    program: Program, case: CaseResult, expected: list[Any], index: int
) -> Verdict | None:
    where = f"test {index + 1}"
    if case.status == "timeout":
        return Verdict.failed("timeout", detail=f"{where}: time limit exceeded")
    if case.status == "memory":
        return Verdict.failed("memory", detail=f"{where}: memory limit exceeded")
    if case.status == "output_limit":
        return Verdict.failed("runtime_error", detail=f"{where}: output limit exceeded")
    if case.status == "error":
        # A failed assert in the tests is a wrong answer; any other exception a runtime error.
        reason: Literal["wrong", "runtime_error"] = (
            "wrong"
            if program.kind == "assert" and _raised_assertion(case.error)
            else "runtime_error"
        )
        return Verdict.failed(reason, detail=f"{where}: {_last_lines(case.error)}")
    if program.kind == "stdin" and not outputs_match(case.stdout, expected[index]):
        got, want = case.stdout[:_SHOWN], str(expected[index])[:_SHOWN]
        return Verdict.failed("wrong", detail=f"{where}: expected {want!r}, got {got!r}")
    if program.kind == "call":
        try:
            value = json.loads(case.value or "")
        except ValueError:
            return Verdict.failed("wrong", detail=f"{where}: return value is not JSON")
        if not values_match(value, expected[index]):
            got, want = json.dumps(value)[:_SHOWN], json.dumps(expected[index])[:_SHOWN]
            return Verdict.failed("wrong", detail=f"{where}: expected {want}, got {got}")
    return None


def _raised_assertion(error: str) -> bool:
    lines = [line for line in error.splitlines() if line.strip() and not line.startswith(" ")]
    exception_lines = [line for line in lines if not line.startswith(("Traceback", "exit status"))]
    return bool(exception_lines) and exception_lines[-1].startswith("AssertionError")


def _with_code(verdict: Verdict, code: str) -> Verdict:
    return Verdict.failed(verdict.reason, code, detail=verdict.detail)


def outputs_match(actual: str, expected: str) -> bool:
    r"""Whitespace-separated tokens equal; numbers written with `.` or `e` within 1e-6.

    Example:
        >>> outputs_match("1 2\n0.3333333\n", "1 2\n0.33333333333")
        True
        >>> outputs_match("10000000000000000001", "10000000000000000000")
        False
    """
    got, want = actual.split(), expected.split()
    return len(got) == len(want) and all(map(_tokens_match, got, want))


def _tokens_match(got: str, want: str) -> bool:
    if got == want:
        return True
    if not any(mark in token.lower() for token in (got, want) for mark in (".", "e")):
        return False  # integers and words compare exactly
    try:
        return _close(float(got), float(want))
    except ValueError:
        return False


def values_match(actual: object, expected: object) -> bool:
    """JSON values equal, floats within 1e-6; a tuple equals the list of its items.

    Example:
        >>> values_match([1, 0.1 + 0.2], [1, 0.3]), values_match(True, 1)
        (True, False)
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, int | float) and isinstance(expected, int | float):
            return _close(float(actual), float(expected))
        return False
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(actual) == len(expected) and all(map(values_match, actual, expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            values_match(actual[key], expected[key]) for key in expected
        )
    return bool(type(actual) is type(expected) and actual == expected)


def _close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=_FLOAT_TOLERANCE, abs_tol=_FLOAT_TOLERANCE)


def _load_tests(tests: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except ValueError as error:
            raise _BadTests(f"tests are not valid JSON: {error}") from None
    if not isinstance(tests, dict):
        raise _BadTests(f"tests must be a JSON object, not {type(tests).__name__}")
    return tests


def _assert_program(code: str, spec: dict[str, Any]) -> Program:
    test_code = spec.get("test_code", spec.get("test_list"))
    if isinstance(test_code, list) and all(isinstance(line, str) for line in test_code):
        test_code = "\n".join(test_code)
    test_code = _text(test_code, "test_code")
    setup = _text(spec.get("test_setup_code") or "", "test_setup_code")
    entry = spec.get("test_entry_point")
    source = f"{setup}\n{_with_check_call(test_code, entry)}"
    return Program("assert", code, (source,))


def _with_check_call(test_code: str, entry_point: object) -> str:
    """Appends `check(entry_point)` when the test code defines `check` but never calls it."""
    if not test_code.strip():
        raise _BadTests("the test code is empty")
    defines = re.search(r"^def check\(", test_code, re.M)
    calls = re.search(r"^check\(", test_code, re.M)
    if defines and not calls:
        if not isinstance(entry_point, str) or not entry_point.isidentifier():
            raise _BadTests("the tests define check(candidate) but name no entry point")
        return f"{test_code}\n\ncheck({entry_point})\n"
    return test_code


def _arguments(value: object) -> list[Any]:
    """Call arguments from a list, or from LCB's text form: one JSON value per line."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise _BadTests(f"call inputs must be lists or text, not {type(value).__name__}")
    try:
        return [json.loads(line) for line in value.split("\n") if line.strip()]
    except ValueError as error:
        raise _BadTests(f"call input is not one JSON value per line: {error}") from None


def _json_value(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as error:
        raise _BadTests(f"call output is not JSON: {error}") from None


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise _BadTests(f"{name!r} must be text, not {type(value).__name__}")
    return value


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])[-_SHOWN * 2 :] or "failed"
