r"""A local teacher run by vLLM's offline engine (`vllm.LLM`) on this machine's GPUs.

vLLM is imported when the backend is created; without it the error names the extra to install.
Prompts are rendered with the model's own chat template, then the reply prefix (`<think>\n`)
is appended unless the template already ends with it (DeepSeek-R1's newer templates do). Each
request carries its own `SamplingParams(n=1, seed=...)`, so every sample is reproducible on its
own and a rerun regenerates exactly the missing ones; vLLM batches the whole call itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amfast.errors import InputError
from amfast.generate.backend import GenerationRequest, GenerationResult, with_prefix


@dataclass
class VllmOptions:
    """How the engine is built.

    Attributes:
        tensor_parallel_size: GPUs one model is split over.
        seed: the engine's seed (each request also has its own).
        batch_size: requests per `generate` call; vLLM schedules within it, and a crash
            loses at most one call's samples.
        engine_args: further `vllm.LLM` keyword arguments (`gpu_memory_utilization`,
            `max_model_len`, `dtype`, ...).
    """

    tensor_parallel_size: int = 1
    seed: int = 0
    batch_size: int = 1024
    engine_args: dict[str, Any] = field(default_factory=dict)


def _import_vllm() -> Any:  # noqa: ANN401 - vllm ships no stubs
    try:
        import vllm  # type: ignore[import-not-found]
    except ImportError as error:
        raise InputError(
            "the vllm backend needs vLLM (a CUDA machine): pip install 'amfast[vllm]'; "
            "or serve the model with `vllm serve` and use --backend openai"
        ) from error
    return vllm


class VllmBackend:
    """Generates with `vllm.LLM` in a worker thread (the engine call blocks)."""

    name = "vllm"
    max_concurrency = 1

    def __init__(self, model: str, options: VllmOptions | None = None) -> None:
        vllm = _import_vllm()
        self.model = model
        self.options = options or VllmOptions()
        self._vllm = vllm
        self._llm = vllm.LLM(
            model=model,
            tensor_parallel_size=self.options.tensor_parallel_size,
            seed=self.options.seed,
            **self.options.engine_args,
        )
        self._tokenizer = self._llm.get_tokenizer()

    @property
    def max_batch_size(self) -> int:
        """Requests per engine call."""
        return self.options.batch_size

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Runs one engine call over all `requests` in a thread."""
        return await asyncio.to_thread(self._generate_blocking, list(requests))

    async def aclose(self) -> None:
        """Drops the engine (vLLM frees GPU memory when it is collected)."""
        self._llm = None

    def _render(self, request: GenerationRequest) -> str:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        text: str = self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return with_prefix(text, request.reply_prefix)

    def _generate_blocking(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        params = [
            self._vllm.SamplingParams(
                n=1,
                seed=r.seed,
                temperature=r.temperature,
                top_p=r.top_p,
                max_tokens=r.max_tokens,
            )
            for r in requests
        ]
        outputs = self._llm.generate([self._render(r) for r in requests], params, use_tqdm=False)
        results = []
        for request, output in zip(requests, outputs, strict=True):
            completion = output.outputs[0]
            results.append(
                GenerationResult(
                    key=request.key,
                    text=completion.text,
                    finish_reason=completion.finish_reason,
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids),
                    prefilled=bool(request.reply_prefix),
                )
            )
        return results
