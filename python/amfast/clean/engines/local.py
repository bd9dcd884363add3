"""The local engine: every stage on the whole frame in this process, one after another.

Each stage's decisions persist under `WORK/stages/` with the fingerprint of everything upstream
(`amfast.stage.run_stage`), so a rerun reloads finished stages instead of running them again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from amfast.clean.config import CleanConfig
from amfast.clean.engines import StageResult
from amfast.clean.ingest import read_errors, read_shard, read_shard_empty
from amfast.stage import (
    FRAME_SCHEMA,
    Stage,
    StageContext,
    fingerprint,
    priority_ranks,
    run_stage,
    survivors,
)


def load_frame(shards: list[Path], config: CleanConfig) -> tuple[pa.Table, pa.Table]:
    """`(frame of readable rows, read errors as decisions)` from the ingest shards.

    The frame's columns are one chunk per shard, read from the memory-mapped shards, not copied.
    """
    names = ["row", "row_id", "source", "text", "response", "has_reference", "has_test_case"]
    tables = [read_shard(path, [*names, "error"]) for path in shards]
    table = pa.concat_tables(tables) if tables else read_shard_empty(names)
    read_decisions = read_errors(table)
    # Filtering copies; without read errors the frame stays on the memory-mapped shards.
    readable = table.filter(pc.is_null(table.column("error"))) if read_decisions.num_rows else table
    frame = readable.select(names)
    ranks = priority_ranks(frame, config.priority, config.source_rank)
    frame = frame.add_column(5, "priority", pa.array(ranks, pa.int64())).cast(FRAME_SCHEMA)
    return frame, read_decisions


def local_stages(
    stages: list[Stage], frame: pa.Table, config: CleanConfig, upstream: str
) -> Iterator[StageResult]:
    """Runs (or reloads) each stage on the survivors of the previous ones."""
    context = StageContext(num_threads=config.num_threads, batch_rows=config.batch_rows)
    folder = config.work_path / "stages"
    for index, stage in enumerate(stages):
        started = time.perf_counter()
        with config.progress_bar(stage.name) as bar:
            context.progress = bar.update
            marker = folder / f"{index:02d}-{stage.name}.parquet"
            decisions, reused = run_stage(stage, frame, context, marker, upstream)
        upstream = fingerprint(upstream, stage.name, stage.params())
        yield stage, decisions, time.perf_counter() - started, reused, upstream
        frame = survivors(frame, decisions)


def local_engine(
    stages: list[Stage], shards: list[Path], config: CleanConfig, upstream: str
) -> tuple[pa.Table, Iterator[StageResult]]:
    """The `Engine` that runs every stage in this process (see the module docs)."""
    frame, read_decisions = load_frame(shards, config)
    return read_decisions, local_stages(stages, frame, config, upstream)
