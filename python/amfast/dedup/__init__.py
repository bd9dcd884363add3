"""Dedup: exact (normalized-text hash), near (MinHash-LSH) and semantic (embeddings + ANN)."""

from amfast.dedup.exact import ExactDuplicates, content_hashes, exact_duplicates
from amfast.dedup.near import (
    MinHashOptions,
    NearDuplicateIndex,
    NearDuplicates,
    candidate_probability,
    choose_bands,
    near_duplicates,
    number_keys,
)
from amfast.dedup.semantic import (
    SemanticDuplicates,
    SimilarityGraph,
    priority_rank,
    semantic_duplicates,
    similarity_graph,
)

__all__ = [
    "ExactDuplicates",
    "MinHashOptions",
    "NearDuplicateIndex",
    "NearDuplicates",
    "SemanticDuplicates",
    "SimilarityGraph",
    "candidate_probability",
    "choose_bands",
    "content_hashes",
    "exact_duplicates",
    "near_duplicates",
    "number_keys",
    "priority_rank",
    "semantic_duplicates",
    "similarity_graph",
]
