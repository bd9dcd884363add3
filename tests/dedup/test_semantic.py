"""Semantic dedup: the similarity graph (clustered, HNSW, exact), keep strategies, real corpus."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json

import numpy as np
import pytest

from amfast.cli.main import main
from amfast.dedup import priority_rank, semantic_duplicates, similarity_graph
from amfast.dedup.semantic import (
    GraphOptions,
    SimilarityGraph,
    assign_cells,
    cell_pairs,
    plan_cells,
)
from amfast.embed import (
    CACHE_LAYOUT,
    EmbeddingCache,
    SentenceTransformerEmbedder,
    resolve_backend,
)
from amfast.errors import InvalidRowError


def planted(rows: int = 3_000, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors; every 10th row gets a near copy appended."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((rows, dim)).astype(np.float32)
    copies = base[::10] + 0.02 * rng.standard_normal((len(base[::10]), dim)).astype(np.float32)
    vectors = np.concatenate([base, copies])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def families_near_the_cut(
    rows: int = 3_000, dim: int = 32, size: int = 4, noise: float = 0.33, seed: int = 1
) -> np.ndarray:
    """Unit vectors in shuffled families of `size`: member pairs have cosine ≈ 0.9 ± 0.02."""
    rng = np.random.default_rng(seed)
    family = rng.permutation(rows) // size
    centres = rng.standard_normal((rows // size + 1, dim)).astype(np.float32)
    vectors = centres[family] + noise * rng.standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_clustered_graph_recalls_the_pairs_near_the_cut_with_exact_cosines():
    vectors = families_near_the_cut()
    exact = similarity_graph(vectors, threshold=0.9, method="exact")
    assert len(exact.left) > 1_000

    def recall(graph: SimilarityGraph) -> float:
        assert graph.pairs() <= exact.pairs()
        return len(graph.pairs()) / len(exact.pairs())

    # The defaults (2·√N cells, further cells probed within 2.5·√((2 - 2·0.9) / 32) = 0.2 of
    # the nearest): pairs split across cells are found by the probed cells.
    assert recall(similarity_graph(vectors, threshold=0.9)) >= 0.999
    # 30 cells of ~100 rows put many family members into different cells.
    one = similarity_graph(vectors, threshold=0.9, nprobe=1, cells=30)
    two = similarity_graph(vectors, threshold=0.9, cells=30)
    assert one.pairs() < two.pairs()
    assert recall(one) < recall(two)
    every = similarity_graph(vectors, threshold=0.9, nprobe=30, probe_margin=np.inf, cells=30)
    assert every.pairs() == exact.pairs()
    np.testing.assert_array_equal(every.similarity, exact.similarity)


def test_probe_margin_trades_recall_for_work_up_to_the_exact_graph():
    # Same cells for every margin: a wider margin probes a superset of cells, so it finds a
    # superset of pairs, all exact; a margin wider than any cosine gap probes every cell.
    vectors = families_near_the_cut()
    exact = similarity_graph(vectors, threshold=0.9, method="exact").pairs()
    found = [
        similarity_graph(vectors, threshold=0.9, cells=60, nprobe=60, probe_margin=margin).pairs()
        for margin in (0.0, 0.02, 0.05, 0.1, 2.0)
    ]
    assert found[0] == similarity_graph(vectors, threshold=0.9, cells=60, nprobe=1).pairs()
    for narrow, wide in itertools.pairwise(found):
        assert narrow <= wide <= exact
    assert len(found[0]) < len(found[2]) < len(exact)
    assert found[4] == exact
    # The default margin at 32 dimensions and 0.9 is 2.5·√(0.2 / 32) ≈ 0.2: every pair here.
    default = similarity_graph(vectors, threshold=0.9, cells=60, nprobe=60).pairs()
    assert len(default) / len(exact) >= 0.999
    with pytest.raises(ValueError, match="probe_margin must be >= 0"):
        similarity_graph(vectors, probe_margin=-0.1)


def test_clustered_graph_ignores_the_thread_count():
    vectors = families_near_the_cut(2_000)
    single = similarity_graph(vectors, threshold=0.9, cells=40, num_threads=1)
    three = similarity_graph(vectors, threshold=0.9, cells=40, num_threads=3)
    np.testing.assert_array_equal(single.left, three.left)
    np.testing.assert_array_equal(single.right, three.right)
    np.testing.assert_array_equal(single.similarity, three.similarity)


def test_clustered_graph_on_skewed_data_matches_the_exact_graph():
    # Nine rows in ten crowd around one direction (pairwise cosine ≈ 0.5, no edges among them):
    # most cells hold crowd rows, and the families' pairs are still found (the split of cells
    # over the cap is tested in Rust, kmeans::tests).
    rng = np.random.default_rng(3)
    dim = 32
    crowd = rng.standard_normal(dim) + rng.standard_normal((2_700, dim))
    rest = families_near_the_cut(300, dim=dim)
    vectors = np.concatenate([crowd.astype(np.float32), rest])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = similarity_graph(vectors, threshold=0.9, method="exact")
    clustered = similarity_graph(vectors, threshold=0.9, cells=12)
    assert clustered.pairs() <= exact.pairs()
    assert len(clustered.pairs()) / len(exact.pairs()) >= 0.99


def test_a_plan_from_elsewhere_is_checked_against_the_embeddings():
    vectors = planted(rows=200, dim=16)
    plan = plan_cells(vectors, threshold=0.9)
    outside = dataclasses.replace(plan, primary_rows=plan.primary_rows + len(vectors))
    with pytest.raises(ValueError, match=f"cell row {len(vectors)}"):
        cell_pairs(vectors, outside, threshold=0.9)
    short = dataclasses.replace(plan, primary_offsets=plan.primary_offsets[:-1])
    with pytest.raises(ValueError, match="cell offsets must rise from 0"):
        cell_pairs(vectors, short, threshold=0.9)


def test_rows_assigned_in_blocks_by_a_callback_give_the_same_plan():
    vectors = families_near_the_cut(rows=4_000)
    calls = []

    def in_blocks(rows, centroids, nprobe, probe_margin):
        # What the Ray engine does with tasks: blocks of rows assigned apart, joined in order.
        calls.append((len(rows), centroids.shape))
        parts = [
            assign_cells(vectors, block, centroids, nprobe=nprobe, probe_margin=probe_margin)
            for block in np.array_split(rows, 7)
        ]
        return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))

    here = plan_cells(vectors, threshold=0.9)
    elsewhere = plan_cells(vectors, threshold=0.9, assign=in_blocks)
    assert calls, "the callback made the assignment"
    assert calls[-1] == (4_000, (here.cells, 32))
    for name in ("primary_offsets", "primary_rows", "probe_offsets", "probe_rows"):
        np.testing.assert_array_equal(getattr(elsewhere, name), getattr(here, name))


def test_a_failing_or_malformed_assign_callback_is_reported():
    vectors = families_near_the_cut(rows=400)

    def lost(rows, centroids, nprobe, probe_margin):
        raise ConnectionError("the Ray cluster went away")

    with pytest.raises(ConnectionError, match="went away"):
        plan_cells(vectors, threshold=0.9, assign=lost)

    def short(rows, centroids, nprobe, probe_margin):
        primary, extra, counts = assign_cells(
            vectors, rows, centroids, nprobe=nprobe, probe_margin=probe_margin
        )
        return primary[:-1], extra, counts

    with pytest.raises(ValueError, match="an assignment of 400 rows needs 400 primary cells"):
        plan_cells(vectors, threshold=0.9, assign=short)
    with pytest.raises(TypeError, match="assign must return"):
        plan_cells(vectors, threshold=0.9, assign=lambda *_: None)


def test_hnsw_graph_equals_the_exact_graph_on_planted_pairs():
    vectors = planted()
    exact = similarity_graph(vectors, threshold=0.9, method="exact")
    hnsw = similarity_graph(vectors, threshold=0.9, method="hnsw")
    assert len(exact.left) == 300
    assert hnsw.pairs() == exact.pairs()
    np.testing.assert_array_equal(hnsw.similarity, exact.similarity)


def test_float16_input_finds_the_same_pairs():
    vectors = planted(1_000)
    single = similarity_graph(vectors, threshold=0.9, method="exact")
    half = similarity_graph(vectors.astype(np.float16), threshold=0.9, method="exact")
    assert half.pairs() == single.pairs()


def test_bad_rows_and_arrays_are_reported():
    vectors = planted(50)
    vectors[7] = 0
    with pytest.raises(InvalidRowError, match="row 7: embedding is all zeros") as error:
        similarity_graph(vectors)
    assert error.value.row == 7
    with pytest.raises(ValueError, match="2-D"):
        similarity_graph(np.ones(5, dtype=np.float32))
    with pytest.raises(ValueError, match="unknown quantization"):
        similarity_graph(planted(10), quantization="q4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nprobe must be >= 1"):
        similarity_graph(planted(10), nprobe=0)


def test_greedy_keep_does_not_chain_and_follows_priority():
    angles = np.radians([0.0, 20.0, 40.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    greedy = semantic_duplicates(vectors, threshold=0.9, method="exact")
    assert greedy.representative.tolist() == [0, 0, 2]
    assert greedy.cluster.tolist() == [0, 0, 0]
    component = semantic_duplicates(vectors, threshold=0.9, method="exact", keep="component")
    assert component.representative.tolist() == [0, 0, 0]
    preferred = semantic_duplicates(vectors, threshold=0.9, method="exact", priority=[1, 0, 1])
    assert preferred.representative.tolist() == [1, 1, 1]
    np.testing.assert_allclose(preferred.similarity, np.cos(np.radians([20, 0, 20])), atol=1e-6)


def test_number_guard_keeps_rows_whose_numbers_differ():
    vectors = np.array([[1.0, 0.0], [0.999, 0.04], [0.998, 0.06], [0.0, 1.0]], dtype=np.float32)
    texts = ["pay $165 a month", "pay $5,845,682 a month", "a month: pay 165 $", "other"]
    guarded = semantic_duplicates(vectors, texts=texts, method="exact")
    assert guarded.representative.tolist() == [0, 1, 0, 3]
    # The graph is returned whole, so it can be reused with the guard off.
    assert guarded.graph.pairs() == {(0, 1), (0, 2), (1, 2)}
    plain = semantic_duplicates(vectors, texts=texts, number_guard=False, method="exact")
    assert plain.representative.tolist() == [0, 0, 0, 3]
    with pytest.raises(ValueError, match="3 texts for 4 embedding rows"):
        semantic_duplicates(vectors, texts=texts[:3], method="exact")


def test_rethreshold_reuses_the_graph():
    vectors = planted(500)
    loose = similarity_graph(vectors, threshold=0.5, method="exact")
    strict = semantic_duplicates(vectors, threshold=0.9, graph=loose)
    assert strict.graph.pairs() == similarity_graph(vectors, threshold=0.9, method="exact").pairs()


def test_priority_expression_orders_rows():
    columns = {"ref": ["", "x", "y", None], "source": ["b", "a", "b", "a"], "score": [1, 2, 3, 4]}
    rank = priority_rank(columns, "has:ref, source:source, -score", source_order=["a", "b"])
    assert rank.tolist() == [3, 0, 1, 2]
    with pytest.raises(KeyError, match="no column 'nope'"):
        priority_rank(columns, "nope")


# --- real data: a subset of the shared corpus with known duplicate families ---------------

SUBSET = {  # source -> rows taken (first n); families per ../shared/benchmarks/README.md
    "aime24": 30,
    "aime25_qwq": 30,
    "aime25_deepscaler": 30,
    "math500": 300,
    "gsm8k_test": 200,
    "gsm8k_test_socratic": 200,
    "gsm_hard": 200,
    "mgsm_zh": 50,
    "gsm8k_train": 300,
}


@pytest.fixture(scope="module")
def real_rows(benchmarks_dir):
    taken: dict[str, int] = {}
    rows = []
    with gzip.open(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz", "rt") as handle:
        for line in handle:
            row = json.loads(line)
            if taken.get(row["source"], 0) < SUBSET.get(row["source"], 0):
                taken[row["source"]] = taken.get(row["source"], 0) + 1
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def real_embeddings(real_rows, tmp_path_factory):
    """all-MiniLM-L6-v2 (the default) on ~1,300 real problems, truncated to 128 tokens."""
    embedder = SentenceTransformerEmbedder(device="cpu", max_seq_length=128, progress=False)
    cache = EmbeddingCache(tmp_path_factory.mktemp("embeddings"))
    return cache.embed(embedder, [row["problem"] for row in real_rows])


@pytest.mark.slow
def test_hnsw_recall_against_exact_on_real_embeddings_is_high_and_deterministic(real_embeddings):
    for threshold in (0.95, 0.85):
        exact = similarity_graph(real_embeddings, threshold=threshold, method="exact").pairs()
        assert len(exact) > 100
        # Rows are inserted in order and searched in parallel: any thread count gives the
        # same graph, bit for bit.
        first, second, single = (
            similarity_graph(real_embeddings, threshold=threshold, method="hnsw", num_threads=n)
            for n in (2, 2, 1)
        )
        assert first.pairs() == second.pairs() == single.pairs()
        np.testing.assert_array_equal(first.similarity, second.similarity)
        assert len(first.pairs() & exact) / len(exact) >= 0.98


@pytest.mark.slow
def test_clustered_recall_against_exact_on_real_embeddings(real_embeddings):
    # Real embeddings are not planted clusters: pairs straddle cell boundaries, which is what
    # the probed cells are for. Small cells (~40 rows) make boundaries frequent.
    for threshold in (0.95, 0.85):
        exact = similarity_graph(real_embeddings, threshold=threshold, method="exact")
        clustered = similarity_graph(real_embeddings, threshold=threshold, cells=32)
        assert clustered.pairs() <= exact.pairs()
        assert len(clustered.pairs()) / len(exact.pairs()) >= 0.98


@pytest.mark.slow
def test_cells_swept_in_groups_give_the_clustered_graph_on_real_embeddings(real_embeddings):
    # What `--engine ray` does: plan the cells once, sweep groups of them apart, merge.
    whole = similarity_graph(real_embeddings, threshold=0.85, cells=32)
    plan = plan_cells(real_embeddings, threshold=0.85, cells=32)
    assert len(whole.left) > 100
    assert len(plan.copies.left) > 0, "real corpora hold identical texts (gsm8k_test_socratic)"
    busy = int((plan.costs() > 0).sum())
    for count in (1, 3, 16, 1_000):
        groups = plan.groups(count)
        assert len(groups) == min(count, busy)
        assert sum(int(group.costs().sum()) for group in groups) == int(plan.costs().sum())
        found = [cell_pairs(real_embeddings, group, threshold=0.85) for group in groups]
        merged = SimilarityGraph.merged([plan.copies, *found])
        np.testing.assert_array_equal(merged.left, whole.left)
        np.testing.assert_array_equal(merged.right, whole.right)
        np.testing.assert_array_equal(merged.similarity, whole.similarity)
    costs = [int(group.costs().sum()) for group in plan.groups(3)]
    assert max(costs) <= 1.2 * min(costs), f"unbalanced groups {costs}"


@pytest.mark.slow
def test_semantic_dedup_merges_the_known_families(real_rows, real_embeddings):
    result = semantic_duplicates(real_embeddings, threshold=0.95)
    by_id = {row["id"]: i for i, row in enumerate(real_rows)}

    def merged(left: str, right: str) -> bool:
        return bool(result.cluster[by_id[left]] == result.cluster[by_id[right]])

    # gsm8k_test and its socratic copy: same question text.
    same = sum(merged(f"gsm8k_test/{i}", f"gsm8k_test_socratic/{i}") for i in range(200))
    assert same == 200
    # AIME 2025 in two editions (18 identical after lowercasing, 12 reworded).
    qwq = [i for i, row in enumerate(real_rows) if row["source"] == "aime25_qwq"]
    deepscaler = [i for i, row in enumerate(real_rows) if row["source"] == "aime25_deepscaler"]
    pairs = sum(result.cluster[a] == result.cluster[b] for a in qwq for b in deepscaler)
    assert pairs >= 25
    # all-MiniLM-L6-v2 is English-only: translations are not merged with their originals.
    assert not merged("gsm8k_test/0", "mgsm_zh/0")


@pytest.mark.slow
def test_cli_semantic_dedup_with_the_default_model(tmp_path, real_rows):
    rows = [row for row in real_rows if row["source"] in ("gsm8k_test", "gsm8k_test_socratic")]
    rows = rows[:20] + [row for row in rows if row["source"] == "gsm8k_test_socratic"][:20]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code = main(
        [
            "dedup",
            str(source),
            "-o",
            str(tmp_path / "kept.jsonl"),
            "--dropped",
            str(tmp_path / "dropped.jsonl"),
            "--text-field",
            "problem",
            "--method",
            "semantic",
            "--priority",
            "source:source",
            "--source-order",
            "gsm8k_test_socratic,gsm8k_test",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    kept = [json.loads(line) for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert {row["source"] for row in kept} == {"gsm8k_test_socratic"}
    dropped = [json.loads(line) for line in (tmp_path / "dropped.jsonl").read_text().splitlines()]
    assert len(dropped) == 20
    assert {row["reason"] for row in dropped} == {"semantic_duplicate"}
    # The default backend: openvino on a CPU when installed, else onnx when onnxruntime is.
    expected = resolve_backend("auto")
    if expected != "sentence-transformers":
        (folder,) = (tmp_path / "cache" / CACHE_LAYOUT).iterdir()
        assert folder.name.startswith(f"{expected}-")


@pytest.mark.parametrize(
    "graph_flags",
    [
        [],
        ["--graph-method", "exact"],
        ["--graph-method", "clustered", "--nprobe", "1", "--cells", "2"],
    ],
)
def test_cli_semantic_dedup_with_precomputed_embeddings(tmp_path, graph_flags):
    # Letters, not digits: the number guard would keep "question 0" and "question 1" apart.
    rows = [{"q": f"question {'abcd'[i]}", "answer": "" if i == 0 else "x"} for i in range(4)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    vectors = np.array([[1, 0], [0.999, 0.04], [0, 1], [-1, 0]], dtype=np.float32)
    np.save(tmp_path / "v.npy", vectors)
    code = main(
        [
            "dedup",
            str(source),
            "-o",
            str(tmp_path / "kept.jsonl"),
            "--dropped",
            str(tmp_path / "dropped.jsonl"),
            "--text-field",
            "q",
            "--method",
            "semantic",
            "--embeddings",
            str(tmp_path / "v.npy"),
            *graph_flags,
            "--priority",
            "has:answer",
        ]
    )
    assert code == 0
    kept = [json.loads(line)["q"] for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert kept == ["question b", "question c", "question d"]
    dropped = json.loads((tmp_path / "dropped.jsonl").read_text())
    assert (dropped["row_id"], dropped["dup_of"]) == (0, 1)
    assert dropped["similarity"] == pytest.approx(0.9992, abs=1e-3)


def test_graph_options_are_one_object_and_keywords_override_single_fields():
    vectors = families_near_the_cut(rows=1_200)
    exact = similarity_graph(vectors, threshold=0.9, method="exact")
    options = GraphOptions(method="exact", nprobe=4)
    np.testing.assert_array_equal(
        similarity_graph(vectors, options, threshold=0.9).left, exact.left
    )
    # A keyword overrides the object's field: the clustered graph is a subset of the exact one.
    clustered = similarity_graph(vectors, options, threshold=0.9, method="clustered")
    assert clustered.pairs() <= exact.pairs()
    assert clustered.pairs() == similarity_graph(vectors, threshold=0.9, nprobe=4).pairs()
    with pytest.raises(TypeError, match=r"unknown GraphOptions settings \['nprobes'\]"):
        similarity_graph(vectors, threshold=0.9, nprobes=4)
    with pytest.raises(ValueError, match='unknown method "ivf"; use clustered, hnsw or exact'):
        similarity_graph(vectors, threshold=0.9, method="ivf")
