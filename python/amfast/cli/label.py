"""`amfast label INPUT -o OUT` (labels) and `amfast select INPUT -o OUT --keep RULE` (selection)."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.label import LabelConfig, run_label
from amfast.selection import SelectConfig, run_select


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `label` and `select` subcommands (one flag per config field)."""
    label = commands.add_parser(
        "label",
        help="label category and difficulty (a model or pass rates), language and length",
        description="Label every row of INPUT (a file or a stage folder) into OUT: category "
        "and difficulty from a generation backend (unparseable replies counted, never "
        "guessed) or difficulty from pass rates, language and length from the Rust metrics. "
        "Every flag is also a key of --config (TOML; top level or a [label] table). A killed "
        "run resumes without asking the model again.",
    )
    label.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(label, LabelConfig)
    label.set_defaults(run=run_label_command, interrupted="replies so far are kept: rerun")
    select = commands.add_parser(
        "select",
        help="downsample rows by label, reproducibly (a hash of the row id), with a ledger",
        description="Keep a fraction of the rows of INPUT whose label has a value "
        "(--keep difficulty=easy:0.3, repeatable; the first matching rule decides), chosen by "
        "a hash of each row id and --seed; dropped rows go to the ledger with the rule. Every "
        "flag is also a key of --config (TOML; top level or a [select] table).",
    )
    select.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(select, SelectConfig)
    select.set_defaults(run=run_select_command)


def run_label_command(args: argparse.Namespace) -> int:
    """Runs `amfast label`; prints the label counts."""
    config = resolve_config(LabelConfig, args, config_path=args.config, section="label")
    summary = run_label(config)
    print(summary.table())
    print(f"\nlabelled rows: {config.output}")
    return 0


def run_select_command(args: argparse.Namespace) -> int:
    """Runs `amfast select`; prints rows kept and dropped per rule."""
    config = resolve_config(SelectConfig, args, config_path=args.config, section="select")
    print(run_select(config).table())
    return 0
