r"""What the teacher is asked, and how its reply becomes an AM-schema sample.

DeepSeek-R1's usage rules are the default: no system prompt, every instruction in the user turn,
math prompts end with "Please reason step by step, and put your final answer within
\boxed{}.", and the reply is forced to begin with `<think>\n` (the model otherwise sometimes
skips its reasoning). All of it is configurable through `PromptOptions`.

A reply is split at its first `</think>` (or taken from the server's `reasoning_content`) and
rewrapped as the AM corpus writes it:
`"<think>" + think + "</think>\n<answer>" + answer + "</answer>"`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from amfast.generate.backend import (
    GenerationResult,
    Message,
)

R1_MATH_DIRECTIVE = r"Please reason step by step, and put your final answer within \boxed{}."
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class PromptOptions:
    """How prompts are put to the teacher.

    Attributes:
        system_prompt: a system message; None (DeepSeek-R1's advice) sends none.
        user_template: the user turn; `{prompt}` is replaced by the row's prompt.
        math_directive: appended (on a new line) to math prompts.
        math_directive_for: `auto`: rows with a reference answer and no test case; `all`;
            `none`.
        reply_prefix: the reply is forced to begin with this (empty: not forced).
    """

    system_prompt: str | None = None
    user_template: str = "{prompt}"
    math_directive: str = R1_MATH_DIRECTIVE
    math_directive_for: Literal["auto", "all", "none"] = "auto"
    reply_prefix: str = THINK_OPEN + "\n"

    def __post_init__(self) -> None:
        if "{prompt}" not in self.user_template:
            raise ValueError(f"user_template {self.user_template!r} has no {{prompt}} in it")


@dataclass(frozen=True)
class PromptSpec:
    """One input prompt, as read from the input file.

    Attributes:
        prompt_id: stable id (the row's id field, else a hash of the prompt).
        prompt: the user's question.
        reference_answer: the row's reference answer, if any (used by the verifier).
        test_case: the row's test case as given (dict or JSON string), if any.
        source: the row's source dataset, if known.
        location: where the row is in the input (`file:line` or `file:row N`).
    """

    prompt_id: str
    prompt: str
    reference_answer: str | None = None
    test_case: Any = None
    source: str | None = None
    location: str = ""

    @property
    def is_math(self) -> bool:
        """A reference answer and no test case: a math (or short-answer) problem."""
        return self.reference_answer is not None and not self.test_case


def messages_for(spec: PromptSpec, options: PromptOptions) -> tuple[Message, ...]:
    r"""The chat messages that ask the teacher `spec`'s question.

    Example:
        >>> spec = PromptSpec("p1", "What is 1+1?", reference_answer="2")
        >>> [m.content for m in messages_for(spec, PromptOptions())][0].splitlines()[-1]
        'Please reason step by step, and put your final answer within \\boxed{}.'
    """
    user = options.user_template.replace("{prompt}", spec.prompt)
    wants_directive = options.math_directive_for == "all" or (
        options.math_directive_for == "auto" and spec.is_math
    )
    if wants_directive and options.math_directive and options.math_directive not in user:
        user = f"{user.rstrip()}\n{options.math_directive}"
    system = () if options.system_prompt is None else (Message("system", options.system_prompt),)
    return (*system, Message("user", user))


def split_reply(result: GenerationResult, reply_prefix: str) -> tuple[str, str]:
    r"""(think, answer) of a reply, both stripped.

    The server's `reasoning_content` wins when present. Otherwise the text (after the forced
    prefix) is cut at the first `</think>`; a reply that never closes its thinking is all
    thinking when it opened with `<think>`, else all answer.

    Example:
        >>> reply = GenerationResult("k", "1+1 is 2.\n</think>\n\nIt is $\\boxed{2}$.")
        >>> split_reply(reply, "<think>\n")
        ('1+1 is 2.', 'It is $\\boxed{2}$.')
    """
    if result.reasoning is not None:
        return result.reasoning.strip(), _without_think_tags(result.text).strip()
    text = (reply_prefix + result.text) if result.prefilled else result.text
    opened = text.lstrip().startswith(THINK_OPEN)
    body = text.lstrip().removeprefix(THINK_OPEN) if opened else text
    think, closed, answer = body.partition(THINK_CLOSE)
    if closed:
        return think.strip(), answer.strip()
    return (body.strip(), "") if opened else ("", body.strip())


def _without_think_tags(text: str) -> str:
    # Some servers echo an empty "<think></think>" in `content` next to `reasoning_content`.
    _, closed, after = text.partition(THINK_CLOSE)
    return after if closed else text


def am_content(think: str, answer: str) -> str:
    r"""The AM corpus's assistant content.

    Example:
        >>> am_content("t", "a")
        '<think>t</think>\n<answer>a</answer>'
    """
    return f"{THINK_OPEN}{think}{THINK_CLOSE}\n<answer>{answer}</answer>"


def _json_text(value: Any) -> str | None:  # noqa: ANN401 - test cases come in any JSON shape
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class SampleFacts:
    """How one sample was made, recorded in the assistant message's `info`."""

    sample_index: int
    seed: int
    attempts: int
    backend: str
    model: str
    teacher: str


def am_sample(
    spec: PromptSpec, result: GenerationResult, facts: SampleFacts, reply_prefix: str
) -> dict[str, Any]:
    r"""One output row in the AM message schema, with the sample's key and generation metadata.

    Example:
        >>> spec = PromptSpec("p1", "1+1?", reference_answer="2", source="demo")
        >>> reply = GenerationResult("p1:0", "ok</think>2", finish_reason="stop")
        >>> facts = SampleFacts(0, 7, 1, "openai", "R1", "deepseek-r1")
        >>> row = am_sample(spec, reply, facts, "<think>\n")
        >>> row["messages"][1]["content"]
        '<think>ok</think>\n<answer>2</answer>'
    """
    think, answer = split_reply(result, reply_prefix)
    return {
        "key": result.key,
        "prompt_id": spec.prompt_id,
        "sample_index": facts.sample_index,
        "finish_reason": result.finish_reason,
        "messages": [
            {
                "role": "user",
                "content": spec.prompt,
                "info": {
                    "source": spec.source,
                    "reference_answer": spec.reference_answer,
                    "test_case": _json_text(spec.test_case),
                },
            },
            {
                "role": "assistant",
                "content": am_content(think, answer),
                "info": {
                    "source": facts.teacher,
                    "think_content": think,
                    "answer_content": answer,
                    "finish_reason": result.finish_reason,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "seed": facts.seed,
                    "attempts": facts.attempts,
                    "backend": facts.backend,
                    "model": facts.model,
                    "verify_score": None,
                    "verify_reason": None,
                },
            },
        ],
    }
