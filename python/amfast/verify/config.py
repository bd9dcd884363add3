"""`VerifyConfig`: every setting of `amfast verify`; field = TOML key (`[verify]`) = CLI flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amfast.config import positive, require
from amfast.generate.judge import JudgeOptions
from amfast.verify.dispatch import RowFields

_FIELDS = RowFields()


def _field_flag(what: str, default: str | None, *, deprecated: tuple[str, ...] = ()) -> Any:  # noqa: ANN401
    shown = default or "found by its common names, see amfast.schema"
    return field(
        default=default,
        metadata={
            "help": f"flat rows: field with the {what} (default: {shown})",
            "deprecated": deprecated,
        },
    )


@dataclass(frozen=True)
class VerifyConfig:
    """Settings of `amfast verify` (see README "The convention" for the shared names)."""

    input: str = field(
        metadata={
            "positional": True,
            "help": "rows: a file or folder (JSONL, Parquet, Arrow, a stage's output folder)",
        }
    )
    output: str = field(metadata={"aliases": ("-o",), "help": "JSONL output (.gz to compress)"})
    audit: str | None = field(
        default=None, metadata={"help": "audit JSON (default: OUTPUT.audit.json)"}
    )
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "math processes / code sandboxes (default: one per core)",
            "deprecated": ("workers",),
        },
    )
    math_timeout: float = field(default=10.0, metadata={"help": "seconds per math check"})
    code_timeout: float = field(default=10.0, metadata={"help": "seconds per code run"})
    code_memory_mb: int = field(default=1024, metadata={"help": "memory per code run (MB)"})
    allow_unisolated: bool = field(
        default=False,
        metadata={
            "help": "trusted inputs only: run code without the sandbox's namespaces where they "
            "are unavailable (not root, no unshare) instead of refusing"
        },
    )
    reward_model: str | None = field(
        default=None, metadata={"help": "local sequence-classification model directory"}
    )
    reward_threshold: float = field(default=0.0, metadata={"help": "reward score to pass"})
    llm_judge: JudgeOptions = field(default_factory=JudgeOptions)
    labels: str | None = field(
        default=None,
        metadata={
            "help": "boolean verdict already in the rows (dotted path, e.g. harness_verdict): "
            "the audit adds recall / false passes against it, disagreements go to "
            "--disagreements (default: none)"
        },
    )
    disagreements: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of rows whose verdict disagrees with --labels "
            "(default: OUTPUT.disagreements.jsonl)"
        },
    )
    shard_rows: int = field(
        default=1000, metadata={"help": "rows per resumable part", "deprecated": ("chunk_rows",)}
    )
    restart: bool = field(default=False, metadata={"help": "discard an earlier run's parts"})
    progress: bool = field(default=True, metadata={"help": "progress bar on stderr"})
    prompt_field: str | None = _field_flag("prompt", _FIELDS.prompt)
    response_field: str | None = _field_flag("response", _FIELDS.response)
    reference_field: str | None = _field_flag("reference answer", _FIELDS.reference)
    test_case_field: str | None = _field_flag(
        "test cases", _FIELDS.tests, deprecated=("tests_field",)
    )
    source_field: str | None = _field_flag("source", _FIELDS.source)
    verifier_field: str = _field_flag("verifier name", _FIELDS.verifier)

    def __post_init__(self) -> None:
        positive("num_threads", self.num_threads, optional=True)
        for name in ("math_timeout", "code_timeout"):
            value = getattr(self, name)
            require(value > 0, name, value, "a number of seconds > 0")
        positive("code_memory_mb", self.code_memory_mb)
        positive("shard_rows", self.shard_rows)

    @property
    def fields(self) -> RowFields:
        """Where flat rows keep each value."""
        return RowFields(
            prompt=self.prompt_field,
            response=self.response_field,
            reference=self.reference_field,
            tests=self.test_case_field,
            source=self.source_field,
            verifier=self.verifier_field,
        )

    @property
    def disagreements_path(self) -> str | None:
        """Where disagreements with `labels` go (None without labels)."""
        if self.labels is None:
            return None
        return self.disagreements or f"{self.output}.disagreements.jsonl"

    @property
    def audit_path(self) -> str:
        """Where the audit goes."""
        return self.audit or f"{self.output}.audit.json"
