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
    CellPlan,
    GraphOptions,
    SemanticDuplicates,
    SimilarityGraph,
    assign_cells,
    cell_pairs,
    plan_cells,
    priority_rank,
    semantic_duplicates,
    similarity_graph,
)

__all__ = [
    "CellPlan",
    "ExactDuplicates",
    "GraphOptions",
    "MinHashOptions",
    "NearDuplicateIndex",
    "NearDuplicates",
    "SemanticDuplicates",
    "SimilarityGraph",
    "assign_cells",
    "candidate_probability",
    "cell_pairs",
    "choose_bands",
    "content_hashes",
    "exact_duplicates",
    "near_duplicates",
    "number_keys",
    "plan_cells",
    "priority_rank",
    "semantic_duplicates",
    "similarity_graph",
]
