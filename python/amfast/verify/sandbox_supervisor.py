"""The sandbox supervisor: runs inside the sandbox, loaded by file (see `sandbox._BOOTSTRAP`).

It reads one job (program + test inputs) on stdin, confines itself (`sandbox_confine`: a
private root with only the interpreter, when it is PID 1 of fresh namespaces), forks one case
process per test case (limits, an unprivileged uid, no new privileges, a seccomp filter) -
for assert-style tests a solution process and a judge process of another uid
(`sandbox_judge`) - captures what each case printed or returned, and writes one token-signed
record per case to a dedicated pipe. It never runs solution code itself. Standard library
only: the solution's interpreter need not have amfast. `amfast.verify.sandbox` (the parent
side) documents the isolation as a whole.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import fcntl
import io
import json
import math
import os
import resource
import selectors
import shutil
import signal
import site
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Literal, cast

if __name__.startswith("amfast."):
    from amfast.verify import sandbox_confine as confine
    from amfast.verify import sandbox_judge as judge
    from amfast.verify.pool_worker import read_exactly, scheduler_times
else:  # inside the sandbox: imported from its own directory, without the amfast package
    import sandbox_confine as confine  # type: ignore[import-not-found,no-redef]
    import sandbox_judge as judge  # type: ignore[import-not-found,no-redef]
    from pool_worker import (  # type: ignore[import-not-found,no-redef]
        read_exactly,
        scheduler_times,
    )

CaseStatus = Literal["ok", "error", "timeout", "memory", "output_limit"]

TOKEN_BYTES = 16
EXIT_ERROR = 1
EXIT_MEMORY = 3
EXIT_SETUP = 70
VALUE_FD = 3
STDERR_KEEP = 4096
SOLUTION_FILE = "<solution>"
# A case ends at this many times its wall-clock limit however loaded the machine (a safety
# net: the limit itself is charged without the time spent waiting for a CPU).
HARD_WALL_FACTOR = 100.0
_POLL_SECONDS = 0.2
# Judge fds: value 3, requests to the solution 4, replies 5, the tests' pipe 6.
_JUDGE_REQUESTS, _JUDGE_REPLIES, _JUDGE_TESTS = 4, 5, 6
# Solution fds in an assert case: requests 3, replies 4 (it gets no value pipe).
_SOLUTION_REQUESTS, _SOLUTION_REPLIES = 3, 4

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
_PR_SET_NO_NEW_PRIVS, _PR_SET_CHILD_SUBREAPER, _PR_SET_DUMPABLE = 38, 36, 4


def _read_frame(fd: int) -> bytes | None:
    """One frame (8-byte big-endian length + payload) from `fd`, or None at EOF."""
    header = read_exactly(fd, 8)
    return None if header is None else read_exactly(fd, int.from_bytes(header, "big"))


def _send(fd: int, token: bytearray, record: dict[str, Any]) -> None:
    payload = json.dumps(record).encode()
    os.write(fd, token)
    data = memoryview(b"%d\n" % len(payload) + payload)
    while data:
        data = data[os.write(fd, data) :]


def main() -> None:
    """The sandbox's main: confine once, then run job after job (a warm sandbox) until EOF."""
    token = bytearray(read_exactly(0, TOKEN_BYTES) or b"")
    setup_frame = _read_frame(0)
    if len(token) != TOKEN_BYTES or setup_frame is None:
        sys.exit(EXIT_SETUP)
    setup = json.loads(setup_frame)
    result_fd = int(setup["result_fd"])
    isolation, uid, workdir = setup["isolation"], setup["uid"], setup["workdir"]
    c = confine.libc()
    try:
        confine.machine()  # refuse early on an architecture the syscall filter does not know
        if isolation == "namespaces":
            # The interpreter, its stdlib and its installed packages (not a checkout on .pth).
            needed = [sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))]
            needed += site.getsitepackages()
            tmp_bytes = 4 * int(setup["file_bytes"])
            confine.private_root(c, workdir, uid, tmp_bytes, needed)
            os.environ.update(HOME="/tmp", TMPDIR="/tmp")
            workdir = "/tmp"
        else:
            c.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        os.chdir(workdir)
        c.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # a same-uid process may not ptrace us
        for module in _PRELUDE_MODULES:
            __import__(module)
    except Exception as error:  # reported as an infrastructure failure
        sys.stderr.write(f"sandbox setup failed: {error!r}\n")
        sys.exit(EXIT_SETUP)
    _send(result_fd, token, {"event": "ready"})
    # Each job runs in a fresh fork of this process, which never reads a job itself: its
    # memory (and so every case process's) holds no earlier solution, input or output.
    while True:
        runner = os.fork()
        if runner == 0:
            code = EXIT_SETUP
            try:
                code = _run_job(setup, token, c, workdir)
            finally:
                os._exit(code)
        if _wait_for(runner) != 0:
            os._exit(0)  # stdin closed (the parent is done with us), or the runner failed


