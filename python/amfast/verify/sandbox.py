"""Run untrusted Python (model-written solutions) in isolation: the threat model.

Design: the parent (this module, in the caller's process) starts a *supervisor* in a fresh
process, sends it the program and the test inputs on stdin, and reads one token-signed record
per test case from a dedicated pipe. The supervisor forks one *case process* per test case,
which drops its privileges and limits, runs the solution, and is killed when it is done.
Expected outputs never enter the sandbox: the supervisor reports what the solution printed or
returned and `amfast.verify.code` compares in the parent.

Contained (`namespaces`, the only isolation used unless `allow_unisolated` is set; needs root
and util-linux `unshare`, see `sandbox_capabilities()`):

- Processes: the supervisor is PID 1 of new PID, mount, network, IPC and UTS namespaces. Case
  processes run as a fresh unprivileged uid (one pair per concurrent sandbox) with
  `no_new_privs`, so `RLIMIT_NPROC` stops fork bombs, and they cannot signal or ptrace the
  supervisor. After each case everything else in the namespace is killed (`kill(-1)`), so
  `setsid()` escapes nothing; killing `unshare` kills the whole namespace.
- Files (`sandbox_confine.private_root`): the root is a fresh tmpfs holding only what the
  interpreter needs, read-only: `/usr`, the interpreter's prefix, its site-packages, five
  character devices, the sandbox's own `/proc`, and a private size-limited `/tmp`. The host's
  data, the project checkout, the host's `/tmp` and `/dev/shm` do not exist in there.
- Network and sockets: only a down loopback; unix sockets bound on host paths are not in the
  filesystem view, abstract ones belong to the host's network namespace.
- Memory: `RLIMIT_AS` per process, and a seccomp filter refuses what it does not count
  (`memfd_create`, SysV `shmget`/`msgget`/`semget`, `io_uring`); SysV objects would anyway
  vanish with the IPC namespace. (A cgroup v2 `memory.max` is not used: this machine's cgroup
  v2 tree has no memory controller.)
- Limits per case: CPU time (`RLIMIT_CPU`), address space, file size, process count, no core
  files, a cap on captured output, and a deadline charged as wall-clock time minus the time
  the case waited for a CPU (so a loaded machine does not turn a quick solution into a
  `timeout`; `HARD_WALL_FACTOR` bounds the wall clock).
- Forged verdicts: stdin and call-based results are produced by the supervisor from what it
  captured (JSON values compared in the parent), so `sys.exit(0)`, patched builtins, printed
  fake records or lying `__eq__` cannot pass. Assert-style tests run in a *judge* process of
  another uid (`sandbox_judge`), which calls the solution through a pipe and gets back plain
  data only; the tests never enter the solution's process. Any death by a signal, realtime
  signals included, is the solution's `runtime_error`.

Not contained: CPU and memory bandwidth, the page cache and timing side channels (solutions
share the host's kernel); kernel exploits (the filter is a denylist for memory, not a full
syscall allowlist); what `/usr` and the interpreter's site-packages contain is readable
(software, not data); a solution may use all of its CPU, memory, output and `/tmp` limits.
`process_group` (only with `SandboxLimits(allow_unisolated=True)`, for trusted inputs) keeps
the rlimits, the private working directory and the judge process but contains none of the
above: same uid, host filesystem and network.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from amfast.errors import AmfastError
from amfast.verify import sandbox_supervisor as supervisor

Isolation = Literal["namespaces", "process_group"]
ProgramKind = Literal["stdin", "call", "assert"]
# Parent-side allowance for starting the interpreter and the namespaces, on top of case time.
_STARTUP_SECONDS = 120.0
_OPT_OUT = "SandboxLimits(allow_unisolated=True) / `amfast verify --allow-unisolated`"


class SandboxUnavailable(AmfastError, RuntimeError):
    """Full isolation is not available here and running unisolated was not allowed."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits for each test case of a solution.

    Attributes:
        wall_seconds: wall-clock seconds per test case before the case is killed.
        cpu_seconds: CPU seconds per test case (`RLIMIT_CPU`); None = `wall_seconds`.
        memory_bytes: address-space limit per process (`RLIMIT_AS`).
        output_bytes: most stdout (or return value) bytes captured per case; more kills it.
        file_bytes: largest file a case may write (`RLIMIT_FSIZE`); also sizes the tmpfs.
        max_processes: processes and threads per sandbox (`RLIMIT_NPROC`).
        python: interpreter for solutions; None = the running interpreter (`sys.executable`).
        allow_unisolated: run solutions without full isolation (`process_group`) where the
            namespaces are unavailable, instead of refusing: only for trusted inputs.

    Example:
        >>> SandboxLimits(wall_seconds=2).cpu_limit
        2.0
    """

    wall_seconds: float = 10.0
    cpu_seconds: float | None = None
    memory_bytes: int = 1 << 30
    output_bytes: int = 8 << 20
    file_bytes: int = 16 << 20
    max_processes: int = 16
    python: str | None = None
    allow_unisolated: bool = False

    @property
    def cpu_limit(self) -> float:
        """CPU seconds per case in force."""
        return float(self.wall_seconds if self.cpu_seconds is None else self.cpu_seconds)


@dataclass(frozen=True, slots=True)
class Program:
    """A solution and the inputs of its test cases.

    Attributes:
        kind: `stdin` (each case is stdin text; the result is stdout), `call` (each case is
            a list of positional arguments for `fn_name`; the result is the JSON return value)
            or `assert` (one case: test code run after the solution; the result is pass/fail).
        code: the solution's source.
        cases: stdin texts, argument lists, or the test code (one item) for `assert`.
        fn_name: function (or `Solution` method) called by `call` programs.
        prelude: source run before the solution, in its namespace (e.g. LeetCode imports).
    """

    kind: ProgramKind
    code: str
    cases: tuple[Any, ...]
    fn_name: str | None = None
    prelude: str = ""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one test case did.

    Attributes:
        status: `ok` (ran to the end; for `assert`, the tests passed), `error` (raised,
            crashed or exited non-zero), `timeout`, `memory` or `output_limit`.
        stdout: what it printed (capped).
        value: the JSON text of the return value (`call` programs), else None.
        error: the last lines of stderr or a description of the failure.
        cpu_seconds: CPU time the case used.
    """

    status: supervisor.CaseStatus
    stdout: str = ""
    value: str | None = None
    error: str = ""
    cpu_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SandboxRun:
    """The outcome of one `run_program`.

    Attributes:
        cases: one result per case that ran, in order; stops after the first that is not `ok`.
        infra_error: non-empty when the sandbox itself failed (nothing is known about the
            solution); the cases are then meaningless.
        isolation: the isolation that was in force.
    """

    cases: tuple[CaseResult, ...]
    infra_error: str = ""
    isolation: Isolation = "process_group"


