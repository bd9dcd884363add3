"""Hostile solutions against the sandbox, one class of attack per test (issue 16, item 3).

Each attack must fail (never `correct`, never `infra_error`) and leave the host untouched:
no process, file, socket connection, SysV IPC object or memory left behind.
"""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from amfast.verify.code import verify_code
from amfast.verify.sandbox import Program, SandboxLimits, run_program, sandbox_capabilities
from amfast.verify.sandbox_process import close_idle_sandboxes

FAST = SandboxLimits(wall_seconds=5.0, memory_bytes=512 << 20)
pytestmark = pytest.mark.skipif(
    sandbox_capabilities().isolation != "namespaces", reason="namespace isolation unavailable"
)
ASSERT_TESTS = {
    "test_code": "def check(candidate):\n    assert candidate(1, 2) == 3\n"
    "    assert candidate(5, 7) == 12\n",
    "test_entry_point": "add",
}
FLOAT_TESTS = {
    "test_code": "def check(candidate):\n    assert abs(candidate(1, 2) - 0.5) < 1e-9\n",
    "test_entry_point": "half",
}
STDIN_TESTS = {"inputs": [""], "outputs": ["blocked"]}


def respond(code: str) -> str:
    body = textwrap.dedent(code).strip()
    return f"<answer>\n```python\n{body}\n```\n</answer>"


def printed(code: str) -> str:
    """What `code` printed in the sandbox (one stdin case, no input)."""
    run = run_program(Program("stdin", textwrap.dedent(code), ("",)), FAST)
    assert not run.infra_error, run.infra_error
    return run.cases[0].stdout.strip()


def sysv_objects() -> set[str]:
    """The host's SysV shared memory segments, message queues and semaphores."""
    lines: set[str] = set()
    for kind in ("shm", "msg", "sem"):
        lines |= {
            f"{kind}:{line}" for line in Path(f"/proc/sysvipc/{kind}").read_text().split("\n")[1:]
        }
    return lines


@pytest.fixture(autouse=True)
def host_untouched() -> Iterator[None]:
    me = psutil.Process()
    children = {child.pid for child in me.children(recursive=True)}
    ipc = sysv_objects()
    yield
    close_idle_sandboxes()  # warm sandboxes are kept on purpose; closing them must end all
    survivors = [c for c in me.children(recursive=True) if c.pid not in children]
    assert survivors == [], f"processes left behind: {survivors}"
    assert sysv_objects() - ipc == set(), "SysV IPC objects left on the host"


# ---------------------------------------------------------------- the filesystem


def test_host_data_and_the_checkout_are_not_visible(benchmarks_dir: Path) -> None:
    dataset = benchmarks_dir / "code" / "mbpp.jsonl"
    assert dataset.exists()
    paths = [str(dataset), __file__, str(Path(__file__).parents[2] / "README.md"), "/etc/passwd"]
    code = f"""
    import os
    found = [p for p in {paths!r} if os.path.exists(p)]
    print("blocked" if not found else found)
    """
    assert printed(code) == "blocked"


def test_the_root_holds_only_what_the_interpreter_needs() -> None:
    code = """
    import os
    print(sorted(os.listdir("/")), sorted(os.listdir("/tmp")), sorted(os.listdir("/dev")))
    """
    root, tmp, dev = printed(code).split("] [")
    # The interpreter's own directories only (here also a venv's site-packages, if any).
    assert not {"'etc'", "'home'", "'var'", "'mnt'", "'srv'", "'opt'"} & set(root.split(", "))
    assert tmp == ""  # a private, empty /tmp
    assert dev == "'full', 'null', 'random', 'urandom', 'zero']"  # no /dev/shm


def test_the_hosts_tmp_is_not_reachable(tmp_path: Path) -> None:
    planted = tmp_path / "expected_outputs.txt"
    planted.write_text("12\n")
    planted.chmod(0o644)
    code = f"""
    try:
        print(open({str(planted)!r}).read())
    except OSError:
        print("blocked")
    """
    assert printed(code) == "blocked"


def test_writes_land_nowhere_on_the_host(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o777)
    target = tmp_path / "pwned"
    code = f"""
    import os
    for path in ({str(target)!r}, "/pwned", "/usr/pwned", "/proc/pwned"):
        try:
            open(path, "w").write("x")
        except OSError:
            pass
    print("blocked")
    """
    assert printed(code) == "blocked"
    assert not target.exists()
    assert not Path("/pwned").exists()


# ---------------------------------------------------------------- sockets and namespaces


def test_unix_sockets_bound_on_host_paths_or_abstract_names_are_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "service.sock"
    listeners = []
    for address in (str(path), f"\0amfast-hostile-{os.getpid()}"):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(4)
        listener.setblocking(False)
        listeners.append((listener, address))
    os.chmod(path, 0o777)
    try:
        addresses = [address for _, address in listeners]
        code = f"""
        import socket
        reached = []
        for address in {addresses!r}:
            try:
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(address)
                reached.append(address)
            except OSError:
                pass
        print("blocked" if not reached else reached)
        """
        assert printed(code) == "blocked"
        for listener, _ in listeners:
            with pytest.raises(BlockingIOError):
                listener.accept()  # no connection ever arrived
    finally:
        for listener, _ in listeners:
            listener.close()


