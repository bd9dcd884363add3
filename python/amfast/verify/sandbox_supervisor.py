"""The sandbox supervisor: runs inside the sandbox as `python -I -B sandbox_supervisor.py`.

It reads one job (program + test inputs) on stdin, isolates itself (read-only filesystem, a
private tmpfs working directory, when it is PID 1 of fresh namespaces), forks one case process
per test case (limits, an unprivileged uid, no new privileges), captures what each case printed
or returned, and writes one token-signed record per case to a dedicated pipe. It never runs
solution code itself. Standard library only: the solution's interpreter need not have amfast.
`amfast.verify.sandbox` (the parent side) documents the isolation as a whole.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import io
import json
import math
import os
import resource
import selectors
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

CaseStatus = Literal["ok", "error", "timeout", "memory", "output_limit"]

TOKEN_BYTES = 16
EXIT_ERROR = 1
EXIT_MEMORY = 3
EXIT_SETUP = 70
VALUE_FD = 3
STDERR_KEEP = 4096
SOLUTION_FILE = "<solution>"

# ---------------------------------------------------------------------------------------------

_PRELUDE_MODULES: tuple[str, ...] = ("bisect", "collections", "copy", "datetime", "functools")
_PRELUDE_MODULES += (
    "heapq",
    "itertools",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "typing",
)
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC = 0x2, 0x4, 0x1000, 0x4000
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID = 0x1, 0x2
_SYS_MOUNT_SETATTR = 442  # the same number on x86_64 and aarch64
_PR_SET_NO_NEW_PRIVS, _PR_SET_CHILD_SUBREAPER, _PR_SET_DUMPABLE = 38, 36, 4


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def _libc() -> ctypes.CDLL:
    # The interpreter already links libc: its symbols, without ctypes.util's costly imports.
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    result = libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode())
    _check(result, f"mount {source} on {target}")


def _expose(libc: ctypes.CDLL, needed: Sequence[str]) -> None:
    """Makes `needed` paths reachable for an unprivileged uid when an ancestor is not (`/root`).

    The blocking directory gets an empty tmpfs on top, with only the needed children bound back.
    """
    for _ in range(8):  # each pass fixes the shallowest blocking directory
        blocked: dict[str, set[str]] = {}
        for path in needed:
            parts = os.path.realpath(path).strip("/").split("/")
            for depth in range(len(parts) - 1):
                directory = "/" + "/".join(parts[:depth])
                if not os.stat(directory).st_mode & 0o001:
                    blocked.setdefault(directory, set()).add(parts[depth])
                    break
        if not blocked:
            return
        directory = min(blocked, key=lambda name: name.count("/") if name != "/" else 0)
        handles = {
            child: os.open(os.path.join(directory, child), os.O_PATH)
            for child in blocked[directory]
        }
        _mount(libc, "tmpfs", directory, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
        for child, handle in handles.items():
            os.mkdir(os.path.join(directory, child))
            target = os.path.join(directory, child)
            _mount(libc, f"/proc/self/fd/{handle}", target, "", _MS_BIND | _MS_REC, "")
            os.close(handle)


def _private_filesystem(libc: ctypes.CDLL, workdir: str, uid: int, limits: dict[str, Any]) -> None:
    """Read-only view of the host, a private tmpfs as working directory, Python reachable."""
    needed = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    needed |= {path for path in sys.path if path and os.path.exists(path)}
    _expose(libc, sorted(needed))
    attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, 0, 0)
    flags = ctypes.c_uint(_AT_RECURSIVE)
    result = libc.syscall(
        _SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", flags, ctypes.byref(attr), ctypes.sizeof(attr)
    )
    _check(result, "mount_setattr read-only")
    size = 4 * int(limits["file_bytes"])
    options = f"mode=0700,uid={uid},gid={uid},size={size}"
    _mount(libc, "tmpfs", workdir, "tmpfs", _MS_NOSUID | _MS_NODEV, options)


def _read_job() -> tuple[bytearray, dict[str, Any]]:
    token = bytearray(TOKEN_BYTES)
    view = memoryview(token)
    filled = 0
    while filled < TOKEN_BYTES:
        count = os.readv(0, [view[filled:]])
        if count == 0:
            raise EOFError("no job on stdin")
        filled += count
    chunks = []
    while chunk := os.read(0, 1 << 20):
        chunks.append(chunk)
    return token, json.loads(b"".join(chunks))


def _send(fd: int, token: bytearray, record: dict[str, Any]) -> None:
    payload = json.dumps(record).encode()
    os.write(fd, token)
    data = memoryview(b"%d\n" % len(payload) + payload)
    while data:
        data = data[os.write(fd, data) :]


def _supervise() -> None:
    """The sandbox's main: set up, then run each case in its own process and report it."""
    token, job = _read_job()
    result_fd = int(job["result_fd"])
    isolation, uid, workdir = job["isolation"], job["uid"], job["workdir"]
    libc = _libc()
    try:
        if isolation == "namespaces":
            _private_filesystem(libc, workdir, uid, job["limits"])
        else:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        os.chdir(workdir)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # a same-uid process may not ptrace us
        for module in _PRELUDE_MODULES:
            __import__(module)
    except Exception as error:  # reported as an infrastructure failure
        sys.stderr.write(f"sandbox setup failed: {error!r}\n")
        sys.exit(EXIT_SETUP)
    _send(result_fd, token, {"event": "ready"})
    program = job["program"]
    for index, case in enumerate(program["cases"]):
        _send(result_fd, token, {"event": "start", "case": index})
        result = _run_case(job, case, token, libc)
        _send(result_fd, token, {"event": "case", "case": index, "result": result})
        if result["status"] != "ok":
            break
    _send(result_fd, token, {"event": "done"})
    os._exit(0)


