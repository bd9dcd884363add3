"""Run a function over many items in worker processes, each call with its own deadline.

Checks that may hang (sympy simplifying a monster, a solution looping forever) cannot be stopped
from inside a thread, and signal-based alarms only work on a process's main thread. So every
call runs in a long-lived worker process; a call that overruns its wall-clock deadline gets its
worker killed and replaced, and yields a `CallFailed("timeout")` marker; the other calls are
unaffected. Built on pebble's `ProcessPool` (per-task timeouts, worker replacement,
maintained), which this module wraps with a bounded in-flight window (lazy input, bounded
memory), order-preserving results, progress reporting and Ctrl-C handling.

Workers are started with `spawn`: forking a process that runs threads (pebble's own manager
threads, the Rust core's rayon pool, the caller's threads) can deadlock the child. Inside a
daemonic process (a `multiprocessing.Pool` or DataLoader worker), which may not have children,
calls run in-process instead, under a `SIGALRM` deadline when on the main thread.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import dataclass
from types import FrameType
from typing import Literal, TypeVar

from pebble import ProcessExpired, ProcessPool
from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

ProgressCallback = Callable[[int], object]
"""Called with the number of newly finished items, like `tqdm.update`."""

# Calls queued per worker: enough to keep workers busy, few enough to bound memory.
_IN_FLIGHT_PER_WORKER = 8


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


class DeadlinePool:
    """Long-lived worker processes; every call gets its own wall-clock deadline.

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
        self._initializer = initializer
        self._pool: ProcessPool | None = None
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()

    def __enter__(self) -> DeadlinePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the workers (running calls are killed). The pool restarts if used again."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._owner_pid == os.getpid():
            pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves it unannotated
            pool.join()

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
            timeout: wall-clock seconds each call may run, counted from when a worker starts it.
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
            if multiprocessing.current_process().daemon:
                return self._map_inline(function, items, timeout, update)
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
        in_flight: dict[Future[R], int] = {}
        window = self.num_workers * _IN_FLIGHT_PER_WORKER
        pending = iter(items)
        try:
            for index, item in enumerate(pending):
                results.append(CallFailed("error", "not run"))
                in_flight[self._schedule(function, item, timeout)] = index
                if len(in_flight) >= window:
                    self._collect(in_flight, results, update)
            while in_flight:
                self._collect(in_flight, results, update)
        except BaseException:
            # Ctrl-C (or a failing input iterator): stop this map's calls, leave the pool usable.
            for future in in_flight:
                future.cancel()
            raise
        return results

    def _schedule(self, function: Callable[[T], R], item: T, timeout: float) -> Future[R]:
        pool = self._worker_pool()
        try:
            return pool.schedule(function, args=(item,), timeout=timeout)
        except RuntimeError:
            # A broken pebble pool (all workers lost at once) refuses work: start a fresh one.
            self._discard(pool)
            return self._worker_pool().schedule(function, args=(item,), timeout=timeout)

    @staticmethod
    def _collect(
        in_flight: dict[Future[R], int],
        results: list[R | CallFailed],
        update: ProgressCallback | None,
    ) -> None:
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            results[in_flight.pop(future)] = _outcome(future)
        if update is not None:
            update(len(done))

    def _worker_pool(self) -> ProcessPool:
        with self._lock:
            if self._owner_pid != os.getpid():
                # We are a forked copy: the parent's pool and its threads are not ours.
                self._pool, self._owner_pid = None, os.getpid()
            if self._pool is None or not self._pool.active:
                self._pool = ProcessPool(
                    max_workers=self.num_workers,
                    initializer=self._initializer,
                    context=multiprocessing.get_context("spawn"),
                )
            return self._pool

    def _discard(self, pool: ProcessPool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.stop()  # type: ignore[no-untyped-call]

    def _map_inline(
        self,
        function: Callable[[T], R],
        items: Iterable[T],
        timeout: float,
        update: ProgressCallback | None,
    ) -> list[R | CallFailed]:
        if self._initializer is not None:
            self._initializer()
        results: list[R | CallFailed] = []
        for item in items:
            results.append(_call_inline(function, item, timeout))
            if update is not None:
                update(1)
        return results


def _outcome(future: Future[R]) -> R | CallFailed:
    try:
        return future.result()
    except TimeoutError as error:
        seconds = error.args[1] if len(error.args) > 1 else "its"
        return CallFailed("timeout", f"ran past its {seconds}s deadline; worker replaced")
    except ProcessExpired as error:
        return CallFailed("worker_died", f"worker exited with code {error.exitcode} mid-call")
    except CancelledError:
        return CallFailed("error", "cancelled")
    except Exception as error:
        return CallFailed("error", _one_line(error))


def _one_line(error: BaseException) -> str:
    return traceback.format_exception_only(error)[-1].strip()


class _DeadlinePassed(BaseException):
    """Raised by SIGALRM in an inline call.

    A BaseException, so that an `except Exception` in the called code cannot swallow it.
    """


def _call_inline(function: Callable[[T], R], item: T, timeout: float) -> R | CallFailed:
    if threading.current_thread() is not threading.main_thread():
        # No signals off the main thread, no children in a daemon: run without a deadline.
        try:
            return function(item)
        except Exception as error:
            return CallFailed("error", _one_line(error))

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _DeadlinePassed

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return function(item)
    except _DeadlinePassed:
        return CallFailed("timeout", f"ran past its {timeout}s deadline (in-process)")
    except Exception as error:
        return CallFailed("error", _one_line(error))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
