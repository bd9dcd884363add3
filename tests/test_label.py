"""`amfast label`: constrained parsing, the plumbing through a real tiny model on CPU, pass-rate
difficulty, language and length, and resume from the reply journal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from amfast.cli.main import main
from amfast.config import resolve_config
from amfast.generate import GenerationRequest, GenerationResult
from amfast.label import LabelConfig, run_label
from amfast.records import iter_records
from amfast.taxonomy import DIFFICULTY_LEVELS, parse_label

CATEGORIES = ["Math", "Coding & Debugging", "Others"]


@pytest.fixture(scope="module")
def math_rows(benchmarks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight MATH train problems as AM-schema rows with human solutions as responses."""
    rows = [row for _, row in iter_records(benchmarks_dir / "math" / "math_train.jsonl.gz")]
    chosen = rows[::937][:8]
    path = tmp_path_factory.mktemp("math") / "rows.jsonl"
    with path.open("w") as handle:
        for row in chosen:
            am = {
                "id": row["unique_id"],
                "messages": [
                    {"role": "user", "content": row["problem"], "info": {"source": "math"}},
                    {"role": "assistant", "content": row["solution"], "info": {}},
                ],
            }
            handle.write(json.dumps(am) + "\n")
    return path


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"primary_tag": "Math", "other_tags": []}', ("Math", "ok")),
        (
            'Sure.\n```json\n{"primary_tag": "coding &  debugging"}\n```',
            ("Coding & Debugging", "ok"),
        ),
        ('{"primary_tag": "Geometry"}', (None, "not_a_label")),
        ('{"primary_tag": ["Math"]}', (None, "not_a_label")),
        ('{"primary_tag": "Math"', (None, "bad_json")),
        ("math", ("Math", "ok")),
        ("It is Math or Others", (None, "no_answer")),
        ("", (None, "no_answer")),
        ('{"a": 1} {"primary_tag": "Others"}', ("Others", "ok")),
    ],
)
def test_parse_label_accepts_only_a_listed_label(reply: str, expected: tuple[Any, str]) -> None:
    assert parse_label(reply, "primary_tag", CATEGORIES) == expected


def test_five_difficulty_levels_and_the_level_names_do_not_overlap() -> None:
    assert len(DIFFICULTY_LEVELS) == 5
    assert parse_label('{"difficulty": "very easy"}', "difficulty", DIFFICULTY_LEVELS) == (
        "very easy", "ok",
    )  # fmt: skip
    assert parse_label("Easy", "difficulty", DIFFICULTY_LEVELS) == ("easy", "ok")


class ScriptedBackend:
    """A backend whose replies depend on the question: JSON for some, prose for others."""

    name, model, max_batch_size, max_concurrency = "scripted", "scripted", 4, 2

    def __init__(self, fail_after: int | None = None) -> None:
        self.asked: list[GenerationRequest] = []
        self.fail_after = fail_after

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if self.fail_after is not None and len(self.asked) >= self.fail_after:
            raise RuntimeError("the labelling server went away")
        self.asked.extend(requests)
        results = []
        for request in requests:
            text = request.messages[-1].content
            if "primary tag" in text:
                reply = '{"primary_tag": "Math"}' if "$" in text else "I cannot tell."
            else:
                reply = '{"intent": "x", "difficulty": "hard"}'
            results.append(GenerationResult(request.key, reply, finish_reason="stop"))
        return results

    async def aclose(self) -> None:
        pass


def test_labels_and_raw_replies_land_in_info_and_failures_are_counted(
    math_rows: Path, tmp_path: Path
) -> None:
    backend = ScriptedBackend()
    config = LabelConfig(input=str(math_rows), output=str(tmp_path / "out"), model="scripted")
    summary = run_label(config, backend=backend)
    rows = [row for _, row in iter_records(tmp_path / "out")]
    infos = [row["messages"][0]["info"] for row in rows]
    with_dollar = sum("$" in row["messages"][0]["content"] for row in rows)
    assert summary.rows == len(rows) == 8
    assert 0 < with_dollar < 8  # both kinds of reply occur
    assert summary.counts["category"] == {"Math": with_dollar, "None": 8 - with_dollar}
    assert summary.statuses["category"] == {"ok": with_dollar, "no_answer": 8 - with_dollar}
    assert summary.counts["difficulty"] == {"hard": 8}
    for info in infos:
        assert info["source"] == "math"  # the row's own info is kept
        assert info["category_response"] in ('{"primary_tag": "Math"}', "I cannot tell.")
        assert (info["category"] is None) == (info["category_status"] != "ok")
        assert info["language"] == "en"
        assert info["query_tokens"] > 0
        assert info["response_tokens"] > 0
    assert len(backend.asked) == 16  # one request per distinct query and label
    assert all(r.temperature == 0.0 for r in backend.asked)


def test_a_killed_run_resumes_from_the_journal_without_asking_again(
    math_rows: Path, tmp_path: Path
) -> None:
    config = LabelConfig(
        input=str(math_rows), output=str(tmp_path / "out"), model="scripted", shard_rows=3
    )
    dying = ScriptedBackend(fail_after=8)
    with pytest.raises(RuntimeError, match="went away"):
        run_label(config, backend=dying)
    assert not (tmp_path / "out" / "manifest.json").exists()
    answered = len(dying.asked)
    assert 0 < answered < 16
    again = ScriptedBackend()
    summary = run_label(config, backend=again)
    assert len(again.asked) == summary.asked == 16 - answered
    assert sorted(p.name for p in (tmp_path / "out").glob("part-*.jsonl")) == [
        "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl",
    ]  # fmt: skip
    assert summary.counts["difficulty"] == {"hard": 8}


