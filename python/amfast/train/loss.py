"""Token cross-entropy of a causal LM without the logits of a whole sequence in memory.

At a packed 32k sequence and Qwen2.5's 151,936-token vocabulary the fp32 logits alone take 20 GB
(32768 x 151936 x 4 bytes), far more than everything else a 0.5B model's step keeps. Here the
final hidden states go through the model's output layer `chunk_tokens` positions at a time, and
each chunk runs under activation checkpointing: the forward keeps only the chunk's hidden states
and its loss, the backward recomputes that chunk's logits, so the logits (and their gradient) of
one chunk at a time exist. The price is one more output-layer matmul per token in backward.

The output layer is called as a module, never through its weight, so the same code works when
the weight is tied to the input embeddings or is an FSDP2 parameter gathered around the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from amfast.train.data import IGNORE_INDEX

if TYPE_CHECKING:
    import torch


def chunked_cross_entropy(
    hidden: torch.Tensor,
    labels: torch.Tensor,
    output_layer: Callable[[torch.Tensor], torch.Tensor],
    chunk_tokens: int,
) -> torch.Tensor:
    """Sum over positions of the fp32 cross-entropy of `output_layer(hidden)` against `labels`.

    The value and the gradients (of `hidden` and of the output layer's parameters) are those of
    `cross_entropy(output_layer(hidden).float(), labels, ignore_index=-100, reduction="sum")`;
    only the peak memory differs. Positions labelled -100 add nothing; a chunk with no target
    at all still runs, so every rank's output layer gets a gradient (FSDP reduces them together).

    Args:
        hidden: final hidden states (after the last norm), shape `(..., hidden_size)`.
        labels: the target id of every position, shape `(...)`; -100 where there is no loss.
        output_layer: the model's output module (`lm_head`), called once per chunk.
        chunk_tokens: positions per chunk (the last chunk may be shorter).

    Returns:
        A float32 scalar: the summed token losses (divide by the number of targets for a mean).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> head = torch.nn.Linear(8, 50, bias=False)
        >>> hidden, labels = torch.randn(10, 8), torch.randint(0, 50, (10,))
        >>> labels[:4] = -100
        >>> full = torch.nn.functional.cross_entropy(head(hidden), labels, reduction="sum")
        >>> bool(torch.isclose(chunked_cross_entropy(hidden, labels, head, 3), full))
        True
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")

    def chunk_loss(hidden_chunk: torch.Tensor, labels_chunk: torch.Tensor) -> torch.Tensor:
        logits = output_layer(hidden_chunk).float()
        return torch.nn.functional.cross_entropy(
            logits, labels_chunk, ignore_index=IGNORE_INDEX, reduction="sum"
        )

    # `split` (not slicing) so that backward joins the chunks' hidden-state gradients in one copy.
    hidden_chunks = torch.split(hidden.flatten(0, -2), chunk_tokens)
    label_chunks = torch.split(labels.flatten(), chunk_tokens)
    losses = [
        # No RNG in a projection and a loss: nothing to stash for the recomputation.
        checkpoint(chunk_loss, h, y, use_reentrant=False, preserve_rng_state=False)
        for h, y in zip(hidden_chunks, label_chunks, strict=True)
    ]
    return torch.stack(losses).sum()
