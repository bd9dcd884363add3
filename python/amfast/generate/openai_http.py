"""A backend for any OpenAI-compatible server: `vllm serve`, SGLang, hosted APIs.

One HTTP request per sample (`n = 1`, the sample's own seed), so each sample can be saved the
moment it arrives and a rerun regenerates exactly the samples that are missing. Hundreds of
requests share one aiohttp connection pool; `max_in_flight` bounds them. Each request goes to
the base URL with the fewest requests in flight (ties: round robin), and a retry moves to the
next one, so a server that restarts is routed around.

Retried, with exponential backoff and jitter: connection errors, timeouts, HTTP 408/409/429
and 5xx, and bodies that are not the JSON of a completion. Other 4xx answers are the request's
fault and fail at once, with the server's message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amfast.errors import InputError
from amfast.generate.backend import (
    R1_COMPLETION_TEMPLATE,
    Endpoint,
    GenerationRequest,
    GenerationResult,
    completion_prompt,
)

_RETRY_STATUSES = frozenset({408, 409, 429})
_ERROR_CHARS = 300


class _Retryable(Exception):
    """A failure worth another try (server busy, down, or garbled)."""


class _Fatal(Exception):
    """A failure another try will not fix (the server rejected the request)."""


@dataclass
class OpenAIOptions:
    """How to reach the servers.

    Attributes:
        base_urls: one or more `http://host:port/v1` URLs; requests are spread over them.
        endpoint: `chat` (`/chat/completions`) or `completions` (`/completions`, raw text
            rendered with `completion_template`).
        api_key_env: the environment variable holding the API key (unset: no key sent).
        max_in_flight: requests in flight at once, over all URLs.
        request_timeout: seconds one request may take, end to end.
        max_retries: further tries after the first, per request.
        backoff: seconds before the first retry; doubles each time (with jitter).
        max_backoff: the longest wait between tries.
        chat_prefill: send the reply prefix as a final assistant message with
            `continue_final_message` (vLLM, SGLang); off for servers that reject that field
            or whose chat template already opens the reply with `<think>`.
        completion_template: raw prompt for `/completions`; `{system}` and `{prompt}` are
            filled in (default: DeepSeek-R1's format).
        extra_body: extra JSON fields sent with every request.
    """

    base_urls: Sequence[str]
    endpoint: Endpoint = "chat"
    api_key_env: str = "OPENAI_API_KEY"
    max_in_flight: int = 256
    request_timeout: float = 1800.0
    max_retries: int = 8
    backoff: float = 1.0
    max_backoff: float = 60.0
    chat_prefill: bool = True
    completion_template: str = R1_COMPLETION_TEMPLATE
    extra_body: dict[str, Any] = field(default_factory=dict)


class OpenAIBackend:
    """Generates through OpenAI-compatible HTTP servers (see the module docstring).

    Create it inside a running event loop (the connection pool belongs to that loop) and
    `await backend.aclose()` when done.
    """

    name = "openai"
    max_batch_size = 1

    def __init__(self, model: str, options: OpenAIOptions) -> None:
        try:
            import aiohttp
        except ImportError as error:
            raise InputError(
                "the openai backend needs aiohttp: pip install 'amfast[distill]'"
            ) from error
        if not options.base_urls:
            raise InputError("the openai backend needs at least one --base-url")
        if options.max_in_flight < 1:
            raise InputError("max_in_flight must be at least 1")
        self.model = model
        self.options = options
        self.base_urls = [url.rstrip("/") for url in options.base_urls]
        self._in_flight = [0] * len(self.base_urls)
        self._next = 0
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(options.api_key_env) if options.api_key_env else None
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=options.max_in_flight, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=options.request_timeout),
        )
        self._slots = asyncio.Semaphore(options.max_in_flight)

    @property
    def max_concurrency(self) -> int:
        """Requests the runner may keep in flight (the pool's size)."""
        return self.options.max_in_flight

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Sends each request (at most `max_in_flight` at once); one result per request."""
        return list(await asyncio.gather(*(self._generate_one(r) for r in requests)))

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._session.close()

    def _pick_url(self, avoid: int | None) -> int:
        """The least-loaded URL, preferring one other than `avoid` (the one that just failed)."""
        count = len(self.base_urls)
        order = [(self._next + i) % count for i in range(count)]
        self._next = (self._next + 1) % count
        candidates = [i for i in order if i != avoid] or order
        return min(candidates, key=lambda i: self._in_flight[i])

    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "stream": False,
        }
        prefill = bool(request.reply_prefix)
        if self.options.endpoint == "completions":
            body["prompt"] = completion_prompt(
                request.messages, self.options.completion_template, request.reply_prefix, prefill
            )
            return "/completions", body | self.options.extra_body
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if prefill and self.options.chat_prefill:
            messages.append({"role": "assistant", "content": request.reply_prefix})
            body |= {"continue_final_message": True, "add_generation_prompt": False}
        body["messages"] = messages
        return "/chat/completions", body | self.options.extra_body

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        import aiohttp

        path, body = self._body(request)
        failed_url: int | None = None
        last_error = ""
        async with self._slots:
            for attempt in range(self.options.max_retries + 1):
                if attempt:
                    delay = min(self.options.max_backoff, self.options.backoff * 2 ** (attempt - 1))
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                url = self._pick_url(failed_url)
                self._in_flight[url] += 1
                try:
                    payload = await self._post(self.base_urls[url] + path, body)
                    return self._result(request, payload)
                except _Fatal as error:
                    return GenerationResult.failed(request.key, str(error))
                except (_Retryable, aiohttp.ClientError, TimeoutError) as error:
                    failed_url = url
                    last_error = f"{self.base_urls[url]}: {_describe(error)}"
                finally:
                    self._in_flight[url] -= 1
        tries = self.options.max_retries + 1
        return GenerationResult.failed(request.key, f"gave up after {tries} tries: {last_error}")

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._session.post(url, data=json.dumps(body)) as response:
            raw = await response.read()
            if response.status != 200:
                message = f"HTTP {response.status}: {_clip(raw)}"
                if response.status in _RETRY_STATUSES or response.status >= 500:
                    raise _Retryable(message)
                raise _Fatal(message)
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Retryable(f"malformed JSON in the response: {_clip(raw)}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise _Retryable(f"no 'choices' in the response: {_clip(raw)}")
        if not payload["choices"]:
            raise _Retryable("the response has no choices")
        return payload

    def _result(self, request: GenerationRequest, payload: dict[str, Any]) -> GenerationResult:
        choice = payload["choices"][0]
        if not isinstance(choice, dict):
            raise _Retryable(f"choice is {type(choice).__name__}, expected an object")
        usage: dict[str, Any] = payload.get("usage") or {}
        if not isinstance(usage, dict):
            usage = {}
        if self.options.endpoint == "completions":
            text, reasoning = choice.get("text"), None
        else:
            message: dict[str, Any] = choice.get("message") or {}
            if not isinstance(message, dict):
                raise _Retryable(f"message is {type(message).__name__}, expected an object")
            text = message.get("content") or ""
            # vLLM's reasoning parsers and DeepSeek's API put the thinking here.
            reasoning = message.get("reasoning_content") or message.get("reasoning")
        if not isinstance(text, str):
            raise _Retryable(f"the completion text is {type(text).__name__}, expected a string")
        prefilled = bool(request.reply_prefix) and (
            self.options.endpoint == "completions" or self.options.chat_prefill
        )
        return GenerationResult(
            key=request.key,
            text=text,
            reasoning=reasoning if isinstance(reasoning, str) else None,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            prefilled=prefilled,
        )


def _clip(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _ERROR_CHARS else text[:_ERROR_CHARS] + "..."


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__
