"""Type stubs of the Rust core `amfast._core` (checked against the binary by stubtest)."""

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypedDict, final

import numpy as np
import numpy.typing as npt

from amfast.decontam import DecontamOptions
from amfast.dedup.near import MinHashOptions
from amfast.dedup.semantic import GraphOptions
from amfast.normalize import NormalizeOptions

__version__: str
HASH_SPEC: str
"""Name of the content/word/shingle hash specification (`amfast-hash-v1`)."""
MINHASH_SPEC: str
"""Name of the MinHash permutation specification (`amfast-minhash-v1`)."""
SHINGLE_SPEC: str
"""Name of the near-dedup shingling rule (`amfast-shingle-v2`: word n-gram width by word count)."""

class AmfastError(Exception):
    """Base class of every error amfast raises on purpose."""

class InvalidRowError(AmfastError, ValueError):
    """An input row is unusable; `.row` holds its index and the message starts with `row N:`."""

    row: int

class AmfastInternalError(AmfastError, RuntimeError):
    """A bug in amfast (a Rust panic was caught); please report it with the message."""

TextColumn = Sequence[str | None] | Any
"""A list of `str | None`, or an object exporting an Arrow string array or stream."""

def normalize(
    texts: TextColumn,
    *,
    options: NormalizeOptions | None = None,
    num_threads: int | None = None,
) -> Any:  # noqa: ANN401 - list, pyarrow.Array or pyarrow.ChunkedArray
    """Normalizes every text; returns the same kind of column.

    A list gives a list, a pyarrow array or chunked array gives the same with the same string
    type. Nulls stay null. Arrow input buffers are read without copying; the output strings
    are new buffers.
    """

def choose_bands(
    threshold: float, num_perm: int = 128, target_recall: float = 0.95
) -> tuple[int, int]:
    """LSH `(bands, rows)` with P(candidate | J = threshold) >= target_recall.

    The largest `rows` whose `num_perm // rows` bands reach the target. Raises ValueError for
    impossible targets.
    """

def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """`1 - (1 - similarity**rows)**bands`."""

class ExactResult(TypedDict):
    hashes: npt.NDArray[np.uint64]
    representative: npt.NDArray[np.int64]

@final
class ExactIndex:
    """Exact dedup on the 128-bit hash of the normalized text, batch by batch."""

    def __new__(
        cls,
        *,
        normalize: NormalizeOptions | None = None,
        num_threads: int | None = None,
    ) -> ExactIndex: ...
    def __len__(self) -> int: ...
    def add(self, texts: TextColumn) -> None:
        """Hashes a batch (GIL released); raises InvalidRowError on a null row."""
    def finish(self, priority: npt.NDArray[np.int64] | None = None) -> ExactResult:
        """Groups equal hashes; each group keeps the smallest `(priority, row id)`.

        The index cannot be used afterwards.
        """

class NearResult(TypedDict):
    cluster: npt.NDArray[np.int64]
    representative: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]
    pair_left: npt.NDArray[np.int64]
    pair_right: npt.NDArray[np.int64]
    pair_similarity: npt.NDArray[np.float32]
    candidates: int

@final
class NearIndex:
    """MinHash-LSH index with exact Jaccard verification, in two passes over the rows."""

    def __new__(
        cls,
        *,
        minhash: MinHashOptions,
        normalize: NormalizeOptions | None = None,
        num_threads: int | None = None,
    ) -> NearIndex: ...
    @property
    def banding(self) -> tuple[int, int]:
        """`(bands, rows)` in use."""
    def __len__(self) -> int: ...
    def signatures(self, texts: TextColumn) -> npt.NDArray[np.uint32]:
        """MinHash signatures, shape `(rows, num_perm)`."""
    def add(self, texts: TextColumn) -> None:
        """Pass 1: band keys of a batch."""
    def candidate_pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Sorted unique LSH candidate pairs (left < right); ends pass 1."""
    def verify(self, texts: TextColumn) -> None:
        """Pass 2: the same rows again, in order; shingles rows of candidate pairs."""
    def finish(self, priority: npt.NDArray[np.int64] | None = None) -> NearResult:
        """Verifies the candidates and keeps rows by `keep`, smallest `(priority, row id)` first.

        `greedy`: a row is dropped only for an already kept row at or above the threshold;
        `component`: one row per connected component. `cluster` is the connected component.
        """

def number_keys(texts: TextColumn, *, num_threads: int | None = None) -> npt.NDArray[np.uint64]:
    """Per row, a hash of its sorted multiset of digit runs (what `number_guard` compares).

    InvalidRowError for a null row.
    """

def text_keys(texts: TextColumn, *, num_threads: int | None = None) -> npt.NDArray[np.uint64]:
    """Per row, the embedding cache's key: `xxh3_128` of the text's UTF-8 bytes as given.

    Returned as `(rows, 2)` uint64 (high, low), like `ExactIndex`'s hashes but not normalized.
    Arrow input is read without copying. InvalidRowError for a null row.
    """

def connected_components(
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    *,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Connected components of an edge list: `(rows, component)` (union-find).

    `rows` are the sorted distinct ids of the edges, `component` the lowest row of each one's
    component.

    ValueError for arrays of different lengths or a negative id.
    """

