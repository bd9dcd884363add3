"""Dedup: exact (hash of the normalized text) and near (MinHash-LSH, exactly verified)."""

from amfast.dedup.exact import ExactDuplicates, content_hashes, exact_duplicates
from amfast.dedup.near import (
    NearDuplicateIndex,
    NearDuplicates,
    candidate_probability,
    choose_bands,
    near_duplicates,
)

__all__ = [
    "ExactDuplicates",
    "NearDuplicateIndex",
    "NearDuplicates",
    "candidate_probability",
    "choose_bands",
    "content_hashes",
    "exact_duplicates",
    "near_duplicates",
]