def _run_job(setup: dict[str, Any], token: bytearray, c: ctypes.CDLL, workdir: str) -> int:
    """In a job runner: reads one job, runs its cases, reports them; 0, or 1 at EOF."""
    frame = _read_frame(0)
    if frame is None:
        return 1
    job = dict(json.loads(frame), **setup)
    result_fd = int(setup["result_fd"])
    for index, case in enumerate(job["program"]["cases"]):
        _send(result_fd, token, {"event": "start", "case": index})
        result = _run_case(job, case, token, c)
        _send(result_fd, token, {"event": "case", "case": index, "result": result})
        if result["status"] != "ok":
            break
    _wipe(workdir)  # the next job starts from an empty /tmp
    _send(result_fd, token, {"event": "done"})
    return 0


def _wait_for(runner: int) -> int:
    """Waits for the job runner, reaping the orphans re-parented to us meanwhile; its code."""
    status = -1
    while True:
        try:
            pid, waited = os.waitpid(-1, 0 if status < 0 else os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid == runner:
            status = os.waitstatus_to_exitcode(waited)
    return status


def _wipe(directory: str) -> None:
    """Removes everything in `directory` (the cases' processes are all dead by now)."""
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _run_case(
    job: dict[str, Any], case: object, token: bytearray, c: ctypes.CDLL
) -> dict[str, Any]:
    """Forks the case's process(es), captures their pipes within the caps, classifies them."""
    limits, program = job["limits"], job["program"]
    kind = program["kind"]
    stdin_fd = os.memfd_create("stdin")
    if kind == "stdin":
        os.write(stdin_fd, str(case).encode())
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    (out_r, out_w), (err_r, err_w), (value_r, value_w) = os.pipe(), os.pipe(), os.pipe()
    case_token = os.urandom(TOKEN_BYTES).hex()  # `secrets` would import OpenSSL (slow)
    uid = job["uid"]
    others: list[int] = []
    if kind == "assert":
        # Tests run in a judge process of another uid; the solution only answers calls.
        (ask_r, ask_w), (reply_r, reply_w) = os.pipe(), os.pipe()
        fds = {0: stdin_fd, 1: out_w, 2: err_w, 3: ask_r, 4: reply_w}
        others.append(_fork(job, token, c, fds, uid, lambda: _execute(program, None, "")))
        fds = {0: stdin_fd, 1: out_w, 2: err_w, 3: value_w, 4: ask_w, 5: reply_r}
        fds[_JUDGE_TESTS] = int(job["tests_fd"])
        judge_uid = None if uid is None else uid + 1
        job_id = str(job["job_id"])
        primary = _fork(
            job, token, c, fds, judge_uid, lambda: _judge(program, limits, case_token, job_id)
        )
        for fd in (ask_r, ask_w, reply_r, reply_w):
            os.close(fd)
    else:
        fds = {0: stdin_fd, 1: out_w, 2: err_w, 3: value_w}
        primary = _fork(job, token, c, fds, uid, lambda: _execute(program, case, case_token))
    for fd in (stdin_fd, out_w, err_w, value_w):
        os.close(fd)
    captured, killed, statuses, usages = _capture(primary, others, [out_r, err_r, value_r], job)
    cpu_limit = float(limits["cpu_seconds"] or limits["wall_seconds"])
    stdout, stderr, value = (data.decode("utf-8", "replace") for data in captured)
    cpu = sum(usages.values())
    result: dict[str, Any] = {"status": "ok", "stdout": stdout, "cpu_seconds": cpu, "value": None}
    result["error"] = stderr[-STDERR_KEEP:]
    # The solution's own death decides first: the judge only saw its pipe close.
    ended = [(pid, statuses[pid]) for pid in [*others, primary] if pid in statuses]
    abnormal = next(
        (found for pid, status in ended if (found := _abnormal(status, usages[pid], cpu_limit))),
        None,
    )
    if killed:
        result["status"] = killed
    elif abnormal is not None:
        result["status"] = abnormal[0]
        result["error"] += abnormal[1]
    elif primary not in statuses:
        result["status"] = "error"
        result["error"] += "\nthe case did not finish"
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


def _abnormal(status: int, cpu: float, cpu_limit: float) -> tuple[CaseStatus, str] | None:
    """How a process that ended by itself failed: a status and a note, or None if it did not."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= cpu_limit * 0.95):
            return "timeout", ""
        return "error", f"\nkilled by {_signal_name(number)}"
    code = os.WEXITSTATUS(status)
    if code == EXIT_MEMORY:
        return "memory", ""
    if code != 0:
        return "error", f"\nexit status {code}"
    return None


def _signal_name(number: int) -> str:
    """`SIGSEGV`, or `signal 40` for the realtime signals the enum does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _fork(
    job: dict[str, Any],
    token: bytearray,
    c: ctypes.CDLL,
    fds: dict[int, int],
    uid: int | None,
    body: Callable[[], int],
) -> int:
    """Starts one confined process running `body` with exactly `fds` open; returns its pid."""
    pid = os.fork()
    if pid == 0:
        code = EXIT_SETUP
        try:
            token[:] = bytes(TOKEN_BYTES)  # the case must not be able to sign records
            _enter_case(job, fds, uid, c)
            code = body()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _capture(
    primary: int, others: list[int], fds: list[int], job: dict[str, Any]
) -> tuple[list[bytes], CaseStatus | None, dict[int, int], dict[int, float]]:
    """Reads the case's pipes until they close; kills it at the deadline or the output cap.

    The deadline is charged wall-clock time minus the time the case's processes waited for a
    CPU, so a loaded machine does not turn a quick solution into a timeout.

    Returns the captured stdout, stderr and value, why the case was killed (if it was), and
    the wait status and CPU seconds of each process that ended by itself.
    """
    limits = job["limits"]
    buffers = [bytearray() for _ in fds]
    caps = [int(limits["output_bytes"]), 1 << 20, int(limits["output_bytes"])]
    selector = selectors.DefaultSelector()
    for fd in fds:
        selector.register(fd, selectors.EVENT_READ)
    pidfd = os.pidfd_open(primary)
    selector.register(pidfd, selectors.EVENT_READ)
    pids = [primary, *others]
    wall = float(limits["wall_seconds"])
    seen: dict[str, tuple[int, int]] = {}
    start = time.monotonic()
    ran_before, waited_before, _ = scheduler_times(pids, seen)
    hard_end = start + wall * HARD_WALL_FACTOR
    killed: CaseStatus | None = None
    statuses: dict[int, int] = {}
    usages: dict[int, float] = {}
    while len(selector.get_map()) > 0 and killed is None:
        now = time.monotonic()
        ran, waited, runnable = scheduler_times(pids, seen)
        charged = now - start - (waited - waited_before)
        # While runnable, a wait in progress is not counted yet: only CPU time decides then.
        over = ran - ran_before >= wall if runnable else charged >= wall
        if over or now >= hard_end:
            killed = "timeout"
            break
        for key, _ in selector.select(max(0.0, min(wall - charged, _POLL_SECONDS))):
            if key.fd == pidfd:
                # The case ended: whatever it left behind dies now, so its pipes reach EOF.
                selector.unregister(pidfd)
                _reap(primary, 0, statuses, usages)
                for other in others:
                    # A solution that died first may still be closing down: wait for its status.
                    _reap(other, 0 if _exiting(other) else os.WNOHANG, statuses, usages)
                _kill_rest(pids, job["isolation"], statuses, usages)
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
    if primary not in usages:
        os.kill(primary, signal.SIGKILL)
        _reap(primary, 0, {}, usages)
    _kill_rest(pids, job["isolation"], statuses, usages)
    for fd in [*fds, pidfd]:
        os.close(fd)
    return [bytes(buffer) for buffer in buffers], killed, statuses, usages


def _exiting(pid: int) -> bool:
    """Whether `pid` is dead or dying (zombie, or PF_EXITING set): its status is coming.

    Its pipes close while it exits, before it can be waited for, so a process that saw them
    close can end first; killing the dying one then would lose how it died.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    pf_exiting = 0x4
    return fields[0] in (b"Z", b"X") or bool(int(fields[6]) & pf_exiting)


def _reap(pid: int, options: int, statuses: dict[int, int], usages: dict[int, float]) -> None:
    """Waits for `pid` (if `options` allow) and records its status and CPU seconds."""
    reaped, status, usage = os.wait4(pid, options)
    if reaped == pid:
        statuses[pid] = status
        usages[pid] = usage.ru_utime + usage.ru_stime


def _kill_rest(
    pids: list[int], isolation: str, statuses: dict[int, int], usages: dict[int, float]
) -> None:
    """Kills every process the case left: the whole namespace but us, or the cases' groups."""
    try:
        if isolation == "namespaces":
            os.kill(-1, signal.SIGKILL)
        else:
            for pid in pids:
                os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids:
        if pid not in usages:  # killed by us: its status says nothing about the solution
            _reap(pid, 0, {}, usages)
    # Orphans are re-parented to us (PID 1 or subreaper); the case itself was waited for.
    while True:
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == 0:
            return


def _enter_case(job: dict[str, Any], fds: dict[int, int], uid: int | None, c: ctypes.CDLL) -> None:
    """In a case process: own process group, exactly `fds`, limits, then drop privileges."""
    os.setpgid(0, 0)
    # Move the sources out of the way first, so that no dup2 clobbers a source still needed.
    moved = {target: fcntl.fcntl(source, fcntl.F_DUPFD, 1000) for target, source in fds.items()}
    for target, source in moved.items():
        os.dup2(source, target)
    os.closerange(max(fds) + 1, 1 << 16)
    limits = job["limits"]
    cpu = math.ceil(float(limits["cpu_seconds"] or limits["wall_seconds"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    confine.check(c.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    confine.deny_unaccounted_memory(c)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), "utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), "utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), "utf-8", write_through=True)


def _execute(program: dict[str, Any], case: object, case_token: str) -> int:
    """Runs the solution in this (a case) process; returns the exit status.

    For `assert` programs it then answers the judge's calls (`sandbox_judge.serve_solution`).
    """
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    kind = program["kind"]
    try:
        if program["prelude"]:
            exec(compile(program["prelude"], "<prelude>", "exec"), namespace)
        before = {name: id(value) for name, value in namespace.items()}
        exec(compile(program["code"], SOLUTION_FILE, "exec"), namespace)
        if kind == "call":
            target = _callable(namespace, program["fn_name"])
            value = json.dumps(target(*_argument_list(case)))
            _write_value(value)
        elif kind == "assert":
            _flush()
            judge.serve_solution(namespace, before, _SOLUTION_REQUESTS, _SOLUTION_REPLIES)
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
        _print_error(error)
        code = EXIT_ERROR
    _flush()
    return code


def _judge(program: dict[str, Any], limits: dict[str, Any], case_token: str, job_id: str) -> int:
    """The judge process: runs the tests against the solution's process; exit status."""
    os.chdir("/")
    sys.path[:] = [path for path in sys.path if path and os.path.isabs(path)]
    # The tests pipe is shared by the warm sandbox's jobs: skip what a killed judge left.
    while (frame := _read_frame(_JUDGE_TESTS)) is not None:
        if frame[:16] == job_id.encode():
            break
    if frame is None:
        print("the tests never arrived", file=sys.stderr)
        return EXIT_SETUP
    source = frame[16:].decode()
    os.close(_JUDGE_TESTS)
    reply_cap = 64 * int(limits["output_bytes"]) + (1 << 16)
    try:
        judge.run_tests(source, program["prelude"], _JUDGE_REQUESTS, _JUDGE_REPLIES, reply_cap)
        _write_value(case_token)
        code = 0
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException as error:  # a failed test (AssertionError) or the solution's error
        _print_error(error)
        code = EXIT_ERROR
    _flush()
    return code


def _print_error(error: BaseException) -> None:
    # Skip our own frame: the traceback starts in the solution or the tests.
    traceback.print_exception(
        type(error), error, error.__traceback__.tb_next if error.__traceback__ else None
    )


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:  # a broken stream must not hide the status
            pass


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


if __name__ == "__main__":
    main()
