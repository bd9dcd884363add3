"""Dedup of a JSONL/Parquet file into kept and dropped files (what `amfast dedup` runs)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from amfast.config import options_from, require
from amfast.dedup.exact import exact_duplicates
from amfast.dedup.near import (
    Keep,
    MinHashOptions,
    NearDuplicateIndex,
    NearDuplicates,
    with_settings,
)
from amfast.dedup.semantic import (
    GraphOptions,
    Quantization,
    SemanticDuplicates,
    priority_rank,
    semantic_duplicates,
)
from amfast.dedup.semantic import Method as GraphMethod
from amfast.embed import Embedder, EmbeddingModel, PrecomputedEmbeddings, embed_texts
from amfast.errors import InputError, InvalidRowError
from amfast.io import (
    DEFAULT_BATCH_SIZE,
    DroppedInfo,
    file_format,
    iter_text_batches,
    read_fields,
    write_split,
)
from amfast.normalize import NormalizeOptions
from amfast.outputs import Output, check_outputs

Method = Literal["exact", "minhash", "semantic"]


@dataclass(frozen=True)
class SemanticOptions:
    """Options of `method="semantic"`; the same names are `amfast dedup` flags.

    Attributes:
        embedding_model: `model` (sentence-transformers directory; None: all-MiniLM-L6-v2,
            offline) and `embedding_backend` (see `amfast.embed.resolve_backend`).
        embeddings: Precomputed vectors (`.npy`, or Parquet/Arrow with `embeddings_column`),
            one row per input row; replaces `model`.
        embeddings_column: Vector column of a Parquet/Arrow `embeddings` file.
        cache_dir: Embedding cache directory (keyed by model and text hash).
        threshold: Minimum cosine for two rows to be duplicates.
        graph_method: "clustered" (k-means cells + exact products, default), "hnsw" (usearch)
            or "exact".
        nprobe: Clustered: most cells each row is compared with (nearest first).
        probe_margin: Clustered: further cells probed only within this centroid cosine of the
            nearest (None: 2.5·√((2 - 2·threshold) / d); inf: always `nprobe`).
        cells: Clustered: k-means cells (None: 2·√N).
        k: HNSW neighbours asked per row first.
        quantization: HNSW storage (f32, f16, bf16, i8); edges are re-scored in f32.
        keep: "greedy" or "component" (see `amfast.dedup.semantic`).
        priority: Priority expression over fields (see `priority_rank`); None: row id.
        source_order: Values of a `source:` priority key, best first.
        device: Embedding device (None: cuda when available).
        embed_batch_size: Texts per model forward pass.
    """

    embedding_model: EmbeddingModel = field(default_factory=EmbeddingModel)
    embeddings: str | None = field(
        default=None, metadata={"help": "precomputed vectors (.npy / Parquet / Arrow)"}
    )
    embeddings_column: str | None = field(
        default=None, metadata={"help": "vector column of a Parquet/Arrow --embeddings file"}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "embedding cache directory"})
    threshold: float = field(default=0.95, metadata={"help": "cosine cut"})
    graph_method: GraphMethod = field(
        default="clustered",
        metadata={
            "help": "clustered: k-means cells + exact products; hnsw: usearch; exact: all pairs"
        },
    )
    nprobe: int = field(default=32, metadata={"help": "clustered: most cells compared per row"})
    probe_margin: float | None = field(
        default=None,
        metadata={
            "help": "clustered: probe cells within this centroid cosine of the nearest "
            "(default: 2.5*sqrt((2-2*threshold)/dim); inf: always nprobe)"
        },
    )
    cells: int | None = field(
        default=None, metadata={"help": "clustered: k-means cells (default: 2·sqrt(rows))"}
    )
    k: int = field(default=32, metadata={"help": "hnsw: neighbours asked per row first"})
    quantization: Quantization = field(default="f16", metadata={"help": "HNSW vector storage"})
    keep: Keep = field(default="greedy", metadata={"help": "keep policy over the graph"})
    priority: str | None = field(
        default=None,
        metadata={"help": "e.g. 'has:info.reference_answer,source:source' (smaller kept first)"},
    )
    source_order: tuple[str, ...] = field(
        default=(), metadata={"help": "sources best first, for a source: priority key"}
    )
    device: str | None = field(
        default=None, metadata={"help": "embedding device (default: cuda when available)"}
    )
    embed_batch_size: int = field(default=64, metadata={"help": "texts per forward pass"})

    def __post_init__(self) -> None:
        require(0.0 < self.threshold <= 1.0, "threshold", self.threshold, "a number in (0, 1]")
        require(self.k >= 1, "k", self.k, "an integer >= 1")
        require(self.nprobe >= 1, "nprobe", self.nprobe, "an integer >= 1")
        require(self.cells is None or self.cells >= 1, "cells", self.cells, "an integer >= 1")
        require(
            self.probe_margin is None or self.probe_margin >= 0,
            "probe_margin",
            self.probe_margin,
            "a number >= 0",
        )
        require(self.embed_batch_size >= 1, "embed_batch_size", self.embed_batch_size, ">= 1")

    def graph_options(self) -> GraphOptions:
        """The similarity graph's settings among these options."""
        return options_from(GraphOptions, self, method=self.graph_method)

    def embedder(self) -> Embedder:
        """The embedder these options name."""
        if self.embeddings is not None:
            return PrecomputedEmbeddings(self.embeddings, column=self.embeddings_column)
        return self.embedding_model.load(device=self.device, batch_size=self.embed_batch_size)


