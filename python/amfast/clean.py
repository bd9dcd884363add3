"""`clean(config)`: read → stages (normalize, dedup, plug-ins, filters) → kept shards + ledger.

Work happens in `work_dir` (default `OUTPUT/_work`), and every step leaves a completion marker
written atomically (temp file + fsync + rename):

1. ingest: `ingest/part-NNNNN.arrow`, one per `shard_rows` input rows (parsed rows, or the error
   of a row that could not be read, with its raw record);
2. each stage: `stages/NN-<name>.parquet`, its decisions, tagged with a fingerprint of
   everything upstream and of its parameters;
3. each output shard: `OUTPUT/part-NNNNN.jsonl|parquet` (kept records, byte for byte for JSONL);
4. last: the ledger, `row_index.parquet`, `funnel.json`, `funnel.html` and `manifest.json`.

A rerun of the same command after a crash skips whatever has its marker; every result depends
only on the input and the config, so the output is byte-identical to an uninterrupted run.

`engine = "ray"` runs step 2 on Ray Data (`amfast.clean_ray`); steps 1, 3 and 4 and every
marker stay the same, so both engines write the same bytes and resume each other's runs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from amfast.clean_config import CleanConfig
from amfast.errors import InputError
from amfast.io import AtomicWriter
from amfast.ledger import Funnel, StageReport, write_reports
from amfast.pipeline import (
    FRAME_SCHEMA,
    Stage,
    StageContext,
    fingerprint,
    priority_ranks,
    run_stage,
    survivors,
)
from amfast.sources import (
    SHARD_SCHEMA,
    Chunk,
    RowParser,
    first_record_check,
    input_files,
    iter_chunks,
    read_shard,
    strip_newline,
)


@dataclass(frozen=True)
class CleanSummary:
    """What a clean run did."""

    rows: int
    kept: int
    dropped: int
    seconds: float
    funnel: Funnel
    output: Path
    ledger: Path
    resumed_steps: int
    steps: dict[str, float] = field(default_factory=dict)
    """Seconds of the steps around the stages: `read`, `frame`, `write`, `ledger`."""

    @property
    def rows_per_second(self) -> float:
        """End-to-end throughput."""
        return self.rows / self.seconds if self.seconds else float("inf")


def _bar(config: CleanConfig, label: str, total: int | None = None) -> tqdm[Any]:
    return tqdm(
        desc=f"{label:<16}",
        total=total,
        unit=" rows",
        unit_scale=True,
        disable=None if config.progress else True,
        file=sys.stderr,
        leave=False,
    )


def _prepare(config: CleanConfig, files: list[Path]) -> str:
    """The ingest fingerprint; clears state from another config (or all with `restart`)."""
    work = config.work_path
    if config.restart and work.exists():
        shutil.rmtree(work)
    stats = [(str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    key = fingerprint(stats, config.fields.__dict__, config.shard_rows)
    state = work / "state.json"
    if state.is_file() and json.loads(state.read_text()).get("ingest") != key:
        shutil.rmtree(work / "ingest", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"ingest": key}))
    return key


def ingest(config: CleanConfig, files: list[Path]) -> list[Path]:
    """Parses the input into Arrow shards under the work dir; finished shards are skipped."""
    folder = config.work_path / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    parser = RowParser(config.fields)
    shards: list[Path] = []
    first_row = 0
    checked = False
    with _bar(config, "read") as bar:
        for path in files:
            for chunk in iter_chunks(path, config.shard_rows):
                shard = folder / f"part-{len(shards):05d}.arrow"
                shards.append(shard)
                if not shard.is_file():
                    table = parser.table(chunk, first_row)
                    if not checked:
                        _check_first(table, chunk, config)
                    with (
                        AtomicWriter(shard) as temporary,
                        pa.OSFile(str(temporary), "wb") as sink,
                        pa.ipc.new_file(sink, SHARD_SCHEMA) as writer,
                    ):
                        writer.write_table(table)
                checked = True
                first_row += len(chunk)
                bar.update(len(chunk))
    return shards


def _check_first(table: pa.Table, chunk: Chunk, config: CleanConfig) -> None:
    """A wrong field mapping fails at once, naming the field, instead of dropping every row."""
    for position, reason in enumerate(table.column("error").to_pylist()):
        if reason is None:
            return
        if reason in ("missing_field", "wrong_type"):
            record = json.loads(table.column("record")[position].as_py())
            number = chunk.raw[position][0]
            first_record_check(record, config.fields, f"{chunk.path}:{number}")
            return


def load_frame(shards: list[Path], config: CleanConfig) -> tuple[pa.Table, pa.Table]:
    """`(frame of readable rows, read errors as decisions)` from the ingest shards.

    The frame's columns are one chunk per shard, read from the memory-mapped shards, not copied.
    """
    names = ["row", "row_id", "source", "text", "response", "has_reference", "has_test_case"]
    tables = [read_shard(path, [*names, "error"]) for path in shards]
    table = pa.concat_tables(tables) if tables else _read_empty(names)
    read_decisions = read_errors(table)
    # Filtering copies; without read errors the frame stays on the memory-mapped shards.
    readable = table.filter(pc.is_null(table.column("error"))) if read_decisions.num_rows else table
    frame = readable.select(names)
    ranks = priority_ranks(frame, config.priority, config.source_rank)
    frame = frame.add_column(5, "priority", pa.array(ranks, pa.int64())).cast(FRAME_SCHEMA)
    return frame, read_decisions


def read_errors(table: pa.Table) -> pa.Table:
    """The rows of ingest shards (`row`, `error` columns) that could not be read, as decisions."""
    errors = table.filter(pc.is_valid(table.column("error")))
    return pa.table(
        {
            "row": errors.column("row"),
            "reason": errors.column("error"),
            "kept_row": pa.array(np.full(errors.num_rows, -1), pa.int64()),
            "score": pa.array(np.full(errors.num_rows, np.nan), pa.float64()),
        }
    )


def _read_empty(names: list[str]) -> pa.Table:
    return SHARD_SCHEMA.empty_table().select([*names, "error"])


def run_stages(
    stages: list[Stage], frame: pa.Table, config: CleanConfig, upstream: str
) -> Iterator[tuple[Stage, pa.Table, float, bool, str]]:
    """Runs (or reloads) each stage on the survivors of the previous ones."""
    context = StageContext(num_threads=config.num_threads, batch_rows=config.batch_rows)
    folder = config.work_path / "stages"
    for index, stage in enumerate(stages):
        started = time.perf_counter()
        with _bar(config, stage.name) as bar:
            context.progress = bar.update
            marker = folder / f"{index:02d}-{stage.name}.parquet"
            decisions, reused = run_stage(stage, frame, context, marker, upstream)
        upstream = fingerprint(upstream, stage.name, stage.params())
        yield stage, decisions, time.perf_counter() - started, reused, upstream
        frame = survivors(frame, decisions)


def write_outputs(
    shards: list[Path], dropped_rows: np.ndarray, config: CleanConfig, key: str
) -> list[dict[str, Any]]:
    """One output shard per ingest shard with its kept records; finished shards are skipped."""
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    state = config.work_path / "output.json"
    if not state.is_file() or json.loads(state.read_text()).get("key") != key:
        for old in output.glob("part-*"):
            old.unlink()
        state.write_text(json.dumps({"key": key}))
    entries = []
    suffix = ".jsonl" if config.output_format == "jsonl" else ".parquet"
    with _bar(config, "write", sum(1 for _ in shards)) as bar:
        for index, shard in enumerate(shards):
            path = output / f"part-{index:05d}{suffix}"
            rows = 0
            if not path.is_file():
                table = read_shard(shard, ["row", "row_id", "source", "text", "response", "record"])
                keep = ~np.isin(table.column("row").to_numpy(), dropped_rows)
                kept = table.filter(pa.array(keep))
                rows = kept.num_rows
                with AtomicWriter(path) as temporary:
                    _write_kept(kept, temporary, config.output_format)
            else:
                rows = _count_rows(path, config.output_format)
            entries.append({"path": path.name, "rows": rows, "bytes": path.stat().st_size})
            bar.update(1)
    return entries


def _write_kept(kept: pa.Table, temporary: Path, output_format: str) -> None:
    if output_format == "jsonl":
        # Records end in their newline: the file is their bytes end to end.
        lines = kept.column("record").combine_chunks()
        with temporary.open("wb") as handle:
            if len(lines):
                offsets = np.frombuffer(lines.buffers()[1], np.int64)
                first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
                handle.write(memoryview(lines.buffers()[2])[first:last])
    else:
        records = strip_newline(kept.column("record"))
        pq.write_table(kept.drop_columns(["row"]).set_column(4, "record", records), temporary)


def _count_rows(path: Path, output_format: str) -> int:
    if output_format == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    return int(pq.ParquetFile(path).metadata.num_rows)


def clean(config: CleanConfig) -> CleanSummary:
    """Runs the whole job (see the module docs); resumes from the work dir when it can.

    Raises:
        InputError: Unreadable input, a wrong field mapping or an unavailable stage.
    """
    started = time.perf_counter()
    output = Path(config.output)
    files = input_files(config.input)
    if any(output.resolve() == path.resolve().parent for path in files):
        raise InputError(f"{output}: the output folder holds the input; choose another")
    stages = config.build_stages()
    if config.engine == "ray":
        from amfast.clean_ray import ray_stages, require_ray

        require_ray()  # before reading anything
    key = _prepare(config, files)
    resumed = sum(1 for shard in (config.work_path / "ingest").glob("part-*.arrow"))
    steps: dict[str, float] = {}
    with _timed(steps, "read"):
        shards = ingest(config, files)
    if config.engine == "ray":
        read_decisions, results = ray_stages(stages, shards, config, key)
    else:
        with _timed(steps, "frame"):
            frame, read_decisions = load_frame(shards, config)
        results = run_stages(stages, frame, config, key)
    reports = [StageReport("read", {"fields": config.fields.__dict__}, read_decisions, 0.0, False)]
    all_dropped = [read_decisions.column("row").to_numpy()]
    final_key = key
    for stage, decisions, seconds, reused, upstream in results:
        final_key = upstream  # the fingerprint of everything the output depends on
        reports.append(StageReport(stage.name, stage.params(), decisions, seconds, reused))
        all_dropped.append(decisions.column("row").to_numpy())
        resumed += int(reused)
    dropped_rows = np.sort(np.concatenate(all_dropped))
    with _timed(steps, "write"):
        entries = write_outputs(shards, dropped_rows, config, final_key)
    with _timed(steps, "ledger"):
        funnel = write_reports(shards, reports, entries, config)
    if config.work_path == output / "_work":
        with contextlib.suppress(OSError):
            shutil.rmtree(config.work_path / "ingest")
    total = funnel.rows
    return CleanSummary(
        rows=total,
        kept=total - len(dropped_rows),
        dropped=len(dropped_rows),
        seconds=time.perf_counter() - started,
        funnel=funnel,
        output=output,
        ledger=config.dropped_path,
        resumed_steps=resumed,
        steps=steps,
    )


@contextlib.contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    steps[name] = time.perf_counter() - started