def _run_case(
    job: dict[str, Any], case: object, token: bytearray, libc: ctypes.CDLL
) -> dict[str, Any]:
    """Forks the case process, captures its pipes within the caps and deadline, classifies it."""
    limits, kind = job["limits"], job["program"]["kind"]
    stdin_fd = os.memfd_create("stdin")
    if kind == "stdin":
        os.write(stdin_fd, str(case).encode())
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, value
    case_token = os.urandom(TOKEN_BYTES).hex()  # `secrets` would import OpenSSL (slow)
    pid = os.fork()
    if pid == 0:
        code = EXIT_SETUP
        try:
            token[:] = bytes(TOKEN_BYTES)  # the case must not be able to sign records
            os.close(int(job["result_fd"]))
            _enter_case(job, stdin_fd, [w for _, w in pipes], libc)
            code = _execute(job["program"], case, case_token)
        finally:
            os._exit(code)
    os.close(stdin_fd)
    for _, write_end in pipes:
        os.close(write_end)
    captured, killed, status, usage = _capture(pid, [r for r, _ in pipes], limits, job)
    cpu = usage.ru_utime + usage.ru_stime
    stdout, stderr, value = (data.decode("utf-8", "replace") for data in captured)
    result: dict[str, Any] = {"status": "ok", "stdout": stdout, "cpu_seconds": cpu, "value": None}
    result["error"] = stderr[-STDERR_KEEP:]
    cpu_limit = float(limits["cpu_seconds"] or limits["wall_seconds"])
    if killed:
        result["status"] = killed
    elif os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= cpu_limit * 0.95):
            result["status"] = "timeout"
        else:
            result["status"] = "error"
            result["error"] += f"\nkilled by {signal.Signals(number).name}"
    elif os.WEXITSTATUS(status) == EXIT_MEMORY:
        result["status"] = "memory"
    elif os.WEXITSTATUS(status) != 0:
        result["status"] = "error"
        result["error"] += f"\nexit status {os.WEXITSTATUS(status)}"
    elif kind == "call":
        result["value"] = value if value else None
        if not value:
            result["status"] = "error"
            result["error"] += "\nno return value was reported"
    elif kind == "assert" and value != case_token:
        result["status"] = "error"
        result["error"] += "\nthe tests did not run to completion"
    result["error"] = result["error"].strip()
    return result


def _capture(
    pid: int, fds: list[int], limits: dict[str, Any], job: dict[str, Any]
) -> tuple[list[bytes], CaseStatus | None, int, resource.struct_rusage]:
    """Reads the case's pipes until they close; kills it at the deadline or the output cap.

    Returns the captured stdout, stderr and value, why the case was killed (if it was), and its
    wait status and resource usage.
    """
    buffers = [bytearray() for _ in fds]
    caps = [int(limits["output_bytes"]), 1 << 20, int(limits["output_bytes"])]
    selector = selectors.DefaultSelector()
    for fd in fds:
        selector.register(fd, selectors.EVENT_READ)
    pidfd = os.pidfd_open(pid)
    selector.register(pidfd, selectors.EVENT_READ)
    end = time.monotonic() + float(limits["wall_seconds"])
    killed: CaseStatus | None = None
    waited: tuple[int, resource.struct_rusage] | None = None
    while len(selector.get_map()) > 0 and killed is None:
        remaining = end - time.monotonic()
        if remaining <= 0:
            killed = "timeout"
            break
        for key, _ in selector.select(remaining):
            if key.fd == pidfd:
                # The case ended: whatever it left behind dies now, so its pipes reach EOF.
                selector.unregister(pidfd)
                _, status, usage = os.wait4(pid, 0)
                waited = (status, usage)
                _kill_rest(pid, job["isolation"])
                continue
            data = os.read(key.fd, 1 << 16)
            if not data:
                selector.unregister(key.fd)
                continue
            slot = fds.index(int(key.fd))
            buffers[slot] += data
            if len(buffers[slot]) > caps[slot]:
                if slot == 1:  # stderr: keep the tail, a long traceback is no offence
                    del buffers[slot][: -(1 << 16)]
                else:
                    killed = "output_limit"
    selector.close()
    if waited is None:
        os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        waited = (status, usage)
    _kill_rest(pid, job["isolation"])
    for fd in [*fds, pidfd]:
        os.close(fd)
    return [bytes(buffer) for buffer in buffers], killed, *waited