@dataclass(frozen=True)
class DedupSummary:
    """What a file dedup did, and the per-row result for callers who want more."""

    rows: int
    kept: int
    dropped: int
    seconds: float
    method: Method
    representative: np.ndarray
    near: NearDuplicates | None
    semantic: SemanticDuplicates | None = None

    @property
    def rows_per_second(self) -> float:
        """Throughput of the whole job, reading and writing included."""
        return self.rows / self.seconds if self.seconds else float("inf")


class TextPasses:
    """The two passes of near dedup over a file's text column, parsing JSONL only once.

    For JSONL, the first pass appends every batch to an Arrow IPC file in a temporary folder and
    the second pass memory-maps it (no JSON parsing, no copy). Parquet is columnar already: the
    second pass reads the column again.
    """

    def __init__(self, source: Path, text_field: str, batch_size: int) -> None:
        """Prepares both passes; nothing is read or written yet."""
        self.source, self.text_field, self.batch_size = source, text_field, batch_size
        self._spool = (
            tempfile.TemporaryDirectory(prefix="amfast-spool-")
            if file_format(source) == "jsonl"
            else None
        )

    def __enter__(self) -> TextPasses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._spool is not None:
            self._spool.cleanup()

    def _spool_path(self) -> str:
        assert self._spool is not None
        return str(Path(self._spool.name) / "texts.arrow")

    def first_pass(self) -> Iterator[list[str] | pa.Array]:
        """Batches of texts from the source (spooled when it is JSONL)."""
        batches = _batches(self.source, self.text_field, self.batch_size, "signatures")
        if self._spool is None:
            yield from batches
            return
        schema = pa.schema([pa.field("text", pa.large_string())])
        with pa.OSFile(self._spool_path(), "wb") as sink, pa.ipc.new_file(sink, schema) as out:
            for batch in batches:
                texts = batch if isinstance(batch, pa.Array) else pa.array(batch)
                out.write_batch(pa.record_batch([texts.cast(pa.large_string())], schema))
                yield batch

    def second_pass(self) -> Iterator[list[str] | pa.Array]:
        """The same batches again, in the same order."""
        if self._spool is None:
            yield from _batches(self.source, self.text_field, self.batch_size, "verifying")
            return
        with pa.memory_map(self._spool_path()) as mapped:
            reader = pa.ipc.open_file(mapped)
            for position in range(reader.num_record_batches):
                yield reader.get_batch(position).column(0)


def _check_paths(source: Path, output: Path, dropped: Path | None) -> None:
    """The input exists, and the outputs are writable, new paths, in the input's format."""
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    kind = file_format(source)
    outputs = [Output(output, "-o/--output")]
    if dropped is not None:
        outputs.append(Output(dropped, "--dropped"))
    for target in outputs:
        if file_format(target.path) != kind:
            raise InputError(
                f"{target.flag} {target.path}: the input is {kind} and dedup writes rows in "
                f"the input's format; name it .{'jsonl' if kind == 'jsonl' else 'parquet'}"
            )
    check_outputs([source], outputs)


def _batches(path: Path, field: str, batch_size: int, label: str) -> Iterator[list[str] | pa.Array]:
    with tqdm(desc=label, unit=" rows", disable=None, file=sys.stderr, leave=False) as progress:
        for batch in iter_text_batches(path, field, batch_size):
            yield batch
            progress.update(len(batch))


