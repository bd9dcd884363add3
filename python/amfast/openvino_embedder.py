"""Sentence embeddings on OpenVINO: the onnx backend's exported graph, compiled for the CPU.

`OpenVinoEmbedder` is `OnnxEmbedder` (same export cache, tokenizer, length-bucketed batches,
pooling and normalization in the graph) with OpenVINO instead of onnxruntime running the graph,
on the CPU only. OpenVINO runs it in bf16 where the CPU computes bf16 natively (AMX or
AVX512-BF16: its own default there), else in f32. In bf16 the vectors still match
sentence-transformers' fp32 ones to a per-row cosine >= 0.9999 on all-MiniLM-L6-v2 (measured on
real corpus texts, see benches/README.md), at several times onnxruntime's fp32 texts/s.

Exact fp32 vectors: `precision="f32"`, or `AMFAST_OPENVINO_PRECISION=f32` in the environment
(which reaches every command's embedder, config and CLI included).
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from amfast.errors import InputError
from amfast.onnx_embedder import OnnxEmbedder, runtime_module

Precision = Literal["auto", "bf16", "f32"]
PRECISION_ENV = "AMFAST_OPENVINO_PRECISION"


def openvino_module() -> Any:  # noqa: ANN401 - openvino's types are not needed here
    """The `openvino` module.

    Raises:
        ImportError: openvino is missing (the message names the extra).
    """
    return runtime_module("openvino", "openvino", "openvino", "onnx")


def cpu_has_bf16(core: Any) -> bool:  # noqa: ANN401 - openvino.Core
    """Whether OpenVINO computes bf16 natively on this CPU (AMX or AVX512-BF16)."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoEmbedder(OnnxEmbedder):
    """A local sentence-transformers model, exported to ONNX and run by OpenVINO on the CPU.

    Example:
        >>> embedder = OpenVinoEmbedder(progress=False)  # all-MiniLM-L6-v2
        >>> vectors = embedder.embed(["What is 2 + 2?", "Compute 2 + 2."])
        >>> vectors.shape, vectors.dtype.name
        ((2, 384), 'float32')
    """

    def __init__(
        self,
        *args: Any,  # noqa: ANN401 - OnnxEmbedder's arguments
        precision: Precision | None = None,
        **kwargs: Any,  # noqa: ANN401 - OnnxEmbedder's arguments
    ) -> None:
        """`OnnxEmbedder`'s arguments (device: "cpu" or None), plus the precision.

        Args:
            args: As `OnnxEmbedder`.
            precision: "bf16", "f32", or "auto" (bf16 where the CPU computes it natively);
                None: `$AMFAST_OPENVINO_PRECISION`, else "auto".
            kwargs: As `OnnxEmbedder`.

        Raises:
            InputError: A device other than the CPU, or an unknown precision.
            ImportError: openvino (or, to export, torch / sentence-transformers) is missing.
        """
        chosen = precision or os.environ.get(PRECISION_ENV) or "auto"
        if chosen not in ("auto", "bf16", "f32"):
            raise InputError(
                f"openvino precision must be auto, bf16 or f32 (from {PRECISION_ENV} or the "
                f"precision argument), got {chosen!r}"
            )
        self._precision_choice = chosen
        super().__init__(*args, **kwargs)

    def _device(self, device: str | None) -> str:
        if device not in (None, "cpu"):
            raise InputError(
                f"device {device!r}: the openvino backend runs on the CPU; use "
                "embedding_backend='onnx' or 'sentence-transformers' on a GPU"
            )
        openvino_module()  # fail before exporting if it is missing
        return "cpu"

    def _open(self) -> tuple[str, str | None]:
        core = openvino_module().Core()
        precision = self._precision_choice
        if precision == "auto":
            precision = "bf16" if cpu_has_bf16(core) else "f32"
        self.precision = precision
        compiled = core.compile_model(
            str(self.onnx_path),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": precision,
                "INFERENCE_NUM_THREADS": self.num_threads,
                # One request at a time, each on every thread: batches come one after another.
                "PERFORMANCE_HINT": "LATENCY",
            },
        )
        self._request = compiled.create_infer_request()
        return "openvino", precision

    def _run(self, batch: dict[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.float32]:
        # A copy: the request reuses its output buffer for the next batch.
        return np.array(self._request.infer(batch)[0], dtype=np.float32)
