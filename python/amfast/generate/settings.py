"""Which backend a job asks for, built from the settings every generating stage shares.

Distill, the verify judge, labelling and eval each have their own config dataclass; each carries
the backend fields below under the same names, so any of them builds its backend here.
"""

from __future__ import annotations

from typing import Protocol

from amfast.generate.backend import Backend, BackendName, Endpoint


class BackendSettings(Protocol):
    """The backend fields of a stage config (`DistillConfig` has all of them)."""

    model: str
    backend: BackendName
    base_url: list[str]
    endpoint: Endpoint
    api_key_env: str
    max_in_flight: int
    request_timeout: float
    max_retries: int
    retry_backoff: float
    chat_prefill: bool
    completion_template: str
    tensor_parallel_size: int
    seed: int
    batch_size: int | None
    device: str | None
    dtype: str | None


async def create_backend(config: BackendSettings) -> Backend:
    """The backend `config` asks for (built inside the running event loop).

    Raises:
        InputError: A missing optional dependency (naming the extra), or bad backend settings.
    """
    if config.backend == "openai":
        from amfast.generate.openai_http import OpenAIBackend, OpenAIOptions

        return OpenAIBackend(
            config.model,
            OpenAIOptions(
                base_urls=config.base_url,
                endpoint=config.endpoint,
                api_key_env=config.api_key_env,
                max_in_flight=config.max_in_flight,
                request_timeout=config.request_timeout,
                max_retries=config.max_retries,
                backoff=config.retry_backoff,
                chat_prefill=config.chat_prefill,
                completion_template=config.completion_template,
            ),
        )
    if config.backend == "vllm":
        from amfast.generate.vllm_offline import VllmBackend, VllmOptions

        return VllmBackend(
            config.model,
            VllmOptions(
                tensor_parallel_size=config.tensor_parallel_size,
                seed=config.seed,
                batch_size=config.batch_size or 1024,
            ),
        )
    from amfast.generate.local_transformers import TransformersBackend, TransformersOptions

    return TransformersBackend(
        config.model,
        TransformersOptions(
            device=config.device, dtype=config.dtype, batch_size=config.batch_size or 8
        ),
    )
