"""Semantic dedup: embeddings -> similarity graph (in Rust) -> keep by priority.

The graph holds every pair of rows whose exact cosine is >= `threshold`. By default
(`method="clustered"`) rows are grouped into spherical k-means cells trained on a sample (2·√N
cells) and every row is compared exactly with the rows of its nearest cell and of the further
cells within `probe_margin` of it (at most `nprobe`): an IVF-flat search with a threshold,
deterministic for any thread count. `plan_cells` and `cell_pairs` cut it in two so that the
cells can be swept elsewhere (`amfast clean --engine ray` sweeps them as Ray tasks).
`method="hnsw"` (usearch) serves new rows against an existing corpus; `method="exact"` compares
all pairs (small N, recall checks). Every edge's cosine is the exact f32 one.

Rows are then visited in priority order and a row is dropped iff it has an edge to a row
already kept (`keep="greedy"`, the default: no chaining through rows that were themselves
dropped; shared with near dedup), or one row is kept per connected component
(`keep="component"`). Cluster ids are always the connected components.

Embeddings barely see numbers ("pay $5,845,682 a month" and "$165 a month" score above 0.95), so
given the `texts`, `number_guard` (on by default) removes every edge between texts whose
multisets of numbers differ before the keep decision.

Thresholds measured for all-MiniLM-L6-v2: 0.95 keeps to near-verbatim copies, 0.90 also merges
paraphrases. For bge-m3 (multilingual; finds the same problem in Chinese and English) 0.90.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from amfast import _core
from amfast.config import with_overrides
from amfast.dedup.exact import RepresentativeMap, as_priority
from amfast.dedup.near import Keep, number_keys
from amfast.embed import Embedder, EmbeddingModel
from amfast.errors import InputError
from amfast.normalize import TextColumn

Method = Literal["clustered", "hnsw", "exact"]
Quantization = Literal["f32", "f16", "bf16", "i8"]


@dataclass(frozen=True)
class SimilarityGraph:
    """Pairs of rows with cosine >= threshold (`left < right`, sorted)."""

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]

    def above(self, threshold: float) -> SimilarityGraph:
        """The edges at or above a higher threshold (re-threshold without recomputing)."""
        return self.where(self.similarity >= threshold)

    def where(self, mask: npt.NDArray[np.bool_]) -> SimilarityGraph:
        """The edges where `mask` is true."""
        return SimilarityGraph(self.left[mask], self.right[mask], self.similarity[mask])

    def pairs(self) -> set[tuple[int, int]]:
        """The edges as a set of `(left, right)`."""
        return set(zip(self.left.tolist(), self.right.tolist(), strict=True))

    @staticmethod
    def merged(parts: Sequence[SimilarityGraph]) -> SimilarityGraph:
        """One graph of edges found in parts (e.g. by Ray tasks): sorted, each pair once.

        A pair found twice (from both of its rows' cells) has the same cosine both times.

        Example:
            >>> one = SimilarityGraph(np.array([3, 0]), np.array([4, 2]), np.array([0.97, 0.99]))
            >>> two = SimilarityGraph(np.array([0]), np.array([2]), np.array([0.99]))
            >>> SimilarityGraph.merged([one, two]).left.tolist()
            [0, 3]
        """
        left = np.concatenate([np.zeros(0, np.int64), *(part.left for part in parts)])
        right = np.concatenate([np.zeros(0, np.int64), *(part.right for part in parts)])
        cosine = np.concatenate([np.zeros(0, np.float32), *(part.similarity for part in parts)])
        order = np.lexsort((right, left))
        left, right, cosine = left[order], right[order], cosine[order]
        first = np.ones(len(left), dtype=bool)
        first[1:] = (left[1:] != left[:-1]) | (right[1:] != right[:-1])
        return SimilarityGraph(left[first], right[first], cosine[first])


@dataclass(frozen=True)
class SemanticDuplicates(RepresentativeMap):
    """Semantic-dedup result, one entry per row plus the graph.

    Attributes:
        cluster: Lowest row id of each row's connected component.
        representative: The kept row that replaces each row (itself when kept).
        similarity: Exact cosine with the representative (1.0 when kept).
        graph: All edges with cosine >= threshold (before the number guard, so that it can be
            reused at another threshold or setting).
    """

    cluster: npt.NDArray[np.int64]
    representative: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]
    graph: SimilarityGraph


def _as_embeddings(embeddings: npt.ArrayLike) -> npt.NDArray[Any]:
    array = np.asarray(embeddings)
    if array.dtype not in (np.float32, np.float16):
        array = array.astype(np.float32)
    if array.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {array.shape}")
    return np.ascontiguousarray(array)


@dataclass(frozen=True)
class GraphOptions:
    """How the similarity graph finds its pairs: the one declaration of these settings.

    `similarity_graph(vectors, options)`, `plan_cells` and the core take it whole; keywords of
    those functions override single fields (`similarity_graph(vectors, nprobe=8)`).

    Attributes:
        method: "clustered" (k-means cells + exact products, the batch default), "hnsw"
            (usearch: new rows against an existing corpus) or "exact" (blocked product, O(N²);
            small N, recall checks).
        nprobe: Clustered: most cells each row is compared with, its nearest first.
        probe_margin: Clustered: a row is compared with a further cell only when that cell's
            centroid cosine is within this of its nearest cell's (more: higher recall, slower;
            None: 2.5·√((2 - 2·threshold) / d), 0.04 at d = 384 and 0.95; `math.inf`: always
            its `nprobe` nearest).
        cells: Clustered: number of k-means cells (None: 2·√N of the unique rows).
        k: HNSW neighbours asked per row first; doubled while all are above the threshold.
        connectivity: HNSW links per node (M).
        expansion_add: HNSW efConstruction.
        expansion_search: HNSW efSearch.
        quantization: HNSW vector storage; every candidate is re-scored in f32.
    """

    method: Method = "clustered"
    nprobe: int = 32
    probe_margin: float | None = None
    cells: int | None = None
    k: int = 32
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 128
    quantization: Quantization = "f16"


def similarity_graph(
    embeddings: npt.ArrayLike,
    options: GraphOptions | None = None,
    *,
    threshold: float = 0.95,
    num_threads: int | None = None,
    **settings: Any,  # noqa: ANN401 - GraphOptions fields
) -> SimilarityGraph:
    """Every pair of rows with exact cosine >= `threshold`.

    Args:
        embeddings: `(N, d)` float32 or float16 rows (normalized in Rust; borrowed, not copied,
            when already C-contiguous float32/float16).
        options: How the pairs are found (see `GraphOptions`); the defaults when omitted.
        threshold: Minimum cosine of an edge.
        num_threads: Worker threads (None: all cores); the clustered and exact graphs are the
            same for any count.
        **settings: `GraphOptions` fields that override `options` (`method="exact"`).

    Raises:
        InvalidRowError: A row is all zeros or not finite (named).
        ValueError: Bad options or shape.
        TypeError: A keyword that is not a `GraphOptions` field.

    Example:
        >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.05]], dtype=np.float32)
        >>> graph = similarity_graph(vectors, threshold=0.95, method="exact")
        >>> graph.left.tolist(), graph.right.tolist()
        ([0], [2])
    """
    left, right, similarity = _core.similarity_graph(
        _as_embeddings(embeddings),
        with_overrides(GraphOptions, options, settings),
        threshold=threshold,
        num_threads=num_threads,
    )
    return SimilarityGraph(left, right, similarity)


@dataclass(frozen=True)
class CellPlan:
    """The clustered graph cut in two, so that its cells can be swept elsewhere (Ray tasks).

    `plan_cells` finds the bit-identical copies and the k-means cells; `cell_pairs` on any
    groups of the cells (`groups`), merged with `copies` (`SimilarityGraph.merged`), gives
    `similarity_graph(method="clustered")`'s graph edge for edge.

    Attributes:
        copies: One edge (first copy, later copy, 1.0) per bit-identical row.
        primary_offsets: Cell `c` owns `primary_rows[primary_offsets[c]:primary_offsets[c + 1]]`
            (the rows whose nearest centroid it is).
        primary_rows: Row ids by cell.
        probe_offsets: Likewise for `probe_rows`, the rows that also compare with cell `c`.
        probe_rows: Row ids by probed cell.
    """

    copies: SimilarityGraph
    primary_offsets: npt.NDArray[np.int64]
    primary_rows: npt.NDArray[np.int64]
    probe_offsets: npt.NDArray[np.int64]
    probe_rows: npt.NDArray[np.int64]

    @property
    def cells(self) -> int:
        """Number of cells."""
        return len(self.primary_offsets) - 1

    def costs(self) -> npt.NDArray[np.int64]:
        """Per cell, the products its sweep computes: own rows * (own + probing rows)."""
        own: npt.NDArray[np.int64] = np.diff(self.primary_offsets)
        probing: npt.NDArray[np.int64] = np.diff(self.probe_offsets)
        return own * (own + probing)

    def subset(self, cells: npt.NDArray[np.int64]) -> CellPlan:
        """Just these cells (renumbered from 0) and no copies: one task's share."""
        primary_offsets, primary_rows = _take_cells(self.primary_offsets, self.primary_rows, cells)
        probe_offsets, probe_rows = _take_cells(self.probe_offsets, self.probe_rows, cells)
        empty = np.zeros(0, np.int64)
        return CellPlan(
            SimilarityGraph(empty, empty, np.zeros(0, np.float32)),
            primary_offsets,
            primary_rows,
            probe_offsets,
            probe_rows,
        )

    def groups(self, count: int) -> list[CellPlan]:
        """At most `count` non-empty subsets of about equal cost, costliest first.

        Longest-processing-time packing: cells by decreasing cost, each into the cheapest group
        so far; a group's cells keep their plan order.
        """
        costs = self.costs()
        busy = np.flatnonzero(costs > 0)
        count = max(1, min(count, len(busy)))
        loads = [(0, group) for group in range(count)]
        members: list[list[int]] = [[] for _ in range(count)]
        for cell in busy[np.argsort(-costs[busy], kind="stable")].tolist():
            load, group = heapq.heappop(loads)
            members[group].append(cell)
            heapq.heappush(loads, (load + int(costs[cell]), group))
        chosen = [np.sort(np.array(cells, np.int64)) for cells in members if cells]
        chosen.sort(key=lambda cells: -int(costs[cells].sum()))
        return [self.subset(cells) for cells in chosen]


