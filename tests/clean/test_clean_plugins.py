"""`amfast clean` with the semantic dedup and decontamination stages plugged in."""

import json
from pathlib import Path

import pytest

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import read_ledger
from amfast.errors import InputError


def _rows(benchmarks_dir: Path) -> list[dict[str, str]]:
    math500 = [
        json.loads(line)
        for line in (benchmarks_dir / "eval" / "math500.jsonl").read_text().splitlines()
    ]
    gsm8k = [
        json.loads(line)
        for line in (benchmarks_dir / "eval" / "gsm8k_test.jsonl").read_text().splitlines()
    ]
    rows = [
        {"id": f"gsm/{i}", "problem": r["question"], "source": "gsm8k"}
        for i, r in enumerate(gsm8k[:40])
    ]
    # Five verbatim MATH-500 problems and five with their numbers changed: contamination.
    for i, item in enumerate(math500[:5]):
        rows.append({"id": f"copy/{i}", "problem": item["problem"], "source": "scraped"})
    for i, item in enumerate(math500[5:10]):
        changed = "".join("7" if ch.isdigit() else ch for ch in item["problem"])
        rows.append({"id": f"renumbered/{i}", "problem": changed, "source": "scraped"})
    return rows


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_decontam_stage_drops_benchmark_copies_and_names_the_item(
    tmp_path: Path, benchmarks_dir: Path
) -> None:
    source = _write(tmp_path / "in.jsonl", _rows(benchmarks_dir))
    config = CleanConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        text_field="problem",
        source_field="source",
        stages=["normalize", "decontam"],
        plugin_options={
            "decontam": {"benchmarks": [str(benchmarks_dir / "eval" / "math500.jsonl")]}
        },
        progress=False,
    )
    summary = clean(config)
    ledger = read_ledger(summary.ledger).to_pylist()
    dropped = {row["row_id"]: row for row in ledger}
    assert {row_id for row_id in dropped if row_id.startswith("copy/")} == {
        f"copy/{i}" for i in range(5)
    }
    assert not any(row_id.startswith("gsm/") for row_id in dropped)
    assert all(row["stage"] == "decontam" for row in ledger)
    assert dropped["copy/0"]["reason"].endswith(":math500")
    assert dropped["copy/0"]["detail"].startswith("item test/")
    renumbered = [dropped[f"renumbered/{i}"]["reason"] for i in range(5)]
    assert renumbered == ["exact_no_digits:math500"] * 5
    assert summary.kept + summary.dropped == summary.rows
    # The funnel counts rule and benchmark; the ten items stay in the ledger's detail.
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    reasons = next(s for s in funnel["stages"] if s["stage"] == "decontam")["reasons"]
    assert set(reasons) <= {"ngram:math500", "exact_no_digits:math500", "content_words:math500"}
    assert sum(reasons.values()) == 10


def test_decontam_stage_without_benchmarks_is_a_clear_error(
    tmp_path: Path, benchmarks_dir: Path
) -> None:
    source = _write(tmp_path / "in.jsonl", _rows(benchmarks_dir)[:3])
    with pytest.raises(InputError, match="at least one benchmark file"):
        CleanConfig(
            input=str(source),
            output=str(tmp_path / "out"),
            text_field="problem",
            stages=["decontam"],
            progress=False,
        )


def test_semantic_stage_keeps_one_of_each_paraphrase_group(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    rows = [
        {
            "id": "a",
            "problem": "What is the sum of the first ten positive integers?",
            "source": "s",
        },
        {
            "id": "b",
            "problem": "What is the sum of the first ten positive integers ?",
            "source": "s",
        },
        {
            "id": "c",
            "problem": "Find the area of a circle whose radius is 3 centimetres.",
            "source": "s",
        },
        {"id": "d", "problem": "Name the capital city of France.", "source": "s"},
    ]
    source = _write(tmp_path / "in.jsonl", rows)
    config = CleanConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        text_field="problem",
        stages=["semantic_dedup"],
        plugin_options={"semantic_dedup": {"threshold": 0.95}},
        progress=False,
    )
    summary = clean(config)
    ledger = read_ledger(summary.ledger).to_pylist()
    # The default priority does not prefer the longer text: the earliest row is kept.
    assert [(row["row_id"], row["kept_row_id"]) for row in ledger] == [("b", "a")]
    assert ledger[0]["reason"] == "semantic_duplicate"
    assert ledger[0]["score"] >= 0.95


def test_decontam_embedding_rule_uses_the_model_its_table_or_flag_names(
    tmp_path: Path, benchmarks_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, clean ignored [decontam] model: the embedding rule ran MiniLM whatever it said.
    from amfast.cli.main import main
    from amfast.embed import default_model_path

    pytest.importorskip("openvino")
    source = _write(tmp_path / "in.jsonl", _rows(benchmarks_dir)[35:50])
    math500 = benchmarks_dir / "eval" / "math500.jsonl"
    missing = tmp_path / "no-such-model"
    config = tmp_path / "clean.toml"
    table = f'[decontam]\nbenchmarks = ["{math500}"]\nembedding_threshold = 0.98\n'
    config.write_text('stages = ["normalize", "decontam"]\n' + table + f'model = "{missing}"\n')
    argv = ["clean", str(source), "--text-field", "problem", "--no-progress"]
    assert main([*argv, "-o", str(tmp_path / "a"), "--config", str(config)]) == 2
    assert str(missing) in capsys.readouterr().err
    flags = ["--stages", "normalize,decontam", "--benchmark", str(math500)]
    flags += ["--decontam-embedding-threshold", "0.98"]
    assert main([*argv, "-o", str(tmp_path / "b"), *flags, "--decontam-model", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    # A real model directory, on the backend the table names: the copies go, by any rule.
    model = default_model_path()
    config.write_text(
        'stages = ["normalize", "decontam"]\n'
        + table
        + f'model = "{model}"\nembedding_backend = "openvino"\n'
    )
    assert main([*argv, "-o", str(tmp_path / "c"), "--config", str(config)]) == 0
    dropped = {row["row_id"] for row in read_ledger(tmp_path / "c" / "dropped.parquet").to_pylist()}
    assert {f"copy/{i}" for i in range(5)} <= dropped
    assert not {row_id for row_id in dropped if row_id.startswith("gsm/")}
