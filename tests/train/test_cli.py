"""`amfast train`: the config file and flags, the template check, errors, and a short run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sft_fixtures import THINK_STRIPPING_TEMPLATE, am_rows, write_jsonl

from amfast.cli.main import main
from amfast.config import resolve_config
from amfast.train.config import SftConfig

EXAMPLE = Path(__file__).parents[2] / "examples" / "train.toml"


def test_example_config_is_the_am_recipe() -> None:
    config = resolve_config(SftConfig, config_path=EXAMPLE, section="train")
    assert (config.lr, config.warmup_ratio, config.min_lr_ratio) == (8e-5, 0.05, 0.0)
    assert (config.global_batch_size, config.max_seq_len, config.epochs) == (64, 32768, 2)
    assert config.activation_checkpointing
    assert config.param_dtype == "bfloat16"


def test_check_template_shows_the_mask_and_passes(
    tiny_model: Path, am_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--model", str(tiny_model), "--data", str(am_data), "--output-dir", str(tmp_path)]
    # The tiny model's config stops at <|endoftext|>: the check says the export will fix that.
    code = main(["train", *flags, "--check-template"])
    out = capsys.readouterr().out
    assert "<|im_start|>assistant\n«<think>Let me think: 0 + 0 = 0</think>" in out
    assert code == 1
    assert "not among the model's eos ids" in out
    generation = tiny_model / "generation_config.json"
    original = generation.read_text()
    try:
        settings = json.loads(original) | {"eos_token_id": [0, 2]}
        generation.write_text(json.dumps(settings))
        assert main(["train", *flags, "--check-template"]) == 0
        assert "template OK" in capsys.readouterr().out
    finally:
        generation.write_text(original)


def test_check_template_fails_on_a_template_that_drops_the_think_block(
    tiny_model: Path, am_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "r1.jinja"
    template.write_text(THINK_STRIPPING_TEMPLATE)
    code = main([
        "train", "--model", str(tiny_model), "--data", str(am_data), "--output-dir",
        str(tmp_path), "--chat-template", str(template), "--check-template",
    ])  # fmt: skip
    assert code == 1
    assert "PROBLEM: " in capsys.readouterr().out


def test_bad_settings_and_missing_data_exit_2_with_a_message(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--model", str(tiny_model), "--output-dir", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    missing = ["--data", str(tmp_path / "nope.jsonl")]
    assert main(["train", "--model", str(tiny_model), "--output-dir", str(tmp_path), *missing]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nlr = "fast"\n')
    assert main(["train", "--config", str(bad)]) == 2
    assert "'lr' is 'fast', expected a number" in capsys.readouterr().err


def test_config_file_with_flag_overrides_runs_and_reruns_as_a_no_op(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", am_rows(8))
    config = tmp_path / "sft.toml"
    config.write_text(
        f'[train]\nmodel = "{tiny_model}"\ndata = "{data}"\noutput_dir = "{tmp_path / "out"}"\n'
        "max_seq_len = 512\nglobal_batch_size = 64\nnum_proc = 1\nexport = false\n"
    )
    flags = ["--global-batch-size", "1", "--max-steps", "2", "--no-activation-checkpointing"]
    assert main(["train", "--config", str(config), *flags]) == 0
    assert "steps: 2  final loss:" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["global_batch_size"] == 1
    assert saved["max_seq_len"] == 512
    # The same command again finds the finished checkpoint and trains no further.
    assert main(["train", "--config", str(config), *flags]) == 0
    captured = capsys.readouterr()
    assert "resuming from" in captured.err
    assert "already done" in captured.out
    assert len((tmp_path / "out" / "metrics.jsonl").read_text().splitlines()) == 2