def _take_cells(
    offsets: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], cells: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The lists of `cells` only, as new offsets and rows."""
    starts, ends = offsets[cells], offsets[cells + 1]
    lengths = ends - starts
    new_offsets = np.zeros(len(cells) + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    # Position i of the output reads rows[starts[cell of i] + (i - new_offsets[cell of i])].
    shift = np.repeat(starts - new_offsets[:-1], lengths)
    return new_offsets, rows[np.arange(new_offsets[-1], dtype=np.int64) + shift]


def plan_cells(
    embeddings: npt.ArrayLike,
    options: GraphOptions | None = None,
    *,
    threshold: float = 0.95,
    assign: AssignCells | None = None,
    num_threads: int | None = None,
    **settings: Any,  # noqa: ANN401 - GraphOptions fields
) -> CellPlan:
    """The copies and k-means cells of the clustered graph (see `CellPlan`).

    Arguments as `similarity_graph`'s (its `method` is ignored). The k-means training (on a
    sample) and the split of oversized cells run here; every assignment of all rows to the current
    centroids is made by `assign(rows, centroids, nprobe, probe_margin)` when given (e.g.
    blocks of rows as Ray tasks calling `assign_cells`), which must return what `assign_cells`
    returns for all `rows`, in order: the plan is then the same as without it.

    Example:
        >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.05], [1.0, 0.0]], np.float32)
        >>> plan = plan_cells(vectors, threshold=0.95)
        >>> plan.copies.pairs(), sorted(plan.primary_rows.tolist())
        ({(0, 3)}, [0, 1, 2])
    """
    found = _core.plan_cells(
        _as_embeddings(embeddings),
        with_overrides(GraphOptions, options, settings),
        threshold=threshold,
        assign=assign,
        num_threads=num_threads,
    )
    copies = SimilarityGraph(
        found["copy_left"],
        found["copy_right"],
        np.ones(len(found["copy_left"]), np.float32),
    )
    return CellPlan(
        copies,
        found["primary_offsets"],
        found["primary_rows"],
        found["probe_offsets"],
        found["probe_rows"],
    )


AssignCells = Callable[
    [npt.NDArray[np.int64], npt.NDArray[np.float32], int, float],
    tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
]
"""`assign(rows, centroids, nprobe, probe_margin) -> (primary, extra, counts)` (see
`assign_cells`)."""


def assign_cells(
    embeddings: npt.ArrayLike,
    rows: npt.NDArray[np.int64],
    centroids: npt.NDArray[np.float32],
    *,
    nprobe: int,
    probe_margin: float,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`rows` assigned to the `(cells, d)` unit `centroids`: `(primary, extra, counts)`.

    Per row its nearest centroid (ties: the lower) and `counts[i]` further ones (at most
    `nprobe - 1` within `probe_margin` of the nearest, best first), listed row after row in
    `extra`. One block of the work `plan_cells` hands to its `assign`.

    Raises:
        ValueError: A row outside `embeddings`, centroids of another dimension.
    """
    return _core.assign_cells(
        _as_embeddings(embeddings),
        np.ascontiguousarray(rows, np.int64),
        np.ascontiguousarray(centroids, np.float32),
        nprobe=nprobe,
        probe_margin=probe_margin,
        num_threads=num_threads,
    )


