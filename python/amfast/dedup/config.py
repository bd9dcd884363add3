"""`DedupConfig`: every setting of `amfast dedup`; field = TOML key (`[dedup]`) = CLI flag.

The normalization, MinHash and semantic settings are options objects declared once on their
own classes (`NormalizeOptions`, `MinHashOptions`, `SemanticOptions`); their fields are flags
of this command as they are of `amfast clean`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from amfast.config import fraction, positive
from amfast.dedup.files import SemanticOptions
from amfast.dedup.near import MinHashOptions
from amfast.io import DEFAULT_BATCH_SIZE
from amfast.normalize import NormalizeOptions

Method = Literal["exact", "minhash", "semantic"]


@dataclass(frozen=True)
class DedupConfig:
    """Settings of `amfast dedup` (see README "The convention" for the shared names)."""

    input: str = field(metadata={"positional": True, "help": "JSONL (.gz, .zst) or Parquet file"})
    output: str = field(
        metadata={
            "aliases": ("-o",),
            "help": "kept rows, in the input's format (.jsonl[.gz] for JSONL, .parquet)",
        }
    )
    text_field: str = field(metadata={"help": "field to compare; dotted paths reach nested values"})
    dropped: str | None = field(
        default=None, metadata={"help": "dropped rows with row_id, dup_of, similarity, reason"}
    )
    method: Method = field(default="minhash", metadata={"help": "how duplicates are found"})
    threshold: float | None = field(
        default=None,
        metadata={"help": "minhash: exact Jaccard cut (default 0.8); semantic: cosine (0.95)"},
    )
    keep: Literal["greedy", "component"] = field(
        default="greedy",
        metadata={
            "help": "greedy: in priority order, drop a row only for a kept row it is similar "
            "to; component: one row per connected component (can chain)"
        },
    )
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    minhash: MinHashOptions = field(default_factory=MinHashOptions)
    semantic: SemanticOptions = field(default_factory=SemanticOptions)
    batch_rows: int = field(
        default=DEFAULT_BATCH_SIZE,
        metadata={"help": "rows per Rust call", "deprecated": ("batch_size",)},
    )
    num_threads: int | None = field(
        default=None, metadata={"help": "worker threads (default: all cores)"}
    )

    def __post_init__(self) -> None:
        fraction("threshold", self.threshold, optional=True)
        positive("batch_rows", self.batch_rows)
        positive("num_threads", self.num_threads, optional=True)
