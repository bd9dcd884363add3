"""`amfast demo`: dedup a generated corpus with planted duplicates and score the result."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from amfast.cli.dedup import print_summary
from amfast.corpus import generate_corpus, score_clusters
from amfast.dedup.files import dedup_file
from amfast.io import write_jsonl


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `demo` subcommand."""
    parser = commands.add_parser(
        "demo", help="near-dedup a generated corpus with planted duplicates, print recall"
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
    write_jsonl(source, [{"id": row, "text": text} for row, text in enumerate(corpus.texts)])
    families = len(corpus.families)
    print(f"generated     {source} ({len(corpus.texts):,} rows, {families:,} planted families)")
    summary = dedup_file(
        source,
        out / "kept.jsonl",
        dropped=out / "dropped.jsonl",
        text_field="text",
        threshold=args.threshold,
    )
    print_summary(summary)
    assert summary.near is not None
    scores = score_clusters(
        corpus,
        summary.near.cluster,
        (summary.near.pair_left, summary.near.pair_right),
        threshold=args.threshold,
    )
    print(f"true pairs    {scores.true_pairs:,} (exact word-5-gram Jaccard >= {args.threshold})")
    print(f"recall        {scores.recall:.4f} ({scores.found_pairs:,} found)")
    print(f"precision     {scores.precision:.4f} ({scores.reported_pairs:,} pairs reported)")
    print(f"outputs       {out / 'kept.jsonl'}, {out / 'dropped.jsonl'}")
    return 0
