"""Chunked output layer + cross-entropy: the loss and every gradient of the full computation."""

from __future__ import annotations

import pytest
import torch
import transformers

from amfast.train.data import IGNORE_INDEX
from amfast.train.loss import chunked_cross_entropy


def _tiny_qwen2(tied: bool) -> torch.nn.Module:
    config = transformers.Qwen2Config(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.Qwen2ForCausalLM(config).double()


def _loss_and_grads(
    model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, chunk_tokens: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    if chunk_tokens:
        hidden = model.model(input_ids=ids, use_cache=False).last_hidden_state
        loss = chunked_cross_entropy(hidden, labels, model.get_output_embeddings(), chunk_tokens)
    else:
        logits = model(input_ids=ids, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), labels.flatten(), reduction="sum"
        )
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("chunk_tokens", [7, 16, 50, 1000])
def test_chunked_loss_and_gradients_equal_the_full_logits_ones(
    tied: bool, chunk_tokens: int
) -> None:
    model = _tiny_qwen2(tied)
    ids = torch.randint(0, 300, (1, 50), generator=torch.Generator().manual_seed(1))
    labels = ids.roll(-1, dims=1)
    # A prompt spanning whole chunks (16..31 of chunk 16, 7..13 of chunk 7) and the last position.
    labels[0, :32] = IGNORE_INDEX
    labels[0, -1] = IGNORE_INDEX
    full_loss, full_grads = _loss_and_grads(model, ids, labels, 0)
    loss, grads = _loss_and_grads(model, ids, labels, chunk_tokens)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, full_loss, rtol=1e-6, atol=1e-6)
    assert grads.keys() == full_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, full_grads[name], rtol=1e-6, atol=1e-9, msg=name)


def test_an_all_masked_sequence_gives_zero_loss_and_zero_gradients() -> None:
    model = _tiny_qwen2(tied=False)
    ids = torch.randint(0, 300, (1, 20), generator=torch.Generator().manual_seed(2))
    labels = torch.full_like(ids, IGNORE_INDEX)
    loss, grads = _loss_and_grads(model, ids, labels, 8)
    assert float(loss) == 0.0
    # Every parameter still gets a (zero) gradient, as with full logits: FSDP ranks stay in step.
    assert all(float(grad.abs().max()) == 0.0 for grad in grads.values())


def test_chunk_size_below_one_is_an_error() -> None:
    head = torch.nn.Linear(4, 10)
    with pytest.raises(ValueError, match="chunk_tokens"):
        chunked_cross_entropy(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), head, 0)
