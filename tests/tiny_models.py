"""Tiny random-weight models built from a config, for tests (no model hub here).

`build_tiny_teacher`: a 2-layer Qwen2 causal LM with a word-level tokenizer and a plain chat
template; fast enough on CPU for end-to-end runs of distillation and evaluation.
`build_tiny_classifier`: a 2-layer Llama sequence classifier (a reward model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from amfast.tiny_model import build_tiny_causal_lm, tiny_sizes, word_tokenizer  # noqa: E402

_WORD_TEXT = (
    "the a is of to and what sum two three four five answer think step by please reason put "
    "your final within boxed so we get it number"
)
WORDS = _WORD_TEXT.split()


def build_tiny_teacher(directory: Path, *, stops: bool = True) -> Path:
    """A 2-layer Qwen2 causal LM with random weights and a word-level tokenizer.

    `stops=False` saves it without an end-of-sequence token, so every reply runs to its budget.
    """
    return build_tiny_causal_lm(directory, WORDS, stops=stops)


CLASSIFIER_WORDS = [
    "the",
    "a",
    "is",
    "of",
    "to",
    "and",
    "what",
    "sum",
    "two",
    "three",
    "four",
    "five",
    "answer",
    "think",
    "poem",
    "sea",
    "moon",
    "write",
]


def build_tiny_classifier(directory: Path, num_labels: int = 1) -> Path:
    """A 2-layer Llama sequence classifier (a reward model) with random weights."""
    tokenizer = word_tokenizer(CLASSIFIER_WORDS)
    config = transformers.LlamaConfig(
        **tiny_sizes(len(tokenizer)),  # type: ignore[arg-type]
        num_labels=num_labels,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForSequenceClassification(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)  # type: ignore[attr-defined]
    return directory
