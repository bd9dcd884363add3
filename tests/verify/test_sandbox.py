"""Hostile solutions: each must get the right verdict and leave the host unharmed.

After every test: no process started by the test survives, the test process is alive, and
nothing was written outside the sandbox (a planted target under `tmp_path` stays absent).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import psutil
import pytest

from amfast.cli.main import main
from amfast.verify import sandbox
from amfast.verify.code import verify_code
from amfast.verify.sandbox import (
    Program,
    SandboxCapabilities,
    SandboxLimits,
    SandboxUnavailable,
    run_program,
    sandbox_capabilities,
)
from amfast.verify.sandbox_process import close_idle_sandboxes

FAST = SandboxLimits(wall_seconds=3.0, memory_bytes=512 << 20)
NAMESPACES = sandbox_capabilities().isolation == "namespaces"
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="namespace isolation unavailable")

ADD_TESTS = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}
CALL_TESTS = {"fn_name": "add", "inputs": ["1\n2", "5\n7"], "outputs": ["3", "12"]}
ASSERT_TESTS = {
    "test_code": "def check(candidate):\n    assert candidate(1, 2) == 3\n"
    "    assert candidate(5, 7) == 12\n",
    "test_entry_point": "add",
}


def respond(code: str) -> str:
    body = textwrap.dedent(code).strip()
    return f"<think>\nLet me write it.\n</think>\n<answer>\n```python\n{body}\n```\n</answer>"


@pytest.fixture(autouse=True)
def host_unharmed():
    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    yield
    close_idle_sandboxes()  # warm sandboxes are kept on purpose; closing them must end all
    survivors = [c for c in me.children(recursive=True) if c.pid not in before]
    assert survivors == [], f"processes left behind: {survivors}"
    assert me.is_running()


def test_sandbox_reports_its_isolation():
    capabilities = sandbox_capabilities()
    if os.geteuid() == 0 and capabilities.isolation == "namespaces":
        assert capabilities.network_isolated
        assert capabilities.read_only_filesystem
        assert capabilities.process_limit
    else:
        assert capabilities.notes


@pytest.mark.parametrize("tests", [ADD_TESTS, CALL_TESTS, ASSERT_TESTS])
def test_honest_solution_passes_every_test_kind(tests):
    code = "def add(a, b):\n    return a + b\n"
    if "fn_name" not in tests and "test_code" not in tests:
        code = "a, b = map(int, input().split())\nprint(a + b)\n"
    assert verify_code(respond(code), tests, limits=FAST).reason == "correct"


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        ("import sys\nsys.exit(0)", ASSERT_TESTS),
        ("import os\nos._exit(0)", ASSERT_TESTS),
        ("def add(a, b):\n    raise SystemExit(0)", ASSERT_TESTS),
        ("import os\ndef add(a, b):\n    os._exit(0)", ASSERT_TESTS),
        ("import sys\nsys.exit(0)", CALL_TESTS),
        ("import os\ndef add(a, b):\n    os._exit(0)", CALL_TESTS),
    ],
    ids=["sys.exit-top", "os._exit-top", "sys.exit-call", "os._exit-call", "exit-fn", "_exit-fn"],
)
def test_exiting_before_the_tests_is_a_runtime_error(code, tests):
    verdict = verify_code(respond(code), tests, limits=FAST)
    assert verdict.reason == "runtime_error"
    assert not verdict.passed


ALWAYS_EQUAL = """
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
def add(a, b):
    return Anything()
