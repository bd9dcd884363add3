"""`amfast clean --engine ray`: the stages of `amfast clean` on Ray Data, on a cluster.

For a corpus larger than one machine. Kept rows, ledger, funnel counts and markers are the
local engine's.

What runs where:

- Ray Data, block by block (`map_batches`, one block per ingest shard): reading the shard and
  dropping the rows earlier stages dropped, the priority keys, normalization, exact hashes,
  MinHash signatures and LSH band contents, quality metrics and filter decisions, frequent
  n-gram counts, decontamination queries and embeddings. Consecutive row-local stages
  (`normalize`, `decontam`, the filters but `frequent_ngrams`) run in one pass, sharing
  their quality metrics as they do locally; the decontamination benchmarks are read once on
  the driver and shared through the object store (each block builds its n-gram index from
  them, which takes milliseconds for eval-sized sets).
- Ray Data shuffles (`groupby(...).map_groups`, sort-based): exact-duplicate groups by the
  128-bit hash, each keeping its best priority; LSH buckets by `(band, band content)`; n-gram
  row counts by hash (`frequent_ngrams`); and the verification of near-duplicate candidates,
  one group per connected component of the candidate graph: the component runs the local
  engine's Rust `NearIndex` (band keys, candidate pairs, exact Jaccard of the same shingle
  sets, number guard, the same keep policy over the verified pairs, priority by the keys).
- The driver: parsing the input into ingest shards (`amfast.clean.ingest`, the same code and
  files as the local engine), the stage markers, the output shards and the ledger
  (`write_outputs`, `write_reports`, unchanged); the connected components of the LSH candidate
  graph (the Rust union-find over one edge per bucket member: edges are few, one per row and
  band at most); and for `semantic_dedup`, the k-means training of the cells (on a sample)
  and the split of oversized cells.
- Ray tasks, for `semantic_dedup`, the embeddings shared once through the object store: the
  assignment of rows to cells (`assign_cells`, `CELL_TASKS_PER_WORKER` blocks of rows per
  task slot) and the cell sweeps (`cell_pairs`, the cells packed into as many groups of about
  equal cost); the driver merges their edges with the bit-identical copies.

Why the results are identical: every bucket with two rows or more lies inside one candidate
component, so the `NearIndex` of a component sees the same buckets, candidate pairs (including
the linear star + chain of buckets over 64 rows), verified pairs and clusters as the one over
the whole corpus; priorities are compared by the keys of `amfast.stage.priority_keys`, which
order rows as the local ranks do. The greedy keep policy decides a row from its verified
neighbours only, all inside its component, visited in the same relative order: the same
representatives as one pass over the corpus. Bucketing by the band's content instead of its
64-bit hash can only differ when two different band contents share a hash and the pair then
verifies.
Semantic dedup embeds block by block; a model may round the last bits differently than in one
pass over the corpus, which can move rows whose cosine sits at the threshold. Given the same
embeddings, the graph is the local one edge for edge: the cells are the same (deterministic
k-means), every cell is swept by exactly one task, and a pair found from both of its rows' cells
has the same exact cosine both times.

Resume: markers are the local engine's (same files, same fingerprints), so either engine
resumes the other's run. Consecutive row-local stages are computed together, so an interrupted
run redoes the whole group. In the funnel, `seconds` of a fused stage is worker time summed over
blocks rather than wall time.

Limits: `work_dir` and the output must be on storage every node reads (NFS, a shared volume);
on a cluster every node needs amfast installed. Ingest, output writing and the ledger run on
the driver, and the ledger reads every row's record (as the local engine does). A candidate
component is verified by one worker. Semantic dedup embeds in a pool of Ray Data actors, each
loading the model once (one per GPU, else one per `num_threads` CPUs; give it a `cache_dir` to
reuse embeddings across runs). Each task runs the Rust core on
`num_threads` threads (default 1: Ray schedules one task per CPU).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from amfast import _core
from amfast.clean.config import CleanConfig
from amfast.clean.engines import StageResult
from amfast.clean.ingest import read_errors, read_shard
from amfast.decontam import BENCHMARKS_CACHE_KEY
from amfast.dedup.exact import content_hashes
from amfast.dedup.near import NearDuplicateIndex, number_keys
from amfast.dedup.semantic import (
    AssignCells,
    CellPlan,
    SimilarityGraph,
    assign_cells,
    cell_pairs,
    plan_cells,
)
from amfast.dedup.stages import ExactDedupStage, NearDedupStage, NormalizeStage
from amfast.errors import InputError
from amfast.filters import FilterStage, _drops
from amfast.normalize import normalize
from amfast.stage import (
    DECISIONS_SCHEMA,
    FRAME_SCHEMA,
    Drops,
    Stage,
    StageContext,
    fingerprint,
    priority_keys,
    read_marker,
    survivors,
    write_marker,
)

FRAME_COLUMNS = [field.name for field in FRAME_SCHEMA if field.name != "priority"]
KEY = "_priority_key_"
"""Prefix of the priority key columns of a block (`_priority_key_0` is the least significant)."""
TIMING_ROW = -1
"""`row` of the one line per stage and block that carries the stage's seconds (as `score`)."""
CELL_TASKS_PER_WORKER = 4
"""Semantic cell groups per task slot: smaller tasks even out cells of uneven cost."""


