"""`amfast report RUN`: one offline page (`RUN/report.html`) across the stages of a run."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.report import write_report


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `report` subcommand."""
    parser = commands.add_parser(
        "report",
        help="write RUN/report.html: funnel, labels, verification, loss, eval, ledgers",
        description="Read what each stage folder of RUN wrote (RUN/01-clean, RUN/02-label, "
        "...) and write one offline page, RUN/report.html: the funnel per stage and source, "
        "the labels, the verification audit, the loss curve, the eval table and links to the "
        "ledgers.",
    )
    parser.add_argument("run_folder", metavar="RUN", help="the run folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast report`; prints the page's path."""
    print(f"report: {write_report(args.run_folder)}")
    return 0
