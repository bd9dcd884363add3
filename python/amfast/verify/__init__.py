"""Verification: decide whether each distilled response is right.

One verifier per answer kind, each returning a `Verdict` (see `amfast.verify.verdict`).
"""

from amfast.verify.answer import final_answer, last_boxed, last_code_block, split_response
from amfast.verify.verdict import REASONS, Reason, Verdict

__all__ = [
    "REASONS",
    "Reason",
    "Verdict",
    "final_answer",
    "last_boxed",
    "last_code_block",
    "split_response",
]
