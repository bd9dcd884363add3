"""Where a distillation job keeps its samples, so that it can be killed and resumed at any point.

Layout of the output directory, for the job's shard tag `TAG` (`00000-of-00001` for `--shard 0/1`):

    OUTDIR/run.json                          settings of the job (a rerun must match them)
    OUTDIR/journal-TAG.jsonl                 open journal: one line per finished key, appended
    OUTDIR/shards/TAG-000000.parquet         sealed samples (AM schema); never touched again
    OUTDIR/shards/TAG-000000.outcomes.jsonl  keys of that seal that produced no sample, and why
    OUTDIR/summary-TAG.json                  the last run's summary

Every finished key (a sample, or an outcome: `truncated`, `rejected`, `failed`) is appended to
the journal and flushed at once, so a killed process loses only requests still in flight (the
OS keeps flushed lines; they are also fsynced every few seconds against power loss). Once the
journal holds `shard_rows` lines it is sealed: the outcomes file, then the data file, are each
written to a temporary name and renamed, and the journal is removed. The data file is the
seal's completion marker. On start, a journal left by a killed run is sealed the same way,
less a torn last line and any key a finished seal already holds, so no key is ever written
twice. Machines sharding one job write disjoint tags; a lock file keeps two processes off one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from amfast.errors import InputError
from amfast.outputs import TEMPORARY_MARK, AtomicWriter

OutputFormat = Literal["parquet", "jsonl"]
OutcomeStatus = Literal["truncated", "rejected", "failed"]
# What a resume needs to know of each sealed sample (reading whole rows would be slow).
_INDEX_COLUMNS = ("key", "prompt_id", "sample_index", "finish_reason")
# Outcomes that settle a key; a `failed` key is tried again by the next run.
FINAL_OUTCOMES: frozenset[str] = frozenset({"truncated", "rejected"})

_STRING, _INT = pa.string(), pa.int64()
_INFO = pa.struct(
    [
        ("source", _STRING),
        ("reference_answer", _STRING),
        ("test_case", _STRING),
        ("think_content", _STRING),
        ("answer_content", _STRING),
        ("finish_reason", _STRING),
        ("prompt_tokens", _INT),
        ("completion_tokens", _INT),
        ("seed", _INT),
        ("attempts", _INT),
        ("backend", _STRING),
        ("model", _STRING),
        ("verify_score", pa.float64()),
        ("verify_reason", _STRING),
    ]
)
SAMPLE_SCHEMA = pa.schema(
    [
        ("key", _STRING),
        ("prompt_id", _STRING),
        ("sample_index", _INT),
        ("finish_reason", _STRING),
        (
            "messages",
            pa.list_(pa.struct([("role", _STRING), ("content", _STRING), ("info", _INFO)])),
        ),
    ]
)


def sample_key(prompt_id: str, sample_index: int) -> str:
    """The stable key of one sample.

    Example:
        >>> sample_key("ecd0a8e27ab0d3b9", 2)
        'ecd0a8e27ab0d3b9:2'
    """
    return f"{prompt_id}:{sample_index}"


def shard_tag(index: int, count: int) -> str:
    """The file-name tag of shard `index` of `count`.

    Example:
        >>> shard_tag(3, 16)
        '00003-of-00016'
    """
    return f"{index:05d}-of-{count:05d}"


@dataclass
class KeyIndex:
    """What the directory already holds for this tag.

    Attributes:
        samples: key -> how many sample rows it has (more than 1 would be a bug).
        finish_reasons: key -> the finish reason of its sample.
        outcomes: key -> its latest outcome record (keys without a sample only).
        samples_per_prompt: prompt id -> sample rows.
    """

    samples: Counter[str] = field(default_factory=Counter)
    finish_reasons: dict[str, str | None] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples_per_prompt: Counter[str] = field(default_factory=Counter)

    def settled(self, key: str) -> bool:
        """True when `key` needs no more work: it has a sample or a final outcome."""
        outcome = self.outcomes.get(key)
        return key in self.samples or (outcome is not None and outcome["status"] in FINAL_OUTCOMES)

    def add(self, record: dict[str, Any]) -> None:
        """Counts one journal record."""
        if record["kind"] == "sample":
            row = record["row"]
            key = row["key"]
            self.samples[key] += 1
            self.samples_per_prompt[row["prompt_id"]] += 1
            self.finish_reasons[key] = row.get("finish_reason")
            self.outcomes.pop(key, None)
        elif record["key"] not in self.samples:
            self.outcomes[record["key"]] = record


class SampleStore:
    """The journal and sealed shards of one shard tag (see the module docstring).

    Use as a context manager: entering takes the lock and recovers a killed run's journal;
    leaving seals what the journal holds.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        tag: str,
        *,
        output_format: OutputFormat = "parquet",
        shard_rows: int = 1000,
        fsync_seconds: float = 5.0,
    ) -> None:
        if shard_rows < 1:
            raise InputError("shard_rows must be at least 1")
        self.directory = Path(directory)
        self.tag = tag
        self.output_format = output_format
        self.shard_rows = shard_rows
        self.fsync_seconds = fsync_seconds
        self.shards = self.directory / "shards"
        self.journal_path = self.directory / f"journal-{tag}.jsonl"
        self.index = KeyIndex()
        self._journal: IO[bytes] | None = None
        self._journal_lines: list[dict[str, Any]] = []
        self._lock: IO[bytes] | None = None
        self._last_fsync = 0.0

    def __enter__(self) -> SampleStore:
        self.shards.mkdir(parents=True, exist_ok=True)
        self._lock = (self.directory / f".lock-{self.tag}").open("wb")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(
                f"{self.directory}: another process is writing shard {self.tag}"
            ) from None
        try:
            for temporary in self.shards.glob(f".{self.tag}-*{TEMPORARY_MARK}*"):
                temporary.unlink()  # a killed run's half-written shard
            for stray in self.shards.glob(f"{self.tag}-*.outcomes.jsonl"):
                if not self._data_path(stray.name.split(".")[0]).exists():
                    stray.unlink()  # a seal that never finished: its lines are in the journal
            for record in self._sealed_records():
                self.index.add(record)
            self._recover_journal()
        except BaseException:
            self._lock.close()
            raise
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        try:
            self.seal()
        finally:
            if self._lock is not None:
                self._lock.close()  # closing releases the flock
                self._lock = None

    def append(self, record: dict[str, Any]) -> None:
        """Adds one finished key to the journal (flushed now); seals when the journal is full."""
        if self._journal is None:
            self._journal = self.journal_path.open("ab")
        self._journal.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self._journal.flush()
        now = time.monotonic()
        if now - self._last_fsync >= self.fsync_seconds:
            os.fsync(self._journal.fileno())
            self._last_fsync = now
        self._journal_lines.append(record)
        self.index.add(record)
        if len(self._journal_lines) >= self.shard_rows:
            self.seal()

    def seal(self) -> None:
        """Writes the journal's records as the next shard and empties the journal."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._journal_lines:
            self._write_shard(self._journal_lines)
            self._journal_lines = []
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()

    def shard_files(self) -> list[Path]:
        """The sealed data files of this tag, in order."""
        files = self.shards.glob(f"{self.tag}-*.{self.output_format}")
        return sorted(path for path in files if not path.name.endswith(".outcomes.jsonl"))

    def _data_path(self, stem: str) -> Path:
        return self.shards / f"{stem}.{self.output_format}"

    def _next_stem(self) -> str:
        numbers = [int(path.name.split(".")[0].rsplit("-", 1)[1]) for path in self.shard_files()]
        return f"{self.tag}-{max(numbers, default=-1) + 1:06d}"

    def _write_shard(self, records: list[dict[str, Any]]) -> None:
        stem = self._next_stem()
        outcomes = [r for r in records if r["kind"] == "outcome"]
        samples = [r["row"] for r in records if r["kind"] == "sample"]
        # Outcomes first: the data file, renamed last, marks the seal complete.
        with AtomicWriter(self.shards / f"{stem}.outcomes.jsonl") as temporary:
            temporary.write_bytes(b"".join(_json_line(r) for r in outcomes))
        with AtomicWriter(self._data_path(stem)) as temporary:
            if self.output_format == "parquet":
                table = pa.Table.from_pylist(samples, schema=SAMPLE_SCHEMA)
                pq.write_table(table, temporary, compression="zstd")
            else:
                temporary.write_bytes(b"".join(_json_line(row) for row in samples))

    def _sealed_records(self) -> Iterator[dict[str, Any]]:
        for data in self.shard_files():
            stem = data.name.split(".")[0]
            outcomes = self.shards / f"{stem}.outcomes.jsonl"
            if outcomes.exists():
                for line in outcomes.read_bytes().splitlines():
                    yield json.loads(line)
            for row in read_sample_rows(data, columns=_INDEX_COLUMNS):
                yield {"kind": "sample", "row": row}

    def _recover_journal(self) -> None:
        if not self.journal_path.exists():
            return
        kept: list[dict[str, Any]] = []
        for line in self.journal_path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # the torn last line of a killed run: that key is generated again
            key = record["row"]["key"] if record["kind"] == "sample" else record["key"]
            if key in self.index.samples:
                continue  # already sealed before the kill
            kept.append(record)
            self.index.add(record)
        if kept:
            self._write_shard(kept)
        self.journal_path.unlink()


def _json_line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def read_sample_rows(
    path: str | os.PathLike[str], columns: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """The sample rows of one sealed shard (Parquet or JSONL), or just some of their columns."""
    path = Path(path)
    if path.suffix == ".parquet":
        selected = list(columns) if columns is not None else None
        rows: list[dict[str, Any]] = pq.read_table(path, columns=selected).to_pylist()
        return rows
    rows = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    if columns is None:
        return rows
    return [{name: row.get(name) for name in columns} for row in rows]
