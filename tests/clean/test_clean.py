# ruff: noqa: RUF001 - Chinese test texts use full-width punctuation on purpose
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import explain, read_ledger
from amfast.cli.main import main
from amfast.errors import InputError
from amfast.stage import PLUGINS


def am_row(row_id, question, answer=None, source="s", test_case=None, response=None):
    user_info = {"source": source, "reference_answer": answer, "test_case": test_case}
    messages = [{"role": "user", "content": question, "info": user_info}]
    if response is not None:
        messages.append({"role": "assistant", "content": response, "info": {}})
    return {"id": row_id, "messages": messages}


QUESTIONS = [
    "A train travels 60 miles in 1.5 hours. What is its average speed in miles per hour?",
    "Find all real x such that x squared minus five x plus six equals zero today.",
    "How many positive divisors does the number 360 have in total, counting one?",
    "一个长方形的长是八厘米，宽是五厘米，它的面积是多少平方厘米？",
]


def write_jsonl(path, records, extra_lines=()):
    with path.open("wb") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        for line in extra_lines:
            handle.write(line + b"\n")
    return path


def run(tmp_path, source, **settings):
    config = CleanConfig(
        input=str(source), output=str(tmp_path / "out"), progress=False, **settings
    )
    return clean(config)


def test_am_schema_rows_dedup_by_priority_and_ledger_names_the_kept_row(tmp_path):
    records = [
        am_row("a", QUESTIONS[0]),
        am_row("b", QUESTIONS[0].upper(), answer="40", test_case={"x": 1}),
        am_row("c", QUESTIONS[1], test_case="[]"),
        am_row("d", QUESTIONS[2] + " ", test_case=None),
        am_row("e", QUESTIONS[3], source="zh"),
    ]
    summary = run(tmp_path, write_jsonl(tmp_path / "in.jsonl", records))
    assert (summary.rows, summary.kept, summary.dropped) == (5, 4, 1)
    ledger = read_ledger(summary.ledger).to_pylist()
    assert [(r["row_id"], r["stage"], r["kept_row_id"]) for r in ledger] == [
        ("a", "exact_dedup", "b")
    ], "the row with a reference answer is kept"
    kept = (tmp_path / "out" / "part-00000.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in kept] == ["b", "c", "d", "e"]
    assert "duplicate of b" in explain(tmp_path / "out", "a")


def test_corrupt_lines_are_reported_with_file_and_line_and_the_rest_is_processed(tmp_path):
    records = [am_row(str(i), question) for i, question in enumerate(QUESTIONS)]
    source = write_jsonl(
        tmp_path / "in.jsonl",
        records,
        [
            b'{"id": "bad", "messages": [',
            b'{"id": "utf", "problem": "caf\xe9"}',
            b"[1, 2]",
            json.dumps({"id": "num", "problem": 42}).encode(),
        ],
    )
    summary = run(tmp_path, source)
    assert summary.rows == 8
    assert summary.kept == 4
    ledger = {row["row"]: row for row in read_ledger(summary.ledger).to_pylist()}
    assert ledger[4]["reason"] == "bad_json"
    assert f"{source}:5: invalid JSON" in ledger[4]["message"]
    assert ledger[5]["reason"] == "invalid_utf8"
    assert f"{source}:6: invalid UTF-8" in ledger[5]["message"]
    assert ledger[6]["reason"] == "bad_json"
    assert ledger[7]["reason"] == "wrong_type"
    assert "field 'problem' is int" in ledger[7]["message"]


def test_a_missing_field_is_named_in_the_error(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"problem": QUESTIONS[0]}])
    with pytest.raises(InputError, match=r"field 'question' is missing \(fields: \['problem'\]\)"):
        run(tmp_path, source, text_field="question")
    code = main(["clean", str(source), "-o", str(tmp_path / "o"), "--text-field", "nope"])
    assert code == 2
    assert "field 'nope' is missing" in capsys.readouterr().err


def test_plug_in_stages_say_when_they_are_not_in_this_build(tmp_path, monkeypatch):
    # A build without the semantic module: point the plug-in at a module that does not exist.
    monkeypatch.setitem(PLUGINS, "semantic_dedup", "amfast.not_built_semantic")
    source = write_jsonl(tmp_path / "in.jsonl", [{"problem": QUESTIONS[0]}])
    with pytest.raises(InputError, match="stage 'semantic_dedup' is not available in this build"):
        run(tmp_path, source, stages=["normalize", "semantic_dedup"])


def test_parquet_folder_arrow_and_saved_hf_dataset_read_like_jsonl(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"id": str(i), "problem": q, "answer": "1"} for i, q in enumerate(QUESTIONS * 2)]
    jsonl = run(tmp_path / "j", write_jsonl(tmp_path / "in.jsonl", rows), output_format="parquet")
    expected = pq.read_table(jsonl.output / "part-00000.parquet").column("row_id").to_pylist()
    assert expected == ["0", "1", "2", "3"]
    shards = tmp_path / "shards"
    shards.mkdir()
    table = pa.Table.from_pylist(rows)
    pq.write_table(table.slice(0, 5), shards / "a.parquet")
    pq.write_table(table.slice(5), shards / "b.parquet")
    with (
        pa.OSFile(str(tmp_path / "in.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as out,
    ):
        out.write_table(table)
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    for name, source in [("p", shards), ("a", tmp_path / "in.arrow"), ("h", tmp_path / "hf")]:
        summary = run(tmp_path / name, source, output_format="parquet")
        kept = pa.concat_tables(
            pq.read_table(path) for path in sorted(summary.output.glob("part-*.parquet"))
        )
        assert kept.column("row_id").to_pylist() == expected, name


def test_funnel_json_html_and_manifest_agree(tmp_path):
    rows = [{"id": str(i), "problem": q} for i, q in enumerate(QUESTIONS * 3)]
    with gzip.open(tmp_path / "in.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    summary = run(tmp_path, tmp_path / "in.jsonl.gz", shard_rows=5)
    out = tmp_path / "out"
    funnel = json.loads((out / "funnel.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert funnel["rows"] == 12
    assert manifest["kept"] + manifest["dropped"] == 12
    assert [shard["path"] for shard in manifest["shards"]] == [
        "part-00000.jsonl",
        "part-00001.jsonl",
        "part-00002.jsonl",
    ]
    assert funnel["stages"][-1]["out"] == summary.kept == 4
    assert "<svg" in (out / "funnel.html").read_text()


def test_samples_of_one_prompt_are_kept_when_dedup_compares_prompt_and_response(tmp_path):
    # Two verified samples per prompt, as `amfast verify` writes them; one exact repeat.
    samples = [
        am_row(f"{q}:{s}", QUESTIONS[q], answer="5", response=f"<think>try {s}</think> 5")
        for q in range(2)
        for s in range(2)
    ]
    samples.append(am_row("again", QUESTIONS[0], answer="5", response="<think>try 0</think> 5"))
    source = write_jsonl(tmp_path / "verified.jsonl", samples)
    stages = ["normalize", "exact_dedup", "near_dedup"]
    by_prompt = run(tmp_path / "p", source, stages=stages)
    assert by_prompt.kept == 2  # the prompt alone: every second sample is a "duplicate"
    summary = run(tmp_path / "pr", source, stages=stages, dedup_on="prompt_response")
    assert (summary.kept, summary.dropped) == (4, 1)
    (dropped,) = read_ledger(summary.ledger).to_pylist()
    assert (dropped["row_id"], dropped["kept_row_id"]) == ("again", "0:0")
