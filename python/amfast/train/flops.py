"""Model FLOPs of a training step and the peak of known accelerators: the two halves of MFU."""

from __future__ import annotations

from typing import Any

# Dense bf16 peak of the accelerators whose MFU we estimate without being told (TFLOP/s); the
# first key found in the device name wins, so the PCIe and NVL H100s come before the SXM one.
_PEAK_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,
    "H200": 989.0,
    "H800": 989.0,
    "A100": 312.0,
    "A800": 312.0,
}


def training_flops(
    model_config: Any,  # noqa: ANN401 - a transformers PretrainedConfig
    non_embedding_params: int,
    tokens: int,
    squared_lengths: float,
) -> float:
    """FLOPs of a forward and backward pass over packed samples: the numerator of MFU.

    Per token, 6 x the non-embedding parameters (each weight: a multiply-add forward, two
    backward) and 6 x hidden x vocab for the output layer; per sample of `s` tokens, causal
    attention `6 x layers x heads x head_dim x s^2` (QK^T and AV: 4 s^2 d forward over the full
    square, halved for the causal mask, x3 for forward + backward). Recomputation (activation
    checkpointing, the chunked loss) is not counted: that would be hardware, not model, FLOPs.

    Args:
        model_config: the model's config (hidden_size, vocab_size, layers, heads).
        non_embedding_params: parameters besides the input embeddings and the output layer.
        tokens: tokens in the batch.
        squared_lengths: the sum over its samples of their length squared.

    Example:
        >>> from transformers import Qwen2Config
        >>> shape = Qwen2Config(hidden_size=896, num_hidden_layers=24, num_attention_heads=14)
        >>> round(training_flops(shape, 357_898_112, 32768, 4 * 8192**2) / 1e12, 1)
        131.8
    """
    heads = model_config.num_attention_heads
    head_dim = getattr(model_config, "head_dim", None) or model_config.hidden_size // heads
    per_token = 6 * (non_embedding_params + model_config.hidden_size * model_config.vocab_size)
    attention = 6 * model_config.num_hidden_layers * heads * head_dim * squared_lengths
    return float(per_token * tokens + attention)


def device_peak_tflops(device_name: str) -> float | None:
    """Dense bf16 peak TFLOP/s of a known accelerator, from its name (None when unknown).

    Example:
        >>> device_peak_tflops("NVIDIA H100 80GB HBM3"), device_peak_tflops("NVIDIA H100 PCIe")
        (989.0, 756.0)
    """
    return next((peak for key, peak in _PEAK_TFLOPS.items() if key in device_name), None)
