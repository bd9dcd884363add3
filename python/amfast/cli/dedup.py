"""`amfast dedup INPUT -o OUTPUT`: exact or MinHash-LSH dedup of a JSONL/Parquet file."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.config import options_from
from amfast.dedup.files import DedupSummary, SemanticOptions, dedup_file
from amfast.normalize import NormalizeOptions


def add_normalize_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per `NormalizeOptions` field (`--no-lowercase`, `--case-fold`, ...)."""
    group = parser.add_argument_group("normalization")
    group.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=True)
    group.add_argument("--case-fold", action="store_true", help="full Unicode case folding")
    group.add_argument(
        "--keep-digits",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--no-keep-digits deletes digits",
    )
    group.add_argument("--math-operators", action="store_true", help="keep + - * / = ^ < >")
    group.add_argument("--strip-latex", action="store_true", help="drop $, \\left, \\right ...")


def normalize_options(args: argparse.Namespace) -> NormalizeOptions:
    """The normalization flags as options."""
    return options_from(NormalizeOptions, args)


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `dedup` subcommand."""
    parser = commands.add_parser(
        "dedup",
        help="remove exact or near-duplicate rows from a JSONL/Parquet file",
        description="Dedup INPUT on --text-field; kept rows go to OUTPUT, dropped rows (with "
        "row_id, dup_of, similarity, reason) to --dropped.",
    )
    parser.add_argument("input", help="JSONL (.gz, .zst) or Parquet file")
    parser.add_argument("-o", "--output", required=True, help="kept rows (format from the name)")
    parser.add_argument("--dropped", help="dropped rows with dup_of/similarity/reason")
    parser.add_argument(
        "--text-field", required=True, help="field to compare; dotted paths reach nested values"
    )
    parser.add_argument("--method", choices=["exact", "minhash", "semantic"], default="minhash")
    parser.add_argument(
        "--threshold",
        type=float,
        help="minhash: exact Jaccard cut (default 0.8); semantic: cosine cut (default 0.95)",
    )
    parser.add_argument("--num-perm", type=int, default=128, help="MinHash permutations")
    parser.add_argument("--bands", type=int, help="LSH bands (with --rows; default automatic)")
    parser.add_argument("--rows", type=int, help="slots per LSH band")
    parser.add_argument(
        "--ngram", type=int, default=5, help="words per shingle (texts of --bigram-below words+)"
    )
    parser.add_argument(
        "--unigram-below",
        type=int,
        default=20,
        help="texts with fewer words are compared as word sets (0: never)",
    )
    parser.add_argument(
        "--bigram-below",
        type=int,
        default=50,
        help="texts with fewer words are compared as word pairs (0: never)",
    )
    parser.add_argument("--seed", type=int, default=1, help="MinHash seed")
    parser.add_argument(
        "--number-guard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="never drop a row for one whose numbers differ (minhash and semantic)",
    )
    parser.add_argument(
        "--keep",
        choices=["greedy", "component"],
        default="greedy",
        help="greedy: in priority order, drop a row only for a kept row it is similar to; "
        "component: one row per connected component (can chain)",
    )
    parser.add_argument("--batch-size", type=int, default=65_536, help="rows per batch")
    parser.add_argument("--num-threads", type=int, help="worker threads (default: all cores)")
    add_normalize_flags(parser)
    add_semantic_flags(parser)
    parser.set_defaults(run=run)


def add_semantic_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per `SemanticOptions` field (`--model`, `--priority`, ...)."""
    group = parser.add_argument_group("semantic (--method semantic)")
    group.add_argument("--model", help="sentence-transformers directory (default MiniLM-L6)")
    group.add_argument("--embeddings", help="precomputed vectors (.npy / Parquet / Arrow)")
    group.add_argument("--embeddings-column", help="vector column of a Parquet/Arrow file")
    group.add_argument("--cache-dir", help="embedding cache directory")
    group.add_argument(
        "--graph-method",
        choices=["clustered", "hnsw", "exact"],
        default="clustered",
        help="clustered: k-means cells + exact products; hnsw: usearch; exact: all pairs",
    )
    group.add_argument(
        "--nprobe", type=int, default=2, help="clustered: nearest cells compared per row"
    )
    group.add_argument(
        "--cells", type=int, help="clustered: k-means cells (default: one per 1,000 rows)"
    )
    group.add_argument("--k", type=int, default=32, help="hnsw: neighbours asked per row first")
    group.add_argument("--quantization", choices=["f32", "f16", "bf16", "i8"], default="f16")
    group.add_argument(
        "--priority", help="e.g. 'has:info.reference_answer,source:source' (smaller kept first)"
    )
    group.add_argument(
        "--source-order", default="", help="comma-separated sources, best first (source: key)"
    )
    group.add_argument("--device", help="embedding device (default: cuda when available)")
    group.add_argument("--embed-batch-size", type=int, default=64, help="texts per forward pass")


def semantic_options(args: argparse.Namespace) -> SemanticOptions:
    """The semantic flags as options."""
    return options_from(
        SemanticOptions,
        args,
        threshold=0.95 if args.threshold is None else args.threshold,
        source_order=tuple(s for s in args.source_order.split(",") if s),
    )


def print_summary(summary: DedupSummary) -> None:
    """Prints a one-screen summary of a dedup run."""
    print(f"method        {summary.method}")
    print(f"rows          {summary.rows:,}")
    print(f"kept          {summary.kept:,}")
    print(f"dropped       {summary.dropped:,}")
    if summary.near is not None:
        print(f"banding       {summary.near.bands} x {summary.near.rows}")
        print(f"candidates    {summary.near.candidates:,}")
        print(f"verified      {len(summary.near.pair_left):,}")
    if summary.semantic is not None:
        print(f"edges         {len(summary.semantic.graph.left):,}")
    print(f"seconds       {summary.seconds:.2f} ({summary.rows_per_second:,.0f} rows/s)")


def run(args: argparse.Namespace) -> int:
    """Runs `amfast dedup`."""
    summary = dedup_file(
        args.input,
        args.output,
        text_field=args.text_field,
        dropped=args.dropped,
        method=args.method,
        threshold=0.8 if args.threshold is None else args.threshold,
        num_perm=args.num_perm,
        bands=args.bands,
        rows=args.rows,
        ngram=args.ngram,
        seed=args.seed,
        number_guard=args.number_guard,
        unigram_below=args.unigram_below,
        bigram_below=args.bigram_below,
        keep=args.keep,
        normalize=normalize_options(args),
        batch_size=args.batch_size,
        num_threads=args.num_threads,
        semantic=semantic_options(args) if args.method == "semantic" else None,
    )
    print_summary(summary)
    return 0
