"""`amfast verify INPUT -o OUTPUT`: grade every response, resumably, and print the audit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.verify.config import VerifyConfig
from amfast.verify.dispatch import VerifyOptions
from amfast.verify.job import check_verify_outputs, verify_file


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `verify` subcommand (one flag per `VerifyConfig` setting)."""
    parser = commands.add_parser(
        "verify",
        help="grade responses: math equivalence, code in a sandbox, choice letters, reward model",
        description="Verify every row of INPUT (AM message schema, or flat rows via the --*-field "
        "flags) into OUTPUT with verify_score / verify_reason / verifier, and save an audit. "
        "A killed run resumes where it stopped; rows that failed for infrastructure reasons "
        "are retried on rerun (exit code 1 while some remain). Every flag is also a key of "
        "--config (TOML; a [verify] table, or the top level).",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, VerifyConfig)
    parser.set_defaults(
        run=run, interrupted="finished work is kept: rerun the same command to resume"
    )


def verify_options(config: VerifyConfig) -> VerifyOptions:
    """How the verifiers run (loads the reward model and connects the judge when asked)."""
    judge = None
    if config.llm_judge.judge:
        from amfast.verify.judge import LLMJudge

        judge = LLMJudge(config.llm_judge.generate_function())
    reward_model = None
    if config.reward_model:
        from amfast.verify.reward import RewardModel

        reward_model = RewardModel(config.reward_model, threshold=config.reward_threshold)
    return VerifyOptions(
        num_workers=config.num_threads,
        math_timeout=config.math_timeout,
        code_timeout=config.code_timeout,
        code_memory_mb=config.code_memory_mb,
        allow_unisolated=config.allow_unisolated,
        reward_model=reward_model,
        judge=judge,
    )


def run(args: argparse.Namespace) -> int:
    """Runs `amfast verify`; exit code 1 while rows failed for infrastructure reasons."""
    config = resolve_config(VerifyConfig, args, config_path=args.config, section="verify")
    check_verify_outputs(
        Path(config.input), Path(config.output), config.audit_path, config.disagreements_path
    )
    audit = verify_file(
        config.input,
        config.output,
        options=verify_options(config),
        fields=config.fields,
        chunk_rows=config.shard_rows,
        audit_path=config.audit_path,
        restart=config.restart,
        progress=config.progress,
        labels=config.labels,
        disagreements_path=config.disagreements_path,
    )
    print(audit.table())
    print(f"\nrows with verdicts: {Path(config.output)}\naudit: {config.audit_path}")
    if config.labels:
        print(f"disagreements with {config.labels}: {config.disagreements_path}")
    if audit.infrastructure_failures:
        print(
            f"{audit.infrastructure_failures} rows failed for infrastructure reasons (not "
            "graded); rerun the same command to retry just those rows"
        )
        return 1
    return 0