@dataclass(frozen=True, slots=True)
class SandboxCapabilities:
    """Which isolation this machine gives solutions (see the module docstring).

    Attributes:
        isolation: `namespaces` or `process_group`.
        network_isolated: solutions cannot reach any network.
        read_only_filesystem: solutions see the filesystem read-only (except their tmpfs).
        unprivileged_uid: case processes run as a fresh non-root uid.
        process_limit: `RLIMIT_NPROC` is enforced (a fork bomb stops).
        private_filesystem: solutions see only the interpreter, not the host's files.
        tests_out_of_process: assert-style tests run in a judge process the solution cannot
            reach (otherwise in a process of the same uid).
        notes: why a stronger isolation is not in force, if it is not.
    """

    isolation: Isolation
    network_isolated: bool
    read_only_filesystem: bool
    unprivileged_uid: bool
    process_limit: bool
    private_filesystem: bool = False
    tests_out_of_process: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


@functools.cache
def sandbox_capabilities() -> SandboxCapabilities:
    """Probes (once per process) which isolation `run_program` uses on this machine.

    Example:
        >>> sandbox_capabilities().isolation in ("namespaces", "process_group")
        True
    """
    notes: list[str] = []
    if os.geteuid() != 0:
        notes.append("not root: user-namespace mode is not implemented, using process groups")
    elif shutil.which("unshare") is None:
        notes.append("util-linux `unshare` not found")
    else:
        probe = Program("stdin", "print(input())", ("ok",))
        run = _run(probe, SandboxLimits(wall_seconds=10.0), "namespaces")
        if not run.infra_error and run.cases and run.cases[0].stdout == "ok\n":
            return SandboxCapabilities("namespaces", True, True, True, True, True, True)
        notes.append(f"namespace probe failed: {run.infra_error or run.cases}")
    return SandboxCapabilities("process_group", False, False, False, False, notes=tuple(notes))


