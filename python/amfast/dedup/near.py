"""Near dedup: MinHash-LSH candidates, every candidate verified by exact Jaccard.

Pipeline (all in Rust, GIL released, parallel): normalize -> word n-gram shingles (64-bit; the
width narrows for short texts, rule `amfast-shingle-v2`) -> MinHash (`num_perm` seeded
permutations, spec `amfast-minhash-v1`) -> LSH `bands x rows` -> exact Jaccard of the two
shingle sets for every candidate pair (and, with `number_guard`, equal numbers) -> keep policy:
rows in `(priority, row id)` order, a row dropped only for an already kept row at or above
`threshold` (`keep="greedy"`, no chains), or one row per connected component
(`keep="component"`).

Defaults protect math data: `number_guard=True` (a problem is never dropped for one with other
numbers), texts under 20 words are compared as word sets and under 50 words as word pairs (a
one-word edit of a short problem keeps Jaccard >= 0.8 with them; word 5-grams lose it).

For more rows than memory, `NearDuplicateIndex` takes batches in two passes: `add` every batch,
then `verify` every batch again in the same order, then `finish`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from amfast import _core
from amfast.config import require, with_overrides
from amfast.dedup.exact import RepresentativeMap, _as_batches, as_priority
from amfast.normalize import NormalizeOptions, TextColumn

DEFAULT_TARGET_RECALL = 0.95
Keep = Literal["greedy", "component"]


@dataclass(frozen=True)
class MinHashOptions:
    """MinHash-LSH settings: the one declaration of them and their defaults.

    `amfast dedup` and `amfast clean` expose these fields as flags and TOML keys;
    `NearDuplicateIndex(options)` and the core's `NearIndex` take them whole.

    Attributes:
        threshold: Minimum exact Jaccard for two rows to be duplicates.
        num_perm: MinHash permutations (signature slots).
        bands: LSH bands; with `rows`, or neither for the automatic choice.
        rows: Slots per band.
        ngram: Words per shingle for texts of `bigram_below` words or more.
        seed: Seed of the MinHash permutations.
        number_guard: Never merge two texts whose multisets of numbers differ.
        unigram_below: Texts shorter than this many words are compared as word sets.
        bigram_below: Texts shorter than this many words are compared as word pairs.
        keep: `greedy` (a row is dropped only for a kept row at or above the threshold) or
            `component` (one row per connected component, which can chain).
    """

    threshold: float = field(default=0.8, metadata={"help": "near-duplicate exact Jaccard cut"})
    num_perm: int = field(default=128, metadata={"help": "MinHash permutations"})
    bands: int | None = field(
        default=None, metadata={"help": "LSH bands, with --rows (default: chosen for recall)"}
    )
    rows: int | None = field(default=None, metadata={"help": "slots per LSH band, with --bands"})
    ngram: int = field(default=5, metadata={"help": "words per shingle"})
    seed: int = field(default=1, metadata={"help": "MinHash seed"})
    number_guard: bool = field(
        default=True, metadata={"help": "never merge texts with different numbers"}
    )
    unigram_below: int = field(
        default=20, metadata={"help": "texts under this many words compare word sets (0: off)"}
    )
    bigram_below: int = field(
        default=50, metadata={"help": "texts under this many words compare word pairs (0: off)"}
    )
    keep: Keep = field(
        default="greedy",
        metadata={"help": "greedy: drop only for a kept row >= threshold; component: chains"},
    )

    def __post_init__(self) -> None:
        require(self.unigram_below >= 0, "unigram_below", self.unigram_below, "an integer >= 0")
        require(self.bigram_below >= 0, "bigram_below", self.bigram_below, "an integer >= 0")
        require(0.0 < self.threshold <= 1.0, "threshold", self.threshold, "a number in (0, 1]")
        require(self.num_perm >= 1, "num_perm", self.num_perm, "an integer >= 1")
        require(self.ngram >= 1, "ngram", self.ngram, "an integer >= 1")
        for name, value in (("bands", self.bands), ("rows", self.rows)):
            require(value is None or value >= 1, name, value, "an integer >= 1")
        require(
            (self.bands is None) == (self.rows is None),
            "bands",
            self.bands,
            "given together with rows (or neither)",
        )
        if self.bands is not None and self.rows is not None:
            require(
                self.bands * self.rows <= self.num_perm,
                "bands",
                self.bands,
                f"bands x rows <= num_perm ({self.num_perm})",
            )


def with_settings(minhash: MinHashOptions | None, settings: dict[str, Any]) -> MinHashOptions:
    """`minhash` (default: the defaults) with `settings` replacing some of its fields."""
    return with_overrides(MinHashOptions, minhash, settings)


@dataclass(frozen=True)
class NearDuplicates(RepresentativeMap):
    """Near-dedup result, one entry per row plus the verified pairs.

    Attributes:
        cluster: Lowest row id of each row's connected component of verified pairs (its own
            id when it has no duplicate).
        representative: The row kept in each row's place (itself when kept).
        similarity: Exact Jaccard with the representative (1.0 when kept); >= threshold for
            every dropped row under `keep="greedy"`, possibly lower under `"component"`
            (a row linked through a chain).
        pair_left: Left rows of verified pairs (left < right).
        pair_right: Right rows of verified pairs.
        pair_similarity: Exact Jaccard of each verified pair (>= threshold).
        candidates: Number of LSH candidate pairs checked.
        bands: LSH bands used.
        rows: Rows (slots) per band used.
    """

    cluster: npt.NDArray[np.int64]
    representative: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]
    pair_left: npt.NDArray[np.int64]
    pair_right: npt.NDArray[np.int64]
    pair_similarity: npt.NDArray[np.float32]
    candidates: int
    bands: int
    rows: int


class NearDuplicateIndex:
    """Streaming near-dedup index: `add` all batches, `verify` them again, then `finish`.

    Memory is `bands` 64-bit keys per row during `add`, plus the shingle sets of the rows that
    appear in a candidate pair during `verify`.

    Example:
        >>> index = NearDuplicateIndex(threshold=0.8, ngram=2)
        >>> batches = [["the cat sat on the mat today"], ["The cat sat on the mat today!"]]
        >>> for batch in batches:
        ...     index.add(batch)
        >>> for batch in batches:
        ...     index.verify(batch)
        >>> index.finish().representative.tolist()
        [0, 0]
    """

    def __init__(
        self,
        minhash: MinHashOptions | None = None,
        *,
        normalize: NormalizeOptions | None = None,
        num_threads: int | None = None,
        **settings: Any,  # noqa: ANN401 - MinHashOptions fields
    ) -> None:
        """Creates an empty index.

        Args:
            minhash: The MinHash-LSH settings (see `MinHashOptions`); the defaults when omitted.
            normalize: Normalization applied before shingling.
            num_threads: Worker threads (None: all cores).
            **settings: `MinHashOptions` fields that override `minhash` (`threshold=0.9`).
        """
        self.minhash = with_settings(minhash, settings)
        self._index = _core.NearIndex(
            minhash=self.minhash, normalize=normalize, num_threads=num_threads
        )
        self.bands, self.rows = self._index.banding

    def __len__(self) -> int:
        """Rows added so far."""
        return len(self._index)

    def add(self, texts: TextColumn | pa.RecordBatch, text_field: str | None = None) -> None:
        """Pass 1: adds a batch; its rows are numbered after those already added.

        Args:
            texts: A text column, or an Arrow record batch / table with `text_field`.
            text_field: The column to read when `texts` is a record batch or table.
        """
        self._index.add(_text_column(texts, text_field))

    def candidate_pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """LSH candidate pairs (left < right), before verification. Ends pass 1."""
        return self._index.candidate_pairs()

    def verify(self, texts: TextColumn | pa.RecordBatch, text_field: str | None = None) -> None:
        """Pass 2: feeds the same rows again, in order (batch sizes may differ)."""
        self._index.verify(_text_column(texts, text_field))

    def signatures(self, texts: TextColumn) -> npt.NDArray[np.uint32]:
        """MinHash signatures `(rows, num_perm)` of `texts` under this index's options."""
        return self._index.signatures(texts)

    def finish(self, priority: npt.ArrayLike | None = None) -> NearDuplicates:
        """Verifies the candidates and keeps rows by `keep`, smallest `(priority, row id)` first."""
        result = self._index.finish(as_priority(priority, len(self._index)))
        return NearDuplicates(
            cluster=result["cluster"],
            representative=result["representative"],
            similarity=result["similarity"],
            pair_left=result["pair_left"],
            pair_right=result["pair_right"],
            pair_similarity=result["pair_similarity"],
            candidates=int(result["candidates"]),
            bands=self.bands,
            rows=self.rows,
        )


