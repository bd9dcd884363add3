"""`amfast eval`: score a model on AIME / MATH-500 / GPQA / LiveCodeBench, report, compare."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.errors import InputError
from amfast.eval.report import compare_runs, load_run, plot_results, results_table
from amfast.eval.runner import run_eval
from amfast.eval.sampling import EvalConfig


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `eval` subcommand (one flag per `EvalConfig` field, plus --compare/--report)."""
    parser = commands.add_parser(
        "eval",
        help="evaluate a model with the paper's protocol (pass@1 ± SE, pass@k, maj@k)",
        description="Sample each task with the chosen backend (cached: a rerun resumes), grade "
        "with amfast.verify, and write results.json, report.md and results.png into --output. "
        "Every flag is also a key of --config (TOML; top level or an [eval] table). "
        "--compare RUN RUN and --report RUN... work on finished runs without generating.",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    parser.add_argument(
        "--compare", nargs=2, metavar="RUN", help="print the differences of two runs with SEs"
    )
    parser.add_argument(
        "--report", nargs="+", metavar="RUN", help="one table (and --plot) for several runs"
    )
    parser.add_argument("--plot", help="with --report: write the bar chart here (PNG)")
    add_config_flags(parser, EvalConfig)
    parser.set_defaults(
        run=run, interrupted="generated samples are kept: rerun the same command to resume"
    )


def run(args: argparse.Namespace) -> int:
    """Runs `amfast eval`."""
    if args.compare:
        first, second = (load_run(path) for path in args.compare)
        print(compare_runs(first, second))
        return 0
    if args.report:
        runs = [load_run(path) for path in args.report]
        print(results_table(runs))
        if args.plot:
            plot_results(runs, args.plot)
            print(f"\nplot: {args.plot}")
        return 0
    if args.plot:
        raise InputError("--plot goes with --report")
    config = resolve_config(EvalConfig, args, config_path=args.config, section="eval")
    results = run_eval(config)
    print(Path(config.output, "report.md").read_text(encoding="utf-8"))
    print(f"results: {results}\nplot: {Path(config.output, 'results.png')}")
    return 0