def cell_pairs(
    embeddings: npt.ArrayLike,
    plan: CellPlan,
    *,
    threshold: float = 0.95,
    num_threads: int | None = None,
) -> SimilarityGraph:
    """The pairs with exact cosine >= `threshold` found by sweeping `plan`'s cells.

    Not sorted, and a pair may appear twice: merge the parts with `SimilarityGraph.merged`.
    `plan.copies` is not included.

    Raises:
        ValueError: The plan's lists do not describe rows of `embeddings`.
    """
    left, right, similarity = _core.cell_pairs(
        _as_embeddings(embeddings),
        plan.primary_offsets,
        plan.primary_rows,
        plan.probe_offsets,
        plan.probe_rows,
        threshold=threshold,
        num_threads=num_threads,
    )
    return SimilarityGraph(left, right, similarity)


def semantic_duplicates(
    embeddings: npt.ArrayLike,
    *,
    threshold: float = 0.95,
    priority: npt.ArrayLike | None = None,
    keep: Keep = "greedy",
    texts: TextColumn | None = None,
    number_guard: bool = True,
    graph: SimilarityGraph | None = None,
    graph_options: GraphOptions | None = None,
    num_threads: int | None = None,
    **settings: Any,  # noqa: ANN401 - GraphOptions fields
) -> SemanticDuplicates:
    """Groups rows that mean the same and keeps one per group by priority.

    Args:
        embeddings: `(N, d)` float32 or float16 rows.
        threshold: Minimum cosine for two rows to be duplicates.
        priority: Per-row rank, smaller kept first (see `priority_rank`); ties by row id.
        keep: "greedy" (drop a row iff it is similar to a kept row) or "component".
        texts: The texts the rows embed; needed by `number_guard` (without them no edge is
            removed).
        number_guard: Never drop a row for one whose multiset of numbers differs (see
            `number_keys`).
        graph: A graph computed before (e.g. at a lower threshold); re-thresholded, not rebuilt.
        graph_options: How the graph finds its pairs (see `GraphOptions`).
        num_threads: Worker threads (None: all cores).
        **settings: `GraphOptions` fields that override `graph_options` (`method="exact"`).

    Example:
        >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.05]], dtype=np.float32)
        >>> result = semantic_duplicates(vectors, priority=[1, 0, 0], method="exact")
        >>> result.representative.tolist(), result.keep.tolist()
        ([2, 1, 2], [False, True, True])
    """
    matrix = _as_embeddings(embeddings)
    if graph is None:
        graph = similarity_graph(
            matrix, graph_options, threshold=threshold, num_threads=num_threads, **settings
        )
    else:
        graph = graph.above(threshold)
    edges = graph
    if number_guard and texts is not None:
        keys = number_keys(texts, num_threads=num_threads)
        if len(keys) != len(matrix):
            raise ValueError(f"{len(keys)} texts for {len(matrix)} embedding rows")
        edges = graph.where(keys[graph.left] == keys[graph.right])
    result = _core.select_representatives(
        matrix,
        edges.left,
        edges.right,
        edges.similarity,
        priority=as_priority(priority, len(matrix)),
        keep=keep,
        num_threads=num_threads,
    )
    return SemanticDuplicates(
        cluster=result["cluster"],
        representative=result["representative"],
        similarity=result["similarity"],
        graph=graph,
    )


