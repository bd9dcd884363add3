"""`amfast decontam INPUT -o OUTPUT --benchmark NAME=PATH ...`: drop benchmark copies."""

from __future__ import annotations

import argparse
import json
from typing import Any

from amfast.cli.dedup import add_normalize_flags, normalize_options
from amfast.decontam import Benchmark, decontam_file, load_benchmark
from amfast.embed import SentenceTransformerEmbedder
from amfast.errors import InputError


def parse_benchmark(spec: str) -> Benchmark:
    """`NAME=PATH[:FIELD]` or `PATH` (name = file stem) as a loaded benchmark."""
    name, _, rest = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path, _, field = rest.partition("::")
    return load_benchmark(path, name or None, text_field=field or None)


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `decontam` subcommand."""
    parser = commands.add_parser(
        "decontam",
        help="remove rows that copy an evaluation benchmark (MATH-500, AIME, GPQA, LCB ...)",
        description="Flag rows of INPUT whose --text-field matches a benchmark item: equal "
        "without digits, shared word n-grams, or (optionally) embedding cosine. Clean rows go "
        "to OUTPUT, flagged rows to --flagged, per-benchmark counts to --report.",
    )
    parser.add_argument("input", help="JSONL (.gz, .zst) or Parquet file")
    parser.add_argument("-o", "--output", required=True, help="rows no benchmark flags")
    parser.add_argument("--text-field", required=True, help="field holding the problem text")
    parser.add_argument(
        "--benchmark",
        action="append",
        required=True,
        metavar="NAME=PATH[::FIELD]",
        help="benchmark file (JSONL, JSON array, or CSV like gpqa_diamond.csv); repeatable",
    )
    parser.add_argument("--flagged", help="JSONL of flagged rows with benchmark, rule, item_id")
    parser.add_argument("--report", help="per-benchmark report (JSON)")
    parser.add_argument("--ngram", type=int, default=13, help="words per n-gram")
    parser.add_argument("--min-overlap", type=int, default=1, help="shared n-grams that flag")
    parser.add_argument(
        "--min-item-fraction",
        type=float,
        default=0.5,
        help="share of the benchmark item's n-grams the row must contain",
    )
    parser.add_argument(
        "--min-exact-words", type=int, default=10, help="words (no digits) for the exact rule"
    )
    parser.add_argument(
        "--exact", action=argparse.BooleanOptionalAction, default=True, help="exact-minus-digits"
    )
    parser.add_argument(
        "--embedding-threshold", type=float, help="also flag rows this close (cosine)"
    )
    parser.add_argument("--model", help="sentence-transformers directory (default MiniLM)")
    parser.add_argument("--cache-dir", help="embedding cache directory")
    parser.add_argument("--num-threads", type=int, help="worker threads (default: all cores)")
    add_normalize_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast decontam`."""
    benchmarks = [parse_benchmark(spec) for spec in args.benchmark]
    names = [benchmark.name for benchmark in benchmarks]
    if len(set(names)) != len(names):
        raise InputError(f"benchmark names repeat: {names}; use NAME=PATH")
    embedder = None
    if args.embedding_threshold is not None:
        embedder = SentenceTransformerEmbedder(args.model)
    result = decontam_file(
        args.input,
        args.output,
        benchmarks,
        text_field=args.text_field,
        flagged_path=args.flagged,
        report_path=args.report,
        ngram=args.ngram,
        min_overlap=args.min_overlap,
        min_item_fraction=args.min_item_fraction,
        min_exact_words=args.min_exact_words,
        exact=args.exact,
        normalize=normalize_options(args),
        embedder=embedder,
        embedding_threshold=args.embedding_threshold,
        cache_dir=args.cache_dir,
        num_threads=args.num_threads,
    )
    print(f"rows          {len(result.flagged):,}")
    print(f"flagged       {int(result.flagged.sum()):,}")
    print(json.dumps(result.report, indent=2))
    return 0
