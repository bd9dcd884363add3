"""`amfast demo`: `amfast clean` on a generated corpus with planted duplicates; funnel + scores."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import read_ledger
from amfast.cli.clean import print_summary
from amfast.config import add_config_flags, fraction, positive, resolve_config
from amfast.corpus import generate_corpus, score_clusters
from amfast.dedup.near import MinHashOptions
from amfast.io import write_jsonl


@dataclass(frozen=True)
class DemoConfig:
    """Settings of `amfast demo`; field = TOML key (`[demo]`) = CLI flag."""

    rows: int = field(default=20_000, metadata={"help": "documents to generate"})
    output: str = field(
        default="demo-out",
        metadata={
            "aliases": ("-o",),
            "deprecated": ("out",),
            "help": "folder for corpus and outputs",
        },
    )
    threshold: float = field(default=0.8, metadata={"help": "near-duplicate exact Jaccard cut"})
    seed: int = field(default=0, metadata={"help": "corpus seed"})

    def __post_init__(self) -> None:
        positive("rows", self.rows)
        fraction("threshold", self.threshold)


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `demo` subcommand (one flag per `DemoConfig` setting)."""
    parser = commands.add_parser(
        "demo",
        help="run `amfast clean` on a generated corpus with planted duplicates; print the "
        "funnel and the dedup recall/precision",
        description="Every flag is also a key of --config (TOML; a [demo] table, or the top "
        "level).",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, DemoConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast demo`."""
    config = resolve_config(DemoConfig, args, config_path=args.config, section="demo")
    out = Path(config.output)
    corpus = generate_corpus(config.rows, seed=config.seed)
    source = out / "corpus.jsonl"
    write_jsonl(
        source,
        [
            {"id": f"doc-{row}", "source": f"part-{row % 4}", "text": text}
            for row, text in enumerate(corpus.texts)
        ],
    )
    families = len(corpus.families)
    print(f"generated     {source} ({len(corpus.texts):,} rows, {families:,} planted families)")
    minhash = MinHashOptions(threshold=config.threshold)
    summary = clean(
        CleanConfig(
            input=str(source),
            output=str(out / "clean"),
            text_field="text",
            minhash=minhash,
            restart=True,
        )
    )
    print_summary(summary)
    # Clusters of the dedup stages, from the ledger: every duplicate points at its kept row.
    cluster = np.arange(len(corpus.texts), dtype=np.int64)
    ledger = read_ledger(summary.ledger).to_pylist()
    duplicates = [r for r in ledger if r["stage"] in ("exact_dedup", "near_dedup")]
    for record in duplicates:
        cluster[record["row"]] = record["kept_row"]
    for _ in range(4):  # follow chains (an exact duplicate of a row later dropped as near)
        cluster = cluster[cluster]
    left = np.array([r["row"] for r in duplicates], dtype=np.int64)
    right = np.array([r["kept_row"] for r in duplicates], dtype=np.int64)
    scores = score_clusters(
        corpus,
        cluster,
        (left, right),
        threshold=minhash.threshold,
        ngram=minhash.ngram,
        unigram_below=minhash.unigram_below,
        bigram_below=minhash.bigram_below,
        number_guard=minhash.number_guard,
        kept=cluster == np.arange(len(cluster)),
    )
    print(
        f"\ndedup vs the planted truth (exact word n-gram Jaccard >= {minhash.threshold}, "
        "same numbers):"
    )
    print(f"recall        {scores.recall:.4f} ({scores.found_pairs:,} of {scores.true_pairs:,})")
    print(
        f"precision     {scores.precision:.4f} (pairs of a dropped row and the row kept for "
        f"it, {scores.reported_pairs:,}; keep={minhash.keep})"
    )
    return 0
