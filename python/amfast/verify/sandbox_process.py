"""Warm sandboxes: long-lived supervisors that run one job after another.

Starting `unshare` + an interpreter + the private root costs tens of milliseconds, more than a
typical HumanEval solution takes to run. So a `WarmSandbox` keeps its supervisor (and its
namespaces, root and uid pair) across jobs; between jobs the supervisor has killed every
process of the last one and emptied `/tmp`, and SysV IPC objects cannot exist (the seccomp
filter), so no state carries over. A sandbox is reused only after a job that ended cleanly
(its `done` record arrived before the deadline); anything else kills it.

Protocol: stdin gets the token and a setup frame once, then one frame (8-byte big-endian
length + JSON) per job; the tests of an assert job go to the judge on their own pipe, framed
and tagged with the job's id (see `sandbox_supervisor`); records come back token-signed on
the result pipe.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any

from amfast.verify import sandbox_supervisor as supervisor

# Loads the supervisor and its two helpers as top-level modules by file (no amfast import in
# the sandbox; putting their directory on sys.path would shadow the stdlib's `math`, `code`).
_BOOTSTRAP = """import importlib.util, sys
def load(name):
    spec = importlib.util.spec_from_file_location(name, %r + "/" + name + ".py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
for name in ("pool_worker", "sandbox_confine", "sandbox_judge"):
    load(name)
load("sandbox_supervisor").main()
"""
_NAMESPACES = ("--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--mount-proc")
# Idle warm sandboxes kept per kind; more concurrent runs start (and then drop) extra ones.
_IDLE_PER_KIND = 2 * (os.cpu_count() or 1)


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


class SandboxStartError(OSError):
    """The supervisor could not be started (missing interpreter or `unshare`)."""


class WarmSandbox:
    """One supervisor process; `run` it once per job.

    Args:
        python: the solutions' interpreter.
        isolation: `namespaces` or `process_group`.
        file_bytes: the file-size limit, which also sizes the private `/tmp`.
    """

    def __init__(self, python: str, isolation: str, file_bytes: int) -> None:
        self.kind = (python, isolation, file_bytes)
        self.isolation = isolation
        self.workdir = tempfile.mkdtemp(prefix="amfast-sandbox-")
        self.uid = _UIDS.take() if isolation == "namespaces" else None
        self.token = secrets.token_bytes(supervisor.TOKEN_BYTES)
        self._result_read, result_write = os.pipe()
        self._tests_read, self._tests_write = os.pipe()
        command = [python, "-I", "-B", "-c", _BOOTSTRAP % os.path.dirname(supervisor.__file__)]
        if isolation == "namespaces":
            command = ["unshare", *_NAMESPACES, "--kill-child=SIGKILL", *command]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.workdir}
        env |= {"TMPDIR": self.workdir, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        setup = {
            "isolation": isolation,
            "uid": self.uid,
            "workdir": self.workdir,
            "result_fd": result_write,
            "tests_fd": self._tests_read,
            "file_bytes": file_bytes,
        }
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(result_write, self._tests_read),
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            self._release()
            raise SandboxStartError(f"could not start the sandbox: {error}") from error
        finally:
            os.close(result_write)
        os.close(self._tests_read)
        self._tests_read = -1
        # Popen(stdin=PIPE, stderr=PIPE) sets both.
        assert self.process.stdin is not None
        assert self.process.stderr is not None
        self._stdin, self._stderr = self.process.stdin.fileno(), self.process.stderr.fileno()
        for fd in (self._result_read, self._stderr, self._stdin, self._tests_write):
            os.set_blocking(fd, False)
        self._pending_stdin = bytearray(self.token + _frame(json.dumps(setup).encode()))
        self._records = bytearray()
        self.ready = False

    def run(
        self, job: dict[str, Any], tests: str | None, deadline_seconds: float, result_cap: int
    ) -> tuple[list[dict[str, Any]], bytes, bool, bool]:
        """Runs one job.

        Returns:
            The job's records (the first is `ready` for a fresh sandbox), the supervisor's
            stderr during the job, whether the deadline passed, and whether the job ended
            cleanly (its `done` record arrived), so that the sandbox may be reused.
        """
        job_id = secrets.token_hex(8)
        job = dict(job, job_id=job_id)
        self._pending_stdin += _frame(json.dumps(job).encode())
        pending_tests = bytearray()
        if tests is not None:
            pending_tests += _frame(job_id.encode() + tests.encode())
        stderr = bytearray()
        records: list[dict[str, Any]] = []
        if self.ready:
            records.append({"event": "ready"})
        selector = selectors.DefaultSelector()
        selector.register(self._result_read, selectors.EVENT_READ)
        selector.register(self._stderr, selectors.EVENT_READ)
        end = time.monotonic() + deadline_seconds
        timed_out = done = False
        try:
            while not done:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                _watch_writes(selector, {self._stdin: self._pending_stdin})
                _watch_writes(selector, {self._tests_write: pending_tests})
                events = selector.select(remaining)
                closed = False
                for key, mask in events:
                    fd = int(key.fd)
                    if mask & selectors.EVENT_WRITE:
                        buffer = self._pending_stdin if fd == self._stdin else pending_tests
                        with contextlib.suppress(BlockingIOError, BrokenPipeError):
                            del buffer[: os.write(fd, buffer[: 1 << 16])]
                    if not mask & selectors.EVENT_READ:
                        continue
                    data = os.read(fd, 1 << 16)
                    if not data:
                        closed = True
                        selector.unregister(fd)
                    elif fd == self._stderr:
                        stderr += data
                        del stderr[: -(1 << 16)]
                    else:
                        self._records += data
                        if len(self._records) > result_cap:
                            closed = True  # a runaway writer: the sandbox is killed
                for record in self._take_records():
                    records.append(record)
                    self.ready = self.ready or record.get("event") == "ready"
                    done = done or record.get("event") == "done"
                if closed and not done:
                    break
        finally:
            selector.close()
        return records, bytes(stderr), timed_out, done and not pending_tests

    def _take_records(self) -> list[dict[str, Any]]:
        records, used = supervisor_records(bytes(self._records), self.token)
        del self._records[:used]
        return records

    def close(self) -> None:
        """Kills the supervisor (and with it the namespace) and frees its resources."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._release()

    def _release(self) -> None:
        for fd in (self._result_read, self._tests_read, self._tests_write):
            if fd >= 0:
                os.close(fd)
        self._result_read = self._tests_read = self._tests_write = -1
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.uid is not None:
            _UIDS.give(self.uid)
            self.uid = None


def _watch_writes(selector: selectors.BaseSelector, buffers: dict[int, bytearray]) -> None:
    """Registers each fd for writing while it has pending bytes (and reading where it reads)."""
    for fd, buffer in buffers.items():
        try:
            key = selector.get_key(fd)
        except KeyError:
            key = None
        wanted = selectors.EVENT_WRITE if buffer else 0
        if key is None and wanted:
            selector.register(fd, wanted)
        elif key is not None and not wanted:
            selector.unregister(fd)


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(8, "big") + payload


def supervisor_records(data: bytes, token: bytes) -> tuple[list[dict[str, Any]], int]:
    r"""Complete frames (`token + b"<length>\\n" + JSON`) in `data`, and the bytes they used.

    Parsing stops at the first incomplete frame; a bad frame stops it for good (its bytes
    are never consumed, so the job ends without `done`).
    """
    records: list[dict[str, Any]] = []
    position = 0
    size = supervisor.TOKEN_BYTES
    while position < len(data):
        if len(data) - position < size or data[position : position + size] != token:
            break
        newline = data.find(b"\n", position + size, position + size + 20)
        if newline < 0:
            break
        length_text = data[position + size : newline]
        if not length_text.isdigit():
            break
        start, end = newline + 1, newline + 1 + int(length_text)
        if end > len(data):
            break
        records.append(json.loads(data[start:end]))
        position = end
    return records, position


_idle: dict[tuple[str, str, int], list[WarmSandbox]] = {}
_idle_lock = threading.Lock()


def take_sandbox(python: str, isolation: str, file_bytes: int) -> WarmSandbox:
    """An idle warm sandbox of this kind, or a new one."""
    with _idle_lock:
        idle = _idle.get((python, isolation, file_bytes))
        if idle and os.getpid() == _PID:  # a forked copy must not use its parent's sandboxes
            return idle.pop()
    return WarmSandbox(python, isolation, file_bytes)


def give_back(sandbox: WarmSandbox, reusable: bool) -> None:
    """Keeps `sandbox` for the next job if it is reusable and there is room, else closes it."""
    if reusable and sandbox.process.poll() is None and os.getpid() == _PID:
        with _idle_lock:
            idle = _idle.setdefault(sandbox.kind, [])
            if len(idle) < _IDLE_PER_KIND:
                idle.append(sandbox)
                return
    sandbox.close()


_PID = os.getpid()


@atexit.register
def close_idle_sandboxes() -> None:
    """Kills every idle warm sandbox (at interpreter exit)."""
    with _idle_lock:
        sandboxes = [sandbox for idle in _idle.values() for sandbox in idle]
        _idle.clear()
    if os.getpid() == _PID:
        for sandbox in sandboxes:
            sandbox.close()
