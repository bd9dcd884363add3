"""`amfast distill INPUT -o OUTDIR --model M`: sample a teacher for every prompt, resumably."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.distill.runner import run_distill
from amfast.distill.settings import DistillConfig
from amfast.outputs import Output, check_outputs


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `distill` subcommand (one flag per `DistillConfig` field)."""
    parser = commands.add_parser(
        "distill",
        help="generate samples per prompt with a teacher (OpenAI-compatible server, vLLM, "
        "transformers), resumably",
        description="Generate samples for every prompt of INPUT into Parquet/JSONL shards in "
        "OUTDIR. Kill it at any point and run the same command again: finished samples are "
        "kept, the rest are generated, none twice. Every flag is also a key of --config "
        "(TOML; top level or a [distill] table); flags override the file.",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, DistillConfig)
    parser.set_defaults(
        run=run, interrupted="finished work is kept: rerun the same command to resume"
    )


def run(args: argparse.Namespace) -> int:
    """Runs `amfast distill`; exit code 1 when some prompt lacks samples (the summary says why)."""
    config = resolve_config(DistillConfig, args, config_path=args.config, section="distill")
    check_outputs([config.input], [Output(config.output, "-o/--output", folder=True)])
    summary = run_distill(config)
    print(summary.table())
    print(f"\nsamples: {config.output}/shards")
    return 0 if summary.complete else 1
