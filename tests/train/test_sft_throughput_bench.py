"""`benches/sft_throughput.py` at its tiny CPU size: it runs, and reports what it promises."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benches" / "sft_throughput.py"


def test_tiny_bench_reports_throughput_mfu_and_memory_per_sequence_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("sft_throughput", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.main([
        "--tiny", "--seq-len", "512", "1024", "--warmup", "1", "--steps", "2",
        "--batch-sequences", "1", "--num-proc", "1", "--peak-tflops", "100",
        "--work", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results"),
    ])  # fmt: skip
    table = capsys.readouterr().out
    assert "| seq len | seqs/step | tokens/step |" in table
    [saved] = (tmp_path / "results").glob("sft_throughput-tiny-*.json")
    assert json.loads(saved.read_text()) == report
    assert report["peak_tflops"] == 100
    assert report["machine"]["versions"]["torch"]
    assert [r["seq_len"] for r in report["results"]] == [512, 1024]
    for r in report["results"]:
        assert f"| {r['seq_len']} | 1 |" in table
        assert r["measured_steps"] == 2
        assert len(r["steps"]) == 3  # the warmup step is kept in the JSON, left out of the sums
        assert 0 < r["tokens_per_step"] <= r["seq_len"]
        assert r["samples_per_sequence"] >= 1
        assert r["sample_tokens_max"] <= r["seq_len"]
        assert r["step_seconds"] > 0
        assert r["tokens_per_s"] == pytest.approx(r["tokens_per_step"] / r["step_seconds"])
        assert r["mfu"] == pytest.approx(r["tflops_per_s"] / 100)
        assert 0 < r["mfu"] < 1
        assert r["peak_memory_gb"] > 0
        assert r["attention"] == "sdpa"
        assert r["loss_chunk_tokens"] == 4096