def priority_rank(
    columns: Mapping[str, Sequence[Any]],
    expression: str,
    *,
    source_order: Sequence[str] = (),
) -> npt.NDArray[np.int64]:
    """Per-row rank (0 = kept first) from the paper's priority strategy, as an expression.

    `expression` lists keys separated by commas, most important first. Each key is a column;
    `-key` sorts it descending (True / larger first); `has:key` is whether the value is present
    and non-empty (descending); `source:key` orders the column's values by `source_order`
    (unlisted values after). Row id breaks the remaining ties.

    Raises:
        KeyError: A key names a missing column.

    Example:
        >>> columns = {"answer": ["", "42", "7"], "source": ["b", "b", "a"]}
        >>> priority_rank(columns, "has:answer,source:source", source_order=["a", "b"]).tolist()
        [2, 1, 0]
    """
    rows = len(next(iter(columns.values()))) if columns else 0
    keys: list[npt.NDArray[Any]] = []
    for raw in (part.strip() for part in expression.split(",")):
        if not raw:
            continue
        kind, _, name = raw.rpartition(":")
        descending = name.startswith("-")
        name = name.lstrip("-")
        if name not in columns:
            raise KeyError(f"priority key {raw!r}: no column {name!r} (have {sorted(columns)})")
        values = list(columns[name])
        if kind == "has":
            key = np.array([0 if value not in (None, "", [], {}) else 1 for value in values])
        elif kind == "source":
            ranking = {source: rank for rank, source in enumerate(source_order)}
            key = np.array([ranking.get(value, len(ranking)) for value in values])
        elif kind == "":
            key = np.unique(np.array(values, dtype=object).astype(str), return_inverse=True)[1]
            numeric = [_number(value) for value in values]
            if all(value is not None for value in numeric):
                key = np.array(numeric, dtype=np.float64)
            if descending:
                key = -key
        else:
            raise ValueError(f"priority key {raw!r}: unknown prefix {kind!r} (use has: or source:)")
        keys.append(key)
    order = np.lexsort([np.arange(rows), *reversed(keys)]) if keys else np.arange(rows)
    rank = np.empty(rows, dtype=np.int64)
    rank[order] = np.arange(rows)
    return rank


