"""Sentence embeddings on onnxruntime: sentence-transformers' model and vectors, faster on CPU.

`OnnxEmbedder` runs a local sentence-transformers directory through onnxruntime:

- **Export, once.** The whole sentence-transformers pipeline (transformer, pooling, dense,
  normalize: whatever `modules.json` lists) is traced with `torch.onnx.export` (the TorchScript
  exporter: it needs nothing beyond torch) into `<cache>/onnx/<model>-<fingerprint>/`, with the
  tokenizer and the model's `max_seq_length`. The fingerprint hashes every file of the model
  directory, so a changed model is exported again; the folder is written under a temporary name
  and renamed, so concurrent processes never read half an export.
- **Same tokens.** The model's own fast tokenizer (`tokenizer.json`), truncated at the model's
  `max_seq_length`, as sentence-transformers calls it.
- **Length buckets.** Texts are tokenized once, sorted by token count and batched, so a batch
  is padded to nearly its own length; rows come back in input order.
- **All cores.** fp32 on CPU with `intra_op_num_threads` = the CPUs this process may use and
  onnxruntime's full graph optimizations (attention, GELU and LayerNorm fusions). On a GPU
  (`onnxruntime-gpu`'s CUDAExecutionProvider) the pipeline is exported in fp16 on the GPU and
  run there.

Cache folder: `$AMFAST_CACHE_DIR`, else `$XDG_CACHE_HOME/amfast`, else `~/.cache/amfast`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from amfast.embed import Dtype, Embeddings, default_model_path, normalize_rows
from amfast.errors import InputError

EXPORT_FORMAT = "amfast-onnx-v1"
"""Version of the export folder's layout and graph; a change re-exports every model."""
OPSET = 17
CHUNK_TEXTS = 8192
"""Texts tokenized and length-sorted together; bounds the memory of a long call."""