@pytest.mark.parametrize("namespace", ["ipc", "uts", "net", "pid", "mnt"])
def test_solutions_run_in_their_own_namespaces(namespace: str) -> None:
    host = os.readlink(f"/proc/self/ns/{namespace}")
    assert printed(f"import os\nprint(os.readlink('/proc/self/ns/{namespace}'))") != host


# ---------------------------------------------------------------- memory outside RLIMIT_AS


@pytest.mark.parametrize(
    "grab",
    [
        "fd = os.memfd_create('hoard')\nos.ftruncate(fd, 1 << 30)\nos.write(fd, b'x' * (1 << 20))",
        "open('/dev/shm/hoard', 'wb').write(b'x' * (1 << 20))",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.shmget(0, 1 << 28, 0o1600) >= 0",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.msgget(0, 0o1600) >= 0",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.semget(0, 1, 0o1600) >= 0",
    ],
    ids=["memfd", "dev-shm", "sysv-shm", "sysv-msg", "sysv-sem"],
)
def test_memory_the_address_space_limit_does_not_count_is_refused(grab: str) -> None:
    code = f"import os\n{grab}\nprint(3)\nprint(12)"
    verdict = verify_code(respond(code), {"inputs": ["", ""], "outputs": ["3\n12", "3\n12"]})
    assert verdict.reason == "runtime_error", verdict


# ---------------------------------------------------------------- forging assert-style tests


FORGERIES = {
    "mock-any": "from unittest.mock import ANY\ndef add(a, b):\n    return ANY",
    "equal-to-all": "class All:\n    __eq__ = lambda s, o: True\ndef add(a, b):\n    return All()",
    "truthy-object": "class Yes:\n    __bool__ = lambda s: True\ndef add(a, b):\n    return Yes()",
    "frame-walk": """
        import sys
        def add(a, b):
            frame = sys._getframe()
            while frame is not None:
                frame.f_globals["check"] = lambda candidate: None
                frame.f_globals.setdefault("__builtins__", {})
                frame = frame.f_back
            return 0
        """,
    "patch-ast-settrace-supervisor": """
        import ast, sys
        ast.parse = lambda *a, **k: ast.Module(body=[], type_ignores=[])
        sys.settrace(None)
        for name, module in list(sys.modules.items()):
            if "sandbox" in name:
                for attr in dir(module):
                    if callable(getattr(module, attr)) and not attr.startswith("__"):
                        setattr(module, attr, lambda *a, **k: None)
        def add(a, b):
            return 0
        """,
    "proc-self-mem": """
        import re
        def secrets():
            found = []
            with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb") as mem:
                for line in maps:
                    start, end = (int(x, 16) for x in line.split()[0].split("-"))
                    if "r" not in line.split()[1] or end - start > 1 << 28:
                        continue
                    try:
                        mem.seek(start)
                        pattern = rb"candidate\\((\\d+), (\\d+)\\) == (\\d+)"
                        found += re.findall(pattern, mem.read(end - start))
                    except OSError:
                        pass
            return {(int(a), int(b)): int(c) for a, b, c in found}
        def add(a, b):
            return secrets().get((a, b), -1)
        """,
    "exit-zero": "import os\ndef add(a, b):\n    os._exit(0)",
}


@pytest.mark.parametrize("code", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_passes_of_assert_tests_fail(code: str) -> None:
    verdict = verify_code(respond(code), ASSERT_TESTS, limits=FAST)
    assert verdict.graded, verdict
    assert verdict.reason in ("wrong", "runtime_error"), verdict


def test_a_float_subclass_whose_difference_is_zero_does_not_pass() -> None:
    code = """
    class Close(float):
        __sub__ = lambda self, other: 0.0
        __rsub__ = __sub__
    def half(a, b):
        return Close(7.0)
    """
    assert verify_code(respond(code), FLOAT_TESTS, limits=FAST).reason == "wrong"
    honest = "def half(a, b):\n    return a / b"
    assert verify_code(respond(honest), FLOAT_TESTS, limits=FAST).passed


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize("number", [35, 40, 50, 63])
@pytest.mark.parametrize("tests", [STDIN_TESTS, ASSERT_TESTS], ids=["stdin", "assert"])
def test_any_signal_death_is_the_solutions_runtime_error(
    number: int, tests: dict[str, object]
) -> None:
    code = f"import os\ndef add(a, b):\n    return a + b\nos.kill(os.getpid(), {number})"
    verdict = verify_code(respond(code), tests, limits=FAST)
    assert verdict.reason == "runtime_error", verdict
    assert f"signal {number}" in verdict.detail


def test_a_warm_sandbox_keeps_nothing_from_the_previous_solution() -> None:
    first = """
    import os, subprocess
    open("/tmp/left-over", "w").write("answers")
    if os.fork() == 0:
        os.setsid()
        import time
        time.sleep(60)
    print("started")
    """
    assert printed(first) == "started"
    second = """
    import os
    mine = (1, os.getpid(), os.getppid())  # the supervisor, this case, its job runner
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in mine]
    print(os.listdir("/tmp"), others)
    """
    assert printed(second) == "[] []"