def _number(value: Any) -> float | None:  # noqa: ANN401 - column values are untyped
    if isinstance(value, bool | int | float):
        return float(value)
    return None


@dataclass(frozen=True)
class _SemanticStage:
    """`amfast clean`'s semantic dedup step (see `clean_stage`)."""

    threshold: float
    cache_dir: str | None
    number_guard: bool = True
    embedding_model: EmbeddingModel = field(default_factory=EmbeddingModel)
    name: str = "semantic_dedup"

    def params(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "model": self.embedding_model.model,
            "number_guard": self.number_guard,
            # Not the backend: all give the same vectors (cosine >= 0.9999 per row).
        }

    def run(self, frame: Any, context: Any) -> Any:  # noqa: ANN401 - pipeline types, lazily
        texts = frame.column("text")
        vectors = self.embed(texts.to_pylist())
        keys = number_keys(texts, num_threads=context.num_threads)
        return self.decide(vectors, frame.column("priority").to_numpy(), context.num_threads, keys)

    def embedder(self, num_threads: int | None = None) -> Embedder:
        """The model on the configured backend (load once, embed many blocks)."""
        return self.embedding_model.load(num_threads=num_threads)

    def embed(self, texts: list[str], embedder: Embedder | None = None) -> npt.NDArray[Any]:
        """The embeddings of `texts` (row by row: engines may embed blocks separately)."""
        from amfast.embed import embed_texts

        return embed_texts(texts, embedder or self.embedder(), cache_dir=self.cache_dir)

    def decide(
        self,
        vectors: npt.NDArray[Any],
        priority: npt.NDArray[np.int64],
        num_threads: int | None,
        keys: npt.NDArray[np.uint64],
        graph: SimilarityGraph | None = None,
    ) -> Any:  # noqa: ANN401 - pipeline types, lazily
        """The drops among rows with these embeddings, priorities and number keys.

        `graph`: the similarity graph at `threshold` when an engine built it (Ray: cells as
        tasks); otherwise it is built here.
        """
        from amfast.stage import Drops

        if graph is None:
            graph = similarity_graph(vectors, threshold=self.threshold, num_threads=num_threads)
        if self.number_guard:
            graph = graph.where(keys[graph.left] == keys[graph.right])
        result = semantic_duplicates(
            vectors,
            threshold=self.threshold,
            priority=priority,
            graph=graph,
            number_guard=False,  # applied above, from keys the engine computed with the rows
            num_threads=num_threads,
        )
        positions = np.flatnonzero(~result.keep).astype(np.int64)
        kept = result.representative[positions].astype(np.int64)
        scores = result.similarity[positions].astype(np.float64)
        return Drops(positions, "semantic_duplicate", kept, scores)


