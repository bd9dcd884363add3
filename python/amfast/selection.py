"""`amfast select`: reproducible downsampling by label, with every dropped row in a ledger.

The AM recipe keeps fewer easy and medium problems. A rule `FIELD=VALUE:FRACTION`
(`difficulty=easy:0.3`) keeps that fraction of the rows whose `FIELD` (a label in `info`, else
a dotted path into the row, such as MATH's `level`) equals `VALUE`; rows no rule matches are
all kept, and the first matching rule decides.

Whether a row is kept depends only on its id and the seed: the row's draw is the first 8 bytes
of SHA-256(`seed:row id`) as a number in [0, 1), kept when below the fraction. So the choice
does not move with the input order or with the other rows, raising a fraction only adds rows,
and the samples of one prompt (one `prompt_id`) stay together.

Output folder: `part-NNNNN.jsonl` (kept rows, unchanged), the ledger (`dropped.parquet`, or
`.jsonl` by name: `amfast clean`'s ledger columns, with `stage` = `select`, `reason` =
`downsample`, `params` = the rule, `score` = the row's draw, `message` saying why), and
`selection.json` (per rule and per source: in, dropped, out), `manifest.json` last. A finished
run with the same settings and input is reused.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from amfast.clean.ledger import LEDGER_SCHEMA
from amfast.errors import InputError
from amfast.io import AtomicWriter, chunked
from amfast.records import (
    Row,
    check_output_apart,
    input_fingerprint,
    iter_records,
    query_of,
    read_json,
    row_id_of,
    user_message,
    value_at,
    write_json,
)
from amfast.stage import fingerprint


@dataclass(frozen=True)
class KeepRule:
    """Keep `fraction` of the rows whose `field` equals `value`."""

    field: str
    value: str
    fraction: float

    @staticmethod
    def parse(text: str) -> KeepRule:
        """A rule from `FIELD=VALUE:FRACTION`.

        Example:
            >>> KeepRule.parse("level=Level 1:0.3")
            KeepRule(field='level', value='Level 1', fraction=0.3)

        Raises:
            InputError: Not of that form, or a fraction outside [0, 1].
        """
        condition, _, fraction = text.rpartition(":")
        name, equals, value = condition.partition("=")
        try:
            share = float(fraction)
        except ValueError:
            share = -1.0
        if not equals or not name.strip() or not 0 <= share <= 1:
            raise InputError(
                f"keep rule {text!r}: expected FIELD=VALUE:FRACTION, 0 <= FRACTION <= 1"
            )
        return KeepRule(name.strip(), value.strip(), share)

    def __str__(self) -> str:
        return f"{self.field}={self.value}:{self.fraction:g}"


def draw(seed: int, row_id: str) -> float:
    """The row's uniform draw in [0, 1): a hash of the seed and its id.

    Example:
        >>> draw(0, "math_train/1") == draw(0, "math_train/1") != draw(1, "math_train/1")
        True
    """
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2.0**64


@dataclass
class SelectConfig:
    """Settings of `amfast select` / `run_select` (the help text of each is its CLI help)."""

    input: str = field(metadata={"positional": True, "help": "JSONL/Parquet file or stage folder"})
    output: str = field(metadata={"aliases": ("-o",), "help": "output folder"})
    keep: list[str] = field(
        default_factory=list,
        metadata={"help": "FIELD=VALUE:FRACTION, e.g. difficulty=easy:0.3"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the per-row draws"})
    id_field: str | None = field(
        default="id", metadata={"help": "row id field (absent: prompt_id, else a hash)"}
    )
    prompt_field: str = field(
        default="prompt", metadata={"help": "query field of flat rows (for hashed ids)"}
    )
    dropped: str | None = field(
        default=None, metadata={"help": "ledger path (default OUT/dropped.parquet; .jsonl too)"}
    )
    shard_rows: int = field(default=100_000, metadata={"help": "rows per output shard"})

    def __post_init__(self) -> None:
        self.rules  # noqa: B018 - parses the rules now, so a bad one fails before any work
        if self.shard_rows < 1:
            raise ValueError("shard_rows must be at least 1")

    @property
    def rules(self) -> list[KeepRule]:
        """The parsed keep rules."""
        return [KeepRule.parse(text) for text in self.keep]

    @property
    def ledger_path(self) -> Path:
        """Where the dropped rows go."""
        return Path(self.dropped) if self.dropped else Path(self.output) / "dropped.parquet"


@dataclass
class SelectSummary:
    """Rows in, dropped and out, per rule and per source."""

    rows: int = 0
    kept: int = 0
    dropped: int = 0
    reused: bool = False
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    ledger: str = ""

    def table(self) -> str:
        """The counts as text."""
        lines = [f"rows {self.rows:,}, kept {self.kept:,}, dropped {self.dropped:,}"]
        lines += [
            f"  {rule}: matched {c['matched']:,}, kept {c['kept']:,}, dropped {c['dropped']:,}"
            for rule, c in self.by_rule.items()
        ]
        return "\n".join(lines) + f"\nledger: {self.ledger}"


def source_of(row: Row) -> str:
    """The row's instruction source (the user message's `info.source`, or `source`)."""
    user = user_message(row)
    info = user.get("info") if user is not None else None
    value = info.get("source") if isinstance(info, dict) else row.get("source")
    return str(value) if value is not None else "(none)"


def matching_rule(row: Row, rules: list[KeepRule]) -> KeepRule | None:
    """The first rule whose field has its value in `row`, or None."""
    for rule in rules:
        value = value_at(row, rule.field)
        if value is not None and str(value) == rule.value:
            return rule
    return None


def run_select(config: SelectConfig) -> SelectSummary:
    """Downsamples `config.input` into `config.output` (see the module docs).

    Raises:
        InputError: Bad input (naming file and line), or an output overlapping the input.
    """
    check_output_apart(config.input, config.output)
    if Path(config.input).resolve() == config.ledger_path.resolve():
        raise InputError(f"{config.ledger_path}: the ledger may not overwrite the input")
    output = Path(config.output)
    key = fingerprint(input_fingerprint(config.input), asdict(config) | {"output": None})
    manifest = read_json(output / "manifest.json")
    if isinstance(manifest, dict) and manifest.get("fingerprint") == key:
        summary = SelectSummary(**read_json(output / "selection.json"))
        summary.reused = True
        return summary
    rules = config.rules
    by_rule = {str(rule): Counter[str]() for rule in rules}
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    dropped: list[dict[str, Any]] = []
    kept_rows: list[Row] = []
    shards = 0
    total = 0
    for total, (location, row) in enumerate(iter_records(config.input), start=1):
        row_id = row_id_of(row, config.id_field, query_of(row, config.prompt_field, location))
        source = source_of(row)
        by_source[source]["in"] += 1
        rule = matching_rule(row, rules)
        chance = draw(config.seed, row_id) if rule is not None else 0.0
        kept = rule is None or chance < rule.fraction
        if rule is not None:
            by_rule[str(rule)]["matched"] += 1
            by_rule[str(rule)]["kept" if kept else "dropped"] += 1
        if rule is None or kept:
            by_source[source]["out"] += 1
            kept_rows.append(row)
            if len(kept_rows) == config.shard_rows:
                _write_shard(output, shards, kept_rows)
                shards, kept_rows = shards + 1, []
            continue
        by_source[source]["dropped"] += 1
        dropped.append(
            {
                "row": total - 1,
                "row_id": row_id,
                "source": source,
                "stage": "select",
                "reason": "downsample",
                "params": json.dumps(asdict(rule) | {"seed": config.seed}),
                "kept_row": None,
                "kept_row_id": None,
                "score": chance,
                "detail": None,
                "message": f"{location}: {rule.field} is {rule.value!r}: kept "
                f"{rule.fraction:.0%} of those rows and this row's draw {chance:.4f} is not "
                f"below {rule.fraction:g}",
                "record": json.dumps(row, ensure_ascii=False),
            }
        )
    if kept_rows or shards == 0:
        _write_shard(output, shards, kept_rows)
        shards += 1
    for stale in output.glob("part-*.jsonl"):
        if int(stale.name[5:10]) >= shards:
            stale.unlink()
    _write_ledger(config.ledger_path, dropped)
    summary = SelectSummary(
        rows=total,
        kept=total - len(dropped),
        dropped=len(dropped),
        by_rule={
            name: {k: counts[k] for k in ("matched", "kept", "dropped")}
            for name, counts in by_rule.items()
        },
        by_source={
            source: {k: counts[k] for k in ("in", "dropped", "out")}
            for source, counts in sorted(by_source.items())
        },
        ledger=str(config.ledger_path),
    )
    write_json(output / "selection.json", asdict(summary))
    write_json(output / "manifest.json", {"fingerprint": key, "rows": total})
    return summary


def _write_shard(output: Path, number: int, rows: list[Row]) -> None:
    with AtomicWriter(output / f"part-{number:05d}.jsonl") as temporary:
        temporary.write_bytes(
            b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
        )


def _write_ledger(path: Path, dropped: list[dict[str, Any]]) -> None:
    with AtomicWriter(path) as temporary:
        if path.name.endswith(".jsonl"):
            lines = [json.dumps(entry, ensure_ascii=False).encode() + b"\n" for entry in dropped]
            temporary.write_bytes(b"".join(lines))
            return
        tables = [
            pa.Table.from_pylist(part, schema=LEDGER_SCHEMA) for part in chunked(dropped, 65_536)
        ]
        table = pa.concat_tables(tables) if tables else LEDGER_SCHEMA.empty_table()
        pq.write_table(table, temporary)
