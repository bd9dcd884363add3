"""`amfast run recipe.toml`: the whole AM recipe from one file (see `amfast.recipe`)."""

from __future__ import annotations

import argparse
from typing import Any

from amfast.recipe import STAGES, print_outcome, read_recipe, run_recipe


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `run` subcommand."""
    parser = commands.add_parser(
        "run",
        help="run a whole recipe (sources -> clean -> verify existing -> distill -> verify -> "
        "collect -> filter responses -> export -> train -> eval) from one TOML file",
        description="Run the stages of RECIPE into RUN_DIR/NN-<stage>. A rerun reuses every "
        "finished stage whose settings are unchanged, resumes an unfinished one, and reruns a "
        "stage whose settings changed with every stage after it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("recipe", help="recipe TOML ([[source]] tables, one table per stage)")
    parser.add_argument("--run-dir", help="run folder (default: the recipe's run_dir)")
    parser.add_argument("--until", choices=STAGES, help="stop after this stage")
    parser.add_argument("--only", choices=STAGES, help="run only this stage")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bars on stderr",
    )
    parser.set_defaults(run=run, interrupted="finished stages are kept: rerun to resume")


def run(args: argparse.Namespace) -> int:
    """Runs `amfast run`."""
    recipe = read_recipe(args.recipe, args.run_dir)
    print(f"run folder    {recipe.run_dir}")
    outcomes = run_recipe(
        recipe, until=args.until, only=args.only, progress=args.progress, report=print_outcome
    )
    print(f"report        {recipe.run_dir / 'report.html'}")
    for outcome in outcomes:
        if outcome.name == "export":
            print(f"dataset card  {outcome.summary['card']}")
    return 0
