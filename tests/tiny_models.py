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

_WORD_TEXT = (
    "the a is of to and what sum two three four five answer think step by please reason put "
    "your final within boxed so we get it number"
)
WORDS = _WORD_TEXT.split()
# A plain chat template the tiny tokenizer can render (the real teachers ship their own).
CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def word_tokenizer(words: list[str], specials: tuple[str, ...] = ()) -> object:
    """A word-level fast tokenizer: [PAD]=0, [UNK]=1, [EOS]=2, then `specials`, then `words`."""
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2}
    for word in (*specials, *words):
        vocab.setdefault(word, len(vocab))
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.decoder = tokenizers.decoders.WordPiece(prefix="##", cleanup=False)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )


def _tiny_sizes(vocab_size: int) -> dict[str, int]:
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }


def build_tiny_teacher(directory: Path, *, stops: bool = True) -> Path:
    """A 2-layer Qwen2 causal LM with random weights and a word-level tokenizer.

    `stops=False` saves it without an end-of-sequence token, so every reply runs to its budget.
    """
    tokenizer = word_tokenizer(WORDS, specials=("<think>", "</think>"))
    tokenizer.chat_template = CHAT_TEMPLATE  # type: ignore[attr-defined]
    eos = 2 if stops else None
    config = transformers.Qwen2Config(
        **_tiny_sizes(len(tokenizer)),  # type: ignore[arg-type]
        max_position_embeddings=2048,
        eos_token_id=eos,
        pad_token_id=0,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)  # type: ignore[attr-defined]
    return directory


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
        **_tiny_sizes(len(tokenizer)),  # type: ignore[arg-type]
        num_labels=num_labels,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForSequenceClassification(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)  # type: ignore[attr-defined]
    return directory
