"""`amfast verify INPUT -o OUTPUT`: grade every response, resumably, and print the audit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from amfast.errors import InputError
from amfast.verify.dispatch import RowFields, VerifyOptions
from amfast.verify.job import verify_file


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `verify` subcommand."""
    parser = commands.add_parser(
        "verify",
        help="grade responses: math equivalence, code in a sandbox, choice letters, reward model",
        description="Verify every row of INPUT (AM message schema, or flat rows via the --*-field "
        "flags) into OUTPUT with verify_score / verify_reason / verifier, and save an audit. "
        "A killed run resumes where it stopped; rows that failed for infrastructure reasons "
        "are retried on rerun.",
    )
    parser.add_argument(
        "input", help="rows: a file or folder (JSONL, Parquet, Arrow, a stage's output folder)"
    )
    parser.add_argument("-o", "--output", required=True, help="JSONL output (.gz to compress)")
    parser.add_argument("--audit", help="audit JSON (default: OUTPUT.audit.json)")
    parser.add_argument("--workers", type=int, help="math processes / code sandboxes (all cores)")
    parser.add_argument("--math-timeout", type=float, default=10.0, help="seconds per math check")
    parser.add_argument("--code-timeout", type=float, default=10.0, help="seconds per code run")
    parser.add_argument("--code-memory-mb", type=int, default=1024, help="memory per code run")
    parser.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="trusted inputs only: run code without the sandbox's namespaces where they are "
        "unavailable (not root, no unshare) instead of refusing",
    )
    parser.add_argument("--reward-model", help="local sequence-classification model directory")
    parser.add_argument("--reward-threshold", type=float, default=0.0, help="score to pass")
    judge = parser.add_argument_group("LLM judge (a second opinion on math rows)")
    judge.add_argument("--judge", action="store_true", help="ask an LLM judge about math rows")
    judge.add_argument("--judge-model", help="served model name or local path of the judge")
    judge.add_argument(
        "--judge-backend", choices=["openai", "vllm", "transformers"], default="openai"
    )
    judge.add_argument(
        "--judge-base-url", action="append", help="OpenAI-compatible server URL(s) of the judge"
    )
    judge.add_argument("--judge-max-tokens", type=int, default=4096, help="tokens per judgement")
    parser.add_argument(
        "--labels",
        metavar="FIELD",
        help="boolean verdict already in the rows (dotted path, e.g. harness_verdict): the audit "
        "adds recall / false passes against it, disagreements go to --disagreements",
    )
    parser.add_argument(
        "--disagreements",
        help="JSONL of rows whose verdict disagrees with --labels "
        "(default: OUTPUT.disagreements.jsonl)",
    )
    parser.add_argument("--chunk-rows", type=int, default=1000, help="rows per resumable part")
    parser.add_argument("--restart", action="store_true", help="discard an earlier run's parts")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    fields = parser.add_argument_group("flat rows (rows without 'messages')")
    defaults = RowFields()
    for name in ("prompt", "response", "reference", "source", "verifier"):
        default = getattr(defaults, name)
        fields.add_argument(
            f"--{name}-field",
            default=default,
            help=f"field with the {name} (default: {default or 'found, see amfast.schema'})",
        )
    fields.add_argument(  # --tests-field: its name before the schema's one name per field
        "--test-case-field", "--tests-field", help="field with the test cases (default: found)"
    )
    parser.set_defaults(
        run=run, interrupted="finished work is kept: rerun the same command to resume"
    )


def run(args: argparse.Namespace) -> int:
    """Runs `amfast verify`."""
    judge = None
    if args.judge:
        if not args.judge_model:
            raise InputError("--judge needs --judge-model (and --judge-base-url for a server)")
        from amfast.distill.settings import DistillConfig
        from amfast.verify.judge import LLMJudge, backend_generate

        judge_backend = DistillConfig(
            input="-",
            output="-",
            model=args.judge_model,
            backend=args.judge_backend,
            base_url=args.judge_base_url or ["http://localhost:8000/v1"],
            max_tokens=args.judge_max_tokens,
        )
        judge = LLMJudge(backend_generate(judge_backend))
    reward_model = None
    if args.reward_model:
        from amfast.verify.reward import RewardModel

        reward_model = RewardModel(args.reward_model, threshold=args.reward_threshold)
    options = VerifyOptions(
        num_workers=args.workers,
        math_timeout=args.math_timeout,
        code_timeout=args.code_timeout,
        code_memory_mb=args.code_memory_mb,
        allow_unisolated=args.allow_unisolated,
        reward_model=reward_model,
        judge=judge,
    )
    fields = RowFields(
        prompt=args.prompt_field,
        response=args.response_field,
        reference=args.reference_field,
        tests=args.test_case_field,
        source=args.source_field,
        verifier=args.verifier_field,
    )
    audit_path = args.audit or f"{args.output}.audit.json"
    audit = verify_file(
        args.input,
        args.output,
        options=options,
        fields=fields,
        chunk_rows=args.chunk_rows,
        audit_path=audit_path,
        restart=args.restart,
        progress=not args.no_progress,
        labels=args.labels,
        disagreements_path=args.disagreements,
    )
    print(audit.table())
    print(f"\nrows with verdicts: {Path(args.output)}\naudit: {audit_path}")
    if args.labels:
        print(
            f"disagreements with {args.labels}: "
            f"{args.disagreements or f'{args.output}.disagreements.jsonl'}"
        )
    if audit.infrastructure_failures:
        print(
            f"{audit.infrastructure_failures} rows failed for infrastructure reasons (not "
            "graded); rerun the same command to retry just those rows"
        )
    return 0
