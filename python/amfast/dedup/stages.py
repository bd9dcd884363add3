"""Normalization and dedup as `amfast clean` stages (see `amfast.stage` for the contract).

- `normalize`: drops rows whose text is empty once normalized (nothing left to compare).
- `exact_dedup`: equal normalized texts; the representative is the smallest `priority`.
- `near_dedup`: MinHash-LSH candidates verified by exact Jaccard (and the number guard); rows
  in `priority` order, each dropped only for a kept row at or above the threshold (`keep`
  "greedy"; "component" keeps one row per connected component). The score is the Jaccard with
  the kept row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from amfast.dedup.exact import exact_duplicates
from amfast.dedup.near import MinHashOptions, NearDuplicateIndex
from amfast.normalize import NormalizeOptions, normalize
from amfast.stage import Drops, StageContext


def _batches(frame: pa.Table, context: StageContext) -> Iterator[pa.ChunkedArray]:
    texts = frame.column("text")
    for start in range(0, frame.num_rows, context.batch_rows):
        batch = texts.slice(start, context.batch_rows)
        context.progress(len(batch))
        yield batch


def _duplicates(representative: np.ndarray, scores: np.ndarray | None, reason: str) -> Drops:
    positions = np.flatnonzero(representative != np.arange(len(representative))).astype(np.int64)
    return Drops(
        positions,
        reason,
        kept=representative[positions].astype(np.int64),
        scores=None if scores is None else scores[positions].astype(np.float64),
    )


class NormalizeStage:
    """Drops rows whose normalized text is empty."""

    name = "normalize"

    def __init__(self, options: NormalizeOptions) -> None:
        """Normalization shared with the dedup stages."""
        self.options = options

    def params(self) -> dict[str, Any]:
        """The normalization options."""
        return asdict(self.options)

    def run(self, frame: pa.Table, context: StageContext) -> Drops:
        """Normalizes batch by batch and keeps the lengths only."""
        empty = [
            pc.equal(pc.binary_length(normalize(batch, self.options)), 0).to_numpy(
                zero_copy_only=False
            )
            for batch in _batches(frame, context)
        ]
        mask = np.concatenate(empty) if empty else np.zeros(0, bool)
        return Drops(np.flatnonzero(mask).astype(np.int64), "empty_text")


class ExactDedupStage:
    """Exact duplicates of the normalized text."""

    name = "exact_dedup"

    def __init__(self, options: NormalizeOptions) -> None:
        """Hashes texts under `options`."""
        self.options = options

    def params(self) -> dict[str, Any]:
        """The normalization the hash is taken under."""
        return {"hash": "amfast-hash-v1", **asdict(self.options)}

    def run(self, frame: pa.Table, context: StageContext) -> Drops:
        """One pass of hashing, then a sort of the hashes (Rust)."""
        result = exact_duplicates(
            _batches(frame, context),
            priority=frame.column("priority").to_numpy(),
            normalize=self.options,
            num_threads=context.num_threads,
        )
        return _duplicates(result.representative, None, "exact_duplicate")


class NearDedupStage:
    """MinHash-LSH near duplicates, every candidate pair verified by exact Jaccard."""

    name = "near_dedup"

    def __init__(self, options: NormalizeOptions, minhash: MinHashOptions | None = None) -> None:
        """Near dedup with `minhash` settings (the defaults when omitted)."""
        self.options, self.minhash = options, minhash or MinHashOptions()

    def params(self) -> dict[str, Any]:
        """Near-dedup settings and normalization."""
        return {**asdict(self.minhash), **asdict(self.options)}

    def run(self, frame: pa.Table, context: StageContext) -> Drops:
        """Two passes (signatures, then verification), then the keep policy (Rust)."""
        index = NearDuplicateIndex(
            self.minhash, normalize=self.options, num_threads=context.num_threads
        )
        for batch in _batches(frame, context):
            index.add(batch)
        for batch in _batches(frame, context):
            index.verify(batch)
        result = index.finish(frame.column("priority").to_numpy())
        return _duplicates(result.representative, result.similarity, "near_duplicate")
