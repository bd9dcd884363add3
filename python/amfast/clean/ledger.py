"""The rejection ledger, the funnel (table, JSON, HTML chart) and "what happened to row X".

Ledger (Parquet or JSONL by file name), one line per dropped row: `row`, `row_id`, `source`,
`stage`, `reason`, `params` (the stage's parameters as JSON), `kept_row` / `kept_row_id` (the
representative a duplicate was dropped for, else null), `score`, `detail` (what the reason
applied to: the benchmark item a decontaminated row matched), `message` (read errors: file,
line and problem) and `record` (the row as it was read). `row_index.parquet` in the output folder
maps every input row to `kept` or the stage that dropped it, which is what `explain` reads first.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from amfast.clean.ingest import SHARD_SCHEMA, read_shard, strip_newline
from amfast.errors import InputError
from amfast.io import _open_text_output
from amfast.outputs import AtomicWriter, write_text_atomically

if TYPE_CHECKING:
    from amfast.clean.config import CleanConfig


LEDGER_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("row_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("params", pa.string()),
        pa.field("kept_row", pa.int64()),
        pa.field("kept_row_id", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("detail", pa.string()),
        pa.field("message", pa.string()),
        pa.field("record", pa.large_string()),
    ]
)


@dataclass(frozen=True)
class StageReport:
    """One stage's decisions and timing."""

    name: str
    params: dict[str, Any]
    decisions: pa.Table
    seconds: float
    reused: bool


@dataclass
class Funnel:
    """Rows in / dropped / out per stage, overall and per source."""

    rows: int
    stages: list[dict[str, Any]] = field(default_factory=list)

    def table(self, max_sources: int = 40) -> str:
        """The funnel as text: one line per stage, then one line per source."""
        lines = [f"{'stage':<16}{'in':>12}{'dropped':>10}{'out':>12}  reasons"]
        for stage in self.stages:
            reasons = ", ".join(f"{name} {count:,}" for name, count in stage["reasons"].items())
            lines.append(
                f"{stage['stage']:<16}{stage['in']:>12,}{stage['dropped']:>10,}"
                f"{stage['out']:>12,}  {reasons}"
            )
        shown = [stage for stage in self.stages if stage["dropped"]] or self.stages[:1]
        names = [stage["stage"] for stage in shown]
        sources = sorted(
            {source for stage in self.stages for source in stage["by_source"]},
            key=lambda source: -self.stages[0]["by_source"].get(source, {}).get("in", 0),
        )
        short = [name[:7] for name in names]
        lines += [
            "",
            f"{'source':<26}{'in':>8}" + "".join(f"{n:>8}" for n in short) + f"{'out':>8}",
        ]
        for source in sources[:max_sources]:
            counts = [stage["by_source"].get(source, {}) for stage in shown]
            dropped = "".join(f"{count.get('dropped', 0):>8,}" for count in counts)
            first = self.stages[0]["by_source"].get(source, {}).get("in", 0)
            last = self.stages[-1]["by_source"].get(source, {}).get("out", 0)
            lines.append(f"{source or '(none)':<26.26}{first:>8,}{dropped}{last:>8,}")
        if len(sources) > max_sources:
            lines.append(f"... {len(sources) - max_sources} more sources in funnel.json")
        return "\n".join(lines)

    def html(self) -> str:
        """A self-contained HTML page: a funnel chart (SVG) and the per-stage table."""
        width, bar_height = 720, 28
        top = max(self.rows, 1)
        bars = []
        for index, stage in enumerate(self.stages):
            kept = stage["out"] / top * width
            lost = stage["dropped"] / top * width
            left = (width - kept - lost) / 2
            y = index * (bar_height + 6)
            label = html.escape(f"{stage['stage']}: {stage['out']:,} (-{stage['dropped']:,})")
            bars.append(
                f'<rect x="{left + 200:.1f}" y="{y}" width="{kept:.1f}" height="{bar_height}" '
                f'fill="#3b82f6"/><rect x="{left + 200 + kept:.1f}" y="{y}" width="{lost:.1f}" '
                f'height="{bar_height}" fill="#f87171"/><text x="0" y="{y + 19}" '
                f'font-size="13">{label}</text>'
            )
        height = len(self.stages) * (bar_height + 6)
        rows = "".join(
            f"<tr><td>{html.escape(s['stage'])}</td><td>{s['in']:,}</td><td>{s['dropped']:,}</td>"
            f"<td>{s['out']:,}</td><td>{html.escape(json.dumps(s['reasons']))}</td></tr>"
            for s in self.stages
        )
        return (
            "<!doctype html><meta charset='utf-8'><title>amfast clean funnel</title>"
            "<body style='font-family:sans-serif'><h1>amfast clean: funnel</h1>"
            f"<svg width='{width + 220}' height='{height}'>{''.join(bars)}</svg>"
            "<table border='1' cellpadding='4'><tr><th>stage</th><th>in</th><th>dropped</th>"
            f"<th>out</th><th>reasons</th></tr>{rows}</table></body>"
        )


