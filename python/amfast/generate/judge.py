"""An LLM judge's generation side, shared by every stage that asks one (verify, decontam).

`JudgeOptions` declares the settings once (`judge`, `judge_model`, `judge_backend`,
`judge_base_url`, `judge_max_tokens`), so `amfast verify` and `amfast decontam` take the same
flags and TOML keys; `backend_generate` turns a distillation backend (an OpenAI-compatible
server, vLLM, a local `transformers` model) into a plain function from prompts to completions,
which is all a judge needs. What the judge is asked and how its reply is read stay with the
stage (`amfast.verify.judge`, `amfast.decontam_judge`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from amfast.config import positive, require
from amfast.generate.backend import BackendName

if TYPE_CHECKING:
    from amfast.distill.settings import DistillConfig
    from amfast.generate.backend import Backend, GenerationRequest, GenerationResult

Generate = Callable[[list[str]], list[str]]
"""Prompts in, one completion each out (in order); what a judge generates through."""


@dataclass(frozen=True)
class JudgeOptions:
    """Whether to ask an LLM judge, and through which generation backend.

    An options object: its fields are flags and keys of their own (`--judge-model`, key
    `judge_model`) in every stage config that holds it. What the judge is asked is the stage's
    business (see that command's description).

    Example:
        >>> JudgeOptions(judge=True, judge_model="Qwen/Qwen2.5-7B-Instruct").judge_backend
        'openai'
    """

    judge: bool = field(
        default=False,
        metadata={"help": "ask an LLM judge (verify: math answers; decontam: borderline matches)"},
    )
    judge_model: str | None = field(
        default=None, metadata={"help": "served model name or local path of the judge"}
    )
    judge_backend: BackendName = field(
        default="openai", metadata={"help": "generation backend of the judge"}
    )
    judge_base_url: list[str] = field(
        default_factory=lambda: ["http://localhost:8000/v1"],
        metadata={"help": "OpenAI-compatible server URL(s) of the judge"},
    )
    judge_max_tokens: int = field(default=4096, metadata={"help": "tokens per judgement"})

    def __post_init__(self) -> None:
        positive("judge_max_tokens", self.judge_max_tokens)
        require(
            not self.judge or bool(self.judge_model),
            "judge_model",
            self.judge_model,
            "a model name when the judge is on",
        )

    def generate_function(self) -> Generate:
        """Prompts -> completions through the configured backend (see `backend_generate`)."""
        # DistillConfig is the one declaration of the backend's other settings and defaults
        # (timeouts, retries, endpoint); imported here so that `amfast.generate` does not
        # depend on the distill package at import time.
        from amfast.distill.settings import DistillConfig

        config = DistillConfig(
            input="-",
            output="-",
            model=str(self.judge_model),
            backend=self.judge_backend,
            base_url=list(self.judge_base_url),
            max_tokens=self.judge_max_tokens,
        )
        return backend_generate(config)


REQUEST_FAILED = "[request failed: "
"""How the completion of a request that failed begins (the reason follows): never a verdict."""


def backend_generate(config: DistillConfig) -> Generate:
    """A prompts -> completions function over a distillation backend (openai, vllm, transformers).

    Each call builds the backend named by `config`, sends one request per prompt (greedy,
    `config.max_tokens`, at most `max_concurrency` batches in flight) and closes it again. A
    request that fails after the backend's retries yields `[request failed: <why>]`, which no
    judge parses as a decision and which the records keep, so the failure is visible there.
    """

    async def judge_all(prompts: list[str]) -> list[str]:
        from amfast.generate import create_backend
        from amfast.generate.backend import GenerationRequest, Message

        backend: Backend = await create_backend(config)
        try:
            requests = [
                GenerationRequest(
                    key=str(index),
                    messages=(Message("user", prompt),),
                    reply_prefix="",
                    seed=config.seed,
                    max_tokens=config.max_tokens,
                    temperature=0.0,
                    top_p=1.0,
                )
                for index, prompt in enumerate(prompts)
            ]
            size = max(backend.max_batch_size, 1)
            gate = asyncio.Semaphore(max(backend.max_concurrency, 1))

            async def generate_batch(batch: list[GenerationRequest]) -> list[GenerationResult]:
                async with gate:
                    return await backend.generate(batch)

            batches = [requests[i : i + size] for i in range(0, len(requests), size)]
            answered = await asyncio.gather(*(generate_batch(b) for b in batches))
        finally:
            await backend.aclose()
        texts = {
            result.key: result.text if result.error is None else f"{REQUEST_FAILED}{result.error}]"
            for batch in answered
            for result in batch
        }
        return [texts.get(str(index), "") for index in range(len(prompts))]

    def generate(prompts: list[str]) -> list[str]:
        return asyncio.run(judge_all(prompts))

    return generate
