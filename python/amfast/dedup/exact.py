"""Exact dedup: rows whose normalized texts are equal (128-bit xxh3, spec `amfast-hash-v1`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from amfast import _core
from amfast.normalize import NormalizeOptions, TextColumn


def as_priority(priority: npt.ArrayLike | None, rows: int) -> npt.NDArray[np.int64] | None:
    """Validates a per-row priority (smaller wins) as a contiguous int64 array."""
    if priority is None:
        return None
    values = np.ascontiguousarray(priority, dtype=np.int64)
    if values.shape != (rows,):
        raise ValueError(f"priority must have one value per row: {values.shape} != ({rows},)")
    return values


class RepresentativeMap:
    """What every dedup result shares: `representative[i]` is the row kept in row i's place."""

    representative: npt.NDArray[np.int64]

    @property
    def keep(self) -> npt.NDArray[np.bool_]:
        """True for the rows to keep (their own representative)."""
        return np.asarray(self.representative == np.arange(len(self.representative)))

    @property
    def duplicate_count(self) -> int:
        """Number of rows dropped as duplicates."""
        return int(len(self.representative) - np.count_nonzero(self.keep))


@dataclass(frozen=True)
class ExactDuplicates(RepresentativeMap):
    """Exact-dedup result.

    Attributes:
        hashes: `(rows, 2)` uint64, the high and low halves of each row's 128-bit hash.
        representative: Per row, the row kept in its place (itself when kept).
    """

    hashes: npt.NDArray[np.uint64]
    representative: npt.NDArray[np.int64]


def exact_duplicates(
    batches: TextColumn | Iterable[TextColumn],
    *,
    priority: npt.ArrayLike | None = None,
    normalize: NormalizeOptions | None = None,
    num_threads: int | None = None,
) -> ExactDuplicates:
    """Finds rows whose normalized texts are identical.

    Each group of equal texts keeps the row with the smallest `(priority, row id)`.

    Args:
        batches: One text column, or an iterable of columns numbered consecutively.
        priority: Optional per-row rank; smaller values are kept first.
        normalize: Normalization applied before hashing.
        num_threads: Worker threads (None: all cores).

    Returns:
        The hash and representative of every row.

    Raises:
        InvalidRowError: A row is null.

    Example:
        >>> result = exact_duplicates(["Hello, world", "x", "hello world!"])
        >>> result.representative.tolist(), result.keep.tolist()
        ([0, 1, 0], [True, True, False])
    """
    index = _core.ExactIndex(normalize=normalize, num_threads=num_threads)
    for batch in _as_batches(batches):
        index.add(batch)
    result = index.finish(as_priority(priority, len(index)))
    return ExactDuplicates(hashes=result["hashes"], representative=result["representative"])


def content_hashes(
    texts: TextColumn,
    *,
    normalize: NormalizeOptions | None = None,
    num_threads: int | None = None,
) -> npt.NDArray[np.uint64]:
    """128-bit content hashes of the normalized texts, as `(rows, 2)` uint64 (high, low).

    Example:
        >>> hashes = content_hashes(["A  b", "a b"])
        >>> bool((hashes[0] == hashes[1]).all())
        True
    """
    return exact_duplicates(texts, normalize=normalize, num_threads=num_threads).hashes


def _is_column(item: object) -> bool:
    """Whether an item of a list can be a batch (a column), not a single text or a bad row."""
    return not isinstance(item, str | bytes) and (
        isinstance(item, Iterable)
        or hasattr(item, "__arrow_c_array__")
        or hasattr(item, "__arrow_c_stream__")
    )


def _as_batches(batches: TextColumn | Iterable[TextColumn]) -> Iterable[TextColumn]:
    """Tells one column (list of str, Arrow array) from an iterable of columns.

    A list or tuple is a list of batches only when every item is a column; otherwise it is one
    column, so a bad row (`["a", 1]`) is reported by the core with its row number.
    """
    if isinstance(batches, list | tuple) and not (
        batches and all(_is_column(item) for item in batches)
    ):
        return [batches]
    if hasattr(batches, "__arrow_c_array__") or hasattr(batches, "__arrow_c_stream__"):
        return [batches]
    return batches
