"""The evaluation protocol and the generation of samples through the distillation backends.

The paper's protocol is the default: temperature 0.6, top-p 0.95, up to 32,768 new tokens,
16 samples per problem for AIME and 4 for the other benchmarks, a seed recorded per sample.
Generation goes through `amfast.distill` (any backend: vLLM offline, an OpenAI-compatible
server, a local `transformers` model), one distillation job per task under
`<output>/<task>/samples`, so samples are cached per (task, problem, sample) and an interrupted
eval continues where it stopped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from amfast.distill.runner import distill_async
from amfast.distill.settings import DistillConfig
from amfast.distill.store import read_sample_rows
from amfast.errors import InputError
from amfast.eval.scoring import Sample
from amfast.eval.tasks import LCB_WINDOW, Task
from amfast.generate.backend import Backend, BackendName
from amfast.outputs import AtomicWriter

PAPER_SYSTEM_PROMPT = (
    "You are a helpful assistant. To answer the user's question, you first think about the "
    "reasoning process and then provide the user with the answer. The reasoning process and "
    "answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, "
    "i.e., <think> reasoning process here </think> <answer> answer here </answer>."
)


def _help(text: str, **extra: Any) -> Any:  # noqa: ANN401 - dataclasses.field's own type
    return field(metadata={"help": text}, **extra)


@dataclass
class EvalConfig:
    """Settings of `amfast eval`: every field is a TOML key and a CLI flag."""

    model: str = _help("model: local path (vllm, transformers) or served name (openai)")
    output: str = field(default="eval-out", metadata={"aliases": ("-o",), "help": "run directory"})
    tasks: list[str] = field(
        default_factory=lambda: ["aime24", "math500"],
        metadata={"help": "benchmarks (comma-separated or repeated): aime24,math500,..."},
    )
    backend: BackendName = field(default="vllm", metadata={"help": "generation backend"})
    benchmarks: str = field(
        default="benchmarks", metadata={"help": "directory with eval/ and code/ benchmark files"}
    )
    label: str | None = _help("the model's name in reports (default: the model)", default=None)
    samples: int | None = _help(
        "samples per problem for every task (default 16 AIME, 4 others)", default=None
    )
    temperature: float = _help("sampling temperature", default=0.6)
    top_p: float = _help("nucleus sampling mass", default=0.95)
    max_tokens: int = _help("new-token budget per sample", default=32768)
    seed: int = _help("base seed; every sample derives and records its own", default=0)
    prompt_style: Literal["r1", "paper"] = _help(
        "r1: no system prompt; paper: the AM paper's system prompt", default="r1"
    )
    limit: int | None = _help("first N problems of each task (smoke runs)", default=None)
    gpqa_path: str | None = _help("the official gpqa_diamond.csv (not bundled)", default=None)
    livecodebench_path: str | None = _help("LiveCodeBench JSON (default: bundled)", default=None)
    livecodebench_start: str = _help("first contest date kept (ISO)", default=LCB_WINDOW[0])
    livecodebench_end: str = _help("last contest date kept (ISO)", default=LCB_WINDOW[1])
    gpqa_seed: int = _help("seed of GPQA's option shuffle", default=0)
    base_url: list[str] = field(
        default_factory=lambda: ["http://localhost:8000/v1"],
        metadata={"help": "OpenAI-compatible server URL(s) (openai backend)"},
    )
    max_in_flight: int = _help("HTTP requests in flight (openai backend)", default=256)
    tensor_parallel_size: int = _help("GPUs per model (vllm)", default=1)
    device: str | None = _help("torch device (transformers)", default=None)
    dtype: str | None = _help("torch dtype (transformers)", default=None)
    verify_workers: int | None = _help(
        "grading processes / sandboxes (default: all cores)", default=None
    )
    progress: bool = _help("progress bars", default=True)

    def __post_init__(self) -> None:
        # `--tasks aime24,math500` and `tasks = ["aime24", "math500"]` mean the same.
        self.tasks = [
            name.strip() for item in self.tasks for name in item.split(",") if name.strip()
        ]
        if not self.tasks:
            raise InputError("no tasks to evaluate")
        if self.samples is not None and self.samples < 1:
            raise InputError("samples must be at least 1")

    def samples_for(self, task: Task) -> int:
        """Samples per problem of `task`: the override, or the task's default."""
        return self.samples if self.samples is not None else task.default_samples


def _write_prompts(task: Task, path: Path) -> None:
    with AtomicWriter(path) as temporary, temporary.open("w", encoding="utf-8") as out:
        for problem in task.problems:
            out.write(json.dumps({"id": problem.id, "prompt": problem.prompt}) + "\n")


def distill_config_for(task: Task, config: EvalConfig) -> DistillConfig:
    """The distillation job that samples `task` (prompts already carry their directives)."""
    directory = Path(config.output) / task.name
    directory.mkdir(parents=True, exist_ok=True)
    prompts = directory / "prompts.jsonl"
    _write_prompts(task, prompts)
    return DistillConfig(
        input=str(prompts),
        output=str(directory / "samples"),
        model=config.model,
        backend=config.backend,
        teacher=config.label or config.model,
        base_url=config.base_url,
        max_in_flight=config.max_in_flight,
        samples=config.samples_for(task),
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=config.seed,
        prompt_field="prompt",
        id_field="id",
        system_prompt=PAPER_SYSTEM_PROMPT if config.prompt_style == "paper" else None,
        math_directive_for="none",
        truncation="keep",  # a truncated sample is a graded failure, never dropped
        output_format="jsonl",
        tensor_parallel_size=config.tensor_parallel_size,
        device=config.device,
        dtype=config.dtype,
        progress=config.progress,
    )


def read_samples(directory: str | os.PathLike[str]) -> list[Sample]:
    """Every sealed sample of a task's distillation job, as eval samples."""
    shards = Path(directory) / "shards"
    samples = []
    for path in sorted(shards.glob("*-[0-9]*.jsonl")) + sorted(shards.glob("*-[0-9]*.parquet")):
        if path.name.endswith(".outcomes.jsonl"):
            continue
        for row in read_sample_rows(path):
            reply = row["messages"][-1]
            info = reply.get("info") or {}
            samples.append(
                Sample(
                    problem_id=str(row["prompt_id"]),
                    index=int(row["sample_index"]),
                    response=str(reply["content"]),
                    finish_reason=row.get("finish_reason") or info.get("finish_reason"),
                    seed=info.get("seed"),
                )
            )
    return samples


async def generate_samples(
    task: Task, config: EvalConfig, backend: Backend | None
) -> tuple[list[Sample], str]:
    """Samples every problem of `task` (resuming a cached job); returns samples and a summary."""
    job = distill_config_for(task, config)
    summary = await distill_async(job, backend)
    return read_samples(job.output), summary.table()