def _text_column(texts: TextColumn | pa.RecordBatch, text_field: str | None) -> TextColumn:
    """The text column of a record batch or table, or `texts` itself."""
    if isinstance(texts, pa.RecordBatch | pa.Table):
        if text_field is None:
            raise TypeError("a record batch or table needs text_field=<column name>")
        if text_field not in texts.schema.names:
            raise KeyError(f"column {text_field!r} not in batch (columns: {texts.schema.names})")
        return texts.column(text_field)
    return texts


def near_duplicates(
    batches: TextColumn | Iterable[TextColumn] | Callable[[], Iterable[TextColumn]],
    minhash: MinHashOptions | None = None,
    *,
    priority: npt.ArrayLike | None = None,
    normalize: NormalizeOptions | None = None,
    num_threads: int | None = None,
    **settings: Any,  # noqa: ANN401 - MinHashOptions fields
) -> NearDuplicates:
    """Finds near-duplicate rows (exact Jaccard of word n-gram sets >= `threshold`).

    Args:
        batches: One text column; a list of columns; or a function returning a fresh iterable
            of columns (called twice, once per pass, for data that does not fit in memory).
        minhash: The MinHash-LSH settings (see `MinHashOptions`); the defaults when omitted.
        priority: Optional per-row rank; smaller values are kept first.
        normalize: Normalization applied before shingling.
        num_threads: Worker threads (None: all cores).
        **settings: `MinHashOptions` fields that override `minhash` (`ngram=3`).

    Returns:
        Clusters, representatives, similarities and the verified pairs.

    Raises:
        InvalidRowError: A row is null (the message names the row).
        ValueError: Inconsistent options.

    Example:
        >>> texts = [
        ...     "the quick brown fox jumps over the lazy dog by the river",
        ...     "something else entirely about prime numbers and their gaps",
        ...     "The quick brown fox jumps over the lazy dog by the river!",
        ... ]
        >>> result = near_duplicates(texts, ngram=3)
        >>> result.representative.tolist(), result.keep.tolist()
        ([0, 1, 0], [True, True, False])
    """
    index = NearDuplicateIndex(minhash, normalize=normalize, num_threads=num_threads, **settings)

    def passes() -> Iterable[TextColumn]:
        if callable(batches):
            return batches()
        return _as_batches(batches)

    first = passes()
    if iter(first) is first and not callable(batches):
        raise TypeError("a one-shot iterator cannot be read twice; pass a list or a function")
    for batch in first:
        index.add(batch)
    for batch in passes():
        index.verify(batch)
    return index.finish(priority)


