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

`engine = "ray"` runs step 2 on Ray Data (`amfast.clean.engines.ray`); steps 1, 3 and 4 and every
marker stay the same, so both engines write the same bytes and resume each other's runs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from amfast.clean.config import CleanConfig
from amfast.clean.engines import start_engine
from amfast.clean.ingest import ingest, prepare, read_shard, read_state, strip_newline
from amfast.clean.ledger import Funnel, StageReport, write_reports
from amfast.io import input_files
from amfast.outputs import (
    AtomicWriter,
    Output,
    check_outputs,
    remove_stale_temporaries,
    write_text_atomically,
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


def write_outputs(
    shards: list[Path], dropped_rows: np.ndarray, config: CleanConfig, key: str
) -> list[dict[str, Any]]:
    """One output shard per ingest shard with its kept records; finished shards are skipped."""
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    state = config.work_path / "output.json"
    if read_state(state).get("key") != key:
        for old in output.glob("part-*"):
            old.unlink()
        write_text_atomically(state, json.dumps({"key": key}))
    entries = []
    suffix = ".jsonl" if config.output_format == "jsonl" else ".parquet"
    with config.progress_bar("write", sum(1 for _ in shards)) as bar:
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
    check_outputs(
        [config.input, *files],
        [
            Output(output, "-o/--output", folder=True),
            Output(config.dropped_path, "--dropped"),
            Output(config.work_path, "--work-dir", folder=True),
        ],
    )
    for folder in (
        output,
        config.work_path,
        *(config.work_path / sub for sub in ("ingest", "stages")),
    ):
        remove_stale_temporaries(folder)
    stages = config.build_stages()
    engine = start_engine(config.engine)  # a missing engine fails before anything is read
    key = prepare(config, files)
    resumed = sum(1 for shard in (config.work_path / "ingest").glob("part-*.arrow"))
    steps: dict[str, float] = {}
    with _timed(steps, "read"):
        shards = ingest(config, files)
    with _timed(steps, "frame"):
        read_decisions, results = engine(stages, shards, config, key)
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