def test_the_tiny_model_labels_through_the_transformers_backend(
    math_rows: Path, tmp_path: Path, tiny_teacher: Path
) -> None:
    config = LabelConfig(
        input=str(math_rows), output=str(tmp_path / "out"), model=str(tiny_teacher),
        backend="transformers", device="cpu", max_tokens=8,
    )  # fmt: skip
    summary = run_label(config)
    assert summary.asked == 16
    rows = [row for _, row in iter_records(tmp_path / "out")]
    for row in rows:
        info = row["messages"][0]["info"]
        assert isinstance(info["category_response"], str)  # the raw reply, whatever it says
        assert info["label_model"] == str(tiny_teacher)
        if info["category_status"] != "ok":
            assert info["category"] is None  # a random model's words are never turned into labels
    for name in ("category", "difficulty"):
        assert sum(summary.statuses[name].values()) == 8
    # Resume: the replies are journalled, so a rerun after losing the outputs asks nothing.
    (tmp_path / "out" / "manifest.json").unlink()
    again = run_label(config)
    assert again.asked == 0
    assert again.counts == summary.counts
    assert run_label(config).reused


def test_difficulty_from_the_pass_rate_of_verified_samples(math_rows: Path, tmp_path: Path) -> None:
    ids = [row["id"] for _, row in iter_records(math_rows)]
    samples = tmp_path / "verified.jsonl"
    scores = {ids[0]: [1, 1, 1, 1], ids[1]: [1, 0, 0, 0], ids[2]: [0, 0, None, 0]}
    with samples.open("w") as handle:
        for prompt_id, values in scores.items():
            for i, score in enumerate(values):
                reply = {"role": "assistant", "content": "a", "info": {"verify_score": score}}
                messages = [{"role": "user", "content": "q"}, reply]
                row = {"key": f"{prompt_id}:{i}", "prompt_id": prompt_id, "messages": messages}
                handle.write(json.dumps(row) + "\n")
    config = LabelConfig(
        input=str(math_rows), output=str(tmp_path / "out"), labels=["difficulty"],
        difficulty_from="pass_rate", pass_rate_input=str(samples),
    )  # fmt: skip
    summary = run_label(config)
    infos = {row["id"]: row["messages"][0]["info"] for _, row in iter_records(tmp_path / "out")}
    assert infos[ids[0]]["difficulty"] == "very easy"
    assert (infos[ids[1]]["difficulty"], infos[ids[1]]["difficulty_pass_rate"]) == ("hard", 0.25)
    assert (infos[ids[2]]["difficulty"], infos[ids[2]]["difficulty_samples"]) == ("very hard", 3)
    assert infos[ids[3]]["difficulty"] is None
    assert infos[ids[3]]["difficulty_status"] == "no_samples"
    assert summary.statuses["difficulty"] == {"ok": 3, "no_samples": 5}


def test_length_in_tokens_of_a_local_tokenizer(
    math_rows: Path, tmp_path: Path, tiny_teacher: Path
) -> None:
    config = LabelConfig(
        input=str(math_rows), output=str(tmp_path / "out"), labels=["length"],
        tokenizer=str(tiny_teacher),
    )  # fmt: skip
    summary = run_label(config)
    assert summary.length_unit == f"tokens of {tiny_teacher}"
    for _, row in iter_records(tmp_path / "out"):
        info = row["messages"][0]["info"]
        assert info["query_tokens"] > 0
        assert "category" not in info


def test_label_cli_names_bad_input_and_needs_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "prompt": "What is 2+2?"}\n{"id": "b", "prompt": 3}\n')
    assert main(["label", str(rows), "-o", str(tmp_path / "out"), "--labels", "language"]) == 2
    assert "rows.jsonl:2: field 'prompt' is int" in capsys.readouterr().err
    rows.write_text('{"id": "a", "prompt": "What is 2+2?"}\n')
    assert main(["label", str(rows), "-o", str(tmp_path / "out2")]) == 2
    assert "need a model" in capsys.readouterr().err
    assert main(["label", str(rows), "-o", str(tmp_path / "o3"), "--labels", "language"]) == 0
    ((_, row),) = iter_records(tmp_path / "o3")
    assert row["info"]["language"] == "en"


def test_a_toml_config_overrides_the_taxonomy_and_the_prompt(
    math_rows: Path, tmp_path: Path
) -> None:
    config_file = tmp_path / "label.toml"
    config_file.write_text(
        "[label]\n"
        'labels = ["category"]\n'
        'categories = ["Algebra", "Geometry", "Other"]\n'
        "category_template = '''Pick one of {choices}.\n{prompt}\nJSON: {\"primary_tag\": x}'''\n"
        'model = "scripted"\n'
    )
    config = resolve_config(
        LabelConfig, config_path=config_file, section="label",
        input=str(math_rows), output=str(tmp_path / "out"),
    )  # fmt: skip
    backend = ScriptedBackend()
    summary = run_label(config, backend=backend)
    first = backend.asked[0].messages[0].content
    assert first.startswith("Pick one of Algebra, Geometry, Other.\n")
    # The scripted backend answers this prompt with JSON that lacks `primary_tag`.
    assert "primary tag" not in first
    assert summary.statuses["category"] == {"bad_json": 8}
    assert "difficulty" not in summary.counts