def number_keys(texts: TextColumn, *, num_threads: int | None = None) -> npt.NDArray[np.uint64]:
    """Per row, a 64-bit key of its multiset of digit runs: what `number_guard` compares.

    Two texts with the same numbers in any order (full-width digits count as ASCII) share a key.

    Example:
        >>> keys = number_keys(["pay $165 a month for 2 years", "2 years at $165", "pay $5,845"])
        >>> bool(keys[0] == keys[1]), bool(keys[0] == keys[2])
        (True, False)
    """
    return _core.number_keys(texts, num_threads=num_threads)


def choose_bands(
    threshold: float, num_perm: int = 128, target_recall: float = DEFAULT_TARGET_RECALL
) -> tuple[int, int]:
    """LSH `(bands, rows)` with P(candidate | J = threshold) >= `target_recall`.

    Among `rows` values, the largest (fewest false candidates) whose `num_perm // rows` bands
    still reach the target. This is not datasketch's FP/FN-area optimum (9 x 13 at 0.8, recall
    0.886).

    Example:
        >>> choose_bands(0.8, 128)
        (18, 7)
    """
    bands, rows = _core.choose_bands(threshold, num_perm, target_recall)
    return bands, rows


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair with Jaccard `similarity` becomes an LSH candidate.

    Example:
        >>> round(candidate_probability(0.8, 16, 8), 3)
        0.947
    """
    return float(_core.candidate_probability(similarity, bands, rows))
