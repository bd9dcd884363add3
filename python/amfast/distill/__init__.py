"""Distillation: sample a teacher's reasoning for every prompt, resumably, into AM-schema shards.

`run_distill(DistillConfig(...))` is the job (`amfast distill` on the command line). Backends
implement `Backend`: `openai` (any OpenAI-compatible server), `vllm` (offline engine) and
`transformers` (a small local model).
"""

from amfast.distill.prompting import PromptOptions, PromptSpec
from amfast.distill.runner import distill_async, run_distill
from amfast.distill.settings import DistillConfig
from amfast.distill.summary import DistillSummary
from amfast.generate.backend import Backend, GenerationRequest, GenerationResult, Message

__all__ = [
    "Backend",
    "DistillConfig",
    "DistillSummary",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "PromptOptions",
    "PromptSpec",
    "distill_async",
    "run_distill",
]
