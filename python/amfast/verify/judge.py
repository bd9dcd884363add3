"""An LLM judge: a second opinion on math answers, as the paper took after math-verify.

The judge sees the problem, the reference answer and the extracted final answer, and must reply
YES or NO. It generates through any function that maps prompts to completions, the interface the
distillation backends expose (`amfast.generate.judge`: an OpenAI-compatible server, vLLM, a local
`transformers` model); until one is given it raises a clear error instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from amfast.errors import InputError
from amfast.generate.judge import REQUEST_FAILED, Generate
from amfast.verify.answer import split_response

JUDGE_PROMPT = """You are grading a math answer. Decide whether the candidate's final answer is \
mathematically equivalent to the reference answer (same value, set, interval or expression; \
ignore formatting, units written or not, and equivalent forms).

Problem:
{problem}

Reference answer: {reference}
Candidate answer: {candidate}

Reply with one word: YES if equivalent, NO otherwise."""

_VERDICT_WORD = re.compile(r"\b(YES|NO)\b", re.IGNORECASE)


def parse_judgement(completion: str) -> bool | None:
    """The judge's decision: the last YES/NO outside its reasoning, or None if it gave none.

    Example:
        >>> parse_judgement("<think>is 0.5 = 1/2? no wait, yes</think>YES")
        True
        >>> parse_judgement("No.")
        False
        >>> parse_judgement("I cannot tell") is None
        True
        >>> parse_judgement("[request failed: HTTP 404: no such model]") is None
        True
    """
    if completion.startswith(REQUEST_FAILED):
        return None
    parts = split_response(completion)
    if parts.truncated:
        return None
    words = _VERDICT_WORD.findall(parts.answer)
    return words[-1].upper() == "YES" if words else None


class LLMJudge:
    """Asks a language model whether each candidate answer matches its reference.

    Args:
        generate: maps a list of prompts to one completion each; None means not configured.
        prompt_template: a template with `{problem}`, `{reference}` and `{candidate}`.

    Example:
        >>> judge = LLMJudge(lambda prompts: ["YES" for _ in prompts])
        >>> judge.judge(["1+1?"], ["2"], ["2.0"])
        [True]
    """

    def __init__(
        self, generate: Generate | None = None, prompt_template: str = JUDGE_PROMPT
    ) -> None:
        self.generate = generate
        self.prompt_template = prompt_template

    def judge(
        self,
        problems: Sequence[str],
        references: Sequence[str],
        candidates: Sequence[str | None],
    ) -> list[bool | None]:
        """One decision per row: True / False, or None when the judge gave no YES/NO.

        Rows without a candidate answer are not sent to the model (None).

        Raises:
            InputError: no generation backend is configured, or the backend returned the wrong
                number of completions.
        """
        if self.generate is None:
            raise InputError(
                "the LLM judge has no generation backend: build LLMJudge(generate=...) with a "
                "function from prompts to completions (e.g. an OpenAI-compatible client)"
            )
        rows = [i for i, candidate in enumerate(candidates) if candidate]
        prompts = [
            self.prompt_template.format(
                problem=problems[i], reference=references[i], candidate=candidates[i]
            )
            for i in rows
        ]
        completions = self.generate(prompts) if prompts else []
        if len(completions) != len(prompts):
            raise InputError(
                f"the judge backend returned {len(completions)} completions for {len(prompts)} "
                "prompts"
            )
        decisions: list[bool | None] = [None] * len(candidates)
        for row, completion in zip(rows, completions, strict=True):
            decisions[row] = parse_judgement(completion)
        return decisions
