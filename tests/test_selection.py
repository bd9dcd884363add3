"""`amfast select` on the real MATH train set, whose rows carry human `level` and `type` labels."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from amfast.cli.main import main
from amfast.errors import InputError
from amfast.records import iter_records
from amfast.selection import KeepRule, SelectConfig, draw, run_select

RULES = ["level=Level 1:0.3", "level=Level 2:0.3"]


@pytest.fixture(scope="module")
def math_train(benchmarks_dir: Path) -> Path:
    return benchmarks_dir / "math" / "math_train.jsonl.gz"


def select(source: Path, output: Path, keep: list[str], **settings: object) -> SelectConfig:
    config = SelectConfig(
        input=str(source), output=str(output), keep=keep, id_field="unique_id",
        prompt_field="problem", **settings,  # type: ignore[arg-type]
    )  # fmt: skip
    run_select(config)
    return config


def kept_ids(output: Path) -> list[str]:
    return [row["unique_id"] for _, row in iter_records(output)]


def test_select_keeps_the_fraction_of_each_ruled_level_and_all_other_rows(
    math_train: Path, tmp_path: Path
) -> None:
    config = select(math_train, tmp_path / "out", RULES)
    rows = [row for _, row in iter_records(math_train)]
    levels = Counter(row["level"] for row in rows)
    kept = {row["unique_id"]: row for _, row in iter_records(tmp_path / "out")}
    ledger = pq.read_table(config.ledger_path).to_pylist()
    assert len(kept) + len(ledger) == len(rows) == 7_500
    assert {entry["row_id"] for entry in ledger}.isdisjoint(kept)
    kept_levels = Counter(row["level"] for row in kept.values())
    for level in ("Level 1", "Level 2"):
        share, count = kept_levels[level] / levels[level], levels[level]
        assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / count), (level, share)
    for level in ("Level 3", "Level 4", "Level 5", "Level ?"):
        assert kept_levels[level] == levels[level]
    entry = ledger[0]
    assert (entry["stage"], entry["reason"]) == ("select", "downsample")
    rule = json.loads(entry["params"])
    assert rule["field"] == "level"
    assert rule["fraction"] == 0.3
    assert entry["score"] >= 0.3
    assert "math_train.jsonl.gz:" in entry["message"]
    assert json.loads(entry["record"])["unique_id"] == entry["row_id"]
    summary = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert summary["by_rule"]["level=Level 1:0.3"]["matched"] == levels["Level 1"]
    assert summary["dropped"] == len(ledger)


def test_the_choice_depends_on_the_row_id_not_the_input_order(
    math_train: Path, tmp_path: Path
) -> None:
    rows = [row for _, row in iter_records(math_train)][:1500]
    first, shuffled = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(json.dumps(row) + "\n" for row in rows))
    random.Random(1).shuffle(rows)
    shuffled.write_text("".join(json.dumps(row) + "\n" for row in rows))
    select(first, tmp_path / "a", RULES)
    select(shuffled, tmp_path / "b", RULES)
    assert sorted(kept_ids(tmp_path / "a")) == sorted(kept_ids(tmp_path / "b"))
    select(first, tmp_path / "c", ["level=Level 1:0.6", "level=Level 2:0.6"])
    assert set(kept_ids(tmp_path / "a")) < set(kept_ids(tmp_path / "c"))
    select(first, tmp_path / "d", RULES, seed=7)
    assert set(kept_ids(tmp_path / "a")) != set(kept_ids(tmp_path / "d"))


def test_selection_by_an_info_label_and_rerun_reuses_a_finished_run(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}", "info": {"difficulty": level}}]}
        for i, level in enumerate(["easy", "hard"] * 200)
    ]
    source = tmp_path / "labelled.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = select(
        source, tmp_path / "out", ["difficulty=easy:0"], dropped=str(tmp_path / "d.jsonl")
    )
    kept = [row for _, row in iter_records(tmp_path / "out")]
    assert {row["messages"][0]["info"]["difficulty"] for row in kept} == {"hard"}
    assert len(Path(config.ledger_path).read_text().splitlines()) == 200
    again = run_select(config)
    assert again.reused
    assert again.dropped == 200


def test_bad_rules_and_overlapping_output_are_input_errors(
    math_train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match="FIELD=VALUE:FRACTION"):
        KeepRule.parse("level:0.3")
    with pytest.raises(InputError, match="FIELD=VALUE:FRACTION"):
        KeepRule.parse("level=Level 1:1.5")
    code = main(["select", str(tmp_path), "-o", str(tmp_path / "inside"), "--keep", "a=b:0.5"])
    assert code == 2
    assert "may not overlap the input" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "prompt": "x"}\n{not json\n')
    assert main(["select", str(broken), "-o", str(tmp_path / "o"), "--keep", "a=b:0.5"]) == 2
    assert "broken.jsonl:2: invalid JSON" in capsys.readouterr().err


def test_draws_are_uniform_enough() -> None:
    draws = [draw(0, f"row/{i}") for i in range(20_000)]
    assert all(0 <= value < 1 for value in draws)
    assert abs(sum(value < 0.3 for value in draws) / len(draws) - 0.3) < 0.015
