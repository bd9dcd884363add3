"""The `openai` backend and the job, against `transformers serve` running a tiny random-weight
Qwen2 on loopback (a real OpenAI-compatible server), and an aiohttp proxy that plants faults."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from distill_servers import shard_rows, transformers_server, write_jsonl

from amfast.cli.main import main
from amfast.distill import DistillConfig, DistillSummary, run_distill
from amfast.distill.runner import sample_seed
from loopback_servers import ServerProcess


def config_for(
    tmp_path: Path, source: Path, base_url: str, model: Path, **settings: Any
) -> DistillConfig:
    defaults: dict[str, Any] = {
        "chat_prefill": False,  # transformers serve rejects continue_final_message
        "max_tokens": 12,
        "truncation": "keep",
        "progress": False,
        "retry_backoff": 0.05,
        "max_in_flight": 4,
    }
    return DistillConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        model=str(model),
        base_url=[base_url],
        **(defaults | settings),
    )


def test_cli_job_from_a_toml_config_writes_every_key_once(
    tmp_path: Path, openai_server: str, tiny_teacher: Path, math_rows: list[dict[str, str]]
) -> None:
    source = write_jsonl(tmp_path / "prompts.jsonl", math_rows[:3])
    config = tmp_path / "distill.toml"
    config.write_text(
        "[distill]\n"
        f'input = "{source}"\noutput = "{tmp_path / "out"}"\nbackend = "openai"\n'
        f'model = "{tiny_teacher}"\nbase_url = ["{openai_server}"]\nsamples = 2\nmax_tokens = 12\n'
        'truncation = "keep"\nchat_prefill = false\nteacher = "tiny-r1"\nprogress = false\n'
    )
    assert main(["distill", "--config", str(config), "--seed", "7"]) == 0
    rows = shard_rows(tmp_path / "out")
    assert sorted(r["key"] for r in rows) == sorted(
        f"{row['id']}:{i}" for row in math_rows[:3] for i in range(2)
    )
    for row in rows:
        user, assistant = row["messages"]
        info = assistant["info"]
        assert user["info"]["reference_answer"] is not None
        assert assistant["content"].startswith("<think>")
        assert assistant["content"].endswith("</answer>")
        assert (info["backend"], info["model"], info["source"]) == (
            "openai", str(tiny_teacher), "tiny-r1",
        )  # fmt: skip
        assert info["finish_reason"] in {"stop", "length"}
        assert info["completion_tokens"] > 0
        assert info["prompt_tokens"] > 0
        assert info["seed"] == sample_seed(7, row["key"], 1)
    summary = json.loads((tmp_path / "out" / "summary-00000-of-00001.json").read_text())
    assert summary["complete"]
    assert summary["done"] == 6


def test_completions_endpoint_renders_the_template_and_writes_jsonl(
    tmp_path: Path, openai_server: str, tiny_teacher: Path
) -> None:
    source = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "what is the sum of two and three"}])
    config = config_for(
        tmp_path, source, openai_server, tiny_teacher,
        endpoint="completions", completion_template="<user> {prompt}\n<assistant> ",
        output_format="jsonl", samples=3,
    )  # fmt: skip
    summary = run_distill(config)
    assert summary.complete
    assert summary.generated == 3
    assert len({row["key"] for row in shard_rows(tmp_path / "out")}) == 3


def test_bad_rows_and_failing_requests_are_reported_per_row_and_the_job_goes_on(
    tmp_path: Path, fault_server: str, tiny_teacher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[dict[str, Any]] = [
        {"id": "good-1", "prompt": "what is two and two"},
        {"id": "boom", "prompt": "FAULT_500 please"},
        {"id": "garbled", "prompt": "FAULT_MALFORMED please"},
        {"id": "no-field", "question": "where is my prompt"},
        {"id": "empty", "prompt": ""},
        {"id": "good-2", "prompt": "what is three and four"},
    ]
    source = write_jsonl(tmp_path / "p.jsonl", rows)
    out = tmp_path / "out"
    argv = [
        "distill", str(source), "-o", str(out), "--model", str(tiny_teacher),
        "--base-url", fault_server, "--no-chat-prefill", "--max-tokens", "8",
        "--truncation", "keep", "--max-retries", "1", "--retry-backoff", "0.05", "--no-progress",
        "--prompt-field", "prompt",  # named: a row without it is bad, not searched for others
    ]  # fmt: skip
    assert main(argv) == 1  # some prompts lack samples: the summary says which and why
    printed = capsys.readouterr().out
    assert f"bad row {source}:4: prompt field 'prompt' is missing" in printed
    assert f"bad row {source}:5: prompt field 'prompt' is empty" in printed
    summary = json.loads((out / "summary-00000-of-00001.json").read_text())
    assert (summary["failed"], summary["done"]) == (2, 2)
    reasons = {s["prompt_id"]: " ".join(s["reasons"]) for s in summary["shortfalls"]}
    assert set(reasons) == {"boom", "garbled"}
    assert "failed after 1 attempts: gave up after 2 tries" in reasons["boom"]
    assert "HTTP 500" in reasons["boom"]
    assert "malformed JSON" in reasons["garbled"]
    assert sorted(r["prompt_id"] for r in shard_rows(out)) == ["good-1", "good-2"]
    # A rerun retries only the failed keys and never duplicates the good ones.
    assert main(argv) == 1
    assert sorted(r["prompt_id"] for r in shard_rows(out)) == ["good-1", "good-2"]


@pytest.mark.slow
def test_job_survives_the_server_stopping_and_restarting_mid_run(
    tmp_path: Path, tiny_teacher: Path, math_rows: list[dict[str, str]]
) -> None:
    server: ServerProcess = transformers_server(tiny_teacher, tmp_path)
    server.start()
    try:
        source = write_jsonl(tmp_path / "p.jsonl", math_rows[:16])
        config = config_for(
            tmp_path, source, server.base_url, tiny_teacher,
            samples=2, max_tokens=64, max_in_flight=2, max_retries=40, retry_backoff=0.2,
        )  # fmt: skip
        outcome: list[DistillSummary] = []
        job = threading.Thread(target=lambda: outcome.append(run_distill(config)))
        job.start()
        journal = tmp_path / "out" / "journal-00000-of-00001.jsonl"
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 2):
            assert job.is_alive(), "the job ended before the server could be stopped"
            time.sleep(0.01)
        server.stop()
        done_while_up = journal.read_bytes().count(b"\n")
        time.sleep(1.0)
        server.start()
        job.join(timeout=300)
        assert not job.is_alive()
    finally:
        server.stop()
    (summary,) = outcome
    assert done_while_up < 32
    assert summary.failed == 0
    assert summary.complete
    keys = [row["key"] for row in shard_rows(tmp_path / "out")]
    assert len(keys) == len(set(keys)) == 32