def require_ray() -> ModuleType:
    """The `ray` module, with Ray Data.

    Raises:
        InputError: Ray is not installed (the message names the pip extra).
    """
    try:
        import ray
        import ray.data  # the engine needs Ray Data, not only Ray core
    except ImportError as error:
        raise InputError(
            "engine 'ray' needs Ray Data, which is not installed: pip install 'amfast[ray]' "
            "(or use --engine local)"
        ) from error
    return ray


@dataclass(frozen=True)
class _Job:
    """The settings every block function needs (pickled into each Ray task)."""

    priority: tuple[str, ...]
    source_rank: tuple[str, ...]
    num_threads: int | None
    batch_rows: int


def ray_stages(
    stages: list[Stage], shards: list[Path], config: CleanConfig, upstream: str
) -> tuple[pa.Table, Iterator[StageResult]]:
    """`(read errors as decisions, stage results)`, the stages run on Ray Data.

    The iterator yields what the local engine yields; it starts Ray (or connects to
    `config.ray_address`) on the first item and shuts down a Ray it started after the last.

    Raises:
        InputError: Ray is not installed, or a stage has no Ray implementation.
    """
    require_ray()
    for stage in stages:
        _kind(stage)
    errors = [read_shard(path, ["row", "error"]) for path in shards]
    read_decisions = read_errors(
        pa.concat_tables(errors) if errors else pa.table({"row": [], "error": []})
    ).cast(DECISIONS_SCHEMA)
    return read_decisions, _run(stages, shards, config, upstream)


def _kind(stage: Stage) -> str:
    """How a stage runs on Ray: `row` (per block), `exact`, `near`, `frequent`, `semantic`."""
    if isinstance(stage, ExactDedupStage):
        return "exact"
    if isinstance(stage, NearDedupStage):
        return "near"
    if isinstance(stage, FilterStage):
        return "frequent" if stage.name == "frequent_ngrams" else "row"
    if isinstance(stage, NormalizeStage) or stage.name == "decontam":
        return "row"
    if stage.name == "semantic_dedup":
        return "semantic"
    raise InputError(f"stage {stage.name!r} has no Ray implementation; use --engine local")


def _run(
    stages: list[Stage], shards: list[Path], config: CleanConfig, upstream: str
) -> Iterator[StageResult]:
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=config.ray_address, include_dashboard=False)
    with warnings.catch_warnings():
        # Ray's first DataContext warns about its own deprecated defaults (Ray 2.60).
        warnings.simplefilter("ignore", DeprecationWarning)
        data_context = ray.data.DataContext.get_current()
    saved = (data_context.shuffle_strategy, data_context.enable_progress_bars)
    # Hash shuffles start aggregator actors for every groupby (seconds each); sorting does not.
    data_context.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    data_context.enable_progress_bars = config.progress
    try:
        yield from _Runner(ray, shards, config).run(stages, upstream)
    finally:
        data_context.shuffle_strategy, data_context.enable_progress_bars = saved
        if started:
            ray.shutdown()


