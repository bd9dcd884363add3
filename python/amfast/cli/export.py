"""`amfast export INPUT -o RELEASE`: the release in the AM schema, and its dataset card."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.export import ExportConfig, run_export


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `export` subcommand (one flag per `ExportConfig` field)."""
    parser = commands.add_parser(
        "export",
        help="write the release (am_*.jsonl.zst, Parquet, a datasets folder) and its card",
        description="Write the AM-schema rows of INPUT (a file or a stage folder) as the "
        "release: am_*.jsonl.zst shards, parquet/, datasets/, and a dataset card (README.md "
        "with the paper's tables, plots/). Every flag is also a key of --config (TOML; top "
        "level or an [export] table).",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, ExportConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast export`; prints where the release and its card are."""
    config = resolve_config(ExportConfig, args, config_path=args.config, section="export")
    print(run_export(config).table())
    return 0
