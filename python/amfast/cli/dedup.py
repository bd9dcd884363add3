"""`amfast dedup INPUT -o OUTPUT`: exact, MinHash-LSH or semantic dedup of a JSONL/Parquet file."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.dedup.config import DedupConfig
from amfast.dedup.files import DedupSummary, dedup_file


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `dedup` subcommand (one flag per `DedupConfig` setting)."""
    parser = commands.add_parser(
        "dedup",
        help="remove exact, near or semantic duplicate rows from a JSONL/Parquet file",
        description="Dedup INPUT on --text-field; kept rows go to OUTPUT, dropped rows (with "
        "row_id, dup_of, similarity, reason) to --dropped. Every flag is also a key of "
        "--config (TOML; a [dedup] table, or the top level); flags override the file.",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, DedupConfig)
    parser.set_defaults(run=run)


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
    config = resolve_config(DedupConfig, args, config_path=args.config, section="dedup")
    print_summary(
        dedup_file(
            config.input,
            config.output,
            text_field=config.text_field,
            dropped=config.dropped,
            method=config.method,
            minhash=config.minhash,
            semantic=config.semantic,
            normalize=config.normalize,
            batch_size=config.batch_rows,
            num_threads=config.num_threads,
        )
    )
    return 0
