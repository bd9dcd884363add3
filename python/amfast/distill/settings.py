"""`DistillConfig`: every setting of a distillation job; field = TOML key = CLI flag.

`amfast distill --config distill.toml` reads the keys from the file's top level or its
`[distill]` table; flags on the command line override them (see `amfast.config`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from amfast.distill.prompting import R1_MATH_DIRECTIVE, PromptOptions
from amfast.distill.store import OutputFormat
from amfast.generate.backend import R1_COMPLETION_TEMPLATE, BackendName
from amfast.schema import FieldMap

TruncationPolicy = Literal["keep", "drop", "resample", "extend"]


def _help(text: str, **extra: Any) -> Any:  # noqa: ANN401 - dataclasses.field's own type
    return field(metadata={"help": text, **extra})


@dataclass
class DistillConfig:
    """Settings of `amfast distill` / `run_distill` (the help text of each is its CLI help)."""

    input: str = field(
        metadata={
            "positional": True,
            "help": "prompts: a file or folder (JSONL/.gz/.zst, Parquet, Arrow, a stage's output)",
        }
    )
    output: str = field(metadata={"aliases": ("-o",), "help": "output directory"})
    model: str = _help("teacher model: served name (openai) or local path (vllm, transformers)")
    backend: BackendName = field(default="openai", metadata={"help": "generation backend"})
    teacher: str | None = field(
        default=None, metadata={"help": "name recorded in info.source (default: --model)"}
    )
    base_url: list[str] = field(
        default_factory=list, metadata={"help": "OpenAI-compatible base URL, e.g. http://h:8000/v1"}
    )
    endpoint: Literal["chat", "completions"] = field(
        default="chat", metadata={"help": "/v1/chat/completions or /v1/completions"}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "environment variable with the API key"}
    )
    chat_prefill: bool = field(
        default=True,
        metadata={
            "help": "force the reply prefix on the chat endpoint via continue_final_message "
            "(vLLM, SGLang); turn off for servers that reject it"
        },
    )
    completion_template: str = field(
        default=R1_COMPLETION_TEMPLATE,
        metadata={"help": "raw prompt for --endpoint completions ({system}, {prompt})"},
    )
    max_in_flight: int = field(default=256, metadata={"help": "HTTP requests in flight"})
    request_timeout: float = field(default=1800.0, metadata={"help": "seconds per request"})
    max_retries: int = field(default=8, metadata={"help": "retries per request (429/5xx/...)"})
    retry_backoff: float = field(default=1.0, metadata={"help": "first retry delay, doubling"})
    samples: int = field(default=1, metadata={"help": "samples per prompt", "deprecated": ("n",)})
    max_tokens: int = field(default=32768, metadata={"help": "completion token budget"})
    temperature: float = field(default=0.6, metadata={"help": "sampling temperature"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass"})
    seed: int = field(default=0, metadata={"help": "base seed; each sample derives its own"})
    prompt_field: str | None = field(
        default=None,
        metadata={"help": "prompt field of flat rows, dotted path (default: problem, prompt, ..)"},
    )
    reference_field: str | None = field(
        default=None,
        metadata={"help": "reference answer field (default: reference_answer, answer, solution)"},
    )
    test_case_field: str | None = field(
        default=None, metadata={"help": "test case field (default: test_case, test_cases, tests)"}
    )
    source_field: str | None = field(default=None, metadata={"help": "source field"})
    id_field: str | None = field(
        default="id", metadata={"help": "row id field (absent: a hash of the prompt)"}
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "system message (default: none, as R1 advises)"}
    )
    user_template: str = field(default="{prompt}", metadata={"help": "user turn with {prompt}"})
    math_directive: str = field(
        default=R1_MATH_DIRECTIVE, metadata={"help": "line appended to math prompts"}
    )
    math_directive_for: Literal["auto", "all", "none"] = field(
        default="auto", metadata={"help": "auto: rows with a reference answer and no tests"}
    )
    reply_prefix: str = field(
        default="<think>\n", metadata={"help": "forced start of every reply ('' for none)"}
    )
    max_prompts: int | None = field(
        default=None, metadata={"help": "only the first N prompts of the input"}
    )
    shard: str = field(default="0/1", metadata={"help": "this machine's part i/N of the prompts"})
    shard_rows: int = field(default=1000, metadata={"help": "samples per output shard"})
    output_format: OutputFormat = field(default="parquet", metadata={"help": "shard format"})
    truncation: TruncationPolicy = field(
        default="drop",
        metadata={
            "help": "replies cut at max_tokens: keep, drop, resample (new seed) or extend "
            "(double the budget)"
        },
    )
    truncation_retries: int = field(
        default=2, metadata={"help": "resample/extend tries per sample"}
    )
    max_tokens_limit: int | None = field(
        default=None, metadata={"help": "largest budget 'extend' may reach (4x max_tokens)"}
    )
    verify: bool = field(
        default=False, metadata={"help": "verify samples; regenerate failures (rejection sampling)"}
    )
    k: int | None = field(
        default=None, metadata={"help": "passing samples wanted per prompt (default: samples)"}
    )
    max_attempts: int = field(default=4, metadata={"help": "generations per sample when verifying"})
    verify_workers: int | None = field(
        default=None, metadata={"help": "verifier processes (default: one per core)"}
    )
    math_timeout: float = field(default=10.0, metadata={"help": "seconds per math check"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per model (vllm)"})
    batch_size: int | None = field(
        default=None, metadata={"help": "requests per engine call (vllm 1024, transformers 8)"}
    )
    device: str | None = field(default=None, metadata={"help": "torch device (transformers)"})
    dtype: str | None = field(default=None, metadata={"help": "torch dtype (transformers)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    force: bool = field(default=False, metadata={"help": "resume even though the settings changed"})

    def __post_init__(self) -> None:
        positive = {
            "samples": self.samples,
            "max_tokens": self.max_tokens,
            "max_in_flight": self.max_in_flight,
            "shard_rows": self.shard_rows,
            "max_attempts": self.max_attempts,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.k is not None and not 1 <= self.k <= self.samples:
            raise ValueError(f"k must be between 1 and samples ({self.samples}), got {self.k}")
        if self.truncation_retries < 0 or self.max_retries < 0:
            raise ValueError("truncation_retries and max_retries may not be negative")
        if not 0.0 <= self.top_p <= 1.0 or self.temperature < 0:
            raise ValueError("top_p must be in [0, 1] and temperature at least 0")
        parse_shard(self.shard)
        PromptOptions(user_template=self.user_template)  # checks the template early

    @property
    def shard_index(self) -> int:
        """This machine's part of the prompts (the `i` of `i/N`)."""
        return parse_shard(self.shard)[0]

    @property
    def shard_count(self) -> int:
        """How many parts the prompts are split into (the `N` of `i/N`)."""
        return parse_shard(self.shard)[1]

    @property
    def passes_wanted(self) -> int:
        """Samples each prompt should end with (`k` when verifying, else `samples`)."""
        return (self.k or self.samples) if self.verify else self.samples

    @property
    def prompt_options(self) -> PromptOptions:
        """The prompting settings."""
        return PromptOptions(
            system_prompt=self.system_prompt,
            user_template=self.user_template,
            math_directive=self.math_directive,
            math_directive_for=self.math_directive_for,
            reply_prefix=self.reply_prefix,
        )

    @property
    def fields(self) -> FieldMap:
        """Where flat input rows keep each value (`amfast.schema`)."""
        return FieldMap(
            prompt=self.prompt_field,
            reference=self.reference_field,
            test_case=self.test_case_field,
            source=self.source_field,
            id=self.id_field,
        )

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the first (they shape the samples)."""
        keep = [
            "backend",
            "model",
            "endpoint",
            "chat_prefill",
            "completion_template",
            "max_tokens",
            "temperature",
            "top_p",
            "seed",
            "prompt_field",
            "reference_field",
            "test_case_field",
            "source_field",
            "id_field",
            "system_prompt",
            "user_template",
            "math_directive",
            "math_directive_for",
            "reply_prefix",
            "truncation",
            "truncation_retries",
            "max_tokens_limit",
            "verify",
            "k",
            "max_attempts",
            "output_format",
        ]
        return {name: getattr(self, name) for name in keep} | {"shard_count": self.shard_count}


def parse_shard(text: str) -> tuple[int, int]:
    """`"i/N"` -> (i, N), with 0 <= i < N.

    Example:
        >>> parse_shard("2/8")
        (2, 8)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ValueError(f"shard must be i/N with 0 <= i < N, got {text!r}")
    return int(match[1]), int(match[2])
