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
Warm sandboxes (`sandbox_process`) keep the supervisor between jobs, but each job runs in a
fresh fork of it that was made before the job was read: processes, files, IPC objects and
memory (earlier solutions' code, inputs or outputs) do not carry over to the next solution.
`process_group` (only with `SandboxLimits(allow_unisolated=True)`, for trusted inputs) keeps
the rlimits, the private working directory and the judge process but contains none of the
above: same uid, host filesystem and network.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from amfast.errors import AmfastError
from amfast.verify import sandbox_supervisor as supervisor
from amfast.verify.sandbox_process import SandboxStartError, give_back, take_sandbox

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


def _run(program: Program, limits: SandboxLimits, isolation: Isolation) -> SandboxRun:
    python = limits.python or sys.executable
    described = asdict(program)
    tests = None
    if program.kind == "assert":
        # The tests reach only the judge, on their own pipe: never the solution's process.
        tests, described["cases"] = str(program.cases[0]), [""]
    job = {"program": described, "limits": asdict(limits)}
    per_case = limits.wall_seconds * supervisor.HARD_WALL_FACTOR + 1.0
    deadline = _STARTUP_SECONDS + len(program.cases) * per_case
    result_cap = 64 * (limits.output_bytes + (1 << 16))  # JSON may escape bytes 6x
    try:
        sandbox = take_sandbox(python, isolation, limits.file_bytes)
    except SandboxStartError as error:
        return SandboxRun((), str(error), isolation)
    reusable = False
    try:
        records, stderr, timed_out, reusable = sandbox.run(job, tests, deadline, result_cap)
    finally:
        give_back(sandbox, reusable)
    returncode = sandbox.process.poll()
    return _interpret(program, records, stderr, timed_out, returncode, isolation)


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