def _reason_counts(reasons: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    """How often each reason occurs, in order of first occurrence (like `Counter`)."""
    counts = pc.value_counts(reasons)
    return dict(
        zip(
            counts.field("values").to_pylist(),
            counts.field("counts").to_pylist(),
            strict=True,
        )
    )


def _funnel(
    reports: list[StageReport], rows: np.ndarray, codes: np.ndarray, names: list[str]
) -> Funnel:
    """The funnel from every stage's decisions; `names[codes[i]]` is row i's source."""
    alive = np.ones(len(rows), bool)
    funnel = Funnel(rows=len(rows))
    order = sorted(range(len(names)), key=names.__getitem__)
    for report in reports:
        positions = np.searchsorted(rows, report.decisions.column("row").to_numpy())
        before = np.bincount(codes[alive], minlength=len(names))
        alive[positions] = False
        lost = np.bincount(codes[positions], minlength=len(names))
        funnel.stages.append(
            {
                "stage": report.name,
                "in": int(before.sum()),
                "dropped": len(positions),
                "out": int(alive.sum()),
                "seconds": round(report.seconds, 3),
                "resumed": report.reused,
                "params": report.params,
                "reasons": _reason_counts(report.decisions.column("reason")),
                "by_source": {
                    names[code]: {
                        "in": int(before[code]),
                        "dropped": int(lost[code]),
                        "out": int(before[code] - lost[code]),
                    }
                    for code in order
                    if before[code]
                },
            }
        )
    return funnel


def write_reports(
    shards: list[Path],
    reports: list[StageReport],
    entries: list[dict[str, Any]],
    config: CleanConfig,
) -> Funnel:
    """Writes the ledger, row index, funnel JSON/HTML and manifest; returns the funnel."""
    output = Path(config.output)
    # An empty input has no shards; its index is an empty table of the same columns.
    columns = ["row", "row_id", "source"]
    index = pa.concat_tables(
        [SHARD_SCHEMA.empty_table().select(columns)]
        + [read_shard(path, columns) for path in shards]
    ).combine_chunks()
    rows = index.column("row").to_numpy()
    sources = pc.dictionary_encode(index.column("source").combine_chunks())
    status = np.zeros(len(rows), np.int32)  # 0: kept, else 1 + the index of the dropping stage
    for number, report in enumerate(reports, start=1):
        status[np.searchsorted(rows, report.decisions.column("row").to_numpy())] = number
    dropped = _write_ledger(_ledger_parts(shards, reports, index), config.dropped_path)
    row_index = pa.table(
        {
            "row": index.column("row"),
            "row_id": index.column("row_id"),
            "source": index.column("source"),
            "status": pa.array(["kept", *(report.name for report in reports)]).take(status),
        }
    )
    with AtomicWriter(output / "row_index.parquet") as temporary:
        pq.write_table(row_index, temporary)
    funnel = _funnel(reports, rows, sources.indices.to_numpy(), sources.dictionary.to_pylist())
    document = {"rows": funnel.rows, "stages": funnel.stages}
    write_text_atomically(output / "funnel.json", json.dumps(document, indent=1, sort_keys=True))
    write_text_atomically(output / "funnel.html", funnel.html())
    manifest = {
        "input": str(config.input),
        "rows": funnel.rows,
        "kept": int(sum(entry["rows"] for entry in entries)),
        "dropped": dropped,
        "shards": entries,
        "ledger": _relative_to_output(config.dropped_path, output),
        "stages": [stage["stage"] for stage in funnel.stages],
    }
    write_text_atomically(output / "manifest.json", json.dumps(manifest, indent=1))
    return funnel


def _relative_to_output(path: Path, output: Path) -> str:
    """`path` relative to the output folder when inside it, so the folder can be moved."""
    try:
        return str(path.resolve().relative_to(output.resolve()))
    except ValueError:
        return str(path.resolve())


def _ledger_parts(
    shards: list[Path], reports: list[StageReport], index: pa.Table
) -> Iterator[pa.Table]:
    """The ledger in row order, one part per shard (its dropped rows with their records)."""
    if not reports:
        return
    decisions = pa.concat_tables([report.decisions for report in reports])
    stage = np.repeat(np.arange(len(reports)), [len(report.decisions) for report in reports])
    dropped = decisions.column("row").to_numpy()
    order = np.argsort(dropped, kind="stable")
    decisions, stage, dropped = decisions.take(order), stage[order], dropped[order]
    kept_rows = decisions.column("kept_row").to_numpy()
    names = pa.array([report.name for report in reports], pa.string())
    params = pa.array([json.dumps(report.params, sort_keys=True) for report in reports])
    rows = index.column("row").to_numpy()
    for path in shards:
        shard = read_shard(path, ["row", "message", "record"])
        shard_rows = shard.column("row").to_numpy()
        if not len(shard_rows):
            continue
        low, high = np.searchsorted(dropped, [shard_rows[0], shard_rows[-1] + 1])
        part = decisions.slice(low, high - low)
        positions = np.searchsorted(rows, dropped[low:high])
        kept = kept_rows[low:high]
        has_kept = kept >= 0
        kept_ids = index.column("row_id").take(np.searchsorted(rows, kept))
        in_shard = np.searchsorted(shard_rows, dropped[low:high])
        score = part.column("score")
        yield pa.table(
            {
                "row": part.column("row"),
                "row_id": index.column("row_id").take(positions),
                "source": index.column("source").take(positions),
                "stage": names.take(stage[low:high]),
                "reason": part.column("reason"),
                "params": params.take(stage[low:high]),
                "kept_row": pa.array(np.where(has_kept, kept, 0), mask=~has_kept),
                "kept_row_id": pc.if_else(pa.array(has_kept), kept_ids, None),
                "score": pc.if_else(pc.is_nan(score), None, score),
                "detail": part.column("detail"),
                "message": shard.column("message").take(in_shard),
                "record": strip_newline(shard.column("record").take(in_shard)),
            },
            schema=LEDGER_SCHEMA,
        )


def _write_ledger(parts: Iterator[pa.Table], path: Path) -> int:
    """Writes the ledger part by part (Parquet or JSONL by name); returns its row count."""
    count = 0
    with AtomicWriter(path) as temporary:
        if path.name.endswith(".parquet"):
            with pq.ParquetWriter(temporary, LEDGER_SCHEMA) as writer:
                for part in parts:
                    writer.write_table(part)
                    count += part.num_rows
            return count
        with _open_text_output(temporary, path) as handle:
            for part in parts:
                for record in part.to_pylist():
                    handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
                count += part.num_rows
    return count


def _ledger_path(output: Path, recorded: str) -> Path:
    """Where the ledger is: relative names are inside the output folder (wherever it moved).

    Runs before the manifest recorded it that way wrote a path relative to the directory
    `clean` ran in; those are tried as given when the folder does not hold the file.
    """
    path = Path(recorded)
    if path.is_absolute():
        return path
    for candidate in (output / path, output / path.name, path):
        if candidate.exists():
            return candidate
    return output / path


def read_ledger(path: str | os.PathLike[str]) -> pa.Table:
    """The ledger at `path` (Parquet or JSONL)."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        return pq.read_table(path)
    import pyarrow.json as pajson

    return pajson.read_json(path)


def explain(output: str | os.PathLike[str], row: str) -> str:
    """What happened to a row (by `row_id`, or by input position `#123`), as readable lines.

    Follows duplicates to their representative, and says where that one went.

    Raises:
        InputError: No finished run in `output`, or no such row.
    """
    output = Path(output)
    manifest_path = output / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(f"{output}: no manifest.json; is this an `amfast clean` output folder?")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        ledger_path = _ledger_path(output, str(manifest["ledger"]))
        index = pq.read_table(output / "row_index.parquet")
        ledger = read_ledger(ledger_path)
        rows = int(manifest["rows"])
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as error:
        raise InputError(
            f"{output}: damaged `amfast clean` output ({type(error).__name__}: {error}); "
            "rerun `amfast clean` to rebuild it"
        ) from error
    lines: list[str] = []
    seen: set[int] = set()
    match = (
        pc.equal(index.column("row"), int(row[1:]))
        if row.startswith("#") and row[1:].isdigit()
        else pc.equal(index.column("row_id"), row)
    )
    found = index.filter(match)
    if found.num_rows == 0:
        raise InputError(f"row {row!r} is not in this run ({rows:,} rows)")
    queue = found.column("row").to_pylist()
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        entry = index.filter(pc.equal(index.column("row"), current)).to_pylist()[0]
        head = f"row {entry['row_id']} (input row #{current}, source {entry['source'] or '-'})"
        if entry["status"] == "kept":
            lines.append(f"{head}: kept")
            continue
        drop = ledger.filter(pc.equal(ledger.column("row"), current)).to_pylist()[0]
        text = f"{head}: dropped by {drop['stage']} ({drop['reason']})"
        if drop.get("score") is not None:
            text += f", score {drop['score']:.4g}"
        if drop.get("detail") is not None:
            text += f", {drop['detail']}"
        if drop.get("kept_row_id") is not None:
            text += f", duplicate of {drop['kept_row_id']} (#{drop['kept_row']})"
            queue.append(int(drop["kept_row"]))
        if drop.get("message"):
            text += f": {drop['message']}"
        lines.append(text)
        lines.append(f"    params {drop['params']}")
    return "\n".join(lines)
