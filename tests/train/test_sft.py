"""The SFT recipe in one process (a world of one, FSDP2 on CPU): loss, packing, export."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
import transformers
from sft_fixtures import am_rows, write_jsonl

from amfast.errors import InputError
from amfast.train.data import TokenizeOptions, assemble_pack, plan_sequences, tokenize_dataset
from amfast.train.sft import SftConfig, lr_at, train


def _config(model: Path, data: Path, output: Path, **overrides: object) -> SftConfig:
    settings: dict[str, object] = {
        "model": str(model),
        "data": str(data),
        "output_dir": str(output),
        "max_seq_len": 512,
        "global_batch_size": 2,
        "lr": 3e-3,
        "num_proc": 1,
        "save_every": 0,
        "activation_checkpointing": False,
    }
    return SftConfig(**(settings | overrides))  # type: ignore[arg-type]


def _logits(model: torch.nn.Module, ids: np.ndarray, positions: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model(
            input_ids=torch.from_numpy(ids)[None],
            position_ids=torch.from_numpy(positions)[None],
            use_cache=False,
        ).logits[0]


def test_packed_samples_see_only_themselves(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    dataset = tokenize_dataset(
        str(am_data), str(tiny_model), TokenizeOptions(max_seq_len=512), cache_dir=tmp_path
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(
        tiny_model, attn_implementation="sdpa"
    )
    samples = [0, 5, 9]
    pack = assemble_pack(dataset, samples)
    alone = [assemble_pack(dataset, [index]) for index in samples]
    one_by_one = torch.cat([_logits(model, a.input_ids, a.position_ids) for a in alone])
    packed = _logits(model, pack.input_ids, pack.position_ids)
    torch.testing.assert_close(packed, one_by_one, rtol=1e-5, atol=1e-5)
    labels = torch.from_numpy(pack.labels)
    loss = torch.nn.functional.cross_entropy(packed, labels, reduction="sum")
    expected = torch.nn.functional.cross_entropy(one_by_one, labels, reduction="sum")
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # Positions that run on across samples let them attend to each other: the check has teeth.
    leaked = _logits(model, pack.input_ids, np.arange(len(pack.input_ids)))
    assert (leaked - one_by_one).abs().max() > 1e-2


def test_one_step_packed_equals_one_step_unpacked(tmp_path: Path, tiny_model: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", am_rows(6))
    dataset = tokenize_dataset(
        str(data), str(tiny_model), TokenizeOptions(max_seq_len=512), cache_dir=tmp_path / "c"
    )
    weights = []
    losses = []
    for packing in (True, False):
        sequences = len(plan_sequences(dataset, 512, packing))
        config = _config(
            tiny_model, data, tmp_path / f"packing-{packing}", packing=packing,
            global_batch_size=sequences, max_steps=1, cache_dir=str(tmp_path / "c"),
        )  # fmt: skip
        result = train(config)
        losses.append(result.losses[0])
        assert result.export_dir is not None
        weights.append(safetensors.torch.load_file(result.export_dir / "model.safetensors"))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    # ... and both are the loss of the pretrained model, as transformers loads it, on the data.
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    packs = [assemble_pack(dataset, [index]) for index in range(len(dataset))]
    total = sum(
        float(
            torch.nn.functional.cross_entropy(
                _logits(model, p.input_ids, p.position_ids),
                torch.from_numpy(p.labels),
                reduction="sum",
            )
        )
        for p in packs
    )
    assert losses[0] == pytest.approx(total / sum(p.num_targets for p in packs), rel=1e-5)
    for name, tensor in weights[0].items():
        torch.testing.assert_close(tensor, weights[1][name], rtol=1e-4, atol=2e-5)


def test_chunked_loss_trains_exactly_like_full_logits(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    results = {}
    for chunk_tokens in (0, 16):
        config = _config(
            tiny_model, am_data, tmp_path / f"chunk-{chunk_tokens}", max_steps=2,
            loss_chunk_tokens=chunk_tokens, cache_dir=str(tmp_path / "cache"),
        )  # fmt: skip
        results[chunk_tokens] = train(config)
    full, chunked = results[0], results[16]
    assert chunked.losses == pytest.approx(full.losses, rel=1e-6)
    assert full.export_dir is not None
    assert chunked.export_dir is not None
    full_weights = safetensors.torch.load_file(full.export_dir / "model.safetensors")
    chunked_weights = safetensors.torch.load_file(chunked.export_dir / "model.safetensors")
    for name, tensor in chunked_weights.items():
        torch.testing.assert_close(tensor, full_weights[name], rtol=1e-5, atol=1e-6)


def test_loss_decreases_and_the_export_loads_in_transformers(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    config = _config(
        tiny_model, am_data, tmp_path / "run", max_steps=10, activation_checkpointing=True
    )
    result = train(config)
    assert result.steps == len(result.losses) >= 10
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3]) - 0.5
    lines = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(1, result.steps + 1))
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "flops", "mfu", "peak_memory_gb"} <= set(
        lines[0]
    )
    assert lines[-1]["lr"] == 0.0  # cosine to zero
    assert result.export_dir is not None
    model = transformers.AutoModelForCausalLM.from_pretrained(result.export_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(result.export_dir)
    assert tokenizer.chat_template is not None
    # A base-style config stops at <|endoftext|>; the export also stops at the trained <|im_end|>.
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in model.generation_config.eos_token_id
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the sum of 2 and 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]
    # Only the newest checkpoint is kept by default... and at most keep_last of them.
    assert len(list((tmp_path / "run" / "checkpoints").glob("step-*"))) == 1


def test_global_batch_that_does_not_fit_the_data_is_an_error(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    with pytest.raises(InputError, match="no global batch"):
        train(_config(tiny_model, am_data, tmp_path, global_batch_size=1000))


def test_lr_warms_up_linearly_then_decays_by_cosine_to_the_floor() -> None:
    config = SftConfig(
        model="m", data="d", output_dir="o", lr=1.0, warmup_ratio=0.25, min_lr_ratio=0.1
    )
    rates = [lr_at(step, 20, config) for step in range(20)]
    assert rates[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a >= b for a, b in itertools.pairwise(rates[4:]))
    assert rates[-1] == pytest.approx(0.1)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="warmup_ratio"):
        SftConfig(model="m", data="d", output_dir="o", warmup_ratio=1.5)
    with pytest.raises(ValueError, match="given together"):
        SftConfig(model="m", data="d", output_dir="o", prompt_field="q").tokenize_options()


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="bf16 autocast, flash attention and CUDA memory stats need a GPU",
)
def test_bf16_on_cuda_trains_and_reports_memory(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    result = train(_config(tiny_model, am_data, tmp_path, device="cuda", max_steps=3))
    lines = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    assert all(line["peak_memory_gb"] > 0 for line in lines)
    assert np.isfinite(result.losses).all()