def clean_stage(options: dict[str, Any]) -> _SemanticStage:
    """The `semantic_dedup` step of `amfast clean`, from its `[semantic_dedup]` table.

    Keys: `threshold` (cosine, default 0.95), `model` (a sentence-transformers directory;
    default the bundled all-MiniLM-L6-v2), `embedding_backend` (auto, openvino,
    onnx or sentence-transformers), `cache_dir` (embedding cache), `number_guard`
    (default true: never drop a row for one whose numbers differ). Among duplicates the row
    kept is the one with the best `priority` of the clean config.

    Raises:
        InputError: an unknown key, a threshold outside (0, 1] or a non-boolean number_guard.
    """
    settings = dict(options)
    known = {"threshold", "model", "embedding_backend", "cache_dir", "number_guard"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"[semantic_dedup] unknown keys {unknown}")
    threshold = float(settings.get("threshold", 0.95))
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"[semantic_dedup] threshold must be in (0, 1], got {threshold}")
    number_guard = settings.get("number_guard", True)
    if not isinstance(number_guard, bool):
        raise InputError(
            f"[semantic_dedup] number_guard must be true or false, got {number_guard!r}"
        )
    try:
        embedding_model = EmbeddingModel(
            settings.get("model"), settings.get("embedding_backend", "auto")
        )
    except ValueError as error:
        raise InputError(f"[semantic_dedup] {error}") from error
    return _SemanticStage(
        threshold, settings.get("cache_dir"), number_guard, embedding_model=embedding_model
    )
