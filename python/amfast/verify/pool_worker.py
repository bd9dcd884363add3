"""A `DeadlinePool` worker: runs as `python -I pool_worker.py`, never as part of the caller.

Started by `amfast.verify.pool` as a plain interpreter running this file, so the caller's
`__main__` is never imported again (multiprocessing's spawn and forkserver both re-run the
user's script, which breaks guard-less scripts). Protocol on stdin/stdout, one frame each way
per message (8-byte big-endian length + pickle): first the parent's `sys.path` and the
initializer (or None), answered by `("ready", None)` or `("error", text)`; then repeatedly
`(function, item)`, answered by `("ok", result)` or `("error", one-line text)`. EOF on stdin
(the parent closed the pool or died) ends the worker. Standard library only at import: the
sandbox supervisor, loaded by file too, shares its frame reading and CPU accounting.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import cast

_LENGTH_BYTES = 8


def read_frame(fd: int) -> object:
    """One unpickled frame from `fd`, or None at EOF."""
    header = read_exactly(fd, _LENGTH_BYTES)
    if header is None:
        return None
    body = read_exactly(fd, int.from_bytes(header, "big"))
    if body is None:
        return None
    return pickle.loads(body)


def write_frame(fd: int, message: object) -> None:
    """Writes `message` as one frame (length + pickle) to `fd`."""
    write_payload(fd, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def write_payload(fd: int, payload: bytes) -> None:
    """Writes an already pickled message as one frame to `fd`."""
    data = memoryview(len(payload).to_bytes(_LENGTH_BYTES, "big") + payload)
    while data:
        data = data[os.write(fd, data) :]


def read_exactly(fd: int, count: int) -> bytes | None:
    """`count` bytes from `fd`, or None at EOF (the sandbox supervisor reads with it too)."""
    chunks: list[bytes] = []
    while count > 0:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _one_line(error: BaseException) -> str:
    return traceback.format_exception_only(type(error), error)[-1].strip()


def _serve(read_fd: int, write_fd: int) -> None:
    setup = read_frame(read_fd)
    if setup is None:
        return
    paths, initializer = cast("tuple[list[str], bytes | None]", setup)
    sys.path[:] = list(paths)
    try:
        if initializer is not None:
            pickle.loads(initializer)()
        write_frame(write_fd, ("ready", None))
    except BaseException as error:  # reported to the parent, which fails the call
        write_frame(write_fd, ("error", f"worker initializer failed: {_one_line(error)}"))
        return
    while (request := read_exactly(read_fd, _LENGTH_BYTES)) is not None:
        body = read_exactly(read_fd, int.from_bytes(request, "big"))
        if body is None:
            return
        try:
            function, item = pickle.loads(body)
            reply: tuple[str, object] = ("ok", function(item))
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # the function's failure, reported as data
            payload = pickle.dumps(("error", _one_line(error)))
        write_payload(write_fd, payload)


def scheduler_times(pids: list[int], seen: dict[str, tuple[int, int]]) -> tuple[float, float, bool]:
    """CPU seconds run and waited for by the threads of `pids`; whether one is runnable now.

    Schedstat counts a wait for a CPU only once it ends, hence the runnable flag. `seen`
    keeps each thread's last reading, so a thread that ended still counts.
    """
    runnable = False
    for pid in pids:
        try:
            for thread in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{thread}/schedstat", "rb") as stats:
                    ran, waited = (int(field) for field in stats.read().split()[:2])
                seen[f"{pid}/{thread}"] = (ran, waited)
                with open(f"/proc/{pid}/task/{thread}/stat", "rb") as stat:
                    runnable = runnable or stat.read().rsplit(b")", 1)[1].split()[0] == b"R"
        except (OSError, IndexError, ValueError):
            continue  # it already ended, or no schedstat: the full wall clock is charged
    ran_total = sum(ran for ran, _ in seen.values())
    return ran_total / 1e9, sum(waited for _, waited in seen.values()) / 1e9, runnable


def main() -> None:
    """Serves calls on fds 0/1; stdout is redirected to stderr so prints cannot corrupt frames."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # a called function that prints must not write into the frame stream
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _serve(read_fd, write_fd)


if __name__ == "__main__":
    main()