def dedup_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    text_field: str,
    dropped: str | os.PathLike[str] | None = None,
    method: Method = "minhash",
    minhash: MinHashOptions | None = None,
    normalize: NormalizeOptions | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_threads: int | None = None,
    semantic: SemanticOptions | None = None,
    **settings: Any,  # noqa: ANN401 - MinHashOptions fields
) -> DedupSummary:
    """Dedups `source` on `text_field`; writes kept rows to `output`, dropped rows to `dropped`.

    Reads the file in batches (twice for minhash: candidates, then verification; once more to
    write), so memory does not grow with the text. Outputs appear only once complete.

    `minhash` holds the MinHash settings (`MinHashOptions`); `settings` are its fields given one
    by one (`threshold=0.9`), which override it. `method="semantic"` embeds the texts (see
    `SemanticOptions`; of the MinHash settings only `number_guard` applies) and keeps rows in
    priority order.

    Raises:
        InputError: Missing file or field, a non-string value, invalid UTF-8 or JSON, or an
            output path equal to the input; the message names the file, line and field.
    """
    started = time.perf_counter()
    source, output = Path(source), Path(output)
    _check_paths(source, output, Path(dropped) if dropped else None)
    if method not in ("exact", "minhash", "semantic"):
        raise ValueError(f"unknown method {method!r}; use 'exact', 'minhash' or 'semantic'")
    found_semantic = None
    minhash = with_settings(minhash, settings)
    try:
        if method == "semantic":
            representative, similarity, reason, found_semantic = _semantic_duplicates_of_file(
                source,
                text_field,
                batch_size,
                semantic or SemanticOptions(),
                num_threads,
                minhash.number_guard,
            )
            near = None
        elif method == "exact":
            representative, similarity, reason, near = _exact_duplicates_of_file(
                source, text_field, batch_size, normalize, num_threads
            )
        else:
            index = NearDuplicateIndex(minhash, normalize=normalize, num_threads=num_threads)
            representative, similarity, reason, near = _near_duplicates_of_file(
                source, text_field, batch_size, index
            )
    except InvalidRowError as error:
        # The core numbers rows; the user also needs the file and the field.
        raise InputError(f"{source}: {error} (field {text_field!r})") from error
    kept_rows = representative == np.arange(len(representative))
    write_split(
        source,
        kept_rows,
        output,
        dropped,
        DroppedInfo(representative.tolist(), similarity.tolist(), reason),
        batch_size,
    )
    kept = int(np.count_nonzero(kept_rows))
    return DedupSummary(
        rows=len(kept_rows),
        kept=kept,
        dropped=len(kept_rows) - kept,
        seconds=time.perf_counter() - started,
        method=method,
        representative=representative,
        near=near,
        semantic=found_semantic,
    )


Found = tuple[np.ndarray, np.ndarray, str, NearDuplicates | None]
"""Representative and similarity per row, the drop reason, and the near result if any."""


def _exact_duplicates_of_file(
    source: Path,
    text_field: str,
    batch_size: int,
    normalize: NormalizeOptions | None,
    num_threads: int | None,
) -> Found:
    result = exact_duplicates(
        _batches(source, text_field, batch_size, "hashing"),
        normalize=normalize,
        num_threads=num_threads,
    )
    similarity = np.ones(len(result.representative), dtype=np.float32)
    return result.representative, similarity, "exact_duplicate", None


def _near_duplicates_of_file(
    source: Path, text_field: str, batch_size: int, index: NearDuplicateIndex
) -> Found:
    with TextPasses(source, text_field, batch_size) as passes:
        for batch in passes.first_pass():
            index.add(batch)
        for batch in passes.second_pass():
            index.verify(batch)
    near = index.finish()
    return near.representative, near.similarity, "near_duplicate", near


def _semantic_duplicates_of_file(
    source: Path,
    text_field: str,
    batch_size: int,
    options: SemanticOptions,
    num_threads: int | None,
    number_guard: bool,
) -> tuple[np.ndarray, np.ndarray, str, SemanticDuplicates]:
    texts: list[str] = []
    for batch in _batches(source, text_field, batch_size, "reading"):
        texts.extend(batch if isinstance(batch, list) else batch.to_pylist())
    priority = None
    if options.priority:
        fields = sorted(
            {part.strip().rpartition(":")[2].lstrip("-") for part in options.priority.split(",")}
            - {""}
        )
        try:
            priority = priority_rank(
                read_fields(source, fields), options.priority, source_order=options.source_order
            )
        except KeyError as error:
            raise InputError(f"{source}: {error.args[0]}") from error
    embeddings = embed_texts(texts, options.embedder(), cache_dir=options.cache_dir)
    result = semantic_duplicates(
        embeddings,
        threshold=options.threshold,
        priority=priority,
        keep=options.keep,
        texts=texts,
        number_guard=number_guard,
        graph_options=options.graph_options(),
        num_threads=num_threads,
    )
    return result.representative, result.similarity, "semantic_duplicate", result
