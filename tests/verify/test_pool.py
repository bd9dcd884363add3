"""The deadline pool: per-call timeouts that kill and replace only the overrunning worker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from amfast.verify.pool import CallFailed, DeadlinePool, shared_pool


def pid_after(seconds: float) -> int:
    """Sleeps, then names the worker that ran the call."""
    time.sleep(seconds)
    return os.getpid()


def exit_worker(code: int) -> int:
    os._exit(code)


def burn_cpu(seconds: float) -> float:
    """Spins until this process has used `seconds` of CPU time; returns the wall time it took."""
    started, wall = time.process_time(), time.monotonic()
    while time.process_time() - started < seconds:
        pass
    return time.monotonic() - wall


def busy_processes(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` processes that spin forever: a loaded machine (the caller kills them)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def test_overrunning_call_times_out_and_only_its_worker_is_replaced() -> None:
    with DeadlinePool(2) as pool:
        results = pool.map(pid_after, [0.0, 60.0, 0.0, 0.0], timeout=1.0)
        assert results[1] == CallFailed("timeout", "ran past its 1.0s deadline; worker replaced")
        finished = [r for r in results if isinstance(r, int)]
        assert len(finished) == 3
        later = pool.map(pid_after, [0.2] * 4, timeout=10.0)
    assert all(isinstance(pid, int) for pid in later)
    assert set(later) - set(finished), "a fresh worker should have replaced the killed one"


def test_worker_that_dies_mid_call_is_reported_and_replaced() -> None:
    with DeadlinePool(1) as pool:
        died = pool.call(exit_worker, 3, timeout=10.0)
        assert isinstance(died, CallFailed)
        assert died.reason == "worker_died"
        assert "code 3" in died.detail
        assert isinstance(pool.call(pid_after, 0.0, timeout=10.0), int)


def test_exception_in_the_function_becomes_an_error_marker() -> None:
    with DeadlinePool(1) as pool:
        result = pool.map(int, ["7", "seven"], timeout=10.0)
    assert result[0] == 7
    assert isinstance(result[1], CallFailed)
    assert result[1].reason == "error"
    assert "ValueError" in result[1].detail


def test_interrupted_map_cancels_its_calls_and_leaves_the_pool_usable() -> None:
    def items() -> Iterator[float]:
        yield 300.0  # holds the only worker unless the interrupt kills it
        time.sleep(1.0)  # let the worker start it
        raise KeyboardInterrupt

    with DeadlinePool(1) as pool:
        before = pool.call(pid_after, 0.0, timeout=20.0)
        with pytest.raises(KeyboardInterrupt):
            pool.map(pid_after, items(), timeout=600.0)
        after = pool.call(pid_after, 0.0, timeout=20.0)
    assert isinstance(before, int)
    assert isinstance(after, int)
    assert after != before, "the worker running the cancelled call should have been replaced"


def test_shared_pool_serves_many_threads() -> None:
    pool = shared_pool()
    results: list[object] = []
    lock = threading.Lock()

    def work(value: int) -> None:
        outcome = pool.call(abs, -value, timeout=30.0)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(16))  # type: ignore[type-var]


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_workers"):
        DeadlinePool(-1)
    with pytest.raises(ValueError, match="timeout"):
        DeadlinePool(1).map(abs, [1], timeout=0)


@pytest.mark.slow
def test_a_loaded_machine_does_not_turn_a_quick_call_into_a_timeout() -> None:
    # 0.3 s of CPU under a 0.8 s deadline, while 4 spinning processes per core share the CPUs:
    # the wall clock runs well past 0.8 s, but waiting for a CPU is not charged to the call.
    with DeadlinePool(1) as pool:
        pool.call(burn_cpu, 0.0, timeout=60.0)  # the worker imports this module once, unloaded
        busy = busy_processes(4 * len(os.sched_getaffinity(0)))
        try:
            results = pool.map(burn_cpu, [0.3, 0.3], timeout=0.8)
        finally:
            for process in busy:
                process.kill()
                process.wait()
    assert all(isinstance(wall, float) for wall in results), results
    assert max(results) > 0.8, "the machine was not loaded enough to test anything"  # type: ignore[type-var]


def test_a_call_that_burns_past_its_deadline_still_times_out() -> None:
    with DeadlinePool(1) as pool:
        result = pool.call(burn_cpu, 30.0, timeout=1.0)
    assert isinstance(result, CallFailed)
    assert result.reason == "timeout"


def test_functions_of_the_callers_main_module_fail_cleanly() -> None:
    # Workers never import the caller's __main__, so its functions cannot reach them.
    script = "from amfast.verify.pool import DeadlinePool\n"
    script += "def double(x):\n    return 2 * x\n"
    script += "with DeadlinePool(1) as pool:\n    print(pool.call(double, 2, timeout=30))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "CallFailed(reason='error'" in done.stdout
    assert "double" in done.stdout
