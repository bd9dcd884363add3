"""The generation backend protocol and the request/result types every backend shares.

A backend turns `GenerationRequest`s (one sample each: chat messages, an optional forced
reply prefix, a seed and a token budget) into `GenerationResult`s. The runner calls
`generate` with batches of at most `max_batch_size` requests and keeps at most
`max_concurrency` calls in flight: an HTTP backend takes one request per call and hundreds of
calls at once (each result is saved the moment it arrives), an offline engine takes big
batches one at a time (its own scheduler batches better than we could).

A failure of one request (after the backend's retries) is a result with `error` set, never an
exception: the job records it and goes on; a rerun tries that sample again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

BackendName = Literal["openai", "vllm", "transformers"]
Endpoint = Literal["chat", "completions"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message sent to the teacher."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    r"""One sample to generate.

    Attributes:
        key: the sample's stable key (`<prompt id>:<sample index>`), echoed in the result.
        messages: the conversation, ending with the user turn.
        reply_prefix: text the reply is forced to begin with (`"<think>\n"`); the backend
            prefills it where it can and the result's `text` does not repeat it.
        seed: the sampling seed; the same request gives the same sample where the engine is
            deterministic.
        max_tokens: the completion token budget.
        temperature: sampling temperature (0 = greedy).
        top_p: nucleus sampling mass.
    """

    key: str
    messages: tuple[Message, ...]
    reply_prefix: str
    seed: int
    max_tokens: int
    temperature: float
    top_p: float


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What the teacher returned for one request.

    Attributes:
        key: the request's key.
        text: the generated continuation (after `reply_prefix`); empty on error.
        reasoning: the reasoning, when the server returns it apart (`reasoning_content`).
        finish_reason: `stop`, `length` (budget spent: truncated), or the server's value.
        prompt_tokens: prompt length in tokens, when known.
        completion_tokens: generated tokens, when known.
        error: why no text came back (after retries); None on success.
        prefilled: whether `reply_prefix` was really put in front of the reply.
    """

    key: str
    text: str = ""
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    prefilled: bool = field(default=True)

    @classmethod
    def failed(cls, key: str, error: str) -> GenerationResult:
        """A result that carries only an error."""
        return cls(key=key, error=error)


class Backend(Protocol):
    """A teacher that generates samples.

    Example:
        >>> class Echo:
        ...     name, model, max_batch_size, max_concurrency = "echo", "echo", 8, 1
        ...     async def generate(self, requests):
        ...         return [GenerationResult(r.key, r.messages[-1].content, finish_reason="stop")
        ...                 for r in requests]
        ...     async def aclose(self):
        ...         pass
        >>> backend: Backend = Echo()
    """

    @property
    def name(self) -> str:
        """The backend kind (`openai`, `vllm`, `transformers`), recorded in every sample."""
        ...

    @property
    def model(self) -> str:
        """The teacher model's name or path, recorded in every sample."""
        ...

    @property
    def max_batch_size(self) -> int:
        """The most requests one `generate` call takes."""
        ...

    @property
    def max_concurrency(self) -> int:
        """The most `generate` calls the runner may keep in flight at once."""
        ...

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in any order (matched by `key`)."""
        ...

    async def aclose(self) -> None:
        """Releases connections, engines and memory."""
        ...


# DeepSeek-R1's special tokens use U+FF5C (fullwidth bar) and U+2581 (lower one-eighth block).
R1_COMPLETION_TEMPLATE = (
    "<\uff5cbegin\u2581of\u2581sentence\uff5c>{system}"
    "<\uff5cUser\uff5c>{prompt}<\uff5cAssistant\uff5c>"
)


def completion_prompt(
    messages: tuple[Message, ...], template: str, reply_prefix: str, prefill: bool
) -> str:
    r"""A raw-text prompt for `/v1/completions` from `template` (`{system}`, `{prompt}`).

    Example:
        >>> completion_prompt((Message("user", "Hi"),), "U: {prompt}\nA: ", "<think>\n", True)
        'U: Hi\nA: <think>\n'
    """
    system = "\n".join(m.content for m in messages if m.role == "system")
    user = "\n".join(m.content for m in messages if m.role == "user")
    text = template.replace("{system}", system).replace("{prompt}", user)
    return with_prefix(text, reply_prefix) if prefill else text


def with_prefix(rendered_prompt: str, reply_prefix: str) -> str:
    r"""`rendered_prompt` ending in `reply_prefix`, added only when the template did not already.

    Example:
        >>> with_prefix("<Assistant><think>\n", "<think>\n")
        '<Assistant><think>\n'
    """
    if not reply_prefix or rendered_prompt.endswith(reply_prefix):
        return rendered_prompt
    return rendered_prompt + reply_prefix
