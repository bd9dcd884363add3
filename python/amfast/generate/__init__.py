"""Generation backends (OpenAI-compatible HTTP, vLLM offline, local transformers).

Shared by every stage that asks a model something: distill, the verify and decontamination
judges (`amfast.generate.judge`) and eval. vLLM and transformers are imported only when their
backend is built.
"""

from amfast.generate.backend import (
    Backend,
    BackendName,
    GenerationRequest,
    GenerationResult,
    Message,
)
from amfast.generate.settings import BackendSettings, create_backend

__all__ = [
    "Backend",
    "BackendName",
    "BackendSettings",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "create_backend",
]
