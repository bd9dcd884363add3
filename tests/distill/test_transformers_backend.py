"""The `transformers` backend with a tiny random-weight Qwen2 built in the test: samples,
seeds, the truncation policies, machine sharding, and the vLLM backend's missing-extra error."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from distill_servers import shard_rows, write_jsonl

from amfast.distill import DistillConfig, GenerationRequest, Message, run_distill
from amfast.errors import InputError
from amfast.generate import create_backend
from amfast.generate.local_transformers import TransformersBackend, TransformersOptions

PROMPTS = [{"id": f"q{i}", "prompt": f"what is the sum of two and {i}"} for i in range(4)]


def local_config(tmp_path: Path, model: Path, **settings: Any) -> DistillConfig:
    source = write_jsonl(tmp_path / "p.jsonl", PROMPTS)  # type: ignore[arg-type]
    defaults: dict[str, Any] = {"max_tokens": 8, "progress": False, "device": "cpu"}
    return DistillConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        model=str(model),
        backend="transformers",
        **(defaults | settings),
    )


def test_local_teacher_job_writes_n_samples_per_prompt(tmp_path: Path, tiny_teacher: Path) -> None:
    summary = run_distill(local_config(tmp_path, tiny_teacher, samples=2, truncation="keep"))
    assert summary.complete
    rows = shard_rows(tmp_path / "out")
    assert sorted(r["key"] for r in rows) == sorted(f"q{i}:{j}" for i in range(4) for j in range(2))
    info = rows[0]["messages"][1]["info"]
    assert (info["backend"], info["model"]) == ("transformers", str(tiny_teacher))
    assert info["prompt_tokens"] > 0
    assert 0 < info["completion_tokens"] <= 8


def test_the_same_seed_gives_the_same_sample(tiny_teacher: Path) -> None:
    backend = TransformersBackend(str(tiny_teacher), TransformersOptions(device="cpu"))

    def request(seed: int) -> GenerationRequest:
        return GenerationRequest(
            "k", (Message("user", "what is two"),), "<think>\n", seed, 12, 1.0, 0.95
        )

    first, again, *others = asyncio.run(
        backend.generate([request(1), request(1), request(2), request(3), request(4)])
    )
    assert first.text == again.text
    assert any(other.text != first.text for other in others)


@pytest.mark.parametrize(
    ("policy", "truncated", "regenerated", "attempts", "budget"),
    [
        ("drop", 1, 0, 1, 4),
        ("resample", 3, 2, 3, 4),
        ("extend", 3, 2, 3, 16),
    ],
)
def test_truncation_policies_retry_then_drop_and_are_counted(
    tmp_path: Path,
    endless_teacher: Path,
    policy: str,
    truncated: int,
    regenerated: int,
    attempts: int,
    budget: int,
) -> None:
    config = local_config(
        tmp_path, endless_teacher, max_prompts=1, max_tokens=4, truncation=policy,
        truncation_retries=2, max_tokens_limit=16,
    )  # fmt: skip
    summary = run_distill(config)
    assert (summary.truncated, summary.truncated_dropped) == (truncated, 1)
    assert summary.regenerated == regenerated
    (short,) = summary.shortfalls
    assert short.reasons == [
        f"sample 0: truncated after {attempts} attempts: "
        f"finish_reason=length at max_tokens={budget}"
    ]
    if policy == "extend":
        assert summary.completion_tokens == 4 + 8 + 16


def test_keep_policy_writes_truncated_samples(tmp_path: Path, endless_teacher: Path) -> None:
    summary = run_distill(local_config(tmp_path, endless_teacher, max_tokens=4, truncation="keep"))
    assert summary.complete
    assert summary.truncated == 4
    assert {r["finish_reason"] for r in shard_rows(tmp_path / "out")} == {"length"}


def test_shards_split_the_prompts_between_machines(tmp_path: Path, tiny_teacher: Path) -> None:
    prompts_per_shard = []
    for index in range(2):
        config = local_config(tmp_path, tiny_teacher, truncation="keep", shard=f"{index}/2")
        summary = run_distill(config)
        assert summary.complete
        prompts_per_shard.append(summary.prompts)
    assert sum(prompts_per_shard) == 4
    all_keys = sorted(r["key"] for r in shard_rows(tmp_path / "out"))
    assert all_keys == [f"q{i}:0" for i in range(4)]
    assert sorted(p.name for p in (tmp_path / "out").glob("summary-*.json")) == [
        "summary-00000-of-00002.json",
        "summary-00001-of-00002.json",
    ]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_vllm_backend_without_vllm_names_the_extra(tmp_path: Path) -> None:
    config = DistillConfig(input="x", output=str(tmp_path), model="m", backend="vllm")
    with pytest.raises(InputError, match=r"pip install 'amfast\[vllm\]'"):
        asyncio.run(create_backend(config))
