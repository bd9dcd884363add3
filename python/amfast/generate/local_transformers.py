"""A backend for a small local teacher run by `transformers` (CPU or one GPU), and for tests.

Requests run one at a time in a worker thread: each gets `torch.manual_seed(seed)` before its
`generate`, which makes every sample reproducible on its own (a batch would share one random
stream). Prompts are rendered with the tokenizer's chat template, then the reply prefix is
appended unless the template already ends with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from amfast.errors import InputError
from amfast.generate.backend import GenerationRequest, GenerationResult, with_prefix


@dataclass
class TransformersOptions:
    """How the local model runs.

    Attributes:
        device: `cpu`, `cuda`, `cuda:1`, ... (None: CUDA when available).
        dtype: torch dtype name (`float32`, `bfloat16`); None: the checkpoint's.
        batch_size: requests per `generate` call of the backend (run one after another).
    """

    device: str | None = None
    dtype: str | None = None
    batch_size: int = 8


class TransformersBackend:
    """Generates with `AutoModelForCausalLM.generate` (see the module docstring)."""

    name = "transformers"
    max_concurrency = 1

    def __init__(self, model: str, options: TransformersOptions | None = None) -> None:
        try:
            import torch
            import transformers
        except ImportError as error:
            raise InputError(
                "the transformers backend needs torch and transformers: "
                "pip install 'amfast[reward]'"
            ) from error
        self.model = model
        self.options = options or TransformersOptions()
        device = self.options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, self.options.dtype) if self.options.dtype else "auto"
        try:
            # Typed as Any: transformers' stubs type these loosely (str | list | BatchEncoding).
            self._tokenizer: Any = cast(Any, transformers.AutoTokenizer.from_pretrained(model))
            self._model: Any = cast(
                Any, transformers.AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
            )
        except (OSError, ValueError) as error:
            raise InputError(f"{model}: cannot load a causal LM and tokenizer: {error}") from error
        if not getattr(self._tokenizer, "chat_template", None):
            raise InputError(f"{model}: the tokenizer has no chat template")
        self._model.to(device)
        self._model.eval()
        self._device = device
        self._torch = torch
        self._lock = threading.Lock()  # one generate at a time: the seed is process-global

    @property
    def max_batch_size(self) -> int:
        """Requests per backend call."""
        return self.options.batch_size

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generates each request in turn, in a thread (the event loop stays free)."""
        return await asyncio.to_thread(self._generate_blocking, list(requests))

    async def aclose(self) -> None:
        """Nothing to release beyond what garbage collection frees."""

    def _generate_blocking(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        with self._lock:
            return [self._generate_one(request) for request in requests]

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        torch = self._torch
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        prompt = with_prefix(
            self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            ),
            request.reply_prefix,
        )
        encoded = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        input_ids = encoded["input_ids"].to(self._device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p}
            if request.temperature > 0
            else {"do_sample": False}
        )
        eos = self._model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        pad = self._tokenizer.pad_token_id
        torch.manual_seed(request.seed)
        with torch.inference_mode():
            output = self._model.generate(
                input_ids,
                attention_mask=encoded["attention_mask"].to(self._device),
                max_new_tokens=request.max_tokens,
                pad_token_id=pad if pad is not None else next(iter(eos_ids), 0),
                **sampling,
            )
        new_tokens = output[0, input_ids.shape[1] :].tolist()
        stopped = bool(new_tokens) and new_tokens[-1] in eos_ids
        return GenerationResult(
            key=request.key,
            text=self._tokenizer.decode(new_tokens, skip_special_tokens=True),
            finish_reason="stop" if stopped or len(new_tokens) < request.max_tokens else "length",
            prompt_tokens=int(input_ids.shape[1]),
            completion_tokens=len(new_tokens),
            prefilled=bool(request.reply_prefix),
        )
