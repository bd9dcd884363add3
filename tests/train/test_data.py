"""Tokenization with exact assistant-only loss masks, bad input, the cache, and packing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sft_fixtures import (
    PLAIN_TEMPLATE,
    THINK_STRIPPING_TEMPLATE,
    am_row,
    am_rows,
    build_model,
    build_tokenizer,
    write_jsonl,
)

from amfast.errors import InputError
from amfast.train.data import (
    AM_SYSTEM_PROMPT,
    IGNORE_INDEX,
    DroppedSample,
    TokenizedDataset,
    TokenizeOptions,
    assemble_pack,
    check_template,
    encode_conversation,
    load_tokenizer,
    pack_best_fit,
    read_conversations,
    tokenize_dataset,
)

REPLY = "<think>2 + 3 = 5, so the sum is 5</think>\n<answer>The answer is 5.</answer>"


def _messages(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in turns]


def _trained_text(tokenizer: Any, encoded: Any) -> list[str]:
    """The decoded runs of tokens that carry loss, in order."""
    edges = np.flatnonzero(np.diff(encoded.loss_mask.astype(np.int8))) + 1
    runs = np.split(np.arange(len(encoded.input_ids)), edges)
    return [
        tokenizer.decode(encoded.input_ids[r].tolist()) for r in runs if encoded.loss_mask[r[0]]
    ]


def test_loss_mask_is_exactly_the_final_reply_and_its_end_token(tokenizer: Any) -> None:
    messages = _messages(("user", "What is 2 + 3?"), ("assistant", REPLY))
    encoded = encode_conversation(tokenizer, messages)
    assert _trained_text(tokenizer, encoded) == [REPLY + "<|im_end|>"]
    # Everything else is the template's prompt, verbatim, with the AM system prompt.
    untrained = tokenizer.decode(encoded.input_ids[~encoded.loss_mask].tolist())
    assert untrained == (
        f"<|im_start|>system\n{AM_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    )
    # The sample ends with the end-of-turn token, not the template's trailing newline.
    assert int(encoded.input_ids[-1]) == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert encoded.loss_mask[-1]
    assert tokenizer.decode(encoded.input_ids.tolist()) == encoded.text


def test_multi_turn_trains_the_last_reply_by_default_and_every_reply_on_request(
    tokenizer: Any,
) -> None:
    messages = _messages(
        ("user", "What is 2 + 3?"),
        ("assistant", "<think>add</think>\n<answer>5</answer>"),
        ("user", "And times 2?"),
        ("assistant", REPLY),
    )
    last = encode_conversation(tokenizer, messages)
    assert _trained_text(tokenizer, last) == [REPLY + "<|im_end|>"]
    every = encode_conversation(tokenizer, messages, TokenizeOptions(train_on="all"))
    assert _trained_text(tokenizer, every) == [
        "<think>add</think>\n<answer>5</answer><|im_end|>",
        REPLY + "<|im_end|>",
    ]
    assert np.array_equal(every.input_ids, last.input_ids)


def test_system_prompt_is_configurable_and_a_rows_own_is_kept(tokenizer: Any) -> None:
    messages = _messages(("user", "hi"), ("assistant", "<think>x</think>\n<answer>y</answer>"))
    none = encode_conversation(tokenizer, messages, TokenizeOptions(system_prompt=""))
    assert "You are Qwen" in none.text  # the template's own default, as at inference
    custom = encode_conversation(tokenizer, messages, TokenizeOptions(system_prompt="Be brief."))
    assert custom.text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    own = encode_conversation(tokenizer, _messages(("system", "Mine."), *[
        (m["role"], m["content"]) for m in messages
    ]))  # fmt: skip
    assert own.text.startswith("<|im_start|>system\nMine.<|im_end|>")
    assert AM_SYSTEM_PROMPT not in own.text


def test_template_that_drops_the_think_block_fails_loudly() -> None:
    tokenizer = build_tokenizer(THINK_STRIPPING_TEMPLATE)
    with pytest.raises(InputError, match="dropped the <think> block"):
        encode_conversation(tokenizer, _messages(("user", "q"), ("assistant", REPLY)))


def test_template_without_an_end_token_gets_the_eos_token_appended() -> None:
    tokenizer = build_tokenizer(PLAIN_TEMPLATE)
    encoded = encode_conversation(tokenizer, _messages(("user", "q"), ("assistant", REPLY)))
    assert _trained_text(tokenizer, encoded) == [REPLY + "<|endoftext|>"]
    assert encoded.text.endswith("assistant: " + REPLY + "<|endoftext|>")


def test_end_token_that_is_not_one_token_is_an_error(tokenizer: Any) -> None:
    options = TokenizeOptions(end_token="<|im_end|>\n")
    with pytest.raises(InputError, match="not a single token"):
        encode_conversation(tokenizer, _messages(("user", "q"), ("assistant", REPLY)), options)


def test_tokenizer_without_a_chat_template_is_an_error(tmp_path: Path) -> None:
    build_tokenizer(None).save_pretrained(tmp_path)
    with pytest.raises(InputError, match="no chat template"):
        load_tokenizer(str(tmp_path))
    (tmp_path / "t.jinja").write_text(PLAIN_TEMPLATE)
    assert load_tokenizer(str(tmp_path), str(tmp_path / "t.jinja")).chat_template == PLAIN_TEMPLATE


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        (_messages(("user", "q")), "no_assistant"),
        (_messages(("user", "q"), ("assistant", "  \n")), "empty_response"),
        (_messages(("user", "q"), ("assistant", "long " * 400)), "too_long"),
    ],
)
def test_untrainable_conversations_are_dropped_with_a_reason(
    tokenizer: Any, messages: list[dict[str, str]], reason: str
) -> None:
    with pytest.raises(DroppedSample) as caught:
        encode_conversation(tokenizer, messages, TokenizeOptions(max_seq_len=256))
    assert caught.value.reason == reason


def test_dataset_counts_drops_and_keeps_the_rest(tmp_path: Path, tiny_model: Path) -> None:
    rows = [
        *am_rows(3),
        {"messages": [{"role": "user", "content": "no reply"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]},
        am_row("long", "think " * 400, "x"),
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    options = TokenizeOptions(max_seq_len=256, include_unverified=True)
    dataset = tokenize_dataset(str(data), str(tiny_model), options, cache_dir=tmp_path / "cache")
    assert len(dataset) == 3
    assert dataset.drops == {"no_assistant": 1, "empty_response": 1, "too_long": 1}


def test_structurally_bad_rows_name_file_and_row(tmp_path: Path, tiny_model: Path) -> None:
    data = write_jsonl(tmp_path / "bad.jsonl", [*am_rows(2), {"messages": [{"role": "user"}]}])
    options = TokenizeOptions(include_unverified=True)  # the rows' shape, not the gate, is wrong
    with pytest.raises(InputError, match=r"bad\.jsonl:3: message 0 needs"):
        tokenize_dataset(str(data), str(tiny_model), options, cache_dir=tmp_path / "c")
    data = write_jsonl(tmp_path / "none.jsonl", [{"text": "x"}])
    with pytest.raises(InputError, match="field 'messages' is missing"):
        tokenize_dataset(str(data), str(tiny_model), options, cache_dir=tmp_path / "c")
    only_dropped = write_jsonl(tmp_path / "empty.jsonl", [{"messages": []}])
    with pytest.raises(InputError, match="no trainable sample"):
        tokenize_dataset(str(only_dropped), str(tiny_model), options, cache_dir=tmp_path)


def test_flat_prompt_response_rows_via_field_mapping(tmp_path: Path, tokenizer: Any) -> None:
    data = write_jsonl(tmp_path / "flat.jsonl", [{"question": "q?", "solution": REPLY}])
    options = TokenizeOptions(
        prompt_field="question", response_field="solution", include_unverified=True
    )
    [(where, messages)] = list(read_conversations(data, options))
    assert where.endswith("flat.jsonl:1")
    assert messages == _messages(("user", "q?"), ("assistant", REPLY))


def test_gate_trains_only_verified_rows_and_counts_the_rest(
    tmp_path: Path, tiny_model: Path
) -> None:
    passed, wrong, truncated = am_rows(3)
    wrong["messages"][-1]["info"]["verify_reason"] = "wrong"
    truncated["messages"][-1]["info"]["verify_reason"] = "truncated"
    flat_wrong = {"prompt": "q", "response": REPLY, "verify_reason": "wrong"}
    data = write_jsonl(tmp_path / "verified.jsonl", [passed, wrong, truncated, flat_wrong])
    dataset = tokenize_dataset(
        str(data), str(tiny_model), TokenizeOptions(max_seq_len=512), cache_dir=tmp_path / "c"
    )
    assert len(dataset) == 1
    assert dataset.drops == {"verify:wrong": 2, "verify:truncated": 1}
    everything = TokenizeOptions(max_seq_len=512, include_unverified=True)
    assert len(tokenize_dataset(str(data), str(tiny_model), everything, cache_dir=tmp_path)) == 4


def test_gate_refuses_rows_that_were_never_verified(tmp_path: Path, tiny_model: Path) -> None:
    row = am_rows(1)[0]
    del row["messages"][-1]["info"]["verify_reason"]
    data = write_jsonl(tmp_path / "distilled.jsonl", [*am_rows(2), row])
    with pytest.raises(InputError, match=r"distilled\.jsonl:3: the row has no verify verdict"):
        tokenize_dataset(str(data), str(tiny_model), TokenizeOptions(), cache_dir=tmp_path / "c")
    options = TokenizeOptions(include_unverified=True)
    assert len(tokenize_dataset(str(data), str(tiny_model), options, cache_dir=tmp_path)) == 3


def test_parquet_jsonl_and_saved_arrow_dataset_read_the_same(tmp_path: Path) -> None:
    rows = am_rows(5)
    write_jsonl(tmp_path / "a.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    arrow_dir = tmp_path / "hf"
    arrow_dir.mkdir()
    table = pa.Table.from_pylist(rows)
    with pa.ipc.new_stream(arrow_dir / "data-00000-of-00001.arrow", table.schema) as writer:
        writer.write_table(table)
    read = [list(read_conversations(p)) for p in (tmp_path / "a.jsonl", tmp_path / "a.parquet")]
    read.append(list(read_conversations(arrow_dir)))
    assert [m for _, m in read[0]] == [m for _, m in read[1]] == [m for _, m in read[2]]
    assert len(read[0]) == 5


def test_tokenized_data_is_cached_and_reused(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    options = TokenizeOptions(max_seq_len=512)
    first = tokenize_dataset(str(am_data), str(tiny_model), options, cache_dir=tmp_path)
    marker = tmp_path / first.fingerprint / "stats.json"
    written = marker.stat().st_mtime_ns
    again = tokenize_dataset(str(am_data), str(tiny_model), options, cache_dir=tmp_path)
    assert marker.stat().st_mtime_ns == written
    assert np.array_equal(first.input_ids, again.input_ids)
    other = tokenize_dataset(
        str(am_data), str(tiny_model), TokenizeOptions(train_on="all"), cache_dir=tmp_path
    )
    assert other.fingerprint != first.fingerprint


@pytest.mark.slow
def test_parallel_tokenization_equals_serial(
    tmp_path: Path, tiny_model: Path, am_data: Path
) -> None:
    options = TokenizeOptions(max_seq_len=512)
    serial = tokenize_dataset(str(am_data), str(tiny_model), options, cache_dir=tmp_path / "a")
    parallel = tokenize_dataset(
        str(am_data), str(tiny_model), options, cache_dir=tmp_path / "b", num_proc=2, chunk_rows=5
    )
    assert np.array_equal(serial.input_ids, parallel.input_ids)
    assert np.array_equal(serial.loss_mask, parallel.loss_mask)
    assert np.array_equal(serial.offsets, parallel.offsets)


def test_linter_shows_the_trained_text_and_flags_a_wrong_end_token(tmp_path: Path) -> None:
    tokenizer = build_tokenizer()
    rows = [("r0", _messages(("user", "q"), ("assistant", REPLY)))]
    good = check_template(tokenizer, iter(rows))
    assert good.problems == []
    assert f"<|im_start|>assistant\n«{REPLY}<|im_end|>»" in good.report()
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    base = check_template(tokenizer, iter(rows), eos_token_ids=[eos])
    assert "not among the model's eos ids" in base.problems[0]
    stripping = check_template(build_tokenizer(THINK_STRIPPING_TEMPLATE), iter(rows))
    assert "dropped the <think> block" in stripping.problems[0]
    empty = check_template(tokenizer, iter([("r1", _messages(("user", "q")))]))
    assert empty.drops == {"no_assistant": 1}
    assert "no trainable sample" in empty.problems[0]


# ------------------------------------------------------------------------------ packing


@given(st.lists(st.integers(1, 64), max_size=60), st.integers(64, 200))
def test_best_fit_packs_every_item_once_within_capacity(lengths: list[int], capacity: int) -> None:
    bins = pack_best_fit(lengths, capacity)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= capacity for b in bins)
    # Best-fit decreasing never needs more than 11/9 OPT + 1 bins; OPT >= total / capacity.
    assert len(bins) <= 11 / 9 * (sum(lengths) / capacity + 1) + 1


def test_pack_labels_and_positions_never_cross_samples() -> None:
    ids = np.arange(10, 19, dtype=np.int32)
    mask = np.array([0, 1, 1, 1, 0, 0, 1, 1, 1], dtype=np.bool_)
    dataset = TokenizedDataset(ids, mask, np.array([0, 4, 9]), {}, "")
    pack = assemble_pack(dataset, [1, 0])
    assert pack.input_ids.tolist() == [14, 15, 16, 17, 18, 10, 11, 12, 13]
    assert pack.position_ids.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    # Position t predicts token t+1 of the same sample when that token carries loss.
    assert pack.labels.tolist() == [-100, 16, 17, 18, -100, 11, 12, 13, -100]
    assert pack.num_targets == int(mask.sum())
    assert IGNORE_INDEX == -100


def test_model_and_template_fixtures_round_trip(tmp_path: Path) -> None:
    directory = build_model(tmp_path, template=PLAIN_TEMPLATE)
    assert json.loads((directory / "config.json").read_text())["model_type"] == "qwen2"
    assert load_tokenizer(str(directory)).chat_template == PLAIN_TEMPLATE