def _kill_rest(pid: int, isolation: str) -> None:
    """Kills every process the case left: the whole namespace but us, or the case's group."""
    try:
        if isolation == "namespaces":
            os.kill(-1, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    # Orphans are re-parented to us (PID 1 or subreaper); the case itself was waited for.
    while True:
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == 0:
            return


def _enter_case(
    job: dict[str, Any], stdin_fd: int, write_ends: list[int], libc: ctypes.CDLL
) -> None:
    """In the case process: own process group, fixed fds, limits, then drop privileges."""
    os.setpgid(0, 0)
    for target, fd in enumerate([stdin_fd, *write_ends]):
        os.dup2(fd, target)
    os.closerange(VALUE_FD + 1, 1 << 16)
    limits = job["limits"]
    cpu = math.ceil(float(limits["cpu_seconds"] or limits["wall_seconds"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid = job["uid"]
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), "utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), "utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), "utf-8", write_through=True)


def _execute(program: dict[str, Any], case: object, case_token: str) -> int:
    """Runs the solution for one case in this (the case) process; returns the exit status."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    pristine = dict(vars(builtins))
    kind = program["kind"]
    try:
        if program["prelude"]:
            exec(compile(program["prelude"], "<prelude>", "exec"), namespace)
        exec(compile(program["code"], SOLUTION_FILE, "exec"), namespace)
        if kind == "call":
            target = _callable(namespace, program["fn_name"])
            value = json.dumps(target(*_argument_list(case)))
            _write_value(value)
        elif kind == "assert":
            # Undo the solution's top-level changes to builtins; the tests get a private copy.
            vars(builtins).update(pristine)
            for added in set(vars(builtins)) - set(pristine):
                del vars(builtins)[added]
            tests = dict(namespace, __builtins__=dict(pristine), __amfast_equal__=_plain_equal)
            exec(_compile_tests(str(case)), tests)
            _write_value(case_token)
        code = 0
    except SystemExit as exit_:
        # A stdin program may exit early on purpose; anything else must reach the end.
        status = exit_.code
        code = 0 if kind == "stdin" and status in (None, 0) else EXIT_ERROR
        if isinstance(status, str):
            print(status, file=sys.stderr)
        elif kind != "stdin":
            print(f"SystemExit({status!r}) before the tests finished", file=sys.stderr)
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException as error:  # the solution's failure, on stderr
        # Skip our own frame: the traceback starts in the solution or the tests.
        traceback.print_exception(
            type(error), error, error.__traceback__.tb_next if error.__traceback__ else None
        )
        code = EXIT_ERROR
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:  # a broken stream must not hide the status
            pass
    return code


def _argument_list(case: object) -> list[object]:
    if not isinstance(case, list):
        raise TypeError(f"call arguments must be a list, not {type(case).__name__}")
    return case


def _write_value(text: str) -> None:
    data = memoryview(text.encode())
    while data:
        data = data[os.write(VALUE_FD, data) :]
    os.close(VALUE_FD)


def _callable(namespace: dict[str, Any], name: str) -> Callable[..., object]:
    """`Solution().name` when the solution defines `class Solution`, else the function `name`."""
    solution = namespace.get("Solution")
    target = getattr(solution(), name) if isinstance(solution, type) else namespace.get(name)
    if not callable(target):
        raise NameError(f"the solution defines no function {name!r}")
    return cast("Callable[..., object]", target)


class _PlainEquality(ast.NodeTransformer):
    """Inside `assert`, `a == b` becomes `__amfast_equal__(a, b)`."""

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        node.test = _EqualityCalls().visit(node.test)
        return node


class _EqualityCalls(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            function = ast.Name("__amfast_equal__", ast.Load())
            return ast.Call(function, [node.left, node.comparators[0]], [])
        return node


def _compile_tests(source: str) -> types.CodeType:
    tree = ast.fix_missing_locations(_PlainEquality().visit(ast.parse(source, "<tests>")))
    return compile(tree, "<tests>", "exec")


def _plain_equal(left: object, right: object) -> bool:
    """`left == right`, but False when either side holds an `__eq__` the solution defined."""
    if _solution_eq(left) or _solution_eq(right):
        return False
    return bool(left == right)


def _solution_eq(value: object, depth: int = 0) -> bool:
    if depth > 50:
        return True
    kind = type(value)
    if isinstance(value, list | tuple | set | frozenset) and kind in (list, tuple, set, frozenset):
        return any(_solution_eq(item, depth + 1) for item in value)
    if isinstance(value, dict) and kind is dict:
        items = value.items()
        return any(_solution_eq(k, depth + 1) or _solution_eq(v, depth + 1) for k, v in items)
    for method in ("__eq__", "__ne__"):
        code = getattr(getattr(kind, method, None), "__code__", None)
        if code is not None and (kind.__module__ == "__main__" or code.co_filename.startswith("<")):
            return True
    return False


if __name__ == "__main__":
    _supervise()
