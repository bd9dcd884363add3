"""The output policy: checked before any work, written atomically, never over an input.

- `check_outputs(inputs, outputs)` runs before a command reads anything: every output must be
  writable and differ from every input and every other output, after resolving `..` and links
  (a folder output must not hold an input either). The error names the flag.
- `AtomicWriter` writes a file's bytes to a hidden temporary next to it (`.NAME.amfast-tmp-PID`,
  so no `part-*` glob sees it), fsyncs it and renames it onto the name; a run that dies leaves
  the temporary, which the next writer of that folder removes (`remove_stale_temporaries`).
- `write_text_atomically` is the one way state and marker files are written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from amfast.errors import InputError

TEMPORARY_MARK = ".amfast-tmp-"
"""Part of every temporary file's name (after a leading dot and the final name)."""


def temporary_path(path: Path) -> Path:
    """The hidden temporary `path` is written to before it is renamed into place.

    Example:
        >>> temporary_path(Path("out/part-00001.jsonl")).name.startswith(".part-00001.jsonl.")
        True
    """
    return path.with_name(f".{path.name}{TEMPORARY_MARK}{os.getpid()}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Removes temporaries in `folder` left by processes that are gone; returns how many.

    A live process's temporaries (another run writing there now) are left alone.
    """
    removed = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in Path(folder).glob(f".*{TEMPORARY_MARK}*"):
            pid = path.name.rpartition(TEMPORARY_MARK)[2]
            if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed += 1
    return removed


class AtomicWriter:
    """Writes to a hidden temporary (see `temporary_path`), renamed onto `path` on success.

    A failed or interrupted run leaves the destination untouched (no half-written file), and the
    next `AtomicWriter` in that folder removes what a killed run left.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with AtomicWriter(folder / "a.txt") as temporary:
        ...     _ = temporary.write_text("done")
        >>> sorted(p.name for p in folder.iterdir())
        ['a.txt']
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Nothing is created until the `with` block starts."""
        self.path = Path(path)
        self.temporary = temporary_path(self.path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path.parent)
        return self.temporary

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        try:
            if error is None:
                with self.temporary.open("rb+") as handle:
                    os.fsync(handle.fileno())
                self.temporary.replace(self.path)
                _fsync_folder(self.path.parent)
        finally:
            # Also when the commit itself is interrupted (Ctrl-C during the fsync): no temporary
            # outlives the writer. After the rename there is none left to remove.
            with contextlib.suppress(FileNotFoundError):
                self.temporary.unlink()


def _fsync_folder(folder: Path) -> None:
    """Makes a rename durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically: state and marker files go through here."""
    with AtomicWriter(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Output:
    """One output of a command: its path, the flag that names it, and whether it is a folder."""

    path: str | os.PathLike[str]
    flag: str
    folder: bool = False


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().resolve()


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_writable(output: Output, target: Path) -> None:
    if target.exists():
        if output.folder and not target.is_dir():
            raise InputError(f"{output.flag} {output.path}: exists and is not a folder")
        if not output.folder and target.is_dir():
            raise InputError(f"{output.flag} {output.path}: is a folder; give a file name")
        if not os.access(target, os.W_OK) or not os.access(
            target.parent if not output.folder else target, os.W_OK | os.X_OK
        ):
            raise InputError(f"{output.flag} {output.path}: not writable")
        return
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{output.flag} {output.path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"{output.flag} {output.path}: cannot create it ({parent} is not writable)"
        )


def check_outputs(inputs: Iterable[str | os.PathLike[str]], outputs: Sequence[Output]) -> None:
    """Checks, before any work, that every output can be written and overwrites no input.

    Paths are compared after resolving `..` and symbolic links, so `out/../in.jsonl` and a
    link to the input are caught. A folder output may not hold an input, a file output may not
    be an input or sit inside an input folder, and no two outputs may be the same path.

    Raises:
        InputError: An output equal to an input or another output, or not writable; the
            message names the flag and the path.

    Example:
        >>> check_outputs(["in.jsonl"], [Output("in.jsonl", "-o")])
        Traceback (most recent call last):
        ...
        amfast.errors.InputError: -o in.jsonl: is the input in.jsonl; nothing overwrites an input
    """
    resolved_inputs = [(path, _resolved(path)) for path in inputs]
    seen: list[tuple[Output, Path]] = []
    for output in outputs:
        target = _resolved(output.path)
        for given, source in resolved_inputs:
            if target == source or (output.folder and _within(source, target)):
                what = "is" if target == source else "holds"
                raise InputError(
                    f"{output.flag} {output.path}: {what} the input {given}; "
                    "nothing overwrites an input"
                )
            if not output.folder and source.is_dir() and _within(target, source):
                raise InputError(
                    f"{output.flag} {output.path}: is inside the input folder {given}; "
                    "choose a path outside it"
                )
        for other, other_target in seen:
            if target == other_target:
                raise InputError(
                    f"{output.flag} {output.path}: is the same path as {other.flag} "
                    f"{other.path}; give them different names"
                )
        _check_writable(output, target)
        seen.append((output, target))