def cache_root() -> Path:
    """Where amfast keeps exports: `$AMFAST_CACHE_DIR`, `$XDG_CACHE_HOME/amfast` or ~/.cache."""
    if os.environ.get("AMFAST_CACHE_DIR"):
        return Path(os.environ["AMFAST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "amfast"


def model_fingerprint(path: Path, precision: str) -> str:
    """A hash of every file under a model directory (names and bytes) and the export settings.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text("{}")
        >>> first = model_fingerprint(folder, "fp32")
        >>> _ = (folder / "config.json").write_text('{"a": 1}')
        >>> first == model_fingerprint(folder, "fp32"), len(first)
        (False, 20)
    """
    digest = hashlib.blake2b(f"{EXPORT_FORMAT}/{OPSET}/{precision}".encode(), digest_size=10)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative.startswith(".") or "/." in relative:
            continue  # .cache/, .git/: not part of the model
        digest.update(relative.encode() + b"\0")
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def runtime_module(name: str, backend: str, packages: str, instead: str) -> Any:  # noqa: ANN401
    """The module `name` that runs an embedding backend (no type stubs: Any).

    Raises:
        ImportError: it is missing (the message names the extra and another backend).
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"the {backend} embedding backend needs `pip install 'amfast[embed]'` ({packages}), "
            f"or choose embedding_backend='{instead}'"
        ) from error


def onnxruntime_module() -> Any:  # noqa: ANN401 - onnxruntime has no type stubs
    """The `onnxruntime` module.

    Raises:
        ImportError: onnxruntime is missing (the message names the extra).
    """
    return runtime_module(
        "onnxruntime", "onnx", "onnxruntime; onnxruntime-gpu for GPUs", "sentence-transformers"
    )


def cuda_available() -> bool:
    """Whether onnxruntime can run on an NVIDIA GPU here (onnxruntime-gpu and a visible GPU)."""
    try:
        providers = onnxruntime_module().get_available_providers()
    except ImportError:
        return False
    if "CUDAExecutionProvider" not in providers:
        return False
    try:
        import torch
    except ImportError:
        return True
    return bool(torch.cuda.is_available())


def export_model(model: Path, directory: Path, *, fp16: bool = False) -> Path:
    """Exports a sentence-transformers directory to `directory` (model.onnx, tokenizer, meta).

    fp16 exports on the GPU (as sentence-transformers runs there); fp32 on the CPU.

    Raises:
        ImportError: torch or sentence-transformers is missing.
    """
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ImportError(
            "exporting a model to ONNX needs `pip install 'amfast[embed]'` "
            "(torch, sentence-transformers)"
        ) from error
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = "cuda" if fp16 else "cpu"
    # Eager attention: the classic MatMul/Softmax pattern that onnxruntime fuses into Attention.
    st = SentenceTransformer(
        str(model),
        device=device,
        local_files_only=True,
        model_kwargs={"attn_implementation": "eager"},
    )
    if fp16:
        st.half()
    st.eval()
    tokenizer = st.tokenizer
    names = [name for name in tokenizer.model_input_names if name != "position_ids"]
    sample = tokenizer(["an example", "a second, longer example text"], padding=True)
    inputs = tuple(torch.tensor(sample[name], device=device) for name in names)

    class Pipeline(torch.nn.Module):
        """The sentence-transformers modules as one function of the token tensors."""

        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: Any) -> Any:  # noqa: ANN401 - torch tensors
            features = dict(zip(names, tensors, strict=True))
            return self.st(features)["sentence_embedding"]

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        # The tracer's warnings (constant Python bools for shapes, the TorchScript exporter's
        # deprecation) are about tracing in general; this graph has dynamic batch and length.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pipeline(),
                inputs,
                str(staging / "model.onnx"),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "tokens"} for name in names},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        tokenizer.save_pretrained(str(staging))
        dimension = st.get_embedding_dimension()
        if dimension is None:
            raise InputError(f"{model}: the model does not say its embedding dimension")
        meta = {
            "format": EXPORT_FORMAT,
            "source": str(model),
            "inputs": names,
            "max_seq_length": int(st.max_seq_length or tokenizer.model_max_length),
            "pad_id": int(tokenizer.pad_token_id or 0),
            "dimension": int(dimension),
            "precision": "fp16" if fp16 else "fp32",
        }
        (staging / "amfast-onnx.json").write_text(json.dumps(meta, indent=2))
        try:
            staging.rename(directory)
        except OSError:
            if not (directory / "amfast-onnx.json").is_file():
                raise  # not another process's finished export: a real failure
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


class OnnxEmbedder:
    """A local sentence-transformers model run by onnxruntime (see the module docs).

    Example:
        >>> embedder = OnnxEmbedder(progress=False)  # all-MiniLM-L6-v2, exported once
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
        num_threads: int | None = None,
        export_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Exports the model if this version of it was not exported yet, then loads it.

        Args:
            model: A sentence-transformers model directory; None for all-MiniLM-L6-v2.
            device: "cpu" or "cuda" ("cuda:N" picks the GPU); None: cuda when onnxruntime
                can use it.
            batch_size: Texts per forward pass (texts of similar token counts go together).
            dtype: Output dtype (the model runs fp16 on a GPU, fp32 on a CPU).
            max_seq_length: Truncate texts to this many tokens (None: the model's setting).
            progress: Show a progress bar (None: only on a terminal).
            num_threads: CPU threads of onnxruntime (None: every CPU this process may use).
            export_dir: Where exports are kept (None: `<cache_root()>/onnx`).

        Raises:
            InputError: `model` is not a directory, or "cuda" without onnxruntime-gpu.
            ImportError: onnxruntime (or, to export, torch / sentence-transformers) is missing.
        """
        path = default_model_path() if model is None else Path(model)
        if not path.is_dir():
            raise InputError(f"{path}: not a sentence-transformers model directory")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.device = self._device(device)
        on_gpu = self.device.startswith("cuda")
        precision = "fp16" if on_gpu else "fp32"
        fingerprint = model_fingerprint(path, precision)
        root = Path(export_dir) if export_dir is not None else cache_root() / "onnx"
        folder = root / f"{path.name}-{precision}-{fingerprint}"
        if not (folder / "amfast-onnx.json").is_file():
            export_model(path, folder, fp16=on_gpu)
        meta = json.loads((folder / "amfast-onnx.json").read_text())
        self._inputs: list[str] = list(meta["inputs"])
        self.dimension = int(meta["dimension"])
        self.max_seq_length = int(max_seq_length or meta["max_seq_length"])
        self.batch_size, self.dtype = batch_size, dtype
        self.progress = progress if progress is not None else os.isatty(2)
        self.num_threads = num_threads or len(os.sched_getaffinity(0))
        self._tokenizer = _load_tokenizer(folder, self.max_seq_length)
        self._pad_id = int(meta["pad_id"])
        self.onnx_path = folder / "model.onnx"
        runtime, run_precision = self._open()
        self._name = (
            f"{runtime}-{path.name}-{fingerprint}-{run_precision or precision}"
            f"-len{self.max_seq_length}"
        )

    def _device(self, device: str | None) -> str:
        """The device to run on: cuda when onnxruntime can use it, else cpu."""
        ort = onnxruntime_module()
        device = device or ("cuda" if cuda_available() else "cpu")
        if device.startswith("cuda") and "CUDAExecutionProvider" not in (
            ort.get_available_providers()
        ):
            raise InputError(
                f"device {device!r}: this onnxruntime has no CUDAExecutionProvider; install "
                "onnxruntime-gpu, or use embedding_backend='sentence-transformers'"
            )
        return device

    def _open(self) -> tuple[str, str | None]:
        """Loads `self.onnx_path` into the runtime.

        Returns:
            The runtime's name for the cache key, and the precision it runs at (None: the
            export's).
        """
        ort = onnxruntime_module()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        providers: list[Any] = ["CPUExecutionProvider"]
        if self.device.startswith("cuda"):
            gpu = int(self.device.partition(":")[2] or 0)
            providers = [("CUDAExecutionProvider", {"device_id": gpu}), *providers]
        self._session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=providers
        )
        return "onnx", None

    @property
    def name(self) -> str:
        """Model directory name, a hash of its files, the precision and the token limit."""
        return self._name

    def embed(self, texts: Sequence[str]) -> Embeddings:
        """Unit-length embeddings of `texts`, in order."""
        out = np.empty((len(texts), self.dimension), dtype=self.dtype)
        with tqdm(
            total=len(texts), unit="text", desc="embed", disable=not self.progress
        ) as progress:
            for start in range(0, len(texts), CHUNK_TEXTS):
                chunk = list(texts[start : start + CHUNK_TEXTS])
                for rows, batch in self._batches(chunk):
                    out[start + rows] = normalize_rows(self._run(batch), self.dtype)
                    progress.update(len(rows))
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids the model sees for each text (after truncation)."""
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def _batches(
        self, texts: list[str]
    ) -> Iterator[tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.int64]]]]:
        """`(row positions, model inputs)` per batch, batches of similar token counts."""
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for line, row in enumerate(rows):
                encoding = encodings[row]
                count = len(encoding.ids)
                ids[line, :count] = encoding.ids
                mask[line, :count] = 1
                types[line, :count] = encoding.type_ids
            named = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            yield rows, {name: named[name] for name in self._inputs}

    def _run(self, batch: dict[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.float32]:
        (vectors,) = self._session.run(["sentence_embedding"], batch)
        return np.asarray(vectors, dtype=np.float32)


def _load_tokenizer(folder: Path, max_length: int) -> Any:  # noqa: ANN401 - tokenizers.Tokenizer
    """The exported fast tokenizer, truncating at `max_length` and padding nothing."""
    from tokenizers import Tokenizer

    file = folder / "tokenizer.json"
    if not file.is_file():
        raise InputError(f"{folder}: no tokenizer.json (the onnx backend needs a fast tokenizer)")
    tokenizer = Tokenizer.from_file(str(file))
    tokenizer.no_padding()  # batches are padded by hand, each to its own longest row
    tokenizer.enable_truncation(max_length)
    return tokenizer
