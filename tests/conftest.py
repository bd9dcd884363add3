"""Shared fixtures: planted corpora (generated once per session) and the benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from amfast.corpus import PlantedCorpus, generate_corpus
from amfast.dedup import NearDuplicates, near_duplicates

# No example database (it would write `.hypothesis/` into the checkout) and no per-example
# deadline: a debug build of the extension is slow, and timing is not what these tests check.
settings.register_profile("amfast", database=None, deadline=None)
settings.load_profile("amfast")

BENCHMARKS = Path(__file__).parents[2] / "shared" / "benchmarks"

# ONNX exports of embedding models go inside the checkout (ignored by git), kept between runs.
os.environ.setdefault(
    "AMFAST_CACHE_DIR", str(Path(__file__).parents[1] / ".pytest_cache" / "amfast")
)


@pytest.fixture(scope="session")
def planted_corpus() -> PlantedCorpus:
    """3,000 generated documents, 10% of them planted near-duplicate variants."""
    return generate_corpus(3_000, seed=0)


@pytest.fixture(scope="session")
def planted_result(planted_corpus: PlantedCorpus) -> NearDuplicates:
    """`near_duplicates` of the planted corpus with the default options."""
    return near_duplicates(planted_corpus.texts)


@pytest.fixture(scope="session")
def small_corpus() -> PlantedCorpus:
    """600 shorter documents, 30% planted variants: for tests that run dedup several times."""
    return generate_corpus(600, duplicate_fraction=0.3, min_words=30, max_words=150, seed=3)


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """`../shared/benchmarks` (real corpora); tests using it skip when it is absent."""
    if not BENCHMARKS.is_dir():
        pytest.skip(f"benchmark data not found at {BENCHMARKS}")
    return BENCHMARKS


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random-weight Qwen2 with a chat template (`tiny_models.build_tiny_teacher`)."""
    from tiny_models import build_tiny_teacher

    return build_tiny_teacher(tmp_path_factory.mktemp("teacher"))
