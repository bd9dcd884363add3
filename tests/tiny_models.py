"""Tiny random-weight models built from a config, for tests (no model hub here).

`build_tiny_teacher`: a 2-layer Qwen2 causal LM with a word-level tokenizer and a plain chat
template; fast enough on CPU for end-to-end runs of distillation and evaluation.
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


def build_tiny_teacher(directory: Path, *, stops: bool = True) -> Path:
    """A 2-layer Qwen2 causal LM with random weights and a word-level tokenizer.

    `stops=False` saves it without an end-of-sequence token, so every reply runs to its budget.
    """
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, "<think>": 3, "</think>": 4}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.decoder = tokenizers.decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    eos = 2 if stops else None
    config = transformers.Qwen2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
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
    tokenizer.save_pretrained(directory)
    return directory
