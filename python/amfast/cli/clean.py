"""`amfast clean INPUT -o OUTPUT`: the CPU curation pipeline from one config; `amfast why`."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from amfast.clean import CleanSummary, clean
from amfast.clean.config import CleanConfig, read_clean_toml
from amfast.clean.ledger import explain
from amfast.config import add_config_flags, resolve_config


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `clean` and `why` subcommands (one `clean` flag per `CleanConfig` field)."""
    parser = commands.add_parser(
        "clean",
        help="normalize, dedup (exact, near, semantic), decontaminate and filter, resumably",
        description="Run the configured stages over INPUT; kept rows go to OUTPUT (shards + "
        "manifest), every dropped row to the ledger (--dropped) with its stage, reason, "
        "parameters and kept representative; the funnel is printed and saved as funnel.json "
        "and funnel.html. Every flag is also a key of --config (TOML, top level or [clean]); "
        "flags override the file. Rerun the same command after a crash to resume.",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, CleanConfig, skip=("plugin_options",))
    parser.set_defaults(
        run=run, interrupted="finished steps are kept: rerun the same command to resume"
    )
    why = commands.add_parser(
        "why",
        help="what happened to a row in an `amfast clean` run",
        description="Print the stage, reason, parameters and kept representative of ROW "
        "(a row_id, or #N for input row N), following duplicates to the row kept for them.",
    )
    why.add_argument("output", help="the OUTPUT folder of `amfast clean`")
    why.add_argument("row", help="row_id, or #N for the N-th input row (0-based)")
    why.set_defaults(run=run_why)


def config_from_args(args: argparse.Namespace) -> CleanConfig:
    """The config from defaults < TOML < flags."""
    file_values: dict[str, Any] = {}
    plugins: dict[str, Any] = {}
    if args.config:
        file_values, plugins = read_clean_toml(args.config)
    config = resolve_config(CleanConfig, args, file_values=file_values)
    return dataclasses.replace(config, plugin_options=plugins)


def print_summary(summary: CleanSummary) -> None:
    """The funnel and a one-line summary."""
    print(summary.funnel.table())
    print(
        f"\n{summary.rows:,} rows -> {summary.kept:,} kept, {summary.dropped:,} dropped in "
        f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)"
        + (
            f"; {summary.resumed_steps} steps reused from an earlier run"
            if summary.resumed_steps
            else ""
        )
    )
    print(
        f"kept: {summary.output}/part-*  ledger: {summary.ledger}  "
        f"funnel: {summary.output}/funnel.html"
    )


def run(args: argparse.Namespace) -> int:
    """Runs `amfast clean`."""
    print_summary(clean(config_from_args(args)))
    return 0


def run_why(args: argparse.Namespace) -> int:
    """Runs `amfast why`."""
    print(explain(args.output, args.row))
    return 0
