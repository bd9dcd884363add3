r"""`amfast export`: the release in the AM message schema, and its dataset card.

Each row becomes the paper's layout, `{"messages": [{role, content, info}]}`: the user message's
`info` holds `source`, `reference_answer` and `test_case` (a JSON string), the assistant's holds
`source` (where the response came from), `think_content` and `answer_content`; amfast adds its
labels to the user's `info` (`category`, `difficulty`, `language`, `query_tokens`) and the
verification to the assistant's (`verify_score`, `verify_reason`, `verifier`,
`response_tokens`). An assistant message without `think_content` / `answer_content` gets them
from its `<think>…</think>` / `<answer>…</answer>` content.

Output folder:

    am_NNNNN.jsonl.zst      the release shards (JSONL, zstd), keys per role as above
    parquet/am_NNNNN.parquet the same rows under one Arrow schema (`RELEASE_SCHEMA`)
    datasets/               `datasets.Dataset.save_to_disk` of them (`load_from_disk` reads it)
    README.md               the dataset card: the paper's tables and the plots
    plots/{category,difficulty,length}.png
    export.json             counts behind every table, the settings, and the run's fingerprint

Every file is written to a temporary name and renamed; `export.json` is written last, so a rerun
with the same input and settings reuses a finished export and any other rerun rewrites it.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from amfast.errors import InputError
from amfast.filters import quality_metrics
from amfast.io import AtomicWriter, chunked
from amfast.records import (
    Row,
    check_output_apart,
    input_fingerprint,
    iter_records,
    read_json,
    write_json,
)
from amfast.stage import fingerprint
from amfast.taxonomy import DIFFICULTY_LEVELS

ExportFormat = Literal["jsonl.zst", "parquet", "datasets"]
USER_KEYS = (
    "source", "reference_answer", "test_case", "category", "difficulty", "language",
    "query_tokens",
)  # fmt: skip
ASSISTANT_KEYS = (
    "source", "think_content", "answer_content", "verify_score", "verify_reason", "verifier",
    "response_tokens",
)  # fmt: skip
_INT_KEYS = {"query_tokens", "response_tokens"}
INFO_TYPE = pa.struct(
    [
        (key, pa.int64() if key in _INT_KEYS else pa.float64() if key == "verify_score"
         else pa.string())
        for key in dict.fromkeys((*USER_KEYS, *ASSISTANT_KEYS))
    ]
)  # fmt: skip
RELEASE_SCHEMA = pa.schema(
    [("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string()),
                                      ("info", INFO_TYPE)])))]
)  # fmt: skip
UNLABELLED = "(unlabelled)"
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass
class ExportConfig:
    """Settings of `amfast export` / `run_export` (the help text of each is its CLI help)."""

    input: str = field(metadata={"positional": True, "help": "AM-schema rows: file or folder"})
    output: str = field(metadata={"aliases": ("-o",), "help": "release folder"})
    name: str = field(default="amfast-release", metadata={"help": "dataset name on the card"})
    formats: list[str] = field(
        default_factory=lambda: ["jsonl.zst", "parquet", "datasets"],
        metadata={"help": "what to write: jsonl.zst, parquet, datasets"},
    )
    shard_rows: int = field(default=100_000, metadata={"help": "rows per shard"})
    length_bins: str = field(
        default="1024,2048,4096,8192,16384,32768",
        metadata={"help": "response-length bin edges (tokens) of the card's length table"},
    )
    zstd_level: int = field(default=10, metadata={"help": "zstd compression level"})
    description: str = field(default="", metadata={"help": "a paragraph for the card"})

    def __post_init__(self) -> None:
        unknown = set(self.formats) - {"jsonl.zst", "parquet", "datasets"}
        if unknown:
            raise ValueError(f"unknown formats {sorted(unknown)}; use jsonl.zst, parquet, datasets")
        if self.shard_rows < 1:
            raise ValueError("shard_rows must be at least 1")
        edges = self.edges
        if edges != sorted(set(edges)) or not edges or edges[0] <= 0:
            raise ValueError(f"length_bins {self.length_bins!r}: increasing positive integers")

    @property
    def edges(self) -> list[int]:
        """The length bin edges."""
        try:
            return [int(part) for part in self.length_bins.split(",")]
        except ValueError:
            raise ValueError(f"length_bins {self.length_bins!r}: integers, commas") from None


def _text(value: Any) -> str | None:  # noqa: ANN401 - JSON values are untyped
    if value is None or value in ("", {}, []):
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def release_row(row: Row, location: str) -> Row:
    """One input row in the release layout (see the module docs).

    Raises:
        InputError: Not an AM row with a user and an assistant message, naming `location`.
    """
    messages = row.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InputError(f"{location}: export needs AM-schema rows ('messages' is missing)")
    roles = [m.get("role") for m in messages]
    if "user" not in roles or "assistant" not in roles:
        raise InputError(f"{location}: a release row needs a user and an assistant message")
    released = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            raise InputError(f"{location}: a {message.get('role')} message has no text content")
        info = message.get("info") if isinstance(message.get("info"), dict) else {}
        if message["role"] == "assistant":
            think, answer = _THINK.search(content), _ANSWER.search(content)
            derived = {
                "think_content": think.group(1).strip() if think else None,
                "answer_content": answer.group(1).strip() if answer else None,
            }
            values = {key: info.get(key, derived.get(key)) for key in ASSISTANT_KEYS}
        else:
            values = {key: info.get(key) for key in USER_KEYS}
            values["test_case"] = _text(values["test_case"])
            values["reference_answer"] = _text(values["reference_answer"])
        released.append({"role": message["role"], "content": content, "info": values})
    assistant = [m for m in released if m["role"] == "assistant"][-1]
    if assistant["info"]["response_tokens"] is None:  # labelled on the user's info upstream
        user_info = next(m for m in messages if m.get("role") == "user").get("info") or {}
        assistant["info"]["response_tokens"] = user_info.get("response_tokens")
    return {"messages": released}


@dataclass
class ReleaseCounts:
    """The counts behind every table of the dataset card."""

    rows: int = 0
    instruction_source: Counter[str] = field(default_factory=Counter)
    response_source: Counter[str] = field(default_factory=Counter)
    reference: Counter[str] = field(default_factory=Counter)
    category: Counter[str] = field(default_factory=Counter)
    difficulty: Counter[str] = field(default_factory=Counter)
    length: Counter[str] = field(default_factory=Counter)

    def add(self, row: Row, edges: list[int]) -> None:
        """Counts one release row."""
        user = next(m for m in row["messages"] if m["role"] == "user")["info"]
        reply = [m for m in row["messages"] if m["role"] == "assistant"][-1]["info"]
        self.rows += 1
        self.instruction_source[user["source"] or "(none)"] += 1
        self.response_source[reply["source"] or "(none)"] += 1
        reference, test = user["reference_answer"] is not None, user["test_case"] is not None
        kind = {(True, False): "reference answer", (False, True): "test case"}
        self.reference[kind.get((reference, test), "both" if reference else "neither")] += 1
        self.category[user["category"] or UNLABELLED] += 1
        self.difficulty[user["difficulty"] or UNLABELLED] += 1
        self.length[length_bin(reply["response_tokens"], edges)] += 1

    def tables(self, edges: list[int]) -> dict[str, list[tuple[str, int]]]:
        """Each table's rows `(label, count)` in the card's order."""
        bins = [length_bin(edge - 1, edges) for edge in edges] + [length_bin(edges[-1], edges)]
        by_count = {
            "instruction_source": self.instruction_source,
            "response_source": self.response_source,
            "category": self.category,
        }
        tables = {name: counter.most_common() for name, counter in by_count.items()}
        fixed = {
            "reference": ["reference answer", "test case", "both", "neither"],
            "difficulty": [*DIFFICULTY_LEVELS, UNLABELLED],
            "length": [*bins, UNLABELLED],
        }
        for name, order in fixed.items():
            counter: Counter[str] = getattr(self, name)
            extra = sorted(set(counter) - set(order))
            tables[name] = [(label, counter[label]) for label in [*order, *extra] if counter[label]]
        return tables


def length_bin(tokens: int | None, edges: list[int]) -> str:
    """The card's length bin of a response of `tokens` tokens.

    Example:
        >>> length_bin(1500, [1024, 2048]), length_bin(5000, [1024, 2048]), length_bin(3, [1024])
        ('1,024-2,047', '>= 2,048', '< 1,024')
    """
    if tokens is None:
        return UNLABELLED
    if tokens < edges[0]:
        return f"< {edges[0]:,}"
    for low, high in itertools.pairwise(edges):
        if tokens < high:
            return f"{low:,}-{high - 1:,}"
    return f">= {edges[-1]:,}"


def _fill_lengths(rows: list[Row]) -> None:
    """Response lengths not labelled upstream, in words of the Rust tokenizer."""
    missing = [
        reply
        for row in rows
        for reply in [[m for m in row["messages"] if m["role"] == "assistant"][-1]]
        if reply["info"]["response_tokens"] is None
    ]
    if missing:
        counts = quality_metrics([reply["content"] for reply in missing])["tokens"].tolist()
        for reply, count in zip(missing, counts, strict=True):
            reply["info"]["response_tokens"] = int(count)


def _jsonl_line(row: Row) -> bytes:
    """A release row as JSON, each message's `info` holding only its role's keys."""
    messages = []
    for message in row["messages"]:
        keys = ASSISTANT_KEYS if message["role"] == "assistant" else USER_KEYS
        info = {key: message["info"][key] for key in keys}
        messages.append({"role": message["role"], "content": message["content"], "info": info})
    return json.dumps({"messages": messages}, ensure_ascii=False).encode() + b"\n"


def _write_zst(path: Path, rows: list[Row], level: int) -> None:
    try:
        import zstandard
    except ImportError as error:
        raise InputError("writing .jsonl.zst needs `pip install amfast[zstd]`") from error
    compressor = zstandard.ZstdCompressor(level=level)
    with (
        AtomicWriter(path) as temporary,
        temporary.open("wb") as handle,
        compressor.stream_writer(handle) as writer,
    ):
        for row in rows:
            writer.write(_jsonl_line(row))


def _write_datasets(parquet_files: list[Path], target: Path) -> None:
    try:
        import datasets
        from datasets.table import InMemoryTable
    except ImportError as error:
        raise InputError("the datasets folder needs `pip install amfast[datasets]`") from error
    table = pa.concat_tables([pq.read_table(p, memory_map=True) for p in parquet_files])
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # the CLI prints its own summary
    try:
        datasets.Dataset(InMemoryTable(table)).save_to_disk(str(temporary))
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    shutil.rmtree(target, ignore_errors=True)
    temporary.rename(target)


def _shards(config: ExportConfig) -> Iterator[list[Row]]:
    rows = (release_row(row, location) for location, row in iter_records(config.input))
    yield from chunked(rows, config.shard_rows)


@dataclass
class ExportSummary:
    """What `run_export` wrote."""

    rows: int
    shards: int
    output: str
    card: str
    reused: bool = False
    tables: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def table(self) -> str:
        """Rows, shards and where the card is, as text."""
        reused = " (reused a finished export)" if self.reused else ""
        return f"{self.rows:,} rows in {self.shards} shard(s){reused}: {self.output}\n" + (
            f"dataset card: {self.card}"
        )


def run_export(config: ExportConfig) -> ExportSummary:
    """Writes the release and its card (see the module docs).

    Raises:
        InputError: A row that is not AM-schema (naming file and line), or an output folder
            overlapping the input.
    """
    check_output_apart(config.input, config.output)
    output = Path(config.output)
    key = fingerprint(input_fingerprint(config.input), asdict(config) | {"output": None})
    stored = read_json(output / "export.json")
    if isinstance(stored, dict) and stored.get("fingerprint") == key:
        return ExportSummary(**(stored["summary"] | {"reused": True}))
    counts = ReleaseCounts()
    parquet_files: list[Path] = []
    number = 0
    for number, rows in enumerate(_shards(config), start=1):
        _fill_lengths(rows)
        for row in rows:
            counts.add(row, config.edges)
        name = f"am_{number - 1:05d}"
        if "jsonl.zst" in config.formats:
            _write_zst(output / f"{name}.jsonl.zst", rows, config.zstd_level)
        if "parquet" in config.formats or "datasets" in config.formats:
            parquet_files.append(output / "parquet" / f"{name}.parquet")
            with AtomicWriter(parquet_files[-1]) as temporary:
                table = pa.Table.from_pylist(rows, schema=RELEASE_SCHEMA)
                pq.write_table(table, temporary, compression="zstd")
    if number == 0:
        raise InputError(f"{config.input}: no rows to export")
    for stale in [*output.glob("am_*.jsonl.zst"), *output.glob("parquet/am_*.parquet")]:
        if int(stale.name[3:8]) >= number:
            stale.unlink()
    if "datasets" in config.formats:
        _write_datasets(parquet_files, output / "datasets")
    if "parquet" not in config.formats:
        shutil.rmtree(output / "parquet", ignore_errors=True)
    tables = counts.tables(config.edges)
    from amfast.card import write_card  # matplotlib is imported only for the card

    write_card(output, config, tables, counts.rows)
    summary = ExportSummary(
        rows=counts.rows, shards=number, output=str(output), card=str(output / "README.md"),
        tables=tables,
    )  # fmt: skip
    document = {"fingerprint": key, "settings": asdict(config), "summary": asdict(summary)}
    write_json(output / "export.json", document)
    return summary
