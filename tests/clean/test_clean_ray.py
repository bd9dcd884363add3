"""`amfast clean --engine ray` (Ray Data, a local Ray with 2 CPUs) against the local engine."""

# ruff: noqa: RUF001 - the Chinese row uses full-width punctuation on purpose
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import read_ledger
from amfast.cli.main import main
from amfast.errors import InputError

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = pytest.mark.slow

BOILERPLATE = "Give the answer as a reduced fraction and explain every step you take."


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _corpus(benchmarks_dir: Path) -> list[bytes]:
    """Real GSM8K problems with planted duplicates, filter rejects, a benchmark copy, a bad line.

    Planted pairs are far apart so that they fall into different shards (blocks).
    """
    eval_dir = benchmarks_dir / "eval"
    lines = (eval_dir / "gsm8k_test.jsonl").read_text().splitlines()
    gsm = [json.loads(line)["question"] for line in lines]
    math500 = json.loads((eval_dir / "math500.jsonl").read_text().splitlines()[0])["problem"]
    rows = [{"id": f"gsm/{i}", "problem": text, "source": "web"} for i, text in enumerate(gsm[:60])]
    planted = [
        # exact duplicate (after normalization) with a reference answer: kept over gsm/0
        {"id": "exact/0", "problem": gsm[0].upper() + "  ", "source": "web", "answer": "18"},
        # near duplicate from the preferred source: kept over gsm/1
        {"id": "near/1", "problem": gsm[1] + " Explain.", "source": "curated"},
        # near duplicate of gsm/2, shorter: loses to it
        {"id": "near/2", "problem": gsm[2].split(" ", 1)[1], "source": "web"},
        {"id": "short", "problem": "Solve it.", "source": "web"},
        {"id": "url", "problem": gsm[70] + " See https://example.com/hint", "source": "web"},
        {"id": "russian", "problem": "Сколько будет два плюс два, если считать очень внимательно?"},
        {"id": "zh", "problem": "一个长方形的长是八厘米，宽是五厘米，它的面积是多少平方厘米？"},
        {"id": "copy", "problem": math500, "source": "scraped"},
    ]
    planted += [
        {"id": f"boiler/{i}", "problem": f"{gsm[80 + i]} {BOILERPLATE}", "source": "web"}
        for i in range(4)
    ]
    for offset, row in enumerate(planted):
        rows.insert(20 + 4 * offset, row)
    lines = [json.dumps(row, ensure_ascii=False).encode() for row in rows]
    lines.insert(33, b'{"id": "broken", "problem": ')
    return lines


def _config(source: Path, output: Path, benchmarks_dir: Path, engine: str) -> CleanConfig:
    return CleanConfig(
        input=str(source),
        output=str(output),
        text_field="problem",
        source_field="source",
        reference_field="answer",
        stages=["normalize", "exact_dedup", "near_dedup", "decontam", "filters"],
        source_rank=["curated"],
        frequent_ngram=8,
        frequent_min_count=3,
        shard_rows=16,
        engine=engine,
        progress=False,
        plugin_options={"decontam": {"benchmarks": [str(benchmarks_dir / "eval/math500.jsonl")]}},
    )


@pytest.fixture(scope="module")
def runs(local_ray, benchmarks_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray")
    source = folder / "in.jsonl"
    source.write_bytes(b"\n".join(_corpus(benchmarks_dir)) + b"\n")
    summaries = {
        engine: clean(_config(source, folder / engine, benchmarks_dir, engine))
        for engine in ("local", "ray")
    }
    return source, folder, summaries


def _funnel(output: Path) -> list[dict]:
    stages = json.loads((output / "funnel.json").read_text())["stages"]
    return [{k: v for k, v in stage.items() if k not in ("seconds", "resumed")} for stage in stages]


def test_ray_engine_drops_the_planted_rows_for_the_same_reasons_and_representatives(runs):
    summaries = runs[2]
    ledger = {row["row_id"]: row for row in read_ledger(summaries["ray"].ledger).to_pylist()}
    assert (ledger["gsm/0"]["reason"], ledger["gsm/0"]["kept_row_id"]) == (
        "exact_duplicate",
        "exact/0",
    )
    assert (ledger["gsm/1"]["reason"], ledger["gsm/1"]["kept_row_id"]) == (
        "near_duplicate",
        "near/1",
    )
    assert (ledger["near/2"]["reason"], ledger["near/2"]["kept_row_id"]) == (
        "near_duplicate",
        "gsm/2",
    )
    assert ledger["short"]["reason"] == "too_short"
    assert ledger["url"]["reason"] == "url"
    assert ledger["russian"]["reason"] == "language"
    assert ledger["copy"]["reason"] == "exact_no_digits:math500"
    assert ledger["copy"]["detail"].startswith("item test/")
    assert {ledger[f"boiler/{i}"]["reason"] for i in range(4)} == {"frequent_ngram"}
    assert (ledger["in.jsonl:34"]["stage"], ledger["in.jsonl:34"]["reason"]) == ("read", "bad_json")
    assert "zh" not in ledger


def test_ray_engine_output_ledger_and_funnel_equal_the_local_engine(runs):
    _, folder, summaries = runs
    local, distributed = folder / "local", folder / "ray"
    assert (summaries["ray"].kept, summaries["ray"].dropped) == (
        summaries["local"].kept,
        summaries["local"].dropped,
    )
    parts = sorted(path.name for path in local.glob("part-*"))
    assert len(parts) > 3
    assert parts == sorted(path.name for path in distributed.glob("part-*"))
    for name in parts:
        assert (local / name).read_bytes() == (distributed / name).read_bytes(), name
    assert read_ledger(local / "dropped.parquet").equals(
        read_ledger(distributed / "dropped.parquet")
    )
    assert pq.read_table(local / "row_index.parquet").equals(
        pq.read_table(distributed / "row_index.parquet")
    )
    assert _funnel(local) == _funnel(distributed)


def test_the_local_engine_resumes_every_stage_of_a_ray_run(runs, benchmarks_dir):
    source, folder, summaries = runs
    resumed = clean(_config(source, folder / "ray", benchmarks_dir, "local"))
    stages = json.loads((folder / "ray" / "funnel.json").read_text())["stages"]
    assert all(stage["resumed"] for stage in stages[1:])
    assert (resumed.kept, resumed.dropped) == (summaries["ray"].kept, summaries["ray"].dropped)


def test_cli_engine_ray_writes_what_the_local_engine_writes(runs, capsys):
    source, folder, _ = runs
    common = ["clean", str(source), "--text-field", "problem", "--no-progress", "--shard-rows"]
    assert main([*common, "25", "-o", str(folder / "cli-local")]) == 0
    assert main([*common, "25", "-o", str(folder / "cli-ray"), "--engine", "ray"]) == 0
    assert "rows ->" in capsys.readouterr().out
    local = read_ledger(folder / "cli-local" / "dropped.parquet")
    assert local.num_rows > 0
    assert local.equals(read_ledger(folder / "cli-ray" / "dropped.parquet"))
    for part in sorted((folder / "cli-local").glob("part-*")):
        assert part.read_bytes() == (folder / "cli-ray" / part.name).read_bytes()


def test_engine_ray_without_ray_installed_names_the_extra(tmp_path, monkeypatch):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "problem": "What is the sum of 2 and 3?"}) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)
    config = CleanConfig(
        input=str(source), output=str(tmp_path / "out"), text_field="problem", engine="ray"
    )
    with pytest.raises(InputError, match=r"pip install 'amfast\[ray\]'"):
        clean(config)
    assert not (tmp_path / "out").exists(), "fails before reading anything"