def run_program(
    program: Program, limits: SandboxLimits | None = None, *, isolation: Isolation | None = None
) -> SandboxRun:
    r"""Runs `program`'s cases in a sandbox and reports what each did.

    Args:
        program: the solution and its test inputs.
        limits: per-case limits; None = `SandboxLimits()`.
        isolation: force an isolation (tests); None = the strongest available.

    Raises:
        SandboxUnavailable: the namespaces are unavailable (the message says what is
            missing) and `limits.allow_unisolated` is not set.

    Example:
        >>> run = run_program(Program("stdin", "print(int(input()) * 2)", ("21\n",)))
        >>> run.cases[0].status, run.cases[0].stdout
        ('ok', '42\n')
    """
    limits = limits or SandboxLimits()
    chosen = isolation or sandbox_capabilities().isolation
    if chosen != "namespaces" and not limits.allow_unisolated:
        missing = "; ".join(sandbox_capabilities().notes) or "process_group isolation was asked for"
        raise SandboxUnavailable(
            f"refusing to run untrusted code without the sandbox's namespaces ({missing}); "
            f"for trusted inputs only, opt out with {_OPT_OUT}"
        )
    return _run(program, limits, chosen)


class _UidPool:
    """Distinct unprivileged uid pairs (solution, judge) for concurrent sandboxes.

    `RLIMIT_NPROC` counts per uid, and the judge's uid keeps the solution from signalling or
    reading it.
    """

    def __init__(self, size: int = 4096) -> None:
        # A random block per process makes two amfast processes unlikely to share a uid.
        self._base = 1_000_000 + secrets.randbelow(500_000) * 2 * size  # below 2**32 - 1
        self._free = list(range(size))
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            return self._base + 2 * self._free.pop()

    def give(self, uid: int) -> None:
        with self._lock:
            self._free.append((uid - self._base) // 2)


_UIDS = _UidPool()
# Loads the supervisor and its two helpers as top-level modules by file (no amfast import in
# the sandbox; putting their directory on sys.path would shadow the stdlib's `math`, `code`).
_BOOTSTRAP = """import importlib.util, sys
def load(name):
    spec = importlib.util.spec_from_file_location(name, %r + "/" + name + ".py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
load("sandbox_confine"), load("sandbox_judge"), load("sandbox_supervisor").main()
"""


def _run(program: Program, limits: SandboxLimits, isolation: Isolation) -> SandboxRun:
    python = limits.python or sys.executable
    workdir = tempfile.mkdtemp(prefix="amfast-sandbox-")
    uid = _UIDS.take() if isolation == "namespaces" else None
    read_fd, write_fd = os.pipe()
    # The tests of an assert program reach only the judge: a memfd the solution never holds.
    tests_fd = os.memfd_create("tests") if program.kind == "assert" else -1
    try:
        if tests_fd >= 0:
            os.write(tests_fd, str(program.cases[0]).encode())
        if uid is not None and isolation != "namespaces":
            os.chown(workdir, uid, uid)
        command = [python, "-I", "-B", "-c", _BOOTSTRAP % os.path.dirname(supervisor.__file__)]
        if isolation == "namespaces":
            namespaces = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--mount-proc"]
            command = ["unshare", *namespaces, "--kill-child=SIGKILL", *command]
        token = secrets.token_bytes(supervisor.TOKEN_BYTES)
        described = asdict(program)
        if tests_fd >= 0:
            described["cases"] = [""]
        job = {
            "program": described,
            "tests_fd": tests_fd,
            "limits": asdict(limits),
            "isolation": isolation,
            "uid": uid,
            "workdir": workdir,
            "result_fd": write_fd,
        }
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir}
        env |= {"TMPDIR": workdir, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,) if tests_fd < 0 else (write_fd, tests_fd),
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            return SandboxRun((), f"could not start the sandbox: {error}", isolation)
        with process:
            os.close(write_fd)
            write_fd = -1
            stdin_data = token + json.dumps(job).encode()
            per_case = limits.wall_seconds * supervisor.HARD_WALL_FACTOR + 1.0
            deadline = _STARTUP_SECONDS + len(program.cases) * per_case
            records, stderr, timed_out = _collect(
                process, stdin_data, read_fd, token, deadline, limits
            )
        return _interpret(program, records, stderr, timed_out, process.returncode, isolation)
    finally:
        for fd in (read_fd, write_fd, tests_fd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
        if uid is not None:
            _UIDS.give(uid)


def _collect(
    process: subprocess.Popen[bytes],
    stdin_data: bytes,
    result_fd: int,
    token: bytes,
    deadline_seconds: float,
    limits: SandboxLimits,
) -> tuple[list[dict[str, Any]], bytes, bool]:
    """Feeds the job, reads the records (checking each token) and stderr, enforces the deadline."""
    # Popen(stdin=PIPE, ...) sets all three.
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    result_cap = 64 * (limits.output_bytes + (1 << 16))  # JSON may escape bytes 6x
    buffers: dict[int, bytearray] = {result_fd: bytearray(), process.stderr.fileno(): bytearray()}
    caps = {result_fd: result_cap, process.stderr.fileno(): 1 << 16}
    selector = selectors.DefaultSelector()
    for fd in (result_fd, process.stdout.fileno(), process.stderr.fileno()):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    os.set_blocking(process.stdin.fileno(), False)
    selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
    stdin_fd = process.stdin.fileno()
    pending = memoryview(stdin_data)
    end = time.monotonic() + deadline_seconds
    timed_out = False
    while selector.get_map():
        remaining = end - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(remaining):
            fd = int(key.fd)
            if fd == stdin_fd:
                try:
                    pending = pending[os.write(fd, pending[: 1 << 16]) :]
                except BrokenPipeError:
                    pending = pending[:0]
                if not pending:
                    selector.unregister(fd)
                    process.stdin.close()
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                selector.unregister(fd)
            elif fd in buffers:
                buffers[fd] += data
                if len(buffers[fd]) > caps[fd]:
                    selector.unregister(fd)  # a runaway writer: stop reading, the kill follows
    selector.close()
    _kill_group(process.pid)
    process.wait()
    records = _parse_records(bytes(buffers[result_fd]), token)
    return records, bytes(buffers[process.stderr.fileno()]), timed_out


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _parse_records(data: bytes, token: bytes) -> list[dict[str, Any]]:
    r"""Frames are `token + b"<length>\\n" + JSON`; parsing stops at the first bad frame."""
    records: list[dict[str, Any]] = []
    position = 0
    while position < len(data):
        if data[position : position + supervisor.TOKEN_BYTES] != token:
            break
        newline = data.find(
            b"\n", position + supervisor.TOKEN_BYTES, position + supervisor.TOKEN_BYTES + 20
        )
        length_text = data[position + supervisor.TOKEN_BYTES : newline] if newline > 0 else b""
        if not length_text.isdigit():
            break
        start, end = newline + 1, newline + 1 + int(length_text)
        if end > len(data):
            break
        records.append(json.loads(data[start:end]))
        position = end
    return records


def _interpret(
    program: Program,
    records: list[dict[str, Any]],
    stderr: bytes,
    timed_out: bool,
    returncode: int | None,
    isolation: Isolation,
) -> SandboxRun:
    """Turns the supervisor's records into case results, or an infra error."""
    message = stderr.decode("utf-8", "replace").strip()[-supervisor.STDERR_KEEP :]
    if not records or records[0].get("event") != "ready":
        detail = message or f"sandbox exited with status {returncode} before it was ready"
        return SandboxRun((), detail, isolation)
    cases: list[CaseResult] = []
    started: int | None = None
    for record in records[1:]:
        if record.get("event") == "start":
            started = int(record["case"])
        elif record.get("event") == "case":
            cases.append(CaseResult(**record["result"]))
            started = None
    if started is not None and len(cases) == started:
        # The supervisor vanished mid-case. Under namespaces a solution cannot reach it, so
        # that is the sandbox's failure; in a process group the solution may have killed it.
        if timed_out:
            cases.append(CaseResult("timeout", error="sandbox wall-clock deadline passed"))
        elif isolation == "namespaces":
            return SandboxRun(tuple(cases), f"sandbox died mid-case: {message}", isolation)
        else:
            cases.append(CaseResult("error", error="the sandbox supervisor was killed"))
    done = bool(records) and records[-1].get("event") == "done"
    if not done and (not cases or cases[-1].status == "ok"):
        detail = f"sandbox stopped early (status {returncode}): {message}"
        return SandboxRun(tuple(cases), detail, isolation)
    return SandboxRun(tuple(cases), "", isolation)
