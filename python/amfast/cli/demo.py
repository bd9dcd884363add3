"""`amfast demo`: `amfast clean` on a generated corpus with planted duplicates; funnel + scores."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import read_ledger
from amfast.cli.clean import print_summary
from amfast.corpus import generate_corpus, score_clusters
from amfast.io import write_jsonl


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `demo` subcommand."""
    parser = commands.add_parser(
        "demo",
        help="run `amfast clean` on a generated corpus with planted duplicates; print the "
        "funnel and the dedup recall/precision",
    )
    parser.add_argument("--rows", type=int, default=20_000, help="documents to generate")
    parser.add_argument("--out", default="demo-out", help="folder for corpus and outputs")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast demo`."""
    out = Path(args.out)
    corpus = generate_corpus(args.rows, seed=args.seed)
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
    config = CleanConfig(
        input=str(source),
        output=str(out / "clean"),
        text_field="text",
        threshold=args.threshold,
        restart=True,
    )
    summary = clean(config)
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
        threshold=args.threshold,
        ngram=config.ngram,
        unigram_below=config.unigram_below,
        bigram_below=config.bigram_below,
        number_guard=config.number_guard,
        kept=cluster == np.arange(len(cluster)),
    )
    print(
        f"\ndedup vs the planted truth (exact word n-gram Jaccard >= {args.threshold}, "
        "same numbers):"
    )
    print(f"recall        {scores.recall:.4f} ({scores.found_pairs:,} of {scores.true_pairs:,})")
    print(
        f"precision     {scores.precision:.4f} (pairs of a dropped row and the row kept for "
        f"it, {scores.reported_pairs:,}; keep={config.keep})"
    )
    return 0
