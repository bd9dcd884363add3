"""Run a function over many items in worker processes, each call with its own deadline.

Checks that may hang (sympy simplifying a monster, a solution looping forever) cannot be stopped
from inside a thread, and signal-based alarms only work on a process's main thread. So every
call runs in a long-lived worker process; a call that overruns its deadline gets its worker
killed and replaced, and yields a `CallFailed("timeout")` marker; the other calls are unaffected.

Workers are plain interpreters running `amfast/verify/pool_worker.py` (started with
`subprocess`, fed pickled calls over a pipe), never multiprocessing children: spawn and
forkserver re-import the caller's `__main__` in every worker, which re-runs a script that has
no `if __name__ == "__main__":` guard, and forking a process that runs threads (the Rust
core's rayon pool, the caller's threads) can deadlock the child. Plain subprocesses also work
inside daemonic processes (a `multiprocessing.Pool` or DataLoader worker). Functions and items
must be importable by name (module-level functions) and picklable; the worker gets the
caller's `sys.path`.

Deadlines are load-proof: a call is charged its wall-clock time *minus the time its worker
spent waiting for a CPU* (the run-queue delay in `/proc/<pid>/task/*/schedstat`), so a machine
loaded with other work stretches the wall clock without turning a quick check into a
`timeout`; a call that sleeps or blocks is charged in full. A hard wall-clock cap
(`_HARD_WALL_FACTOR` x the deadline) ends even a call that never gets a CPU. The pool's
threads are daemons and the workers end with the interpreter (`atexit`), or by themselves
when their stdin closes, so a script exits promptly after its last call.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import select
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from tqdm.auto import tqdm

from amfast.verify import pool_worker
from amfast.verify.pool_worker import scheduler_times

T = TypeVar("T")
R = TypeVar("R")

ProgressCallback = Callable[[int], object]
"""Called with the number of newly finished items, like `tqdm.update`."""

# Calls queued per worker: enough to keep workers busy, few enough to bound memory.
_IN_FLIGHT_PER_WORKER = 8
# A call ends at this many times its deadline of wall-clock time, however loaded the machine:
# a safety net only, since on a shared machine a niced worker can wait 30x its CPU time.
_HARD_WALL_FACTOR = 100.0
# Seconds a new worker may take to start and run its initializer (not charged to any call).
_STARTUP_SECONDS = 600.0
# How often a waiting driver re-checks the charged time and cancellation.
_POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class CallFailed:
    """Why a call produced no result.

    Attributes:
        reason: `timeout` (ran past its deadline; the worker was replaced), `worker_died`
            (the worker exited mid-call: crash, OOM kill) or `error` (the function raised).
        detail: a one-line explanation.
    """

    reason: Literal["timeout", "worker_died", "error"]
    detail: str = ""


def default_num_workers() -> int:
    """The cores this process may run on.

    Example:
        >>> default_num_workers() >= 1
        True
    """
    return len(os.sched_getaffinity(0))


@dataclass(slots=True)
class _Task(Generic[T, R]):
    """One queued call and where its outcome goes."""

    function: Callable[[T], R]
    item: T
    timeout: float
    future: Future[R | CallFailed] = field(default_factory=Future)
    abort: threading.Event = field(default_factory=threading.Event)


class DeadlinePool:
    """Long-lived worker processes; every call gets its own deadline (see the module docstring).

    Usable from any thread, as a context manager or through `shared_pool`. `function` and the
    items must be picklable (module-level functions, plain data).

    Args:
        num_workers: worker processes; default: the cores this process may use.
        initializer: run once in each new worker before its first call (imports, warm-up), so
            that start-up cost is not charged to a call's deadline.

    Example:
        >>> with DeadlinePool(1) as pool:
        ...     pool.map(abs, [-1, 2, -3], timeout=30)
        [1, 2, 3]
    """

    def __init__(
        self, num_workers: int | None = None, *, initializer: Callable[[], object] | None = None
    ) -> None:
        self.num_workers = num_workers or default_num_workers()
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {self.num_workers}")
        self._initializer = None if initializer is None else pickle.dumps(initializer)
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self._tasks: queue.SimpleQueue[_Task[Any, Any] | None] | None = None
        self._closing = threading.Event()
        self._drivers: list[threading.Thread] = []

    def __enter__(self) -> DeadlinePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the workers (running calls are killed). The pool restarts if used again."""
        with self._lock:
            tasks, drivers, closing = self._tasks, self._drivers, self._closing
            self._tasks, self._drivers, self._closing = None, [], threading.Event()
        if tasks is None or self._owner_pid != os.getpid():
            return
        closing.set()
        for _ in drivers:
            tasks.put(None)
        for driver in drivers:
            driver.join(timeout=10.0)
        # Calls still queued behind the stop markers are cancelled, never left hanging.
        while True:
            try:
                task = tasks.get_nowait()
            except queue.Empty:
                return
            if task is not None:
                task.future.cancel()

    def call(self, function: Callable[[T], R], item: T, *, timeout: float) -> R | CallFailed:
        """`function(item)` in a worker, or a `CallFailed` marker.

        Example:
            >>> shared_pool().call(abs, -4, timeout=30)
            4
        """
        return self.map(function, [item], timeout=timeout)[0]

    def map(
        self,
        function: Callable[[T], R],
        items: Iterable[T],
        *,
        timeout: float,
        progress: bool | ProgressCallback = False,
    ) -> list[R | CallFailed]:
        """`function(item)` for every item, in input order; failures become `CallFailed`.

        Args:
            function: a picklable function of one argument.
            items: consumed lazily: at most a few calls per worker are queued at a time.
            timeout: seconds each call may run, counted from when a worker starts it, not
                counting time its worker waited for a CPU (see the module docstring).
            progress: True for a tqdm bar, or a callback given the number of newly finished
                items (e.g. an existing bar's `update`).

        Returns:
            One entry per item: the function's result, or a `CallFailed` marker.

        Raises:
            KeyboardInterrupt: re-raised after the calls still queued or running are cancelled
                (running ones have their workers killed and replaced).

        Example:
            >>> with DeadlinePool(1) as pool:
            ...     pool.map(int, ["1", "x"], timeout=30)[1].reason
            'error'
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        total = len(items) if isinstance(items, Sized) else None
        bar = tqdm(total=total, unit="call", disable=None) if progress is True else None
        update: ProgressCallback | None = None
        if bar is not None:
            update = bar.update
        elif callable(progress):
            update = progress
        try:
            return self._map_in_workers(function, items, timeout, update)
        finally:
            if bar is not None:
                bar.close()

    def _map_in_workers(
        self,
        function: Callable[[T], R],
        items: Iterable[T],
        timeout: float,
        update: ProgressCallback | None,
    ) -> list[R | CallFailed]:
        results: list[R | CallFailed] = []
        in_flight: dict[Future[R | CallFailed], tuple[int, _Task[T, R]]] = {}
        window = self.num_workers * _IN_FLIGHT_PER_WORKER
        try:
            for index, item in enumerate(items):
                results.append(CallFailed("error", "not run"))
                task = _Task(function, item, timeout)
                self._task_queue().put(task)
                in_flight[task.future] = (index, task)
                if len(in_flight) >= window:
                    _collect(in_flight, results, update)
            while in_flight:
                _collect(in_flight, results, update)
        except BaseException:
            # Ctrl-C (or a failing input iterator): stop this map's calls, leave the pool usable.
            for future, (_, task) in in_flight.items():
                task.abort.set()
                future.cancel()
            raise
        return results

    def _task_queue(self) -> queue.SimpleQueue[_Task[Any, Any] | None]:
        """The queue the drivers serve, starting them (one thread per worker) on first use."""
        with self._lock:
            if self._owner_pid != os.getpid():
                # We are a forked copy: the parent's threads and workers are not ours.
                self._tasks, self._drivers, self._owner_pid = None, [], os.getpid()
                self._closing = threading.Event()
            if self._tasks is None:
                self._tasks = queue.SimpleQueue()
                self._drivers = [
                    threading.Thread(
                        target=_drive,
                        args=(self._tasks, self._initializer, self._closing),
                        name=f"amfast-pool-{number}",
                        daemon=True,
                    )
                    for number in range(self.num_workers)
                ]
                for driver in self._drivers:
                    driver.start()
            return self._tasks


def _collect(
    in_flight: dict[Future[R | CallFailed], tuple[int, _Task[T, R]]],
    results: list[R | CallFailed],
    update: ProgressCallback | None,
) -> None:
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    for future in done:
        index, _ = in_flight.pop(future)
        try:
            results[index] = future.result()
        except CancelledError:
            results[index] = CallFailed("error", "cancelled")
    if update is not None:
        update(len(done))


class _Worker:
    """One worker process, talked to in frames (see `amfast.verify.pool_worker`)."""

    def __init__(self, initializer: bytes | None, closing: threading.Event) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(pool_worker.__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        # Popen(stdin=PIPE, stdout=PIPE) sets both.
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._in, self._out = self.process.stdin.fileno(), self.process.stdout.fileno()
        self._buffer = bytearray()
        self._closing = closing
        pool_worker.write_frame(self._in, (list(sys.path), initializer))
        end = time.monotonic() + _STARTUP_SECONDS
        reply = self._reply(lambda: time.monotonic() >= end, threading.Event())
        if not isinstance(reply, tuple) or reply[0] != "ready":
            self.stop()
            if isinstance(reply, tuple):
                raise RuntimeError(str(reply[1]))
            raise RuntimeError(f"worker did not start: {reply.detail}")

    def run(self, task: _Task[T, R]) -> tuple[R | CallFailed, bool]:
        """Runs one call; returns its outcome and whether this worker may serve another."""
        try:
            request = pickle.dumps((task.function, task.item), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            return CallFailed("error", f"call cannot be sent to a worker: {_one_line(error)}"), True
        seen: dict[str, tuple[int, int]] = {}
        pids = [self.process.pid]
        start = time.monotonic()
        ran_before, waited_before, _ = scheduler_times(pids, seen)
        hard_end = start + task.timeout * _HARD_WALL_FACTOR

        def expired() -> bool:
            now = time.monotonic()
            ran, waited, runnable = scheduler_times(pids, seen)
            # While runnable, a wait in progress is not counted yet: only CPU time decides.
            if runnable:
                return ran - ran_before >= task.timeout or now >= hard_end
            return now - start - (waited - waited_before) >= task.timeout or now >= hard_end

        try:
            pool_worker.write_payload(self._in, request)
        except OSError:
            return self._died(), False
        reply = self._reply(expired, task.abort)
        if isinstance(reply, CallFailed):
            return reply, False
        if reply[0] == "ok":
            return reply[1], True
        return CallFailed("error", str(reply[1])), True

    def _reply(
        self, expired: Callable[[], bool], abort: threading.Event
    ) -> tuple[str, Any] | CallFailed:
        """The worker's next frame, or why none came (the worker is then stopped)."""
        while True:
            if len(self._buffer) >= 8:
                length = int.from_bytes(self._buffer[:8], "big")
                if len(self._buffer) >= 8 + length:
                    body = bytes(self._buffer[8 : 8 + length])
                    del self._buffer[: 8 + length]
                    try:
                        reply: tuple[str, Any] = pickle.loads(body)
                    except Exception as error:  # a result class the parent cannot import
                        return ("error", f"result cannot be read: {_one_line(error)}")
                    return reply
            if expired():
                self.stop()
                return CallFailed("timeout")
            if abort.is_set() or self._closing.is_set():
                self.stop()
                return CallFailed("error", "cancelled")
            readable, _, _ = select.select([self._out], [], [], _POLL_SECONDS)
            if readable:
                chunk = os.read(self._out, 1 << 20)
                if not chunk:
                    return self._died()
                self._buffer += chunk

    def _died(self) -> CallFailed:
        code = self.process.wait()
        self.stop()
        return CallFailed("worker_died", f"worker exited with code {code} mid-call")

    def stop(self) -> None:
        """Kills the worker and reaps it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _drive(
    tasks: queue.SimpleQueue[_Task[Any, Any] | None],
    initializer: bytes | None,
    closing: threading.Event,
) -> None:
    """A driver thread: takes calls off the queue and runs each on its own worker."""
    worker: _Worker | None = None
    try:
        while (task := tasks.get()) is not None:
            if not task.future.set_running_or_notify_cancel():
                continue
            outcome: object
            try:
                if worker is None:
                    worker = _Worker(initializer, closing)
                outcome, reusable = worker.run(task)
                if isinstance(outcome, CallFailed) and outcome.reason == "timeout":
                    detail = f"ran past its {task.timeout}s deadline; worker replaced"
                    outcome = CallFailed("timeout", detail)
                if not reusable:
                    worker.stop()
                    worker = None
            except Exception as error:  # a worker that cannot start fails the call, as data
                outcome, worker = CallFailed("error", _one_line(error)), None
            task.future.set_result(outcome)
    finally:
        if worker is not None:
            worker.stop()


def _one_line(error: BaseException) -> str:
    return traceback.format_exception_only(error)[-1].strip()


_shared: dict[Callable[[], object] | None, DeadlinePool] = {}
_shared_lock = threading.Lock()


def shared_pool(initializer: Callable[[], object] | None = None) -> DeadlinePool:
    """The process-wide pool for `initializer`, one worker per usable core, started on first use.

    Verifiers share it so that many small calls (from many threads) reuse warm workers instead
    of starting processes per call. Stopped at interpreter exit.

    Example:
        >>> shared_pool() is shared_pool()
        True
    """
    with _shared_lock:
        pool = _shared.get(initializer)
        if pool is None:
            pool = _shared[initializer] = DeadlinePool(initializer=initializer)
        return pool


@atexit.register
def _close_shared_pools() -> None:
    for pool in list(_shared.values()):
        pool.close()
