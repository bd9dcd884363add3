"""Rule filters on the final responses, on real model replies and human solutions, and as a
recipe stage (`filter_responses`)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from amfast.config import build_config
from amfast.distill.prompting import PromptSpec, SampleFacts, am_sample
from amfast.errors import InputError
from amfast.filters import quality_metrics
from amfast.generate.backend import GenerationResult
from amfast.recipe import am_conversation, last_boxed_content, read_recipe, run_recipe
from amfast.response_filters import ResponseFilterConfig, run_response_filters

Row = dict[str, Any]
R1_FAMILY = ("DeepSeek-R1", "QwQ-32B")  # model names that start so: replies in <think> form


def _traces(benchmarks: Path) -> list[Row]:
    with gzip.open(benchmarks / "real_traces" / "dev.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _passed(row: Row) -> Row:
    """A row as collect writes it: verified correct (the filters only see such rows)."""
    row["messages"][-1]["info"] |= {"verify_reason": "correct", "verify_score": 1.0}
    return row


def _distilled(trace: Row, number: int) -> Row:
    """A real reply turned into a sample row exactly as `amfast distill` writes one."""
    spec = PromptSpec(f"trace/{number}", trace["problem"], source=trace["benchmark"])
    # The traces hold the whole reply, opening tag included: nothing was prefilled.
    reply = GenerationResult(
        f"trace/{number}:0", trace["response"], finish_reason="stop", prefilled=False
    )
    facts = SampleFacts(0, 0, 1, "openai", trace["model"], trace["model"])
    return _passed(am_sample(spec, reply, facts, "<think>\n")) | {"response_kind": "distilled"}


def _existing(record: Row, number: int, source: str, response: str) -> Row:
    """A response that came with the data, as collect writes it."""
    flat = {
        "id": f"{source}/{number}",
        "source": source,
        "prompt": record["problem"],
        "response": response,
        "response_source": source,
        "verify_reason": "correct",
        "verify_score": 1.0,
        "verifier": "math",
        "reference_answer": last_boxed_content(response),
    }
    return am_conversation(flat) | {"response_kind": "existing"}


def _write(path: Path, rows: list[Row]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _read(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _key(row: Row) -> str:
    return str(row.get("key") or row.get("id"))


def _ends_in_loop(trace: Row) -> bool:
    """The last 400 characters are one stretch of text over and over (every sampled window of
    it occurs at least 4 times there): a reply that degenerated and ran into its budget."""
    tail = trace["response"][-400:]
    return len(tail) == 400 and all(tail.count(tail[i : i + 24]) >= 4 for i in range(0, 376, 47))


@pytest.fixture(scope="module")
def real_rows(benchmarks_dir: Path) -> dict[str, list[Row]]:
    """Real rows by what the filters should do with them."""
    traces = _traces(benchmarks_dir)
    numbered = list(enumerate(traces))
    r1 = [
        _distilled(t, n)
        for n, t in numbered
        if t["model"].startswith(R1_FAMILY) and "</think>" in t["response"]
    ][:12]
    # Sky-T1's own tags, and replies of instruct models: no <think> reasoning at all.
    no_think = [
        _distilled(t, n)
        for n, t in numbered
        if "<think>" not in t["response"] and t["model"].startswith(("Sky-T1", "GPT-4o"))
    ][::7][:6]
    with gzip.open(benchmarks_dir / "math" / "math_train.jsonl.gz", "rt") as handle:
        math = [json.loads(line) for _, line in zip(range(10), handle, strict=False)]
    human = [
        _existing(record, n, "math_train", record["solution"]) for n, record in enumerate(math)
    ]
    # Real replies that end stuck in a loop, kept as responses that came with a corpus (the
    # form rule does not apply to those, so repetition is what must catch them).
    loops = [_existing(t, n, "replies", t["response"]) for n, t in numbered if _ends_in_loop(t)]
    return {"r1": r1, "no_think": no_think, "human": human, "loops": loops}


def test_rules_keep_r1_replies_and_human_solutions_and_drop_broken_form_and_loops(
    tmp_path: Path, real_rows: dict[str, list[Row]]
) -> None:
    rows = [row for group in real_rows.values() for row in group]
    assert [len(real_rows[k]) for k in ("r1", "no_think", "loops")] == [12, 6, 5]
    source = _write(tmp_path / "collected.jsonl", rows)
    summary = run_response_filters(
        ResponseFilterConfig(input=str(source), output=str(tmp_path / "out"))
    )

    kept = {_key(row) for row in _read(tmp_path / "out" / "train.jsonl")}
    assert kept == {_key(row) for row in real_rows["r1"] + real_rows["human"]}
    ledger = pq.read_table(tmp_path / "out" / "dropped.parquet").to_pylist()
    by_id = {entry["row_id"]: entry for entry in ledger}
    for row in real_rows["no_think"]:
        entry = by_id[_key(row)]
        assert (entry["stage"], entry["reason"]) == ("think_form", "think_empty")
        assert "<think>…</think><answer>…</answer>" in entry["message"]
        assert json.loads(entry["record"]) == row
    for row in real_rows["loops"]:
        entry = by_id[_key(row)]
        assert (entry["stage"], entry["reason"]) == ("repetition", "repetition")
        assert entry["score"] >= 40
        assert "repeat_min_span 40" in entry["message"]
        assert json.loads(entry["params"])["repeat_min_span"] == 40
    assert len(ledger) == len(rows) - len(kept)

    assert (summary.rows, summary.kept) == (len(rows), len(kept))
    assert summary.by_rule["think_form"] == {
        "in": len(rows),
        "dropped": 6,
        "out": len(rows) - 6,
        "reasons": {"think_empty": 6},
    }
    assert summary.by_rule["repetition"]["dropped"] == 5
    assert summary.by_source["replies"] == {"in": 5, "dropped": 5, "out": 0}
    written = json.loads((tmp_path / "out" / "response_filters.json").read_text())
    assert written["by_rule"]["repetition"]["reasons"] == {"repetition": 5}


def test_think_form_on_all_holds_human_solutions_to_the_form_too(
    tmp_path: Path, real_rows: dict[str, list[Row]]
) -> None:
    source = _write(tmp_path / "human.jsonl", real_rows["human"])
    config = ResponseFilterConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        think_form_on="all",
        dropped=str(tmp_path / "ledger.jsonl"),
    )
    summary = run_response_filters(config)
    assert summary.kept == 0
    everything = ResponseFilterConfig(input=str(source), output=str(tmp_path / "all"), filters=[])
    assert run_response_filters(everything).kept == len(real_rows["human"])
    ledger = _read(tmp_path / "ledger.jsonl")
    assert {entry["reason"] for entry in ledger} == {"think_missing"}
    assert json.loads(ledger[0]["params"])["think_form_on"] == "all"


def test_bad_settings_and_rows_name_the_key_or_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--filters \(key 'filters'\) is \['url'\]"):
        build_config(ResponseFilterConfig, {"input": "x", "output": "y", "filters": ["url"]})
    flat = _write(tmp_path / "flat.jsonl", [{"prompt": "1+1?", "response": "2"}])
    with pytest.raises(InputError, match=r"flat\.jsonl:1: expected an AM-schema row"):
        run_response_filters(ResponseFilterConfig(input=str(flat), output=str(tmp_path / "o")))


def test_reward_quantile_reuses_scores_in_the_rows_and_needs_them_otherwise(
    tmp_path: Path, real_rows: dict[str, list[Row]]
) -> None:
    rows = [json.loads(json.dumps(row)) for row in real_rows["human"]]
    for score, row in enumerate(rows):
        row["messages"][-1]["info"]["reward_score"] = float(9 - score)
    source = _write(tmp_path / "scored.jsonl", rows)
    config = ResponseFilterConfig(
        input=str(source), output=str(tmp_path / "out"), reward_quantile=0.25
    )
    summary = run_response_filters(config)
    # np.quantile(range(10), 0.25) = 2.25: scores 0, 1 and 2 fall below it.
    assert summary.reward_threshold == pytest.approx(2.25)
    ledger = pq.read_table(tmp_path / "out" / "dropped.parquet").to_pylist()
    assert [(e["row"], e["stage"], e["reason"], e["score"]) for e in ledger] == [
        (7, "reward", "low_reward", 2.0),
        (8, "reward", "low_reward", 1.0),
        (9, "reward", "low_reward", 0.0),
    ]
    assert ledger[2]["message"].endswith(
        "scored.jsonl:10: reward score 0.0000 below the 0.25-quantile 2.2500 of 10 scores"
    )
    assert summary.by_rule["reward"] == {
        "in": 10,
        "dropped": 3,
        "out": 7,
        "reasons": {"low_reward": 3},
    }

    del rows[4]["messages"][-1]["info"]["reward_score"]
    _write(source, rows)
    with pytest.raises(InputError, match=r"scored\.jsonl:5: no reward score .* no reward_model"):
        run_response_filters(config)


@pytest.mark.slow
def test_reward_quantile_scores_with_the_reward_model_and_drops_the_lowest(
    tmp_path: Path, real_rows: dict[str, list[Row]]
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from amfast.verify.reward import RewardModel
    from tiny_models import build_tiny_classifier

    model = build_tiny_classifier(tmp_path / "reward", num_labels=1)
    rows = real_rows["human"][:6] + real_rows["r1"][:4]
    # A reply that ran out of budget (kept by `truncation = "keep"`) is not scored at all.
    cut_off = json.loads(json.dumps(real_rows["r1"][4]))
    cut_off["messages"][-1]["info"]["finish_reason"] = "length"
    source = _write(tmp_path / "rows.jsonl", [*rows, cut_off])
    config = ResponseFilterConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        reward_quantile=0.3,
        reward_model=str(model),
        reward_max_length=128,
        device="cpu",
        progress=False,
    )
    summary = run_response_filters(config)

    # The same scores, computed apart with the verifier on the rows' prompts and replies.
    scorer = RewardModel(model, device="cpu", max_length=128, threshold=-np.inf)
    verdicts = scorer.verify_batch(
        [r["messages"][0]["content"] for r in rows], [r["messages"][-1]["content"] for r in rows]
    )
    scores = np.array([verdict.score for verdict in verdicts])
    threshold = np.quantile(scores, 0.3)
    expected = {_key(row) for row, score in zip(rows, scores, strict=True) if score < threshold}
    assert summary.reward_threshold == pytest.approx(threshold, abs=1e-4)
    ledger = pq.read_table(tmp_path / "out" / "dropped.parquet").to_pylist()
    assert {e["row_id"] for e in ledger if e["reason"] == "low_reward"} == expected
    assert len(expected) == 3  # 30% of 10 rows, with no ties among the scores
    assert [(e["row_id"], e["reason"]) for e in ledger if e["row_id"] not in expected] == [
        (_key(cut_off), "unscored")
    ]
    kept = _read(tmp_path / "out" / "train.jsonl")
    by_key = dict(zip(map(_key, rows), scores, strict=True))
    for row in kept:
        assert row["messages"][-1]["info"]["reward_score"] == pytest.approx(
            by_key[_key(row)], abs=1e-4
        )


def _recipe(path: Path, benchmarks: Path, teacher: Path, filters: str) -> Path:
    path.write_text(
        f"""