@pytest.mark.parametrize(
    ("backend", "runtime"),
    [("openvino", "openvino"), ("onnx", "onnxruntime"), ("sentence-transformers", "torch")],
)
def test_ray_semantic_dedup_embeds_per_block_and_matches_the_local_engine(
    local_ray, tmp_path, backend, runtime
):
    pytest.importorskip(runtime)
    pytest.importorskip("sentence_transformers")  # the export and the torch backend
    problems = [
        ("a", "What is the sum of the first ten positive integers?"),
        ("c", "Find the area of a circle whose radius is 3 centimetres."),
        ("b", "What is the sum of the first ten positive integers ?"),
        ("d", "Name the capital city of France."),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "problem": p}) + "\n" for i, p in problems))
    ledgers = []
    for engine in ("local", "ray"):
        config = CleanConfig(
            input=str(source),
            output=str(tmp_path / engine),
            text_field="problem",
            stages=["semantic_dedup"],
            plugin_options={"semantic_dedup": {"threshold": 0.95, "embedding_backend": backend}},
            shard_rows=2,  # the duplicates are in different blocks
            engine=engine,
            progress=False,
        )
        ledgers.append(read_ledger(clean(config).ledger))
    # The default priority keeps the earliest row, not the longer copy.
    assert [(row["row_id"], row["kept_row_id"]) for row in ledgers[1].to_pylist()] == [("b", "a")]
    assert ledgers[0].equals(ledgers[1])


def test_ray_semantic_graph_sweeps_cell_groups_as_tasks_and_equals_the_local_graph(
    local_ray, tmp_path
):
    import numpy as np

    from amfast.clean.engines.ray import CELL_TASKS_PER_WORKER, _Runner
    from amfast.dedup.semantic import plan_cells, similarity_graph
    from amfast.errors import InvalidRowError

    # Families of four whose member pairs sit near the 0.9 cut, shuffled; plus exact copies.
    rng = np.random.default_rng(3)
    family = rng.permutation(4_000) // 4
    centres = rng.standard_normal((1_001, 32)).astype(np.float32)
    vectors = centres[family] + 0.33 * rng.standard_normal((4_000, 32)).astype(np.float32)
    vectors = np.concatenate([vectors, vectors[:25]])
    config = CleanConfig(
        input=str(tmp_path / "in.jsonl"), output=str(tmp_path / "out"), text_field="problem"
    )
    runner = _Runner(ray, [], config)
    tasks = len(plan_cells(vectors, threshold=0.9).groups(CELL_TASKS_PER_WORKER * 2))
    assert tasks == CELL_TASKS_PER_WORKER * 2, "2 CPUs, one thread per task"
    found = runner.similarity_graph(vectors, 0.9)
    local = similarity_graph(vectors, threshold=0.9)
    assert len(local.left) > 1_000
    np.testing.assert_array_equal(found.left, local.left)
    np.testing.assert_array_equal(found.right, local.right)
    np.testing.assert_array_equal(found.similarity, local.similarity)
    # A bad row is named as on one machine (the driver plans the cells, which checks every row).
    vectors[7] = 0.0
    with pytest.raises(InvalidRowError, match="row 7"):
        runner.similarity_graph(vectors, 0.9)