class _Runner:
    """Runs stage after stage; holds the rows dropped so far (sorted) on the driver."""

    def __init__(self, ray: ModuleType, shards: list[Path], config: CleanConfig) -> None:
        self.ray, self.shards, self.config = ray, shards, config
        self.job = _Job(
            priority=tuple(config.priority),
            source_rank=tuple(config.source_rank),
            num_threads=config.num_threads or 1,
            batch_rows=config.batch_rows,
        )
        self.dropped = np.zeros(0, np.int64)
        self.folder = config.work_path / "stages"

    def run(self, stages: list[Stage], upstream: str) -> Iterator[StageResult]:
        """Reuses the stages with a valid marker, computes the others (see the module docs)."""
        keys = []
        for stage in stages:
            upstream = fingerprint(upstream, stage.name, stage.params())
            keys.append(upstream)
        markers = [self.folder / f"{i:02d}-{stage.name}.parquet" for i, stage in enumerate(stages)]
        index = 0
        while index < len(stages):
            stored = read_marker(markers[index], keys[index])
            if stored is not None:
                yield self._done(stages[index], stored, 0.0, True, keys[index])
                index += 1
                continue
            end = index + 1
            if _kind(stages[index]) == "row":
                while end < len(stages) and _kind(stages[end]) == "row":
                    end += 1
            group = stages[index:end]
            for offset, (decisions, seconds) in enumerate(self._compute(group)):
                write_marker(markers[index + offset], keys[index + offset], decisions)
                yield self._done(group[offset], decisions, seconds, False, keys[index + offset])
            index = end

    def _done(
        self, stage: Stage, decisions: pa.Table, seconds: float, reused: bool, key: str
    ) -> StageResult:
        self.dropped = np.union1d(self.dropped, decisions.column("row").to_numpy())
        return stage, decisions, seconds, reused, key

    def _compute(self, group: list[Stage]) -> list[tuple[pa.Table, float]]:
        started = time.perf_counter()
        kind = _kind(group[0])
        if kind == "row":
            return self._row_local(group)
        stage = group[0]
        if kind == "exact":
            decisions = self._exact(stage)
        elif kind == "near":
            decisions = self._near(stage)
        elif kind == "frequent":
            decisions = self._frequent(stage)
        else:
            decisions = self._semantic(stage)
        return [(decisions, time.perf_counter() - started)]

    # --- plumbing -----------------------------------------------------------------------

    def _frame(self) -> Any:  # noqa: ANN401 - ray.data.Dataset
        """The surviving rows, one block per ingest shard, with their priority keys."""
        dropped = [self.ray.put(self.dropped)]
        items = [{"shard": str(path)} for path in self.shards]
        dataset = self.ray.data.from_items(items, override_num_blocks=max(len(items), 1))
        return dataset.map_batches(
            _read_block,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"job": self.job, "dropped": dropped},
        )

    def _map(self, function: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - a ray Dataset
        return self._frame().map_batches(
            function, batch_size=None, batch_format="pyarrow", fn_kwargs=kwargs
        )

    def _collect(self, dataset: Any, schema: pa.Schema) -> pa.Table:  # noqa: ANN401
        """The dataset's non-empty blocks as one table of `schema`."""
        if not self.shards:
            return schema.empty_table()
        tables = [t for t in self.ray.get(dataset.to_arrow_refs()) if t.num_rows]
        return (
            pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
        )

    def _groups(self, dataset: Any, keys: list[str], function: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        partitions = max(len(self.shards), 1)
        return dataset.groupby(keys, num_partitions=partitions).map_groups(
            function, batch_format="pyarrow", fn_kwargs=kwargs
        )

    # --- stages -------------------------------------------------------------------------

    def _row_local(self, group: list[Stage]) -> list[tuple[pa.Table, float]]:
        shared = {}
        for stage in group:
            if stage.name == "decontam":
                shared[BENCHMARKS_CACHE_KEY] = stage.benchmarks()  # type: ignore[attr-defined]
        found = self._collect(
            self._map(_row_local_block, stages=group, job=self.job, shared=[self.ray.put(shared)]),
            _TAGGED_SCHEMA,
        )
        results = []
        for index in range(len(group)):
            mine = found.filter(pc.equal(found.column("stage"), index))
            timing = pc.equal(mine.column("row"), TIMING_ROW)
            seconds = float(pc.sum(mine.filter(timing).column("score")).as_py() or 0.0)
            decisions = mine.filter(pc.invert(timing)).select(DECISIONS_SCHEMA.names)
            results.append((decisions.sort_by("row").cast(DECISIONS_SCHEMA), seconds))
        return results

    def _exact(self, stage: Stage) -> pa.Table:
        hashed = self._map(_hash_block, stage=stage, job=self.job)
        found = self._collect(
            self._groups(hashed, ["hash_high", "hash_low"], _exact_group), _PAIR_SCHEMA
        )
        return _decisions(found, "exact_duplicate")

    def _near(self, stage: Stage) -> pa.Table:
        bands = self._map(_band_block, stage=stage, job=self.job)
        edges = self._collect(self._groups(bands, ["band", "content"], _bucket_edges), _EDGE_SCHEMA)
        members = candidate_components(
            edges.column("left").to_numpy(), edges.column("right").to_numpy()
        )
        candidates = self._map(_component_block, members=[self.ray.put(members)])
        found = self._collect(
            self._groups(candidates, ["component"], _verify_component, stage=stage, job=self.job),
            _PAIR_SCHEMA,
        )
        return _decisions(found, "near_duplicate")

    def _frequent(self, stage: Stage) -> pa.Table:
        options = stage.options  # type: ignore[attr-defined]
        counts = self._map(_ngram_block, ngram=options.frequent_ngram, job=self.job)
        totals = counts.groupby("hash", num_partitions=max(len(self.shards), 1)).sum("rows")
        frequent = totals.map_batches(
            _above, batch_format="pyarrow", fn_kwargs={"min_count": options.frequent_min_count}
        )
        hashes = self._collect(frequent, pa.schema([pa.field("hash", pa.int64())]))
        hashes_u64 = np.unique(hashes.column("hash").to_numpy().view(np.uint64))
        found = self._collect(
            self._map(
                _frequent_block,
                stage=stage,
                frequent=[self.ray.put(hashes_u64)],
                job=self.job,
            ),
            DECISIONS_SCHEMA,
        )
        return found.sort_by("row")

    def _semantic(self, stage: Stage) -> pa.Table:
        # Actors, not tasks: each loads the model once and embeds block after block. One actor
        # per GPU when the cluster has GPUs, else one per `num_threads` CPUs.
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        threads = self.job.num_threads or 1
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        actors = gpus or max(1, cpus // threads)
        embedded = self._frame().map_batches(
            _BlockEmbedder,
            fn_constructor_kwargs={"stage": stage, "num_threads": threads},
            batch_size=None,
            batch_format="pyarrow",
            concurrency=(1, min(actors, max(len(self.shards), 1))),
            num_cpus=1 if gpus else threads,
            num_gpus=1 if gpus else 0,
        )
        blocks = embedded.to_arrow_refs() if self.shards else []
        tables = [t for t in self.ray.get(blocks) if t.num_rows]
        if not tables:
            return DECISIONS_SCHEMA.empty_table()
        found = pa.concat_tables(tables).sort_by("row")
        column = found.column("embedding").combine_chunks()
        vectors = column.values.to_numpy(zero_copy_only=False).reshape(len(column), -1)
        vectors = np.ascontiguousarray(vectors)
        drops = stage.decide(  # type: ignore[attr-defined]
            vectors,
            _ranks(found),
            self.config.num_threads,
            found.column("number_key").to_numpy(),
            graph=self.similarity_graph(vectors, stage.threshold),  # type: ignore[attr-defined]
        )
        return drops.decisions(found.column("row").to_numpy())

    def similarity_graph(self, vectors: npt.NDArray[Any], threshold: float) -> SimilarityGraph:
        """The clustered similarity graph, its cells swept as Ray tasks (see the module docs)."""
        with self.config.progress_bar("semantic cells", unit=" tasks") as progress:
            return similarity_graph_on_ray(
                self.ray,
                vectors,
                threshold=threshold,
                task_threads=self.job.num_threads or 1,
                plan_threads=self.config.num_threads,
                progress=progress,
            )


def similarity_graph_on_ray(
    ray: ModuleType,
    vectors: npt.NDArray[Any],
    *,
    threshold: float,
    task_threads: int = 1,
    plan_threads: int | None = None,
    progress: Any = None,  # noqa: ANN401 - a tqdm bar
    **plan_options: Any,  # noqa: ANN401 - nprobe, probe_margin, cells of plan_cells
) -> SimilarityGraph:
    """`similarity_graph(vectors, threshold=threshold)` with its work as Ray tasks.

    The embeddings go to the object store once (one copy per node, read in place by every
    task). `plan_cells` trains the k-means cells here (on a sample, `plan_threads` threads) and
    has every assignment of the rows to the centroids made by Ray tasks, `CELL_TASKS_PER_WORKER`
    blocks of rows per task slot of the cluster; then the cells are packed into as many groups
    of about equal cost, each swept by a task of `task_threads` threads, and the edges are
    merged with the bit-identical copies. Same edges, same cosines as the local graph.
    `progress` (a tqdm bar) counts finished sweep tasks.
    """
    shared = ray.put(vectors)
    slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // task_threads)
    tasks = CELL_TASKS_PER_WORKER * slots
    assign = _assign_on_ray(ray, shared, tasks, task_threads)
    plan = plan_cells(
        vectors, threshold=threshold, assign=assign, num_threads=plan_threads, **plan_options
    )
    groups = plan.groups(tasks)
    sweep = ray.remote(num_cpus=task_threads)(_sweep_cells)
    pending = [sweep.remote(shared, group, threshold, task_threads) for group in groups]
    if progress is not None:
        progress.reset(total=len(pending))
    parts = [plan.copies]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        parts.extend(ray.get(done))
        if progress is not None:
            progress.update(len(done))
    return SimilarityGraph.merged(parts)


_PAIR_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("kept_row", pa.int64()),
        pa.field("score", pa.float64()),
    ]
)
_EDGE_SCHEMA = pa.schema([pa.field("left", pa.int64()), pa.field("right", pa.int64())])
_TAGGED_SCHEMA = pa.schema([*DECISIONS_SCHEMA, pa.field("stage", pa.int32())])


def _decisions(pairs: pa.Table, reason: str) -> pa.Table:
    """Duplicates `(row, kept_row, score)` as a decisions table sorted by row."""
    return pa.table(
        {
            "row": pairs.column("row"),
            "reason": pa.array([reason] * pairs.num_rows, pa.string()),
            "kept_row": pairs.column("kept_row"),
            "score": pairs.column("score"),
            "detail": pa.nulls(pairs.num_rows, pa.string()),
        },
        schema=DECISIONS_SCHEMA,
    ).sort_by("row")


def candidate_components(
    left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Connected components of an edge list: `(rows, component)`, named by their lowest row.

    `rows` are sorted. The Rust union-find on the driver (the edges are few; see the module
    docs).

    Example:
        >>> rows, component = candidate_components(np.array([5, 1, 7]), np.array([9, 5, 8]))
        >>> rows.tolist(), component.tolist()
        ([1, 5, 7, 8, 9], [1, 1, 7, 7, 1])
    """
    return _core.connected_components(
        np.ascontiguousarray(left, np.int64), np.ascontiguousarray(right, np.int64)
    )


# --- block functions (run in Ray tasks) ---------------------------------------------------


def _read_block(batch: pa.Table, job: _Job, dropped: list[Any]) -> pa.Table:
    """The readable, not yet dropped rows of the batch's shards, with their priority keys."""
    import ray

    gone = ray.get(dropped[0])
    paths = batch.column("shard").to_pylist()
    table = pa.concat_tables([read_shard(Path(path), [*FRAME_COLUMNS, "error"]) for path in paths])
    table = table.filter(pc.is_null(table.column("error"))).select(FRAME_COLUMNS)
    table = table.filter(pa.array(~_member(table.column("row").to_numpy(), gone)))
    for index, key in enumerate(priority_keys(table, list(job.priority), list(job.source_rank))):
        table = table.append_column(f"{KEY}{index}", pa.array(np.asarray(key, np.int64)))
    return table


def _member(values: npt.NDArray[np.int64], members: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """Which `values` are in the sorted array `members`."""
    if len(members) == 0:
        return np.zeros(len(values), bool)
    positions = np.minimum(np.searchsorted(members, values), len(members) - 1)
    return np.asarray(members[positions] == values)


def _key_columns(table: pa.Table) -> list[str]:
    return [name for name in table.column_names if name.startswith(KEY)]


def _ranks(table: pa.Table) -> npt.NDArray[np.int64]:
    """Ranks by the priority keys (0 is kept first), ordered as the local engine's ranks."""
    order = np.lexsort([table.column(name).to_numpy() for name in _key_columns(table)])
    ranks = np.empty(table.num_rows, np.int64)
    ranks[order] = np.arange(table.num_rows)
    return ranks


def _stage_frame(block: pa.Table) -> pa.Table:
    """A block as a stage frame; its `priority` orders the block's rows as the global one."""
    frame = block.select(FRAME_COLUMNS)
    priority = pa.array(_ranks(block), pa.int64())
    return frame.add_column(FRAME_SCHEMA.get_field_index("priority"), "priority", priority).cast(
        FRAME_SCHEMA
    )


def _row_local_block(
    block: pa.Table, stages: list[Stage], job: _Job, shared: list[Any]
) -> pa.Table:
    """Consecutive row-local stages over one block, each on the survivors of the last."""
    import ray

    context = StageContext(num_threads=job.num_threads, batch_rows=job.batch_rows)
    context.cache.update(ray.get(shared[0]))
    frame = _stage_frame(block)
    parts = []
    for index, stage in enumerate(stages):
        started = time.perf_counter()
        drops = stage.run(frame, context) if frame.num_rows else Drops.none()
        decisions = drops.decisions(frame.column("row").to_numpy())
        frame = survivors(frame, decisions)
        timing = pa.table(
            {
                "row": [TIMING_ROW],
                "reason": pa.array([None], pa.string()),
                "kept_row": [-1],
                "score": [time.perf_counter() - started],
                "detail": pa.array([None], pa.string()),
            },
            schema=DECISIONS_SCHEMA,
        )
        tagged = pa.concat_tables([decisions, timing])
        parts.append(tagged.append_column("stage", pa.array([index] * tagged.num_rows, pa.int32())))
    return pa.concat_tables(parts)


def _hash_block(block: pa.Table, stage: ExactDedupStage, job: _Job) -> pa.Table:
    hashes = content_hashes(
        block.column("text"), normalize=stage.options, num_threads=job.num_threads
    )
    return pa.table(
        {
            "row": block.column("row"),
            "hash_high": hashes[:, 0] if len(hashes) else np.zeros(0, np.uint64),
            "hash_low": hashes[:, 1] if len(hashes) else np.zeros(0, np.uint64),
            **{name: block.column(name) for name in _key_columns(block)},
        }
    )


def _exact_group(group: pa.Table) -> pa.Table:
    """One hash's rows: all but the best priority are dropped for it."""
    rows = group.column("row").to_numpy()[np.argsort(_ranks(group))]
    return pa.table(
        {
            "row": rows[1:],
            "kept_row": np.full(len(rows) - 1, rows[0], np.int64),
            "score": np.full(len(rows) - 1, np.nan),
        },
        schema=_PAIR_SCHEMA,
    )


def _near_index(stage: NearDedupStage, job: _Job) -> NearDuplicateIndex:
    return NearDuplicateIndex(stage.minhash, normalize=stage.options, num_threads=job.num_threads)


def _band_block(block: pa.Table, stage: NearDedupStage, job: _Job) -> pa.Table:
    """One line per row with words and band: `(row, band, content)`, content the band's slots."""
    texts = block.column("text")
    index = _near_index(stage, job)
    words = pc.greater(pc.binary_length(normalize(texts, stage.options)), 0)
    rows = block.column("row").filter(words).to_numpy()
    signatures = index.signatures(texts)[words.to_numpy(zero_copy_only=False)]
    width = index.rows
    parts = []
    for band in range(index.bands):
        content = np.ascontiguousarray(signatures[:, band * width : (band + 1) * width])
        parts.append(
            pa.table(
                {
                    "row": rows,
                    "band": np.full(len(rows), band, np.int32),
                    "content": pa.FixedSizeBinaryArray.from_buffers(
                        pa.binary(4 * width), len(rows), [None, pa.py_buffer(content)]
                    ),
                }
            )
        )
    return pa.concat_tables(parts)


def _bucket_edges(group: pa.Table) -> pa.Table:
    """A bucket's rows as a chain of edges (enough to connect it)."""
    rows = np.sort(group.column("row").to_numpy())
    return pa.table({"left": rows[:-1], "right": rows[1:]}, schema=_EDGE_SCHEMA)


def _component_block(block: pa.Table, members: list[Any]) -> pa.Table:
    """The block's rows in a candidate component, with the component's name."""
    import ray

    rows, component = ray.get(members[0])
    positions = block.column("row").to_numpy()
    inside = _member(positions, rows)
    names = component[np.searchsorted(rows, positions[inside])]
    table = block.filter(pa.array(inside)).select(["row", "text", *_key_columns(block)])
    return table.append_column("component", pa.array(names, pa.int64()))


def _verify_component(group: pa.Table, stage: NearDedupStage, job: _Job) -> pa.Table:
    """The local engine's near dedup over one candidate component."""
    group = group.sort_by("row")
    texts = group.column("text")
    index = _near_index(stage, job)
    index.add(texts)
    index.verify(texts)
    result = index.finish(_ranks(group))
    rows = group.column("row").to_numpy()
    positions = np.flatnonzero(~result.keep)
    return pa.table(
        {
            "row": rows[positions],
            "kept_row": rows[result.representative[positions]],
            "score": result.similarity[positions].astype(np.float64),
        },
        schema=_PAIR_SCHEMA,
    )


def _ngram_block(block: pa.Table, ngram: int, job: _Job) -> pa.Table:
    """Per distinct n-gram of the block, in how many of its rows it occurs."""
    _, hashes = _core.row_ngram_hashes(block.column("text"), ngram, num_threads=job.num_threads)
    unique, counts = np.unique(hashes, return_counts=True)
    # As int64: Ray's aggregations go through types that cannot hold every uint64.
    return pa.table({"hash": unique.view(np.int64), "rows": counts.astype(np.int64)})


def _above(totals: pa.Table, min_count: int) -> pa.Table:
    return totals.filter(pc.greater(totals.column("sum(rows)"), min_count)).select(["hash"])


def _frequent_block(
    block: pa.Table, stage: FilterStage, frequent: list[Any], job: _Job
) -> pa.Table:
    import ray

    hashes = ray.get(frequent[0])
    counts = _core.count_frequent_ngrams(
        block.column("text"), stage.options.frequent_ngram, hashes, num_threads=job.num_threads
    )
    drops = _drops(counts > 0, "frequent_ngram", counts)
    return drops.decisions(block.column("row").to_numpy())


def _assign_on_ray(ray: ModuleType, shared: Any, tasks: int, task_threads: int) -> AssignCells:  # noqa: ANN401
    """`plan_cells`'s `assign`: the rows in `tasks` blocks, each assigned by a Ray task."""
    remote = ray.remote(num_cpus=task_threads)(_assign_block)

    def assign(
        rows: npt.NDArray[np.int64],
        centroids: npt.NDArray[np.float32],
        nprobe: int,
        probe_margin: float,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        shared_centroids = ray.put(centroids)
        blocks = [block for block in np.array_split(rows, tasks) if len(block)]
        pending = [
            remote.remote(shared, block, shared_centroids, nprobe, probe_margin, task_threads)
            for block in blocks
        ]
        parts = ray.get(pending)  # in block order
        primary, extra, counts = (np.concatenate([part[i] for part in parts]) for i in range(3))
        return primary, extra, counts

    return assign


def _assign_block(
    vectors: npt.NDArray[Any],
    rows: npt.NDArray[np.int64],
    centroids: npt.NDArray[np.float32],
    nprobe: int,
    probe_margin: float,
    num_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One Ray task of the semantic cells' assignment: a block of rows to their cells."""
    return assign_cells(
        vectors, rows, centroids, nprobe=nprobe, probe_margin=probe_margin, num_threads=num_threads
    )


def _sweep_cells(
    vectors: npt.NDArray[Any], cells: CellPlan, threshold: float, num_threads: int
) -> SimilarityGraph:
    """One Ray task of the semantic graph: the pairs within and around a group of cells."""
    return cell_pairs(vectors, cells, threshold=threshold, num_threads=num_threads)


class _BlockEmbedder:
    """A Ray Data actor: loads the semantic stage's model once, embeds the blocks it is given."""

    def __init__(self, stage: Any, num_threads: int) -> None:  # noqa: ANN401 - the stage
        self.stage = stage
        self.embedder = stage.embedder(num_threads=num_threads)

    def __call__(self, block: pa.Table) -> pa.Table:
        return _embed_block(block, self.stage, self.embedder)


def _embed_block(block: pa.Table, stage: Any, embedder: Any) -> pa.Table:  # noqa: ANN401
    """The block's embeddings (in the model's dtype) with rows, number and priority keys."""
    if block.num_rows == 0:
        return pa.table({"row": pa.array([], pa.int64())})
    texts = block.column("text")
    vectors = np.asarray(stage.embed(texts.to_pylist(), embedder))
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    keys = {name: block.column(name) for name in _key_columns(block)}
    numbers = number_keys(texts, num_threads=1)
    return pa.table(
        {"row": block.column("row"), "embedding": embedding, "number_key": numbers, **keys}
    )