run_dir = "run"
stages = ["sources", "clean", "verify_existing", "distill", "verify", "collect",
          "filter_responses", "export"]

[[source]]
name = "math_train"
path = "{benchmarks}/math/math_train.jsonl.gz"
prompt_field = "problem"
response_field = "solution"
reference_field = "solution"
reference_extract = "last_boxed"
max_rows = 8

[[source]]
name = "gsm8k_train"
path = "{benchmarks}/eval/gsm8k_train.jsonl.gz"
prompt_field = "question"
reference_field = "answer"
reference_extract = "after_hashes"
max_rows = 2

[clean]
filters = ["length"]

[verify]
num_threads = 1

[distill]
backend = "transformers"
model = "{teacher}"
device = "cpu"
max_tokens = 8

[filter_responses]
{filters}

[export]
formats = ["jsonl.zst"]
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_recipe_filters_the_collected_rows_and_reruns_only_from_the_changed_stage(
    tmp_path: Path, benchmarks_dir: Path, tiny_teacher: Path
) -> None:
    path = tmp_path / "recipe.toml"
    recipe = _recipe(path, benchmarks_dir, tiny_teacher, "")
    outcomes = run_recipe(read_recipe(recipe), progress=False)
    run = tmp_path / "run"
    collected = _read(run / "06-collect" / "train.jsonl")
    human = [row for row in collected if row["response_kind"] == "existing"]
    assert human, "no human solution passed verification"
    # The defaults (form + repetition): human solutions have no <think> and still pass.
    filtered = outcomes[6]
    assert filtered.name == "filter_responses"
    assert filtered.summary["kept"] == len(collected) == filtered.summary["samples"]
    assert filtered.summary["dropped by think_form"] == 0
    assert outcomes[7].summary["rows"] == len(collected)  # export reads the filtered rows
    assert "filter_responses" in (run / "report.html").read_text(encoding="utf-8")

    # A changed filter setting reruns filter_responses and export, and nothing before them.
    words = quality_metrics([row["messages"][-1]["content"] for row in collected])["words"]
    cap = int(np.median(words))
    changed = _recipe(
        path,
        benchmarks_dir,
        tiny_teacher,
        f'filters = ["think_form", "repetition", "length"]\nmax_words = {cap}',
    )
    outcomes = run_recipe(read_recipe(changed), progress=False)
    assert [o.reused for o in outcomes] == [True] * 6 + [False, False]
    too_long = [n for n in words if n > cap]
    assert outcomes[6].summary["dropped by length"] == len(too_long) > 0
    ledger = pq.read_table(run / "07-filter_responses" / "dropped.parquet").to_pylist()
    assert {(e["stage"], e["reason"]) for e in ledger} == {("length", "too_long")}
    assert outcomes[7].summary["rows"] == len(collected) - len(too_long)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert f"think_form: -0; repetition: -0; length: -{len(too_long)} (too_long" in page
    assert "07-filter_responses: ledger of filtered responses" in page