"""


@pytest.mark.parametrize("tests", [ASSERT_TESTS, CALL_TESTS])
def test_an_object_equal_to_everything_does_not_pass(tests):
    verdict = verify_code(respond(ALWAYS_EQUAL), tests, limits=FAST)
    assert not verdict.passed
    assert verdict.reason in ("wrong", "runtime_error")


def test_an_int_subclass_that_lies_about_equality_does_not_pass():
    code = "class Liar(int):\n    __eq__ = lambda self, other: True\n"
    code += "def add(a, b):\n    return Liar(0)"
    assert verify_code(respond(code), ASSERT_TESTS, limits=FAST).reason == "wrong"
    assert verify_code(respond(code), CALL_TESTS, limits=FAST).reason == "wrong"


@pytest.mark.parametrize(
    "patch",
    [
        "builtins.AssertionError = type('Never', (Exception,), {})",
        "builtins.print = lambda *a, **k: None",
        "builtins.abs = lambda x: 0\nbuiltins.isinstance = lambda *a: True",
    ],
)
def test_patching_builtins_does_not_pass_asserts(patch):
    code = f"import builtins\n{patch}\ndef add(a, b):\n    return a - b"
    tests = dict(ASSERT_TESTS, test_code=ASSERT_TESTS["test_code"] + "    assert abs(1) == 1\n")
    verdict = verify_code(respond(code), tests, limits=FAST)
    # The tests run in the judge's process, whose builtins the solution cannot reach.
    assert verdict.reason in ("wrong", "runtime_error")


def test_printing_fake_records_or_the_answer_on_a_call_test_does_not_pass():
    code = 'print(\'{"event": "case", "status": "ok"}\')\nprint(3)\ndef add(a, b):\n    return None'
    assert verify_code(respond(code), CALL_TESTS, limits=FAST).reason == "wrong"


def test_expected_outputs_never_enter_the_sandbox():
    # The solution hunts for the expected answers in its environment, files and memory.
    code = """
    import gc, os, sys
    def shown(thing):
        try:
            return str(thing)
        except Exception:  # some stdlib objects cannot be printed (pure-Python datetime)
            return ""
    seen = " ".join(map(shown, gc.get_objects()[:200000])) + str(dict(os.environ)) + sys.argv[0]
    for name in os.listdir("."):
        seen += open(name, errors="replace").read()
    needle = "".join(reversed("TUPTUO-DETCEPXE-TERCES"))  # built after the search space
    print("LEAK" if needle in seen else "clean")
    """
    tests = {"inputs": [""], "outputs": ["SECRET-EXPECTED-OUTPUT"]}
    verdict = verify_code(respond(code), tests, limits=FAST)
    assert verdict.reason == "wrong"
    assert "clean" in verdict.detail


def test_infinite_loop_after_printing_the_right_answer_times_out():
    code = "a, b = map(int, input().split())\nprint(a + b, flush=True)\nwhile True:\n    pass"
    verdict = verify_code(respond(code), ADD_TESTS, limits=SandboxLimits(wall_seconds=1.0))
    assert verdict.reason == "timeout"


def test_sleeping_forever_is_killed_by_the_wall_clock():
    code = "import time\ntime.sleep(3600)"
    verdict = verify_code(respond(code), ADD_TESTS, limits=SandboxLimits(wall_seconds=1.0))
    assert verdict.reason == "timeout"


def test_memory_hog_is_a_memory_failure():
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))"
    # A generous wall clock: on a loaded machine filling 512 MB may take seconds.
    limits = SandboxLimits(wall_seconds=30.0, memory_bytes=512 << 20)
    assert verify_code(respond(code), ADD_TESTS, limits=limits).reason == "memory"


def test_output_flood_is_stopped_at_the_cap():
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"
    limits = SandboxLimits(wall_seconds=5.0, output_bytes=1 << 20)
    verdict = verify_code(respond(code), ADD_TESTS, limits=limits)
    assert verdict.reason == "runtime_error"
    assert "output limit" in verdict.detail


def test_deep_recursion_is_a_runtime_error():
    code = "def f(n):\n    return f(n + 1) + 1\nf(0)"
    assert verify_code(respond(code), ADD_TESTS, limits=FAST).reason == "runtime_error"


def test_unbounded_recursion_with_the_limit_lifted_fails_without_harm():
    # Python 3.11 keeps Python frames off the C stack, so this ends by memory or time.
    code = "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1) + 1\nf(0)"
    limits = SandboxLimits(wall_seconds=2.0, memory_bytes=256 << 20)
    verdict = verify_code(respond(code), ADD_TESTS, limits=limits)
    assert verdict.reason in ("runtime_error", "memory", "timeout")


@needs_namespaces
def test_fork_bomb_is_contained_and_leaves_nothing_behind():
    code = """
    import os
    while True:
        try:
            if os.fork() == 0:
                os.setsid()
        except OSError:
            pass
    """
    verdict = verify_code(respond(code), ADD_TESTS, limits=SandboxLimits(wall_seconds=2.0))
    assert verdict.reason in ("timeout", "runtime_error")
    assert verify_code(respond("print(3)\n"), ADD_TESTS, limits=FAST).reason == "wrong"


@needs_namespaces
def test_detached_child_after_the_right_answer_is_killed(tmp_path: Path):
    target = tmp_path / "late-write"
    code = f"""
    import os, time
    a, b = map(int, input().split())
    print(a + b, flush=True)
    if os.fork() == 0:
        os.setsid()
        time.sleep(1.5)
        open({str(target)!r}, "w").write("escaped")
    """
    verdict = verify_code(respond(code), ADD_TESTS, limits=FAST)
    assert verdict.reason == "correct"
    assert not target.exists()


@needs_namespaces
def test_writes_outside_the_sandbox_fail_and_leave_no_file(tmp_path: Path):
    os.chmod(tmp_path, 0o777)  # even a world-writable directory is read-only in the sandbox
    target = tmp_path / "pwned"
    for path in (target, Path("/tmp/amfast-sandbox-escape"), Path.home() / "pwned"):
        code = f"open({str(path)!r}, 'w').write('x')\nprint(3)\nprint(12)"
        # Fails (no such directory), or lands in the sandbox's own /tmp; never on the host.
        assert verify_code(respond(code), ADD_TESTS, limits=FAST).reason in (
            "runtime_error",
            "wrong",
        )
        assert not path.exists()


def test_the_working_directory_is_writable_and_private():
    code = "open('scratch.txt', 'w').write('ok')\nprint(open('scratch.txt').read())"
    run = run_program(Program("stdin", code, ("",)), FAST)
    assert run.cases[0].stdout == "ok\n"


@needs_namespaces
def test_network_is_unreachable():
    code = """
    import socket
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
        print("connected")
    except OSError:
        print("blocked")
    """
    assert run_program(Program("stdin", textwrap.dedent(code), ("",)), FAST).cases[0].stdout == (
        "blocked\n"
    )


@needs_namespaces
def test_killing_the_parent_or_signalling_everyone_harms_nothing():
    code = """
    import os, signal
    for pid in (os.getppid(), 1, -1, 0):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    print(3)
    """
    verdict = verify_code(respond(code), {"inputs": [""], "outputs": ["3"]}, limits=FAST)
    assert verdict.reason in ("runtime_error", "correct")  # it may kill itself, nobody else
    assert verify_code(respond("print(3)"), {"inputs": [""], "outputs": ["3"]}).passed


@needs_namespaces
def test_case_process_runs_unprivileged_without_seeing_host_processes():
    # PID 1 is the supervisor of a PID namespace of its own, not the host's init.
    code = "import os\nprint(os.getuid() != 0, b'sandbox_supervisor' in "
    code += "open('/proc/1/cmdline', 'rb').read(), len(os.listdir('/proc')) < 80)"
    stdout = run_program(Program("stdin", code, ("",)), FAST).cases[0].stdout
    assert stdout == "True True True\n"


def test_a_crash_in_one_case_stops_the_run():
    run = run_program(Program("stdin", "x = int(input())\nprint(1 // x)", ("1", "0", "2")), FAST)
    assert [case.status for case in run.cases] == ["ok", "error"]
    assert "ZeroDivisionError" in run.cases[1].error


def test_process_group_fallback_still_grades_correctly():
    code = "def add(a, b):\n    return a + b\n"
    trusted = SandboxLimits(wall_seconds=3.0, memory_bytes=512 << 20, allow_unisolated=True)
    run = run_program(Program("call", code, ([1, 2],), "add"), trusted, isolation="process_group")
    assert run.isolation == "process_group"
    assert run.cases[0].value == "3"
    asserted = Program("assert", code, ("assert add(1, 2) == 3",))
    assert run_program(asserted, trusted, isolation="process_group").cases[0].status == "ok"
    looping = run_program(Program("stdin", "while True: pass", ("",)), SandboxLimits(1.0))
    assert looping.cases[0].status == "timeout"


def test_unisolated_runs_are_refused_unless_allowed():
    program = Program("stdin", "print(1)", ("",))
    with pytest.raises(SandboxUnavailable, match="allow_unisolated"):
        run_program(program, FAST, isolation="process_group")


def test_missing_interpreter_is_an_infra_error_not_a_wrong_answer():
    limits = SandboxLimits(wall_seconds=2.0, python="/nonexistent/python3")
    verdict = verify_code(respond("print(3)"), ADD_TESTS, limits=limits)
    assert verdict.reason == "infra_error"
    assert not verdict.graded


def test_code_verification_refuses_without_namespaces_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    missing = SandboxCapabilities(
        "process_group", False, False, False, False, notes=("not root: no namespaces",)
    )
    monkeypatch.setattr(sandbox, "sandbox_capabilities", lambda: missing)
    with pytest.raises(SandboxUnavailable, match="not root: no namespaces"):
        verify_code(respond("print(3)"), {"inputs": [""], "outputs": ["3"]}, limits=FAST)
    trusted = SandboxLimits(wall_seconds=3.0, allow_unisolated=True)
    assert verify_code(
        respond("print(3)"), {"inputs": [""], "outputs": ["3"]}, limits=trusted
    ).passed
    rows = tmp_path / "rows.jsonl"
    row = {
        "prompt": "p",
        "response": respond("print(3)"),
        "test_case": {"inputs": [""], "outputs": ["3"]},
    }
    rows.write_text(json.dumps(row) + "\n")
    argv = ["verify", str(rows), "-o", str(tmp_path / "out.jsonl"), "--no-progress"]
    assert main(argv) == 2
    assert "--allow-unisolated" in capsys.readouterr().err
    assert main([*argv, "--allow-unisolated", "--restart"]) == 0