def quality_metrics(
    texts: TextColumn,
    *,
    repeat_max_period: int = 20,
    repeat_min_repeats: int = 4,
    num_threads: int | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Quality metrics of every row (GIL released, parallel), as numpy columns.

    Keys: words, tokens, repeat_span, repeat_period, repeat_count (uint32); language (uint8:
    0 none, 1 en, 2 zh, 3 other); cjk_fraction, mixed_fraction, unusual_fraction (float32);
    urls, image_refs, tables (uint32); think_form (uint8: 0 ok, 1 missing, 2 repeated,
    3 order, 4 empty). Null rows get zeros and think_form 1. Raises ValueError for bad options.
    """

def row_ngram_hashes(
    texts: TextColumn, ngram: int, *, first_row: int = 0, num_threads: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """`(row, hash)` of each row's distinct `ngram`-token n-grams, rows from `first_row`."""

def count_frequent_ngrams(
    texts: TextColumn,
    ngram: int,
    frequent: npt.NDArray[np.uint64],
    *,
    num_threads: int | None = None,
) -> npt.NDArray[np.uint32]:
    """Per row, how many of its distinct n-grams are in `frequent` (sorted, distinct)."""

@final
class NgramCounter:
    """Dataset-wide n-gram row counts: `add` every batch, `finish`, then `count_frequent`."""

    def __new__(cls, ngram: int, *, num_threads: int | None = None) -> NgramCounter: ...
    def add(self, texts: TextColumn) -> None:
        """Adds each row's distinct n-grams (8 bytes each until `finish`)."""
    def finish(self, min_count: int) -> int:
        """Keeps the n-grams in more than `min_count` rows; returns how many."""
    def count_frequent(self, texts: TextColumn) -> npt.NDArray[np.uint32]:
        """Per row, its number of distinct frequent n-grams; ValueError before `finish`."""

def similarity_graph(
    embeddings: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    options: GraphOptions,
    *,
    threshold: float = 0.95,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every pair of rows with exact cosine >= threshold: `(left, right, cosine)`, left < right.

    `embeddings` is a C-contiguous `(N, d)` float32 or float16 array, borrowed read-only;
    `options` is read attribute by attribute (`amfast.dedup.GraphOptions`).
    `method="clustered"` trains `cells` spherical k-means cells (None: 2·√N of the unique
    rows) on a sample and compares every row exactly with the rows of its nearest cell and of
    each further cell whose centroid cosine is within `probe_margin` of the nearest's (at most
    `nprobe` cells; None: 2.5·√((2 - 2·threshold) / d); inf: always the `nprobe` nearest);
    rows are normalized block by block (no f32 copy), oversized cells are split, and the
    result does not depend on the thread count. `k`, `connectivity`, `expansion_*` and
    `quantization` apply to `method="hnsw"`. The HNSW index (usearch) stores the rows as
    `quantization`; rows are normalized on the fly for adding and exact re-scoring (no f32
    copy). `method="exact"` copies the unique rows once at unit length in f32 (N·d·4 bytes).
    Bit-identical rows are collapsed first: each later copy gets one edge (cosine 1.0) to its
    first copy and no other edge. Raises InvalidRowError for an all-zero or non-finite row.
    """

class CellPlanArrays(TypedDict):
    copy_left: npt.NDArray[np.int64]
    copy_right: npt.NDArray[np.int64]
    primary_offsets: npt.NDArray[np.int64]
    primary_rows: npt.NDArray[np.int64]
    probe_offsets: npt.NDArray[np.int64]
    probe_rows: npt.NDArray[np.int64]

def plan_cells(
    embeddings: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    options: GraphOptions,
    *,
    threshold: float = 0.95,
    assign: Callable[
        [npt.NDArray[np.int64], npt.NDArray[np.float32], int, float],
        tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    ]
    | None = None,
    num_threads: int | None = None,
) -> CellPlanArrays:
    """The clustered graph's first half: bit-identical copies and the k-means cells.

    `copy_left`/`copy_right`: one edge (first copy, later copy) per bit-identical row. The
    other rows by nearest cell (`primary_rows[primary_offsets[c]:primary_offsets[c + 1]]`) and
    by the further cells they probe (`probe_*`), as in `similarity_graph`'s clustered method.
    `assign(rows, centroids, nprobe, probe_margin)`, when given, makes every assignment of the
    rows to the centroids (e.g. blocks as Ray tasks calling `assign_cells`) and returns what
    `assign_cells` returns for all `rows` in order; the plan is then the same. Its exception
    propagates as it was raised; a malformed result is a TypeError or ValueError.
    """

def assign_cells(
    embeddings: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    rows: npt.NDArray[np.int64],
    centroids: npt.NDArray[np.float32],
    *,
    nprobe: int,
    probe_margin: float,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`(primary, extra, counts)` of `rows` against `centroids` (`amfast.dedup.assign_cells`)."""

def cell_pairs(
    embeddings: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    primary_offsets: npt.NDArray[np.int64],
    primary_rows: npt.NDArray[np.int64],
    probe_offsets: npt.NDArray[np.int64],
    probe_rows: npt.NDArray[np.int64],
    *,
    threshold: float = 0.95,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The pairs with exact cosine >= threshold within each given cell and with its probing rows.

    The cells are any subset of a `plan_cells` plan; a pair may appear twice (from both rows'
    cells). ValueError for offsets that do not describe the rows or a row outside `embeddings`.
    """

class SelectionResult(TypedDict):
    cluster: npt.NDArray[np.int64]
    representative: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]

def select_representatives(
    embeddings: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    similarity: npt.NDArray[np.float32],
    *,
    priority: npt.NDArray[np.int64] | None = None,
    keep: Literal["greedy", "component"] = "greedy",
    num_threads: int | None = None,
) -> SelectionResult:
    """Clusters (union-find components, lowest row id) and a kept representative per row.

    `greedy`: rows in `(priority, row id)` order; a row is dropped iff it has an edge to an
    already kept row (its representative: the most similar such row). `component`: one row per
    component. `similarity` is the exact cosine with the representative.
    """

def best_matches(
    queries: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    base: npt.NDArray[np.float32] | npt.NDArray[np.float16],
    *,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """For each query row, the most similar base row and the cosine (exact; base copied once)."""

class ContaminationResult(TypedDict):
    exact_item: npt.NDArray[np.int64]  # (rows, groups)
    ngram_item: npt.NDArray[np.int64]  # (rows, groups)
    ngram_overlap: npt.NDArray[np.uint32]  # (rows, groups)
    item_ngram_count: npt.NDArray[np.uint32]  # (rows, groups)
    ngram_count: npt.NDArray[np.uint32]
    content_item: npt.NDArray[np.int64]  # (rows, groups)
    content_share: npt.NDArray[np.float32]  # (rows, groups)
    content_no_digits_item: npt.NDArray[np.int64]  # (rows, groups)
    content_no_digits_share: npt.NDArray[np.float32]  # (rows, groups)

@final
class NgramIndex:
    """Benchmark items as word n-grams and digit-free text hashes, for decontamination.

    Each `add` call is one group (benchmark); `query` returns `(rows, groups)` arrays with
    global item ids, so one pass over the rows serves every benchmark.
    """

    def __new__(
        cls,
        *,
        decontam: DecontamOptions,
        normalize: NormalizeOptions | None = None,
        num_threads: int | None = None,
    ) -> NgramIndex: ...
    def __len__(self) -> int: ...
    @property
    def groups(self) -> int:
        """Groups (benchmarks) added."""
    @property
    def ngram_count(self) -> int:
        """Distinct n-grams held."""
    def add(self, texts: TextColumn) -> None:
        """Adds one group of benchmark items, numbered after those already added."""
    def query(self, texts: TextColumn, *, first_row: int = 0) -> ContaminationResult:
        """Per row: the matching items (-1: none) of both rules and the n-gram counts.

        `exact_item` is equal once digits are removed; `ngram_item` is the item whose n-grams
        the row covers best (share of the item, then count); `content_item` /
        `content_no_digits_item` the item whose weighted content features the row holds (share
        >= the thresholds; `*_share` is the best share, passing or not).
        """
