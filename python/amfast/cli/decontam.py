"""`amfast decontam INPUT -o OUTPUT --benchmark NAME=PATH ...`: drop benchmark copies."""

from __future__ import annotations

import argparse
import json
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.decontam import Benchmark, DecontamConfig, decontam_file, load_benchmark
from amfast.errors import InputError


def benchmark_path(spec: str) -> str:
    """The file of a `NAME=PATH[::FIELD]` or `PATH` benchmark spec."""
    rest = spec.rpartition("=")[2] if "=" in spec else spec
    return rest.partition("::")[0]


def parse_benchmark(spec: str) -> Benchmark:
    """`NAME=PATH[::FIELD]` or `PATH` (name = file stem) as a loaded benchmark."""
    name, _, rest = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path, _, field = rest.partition("::")
    return load_benchmark(path, name or None, text_field=field or None)


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `decontam` subcommand (one flag per `DecontamConfig` setting)."""
    parser = commands.add_parser(
        "decontam",
        help="remove rows that copy an evaluation benchmark (MATH-500, AIME, GPQA, LCB ...)",
        description="Flag rows of INPUT whose --text-field matches a benchmark item: equal "
        "without digits, shared word n-grams, shared content words, or (optionally) embedding "
        "cosine. With --judge, rows just under the content (and embedding) cuts are put to an "
        "LLM judge through a generation backend, one generation per question, and flagged "
        "(rule llm_judge) when it calls them the same problem. Clean rows go to OUTPUT, flagged "
        "rows to --flagged, per-benchmark counts to --report, the judge's questions and replies "
        "to --judged. Every flag is also a key of --config (TOML; a [decontam] table, or the "
        "top level).",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, DecontamConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast decontam`."""
    config = resolve_config(DecontamConfig, args, config_path=args.config, section="decontam")
    benchmarks = [parse_benchmark(spec) for spec in config.benchmarks]
    names = [benchmark.name for benchmark in benchmarks]
    if len(set(names)) != len(names):
        raise InputError(f"benchmark names repeat: {names}; use NAME=PATH")
    embedder = None
    if config.decontam.embedding_threshold is not None:
        embedder = config.embedding_model.load()
    judge = config.llm_judge.generate_function() if config.llm_judge.judge else None
    result = decontam_file(
        config.input,
        config.output,
        benchmarks,
        text_field=config.text_field,
        flagged_path=config.flagged,
        report_path=config.report,
        judged_path=config.judged,
        benchmark_paths=[benchmark_path(spec) for spec in config.benchmarks],
        normalize=config.normalize,
        embedder=embedder,
        judge=judge,
        num_threads=config.num_threads,
        **config.decontam.as_kwargs(),
    )
    print(f"rows          {len(result.flagged):,}")
    print(f"flagged       {int(result.flagged.sum()):,}")
    if judge is not None:
        verdicts = [judgement.verdict for judgement in result.judgements]
        print(
            f"judge asked   {len(verdicts):,} (same {verdicts.count(True):,}, different "
            f"{verdicts.count(False):,}, unparsable {verdicts.count(None):,})"
        )
    print(json.dumps(result.report, indent=2))
    return 0
