"""Verification: decide whether each distilled response is right.

One verifier per answer kind, each returning a `Verdict` (see `amfast.verify.verdict`):
`verify_math` (math-verify under process deadlines), `verify_code` (a hardened sandbox),
`verify_choice` (multiple-choice letters), `RewardModel` (a local classifier) and `LLMJudge` (a
second opinion). `verify_file` / `amfast verify` pick one per row, resumably, with an audit.
"""

from amfast.verify.answer import (
    extract_code,
    extract_math_answer,
    final_answer,
    last_boxed,
    last_code_block,
    split_response,
)
from amfast.verify.audit import VerifyAudit
from amfast.verify.choice import extract_choice, verify_choice
from amfast.verify.code import verify_code, verify_code_batch
from amfast.verify.dispatch import RowFields, VerifyOptions, task_of, verify_tasks
from amfast.verify.job import verify_file
from amfast.verify.judge import LLMJudge
from amfast.verify.math import verify_math, verify_math_batch
from amfast.verify.verdict import REASONS, Reason, Verdict

__all__ = [
    "REASONS",
    "LLMJudge",
    "Reason",
    "RowFields",
    "Verdict",
    "VerifyAudit",
    "VerifyOptions",
    "extract_choice",
    "extract_code",
    "extract_math_answer",
    "final_answer",
    "last_boxed",
    "last_code_block",
    "split_response",
    "task_of",
    "verify_choice",
    "verify_code",
    "verify_code_batch",
    "verify_file",
    "verify_math",
    "verify_math_batch",
    "verify_tasks",
]
