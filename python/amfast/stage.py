"""The stage contract of `amfast clean`, and the loop that runs stages with completion markers.

A stage is any object with a `name`, a `params()` dict and `run(frame, context) -> Drops`
(datatrove's filter contract, narrowed to what a curation step decides):

- `frame` is a pyarrow Table of the rows still alive, one row per input row, with the columns
  of `FRAME_SCHEMA`: `row` (global input position, the stable numeric id), `row_id` (the id a
  user sees), `source`, `text` (the query), `response` (null when there is none), `priority`
  (smaller is kept first among duplicates) and `has_reference` / `has_test_case`.
- `run` decides; it never mutates the frame, writes files or prints. It returns `Drops`: which
  positions of the frame to drop, a reason code for each, and for duplicates the position of
  the kept representative (else -1), a score (similarity, metric value; NaN when none) and an
  optional per-row detail (decontamination: the benchmark item) that goes to the ledger, not
  into the funnel's reason counts.
- `params()` is JSON: it goes into the ledger next to every row the stage dropped, and into the
  marker fingerprint, so a changed parameter reruns the stage instead of reusing stale results.

Stages from other modules plug in the same way: `amfast.dedup.semantic` and `amfast.decontam`
expose `clean_stage(options: dict) -> Stage`, loaded by `plugin_stage` only when a config
enables them (their options come from the `[semantic_dedup]` / `[decontam]` TOML tables).

`run_stage` persists each stage's decisions (`<work>/stages/NN-name.parquet`, written
atomically with its fingerprint by `write_marker`), so a rerun after a crash loads finished
stages instead of running them again, and the result is the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from amfast.errors import InputError
from amfast.outputs import AtomicWriter

FRAME_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("row_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("text", pa.large_string()),
        pa.field("response", pa.large_string()),
        pa.field("priority", pa.int64()),
        pa.field("has_reference", pa.bool_()),
        pa.field("has_test_case", pa.bool_()),
    ]
)

DECISIONS_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("kept_row", pa.int64()),
        pa.field("score", pa.float64()),
        pa.field("detail", pa.string()),
    ]
)

PLUGINS = {"semantic_dedup": "amfast.dedup.semantic", "decontam": "amfast.decontam"}


@dataclass(frozen=True)
class Drops:
    """What a stage drops, as positions in the frame it was given.

    Attributes:
        positions: Frame positions of the dropped rows.
        reasons: A reason code per dropped row (one string for all, or one per row).
        kept: Per dropped row, the frame position of the kept representative, or -1.
        scores: Per dropped row, a similarity or metric value (NaN when none).
        details: Per dropped row, what the reason applied to (the ledger's `detail`), or None.
    """

    positions: npt.NDArray[np.int64]
    reasons: str | list[str]
    kept: npt.NDArray[np.int64] | None = None
    scores: npt.NDArray[np.float64] | None = None
    details: list[str | None] | None = None

    @staticmethod
    def none() -> Drops:
        """Drops nothing."""
        return Drops(np.zeros(0, dtype=np.int64), [])

    def decisions(self, frame_rows: npt.NDArray[np.int64]) -> pa.Table:
        """The drops as a `DECISIONS_SCHEMA` table in global row numbers, sorted by row."""
        positions = np.asarray(self.positions, dtype=np.int64)
        count = len(positions)
        if isinstance(self.reasons, str):
            reasons = pa.repeat(pa.scalar(self.reasons, pa.string()), count)
        else:
            reasons = pa.array(self.reasons, pa.string())
        if len(reasons) != count:
            raise ValueError(f"{count} dropped positions but {len(reasons)} reasons")
        kept = np.full(count, -1, np.int64) if self.kept is None else np.asarray(self.kept)
        scores = np.full(count, math.nan) if self.scores is None else np.asarray(self.scores)
        kept_rows = np.where(kept >= 0, frame_rows[np.maximum(kept, 0)], -1)
        details = pa.array(
            self.details if self.details is not None else [None] * count, pa.string()
        )
        if len(details) != count:
            raise ValueError(f"{count} dropped positions but {len(details)} details")
        order = np.argsort(frame_rows[positions], kind="stable")
        return pa.table(
            {
                "row": pa.array(frame_rows[positions][order], pa.int64()),
                "reason": reasons.take(order),
                "kept_row": pa.array(kept_rows[order], pa.int64()),
                "score": pa.array(scores[order].astype(np.float64), pa.float64()),
                "detail": details.take(order),
            },
            schema=DECISIONS_SCHEMA,
        )


@dataclass
class StageContext:
    """What a stage may use besides the frame: threads, a progress callback, shared caches."""

    num_threads: int | None = None
    batch_rows: int = 65_536
    progress: Callable[[int], None] = lambda rows: None
    cache: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Stage(Protocol):
    """One curation step (see the module docs for the contract)."""

    name: str

    def params(self) -> dict[str, Any]:
        """The stage's settings as JSON values."""
        ...

    def run(self, frame: pa.Table, context: StageContext) -> Drops:
        """Decides which rows of `frame` to drop."""
        ...


def plugin_stage(kind: str, options: Mapping[str, Any]) -> Stage:
    """The stage `kind` from its module (imported only now), built from its TOML options.

    Raises:
        InputError: The module is not part of this build, or has no `clean_stage`.
    """
    module_name = PLUGINS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and not module_name.startswith(error.name):
            raise  # the module exists but one of its own imports is missing: say that instead
        raise InputError(
            f"stage {kind!r} is not available in this build ({module_name} is missing); "
            f"remove it from `stages`"
        ) from error
    factory = getattr(module, "clean_stage", None)
    if factory is None:
        raise InputError(
            f"stage {kind!r} is not available in this build: {module_name} has no "
            "clean_stage(options) -> Stage"
        )
    stage = factory(dict(options))
    if not isinstance(stage, Stage):
        raise InputError(f"{module_name}.clean_stage did not return a Stage")
    return stage


def fingerprint(*parts: Any) -> str:  # noqa: ANN401 - any JSON value
    """A short stable hash of JSON values (what a marker was made from)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_marker(marker: Path, key: str) -> pa.Table | None:
    """The decisions stored in `marker` when it was made with fingerprint `key`, else None."""
    if marker.is_file():
        stored = pq.read_table(marker)
        fresh = stored.schema.names == DECISIONS_SCHEMA.names
        if fresh and (stored.schema.metadata or {}).get(b"fingerprint") == key.encode():
            return stored.replace_schema_metadata(None)
    return None


def write_marker(marker: Path, key: str, decisions: pa.Table) -> None:
    """Stores a stage's decisions atomically, tagged with the fingerprint `key`."""
    with AtomicWriter(marker) as temporary:
        pq.write_table(decisions.replace_schema_metadata({"fingerprint": key}), temporary)


def run_stage(
    stage: Stage,
    frame: pa.Table,
    context: StageContext,
    marker: Path,
    upstream: str,
) -> tuple[pa.Table, bool]:
    """The stage's decisions, from its marker when one with the same fingerprint exists.

    Returns:
        The decisions table and whether it came from an earlier run.
    """
    key = fingerprint(upstream, stage.name, stage.params())
    stored = read_marker(marker, key)
    if stored is not None:
        return stored, True
    decisions = stage.run(frame, context).decisions(frame.column("row").to_numpy())
    write_marker(marker, key, decisions)
    return decisions, False


def survivors(frame: pa.Table, decisions: pa.Table) -> pa.Table:
    """`frame` without the rows in `decisions`."""
    if decisions.num_rows == 0:
        return frame
    dropped = np.isin(frame.column("row").to_numpy(), decisions.column("row").to_numpy())
    return frame.filter(pa.array(~dropped))


def priority_keys(frame: pa.Table, order: list[str], source_rank: list[str]) -> list[np.ndarray]:
    """The `np.lexsort` keys of `priority_ranks` (least significant first, the row number first).

    Each key depends on its own row only, so engines that never hold the whole frame (Ray)
    compare rows by these keys and agree with the ranks.

    Raises:
        InputError: An unknown key.
    """
    keys: list[np.ndarray] = [frame.column("row").to_numpy()]
    for name in reversed(order):
        if name in ("has_reference", "has_test_case"):
            keys.append(~frame.column(name).to_numpy(zero_copy_only=False))
        elif name == "source_rank":
            rank_of = {source: rank for rank, source in enumerate(source_rank)}
            sources = pc.dictionary_encode(frame.column("source").combine_chunks())
            of_name = [rank_of.get(name, len(rank_of)) for name in sources.dictionary.to_pylist()]
            codes = sources.indices.to_numpy(zero_copy_only=False)
            keys.append(np.asarray(of_name, np.int64)[codes] if of_name else codes.astype(np.int64))
        elif name in ("longer", "shorter"):
            lengths = pc.utf8_length(frame.column("text")).to_numpy()
            keys.append(-lengths if name == "longer" else lengths)
        else:
            raise InputError(
                f"unknown priority key {name!r}; use has_reference, has_test_case, "
                "source_rank, longer or shorter"
            )
    return keys


def priority_ranks(
    frame: pa.Table, order: list[str], source_rank: list[str]
) -> npt.NDArray[np.int64]:
    """Per row, its rank under `order` (0 is kept first among duplicates).

    Keys: `has_reference` and `has_test_case` (rows with one first), `source_rank` (sources in
    `source_rank` order, the rest after), `longer` / `shorter` (by text length); the row number
    breaks ties.

    Raises:
        InputError: An unknown key.
    """
    ranks = np.empty(frame.num_rows, np.int64)
    ranks[np.lexsort(priority_keys(frame, order, source_rank))] = np.arange(frame.num_rows)
    return ranks
