"""A tiny random-weight causal LM built on the fly, for demos and tests (no model hub needed).

`build_tiny_causal_lm` saves a 2-layer Qwen2 model with a word-level tokenizer and a plain chat
template to a folder, where every stage that loads a model (distill's transformers backend,
`amfast train`, `amfast eval`) reads it like any Hugging Face model. Its replies are noise: it
exercises the plumbing of a whole recipe on a CPU, not the quality of a model.
Needs `torch`, `transformers` and `tokenizers` (extra `train`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# A plain chat template a word-level tokenizer can render (real models ship their own).
CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)
THINK_TAGS = ("<think>", "</think>")


def word_tokenizer(words: Iterable[str], specials: tuple[str, ...] = ()) -> Any:  # noqa: ANN401
    """A word-level fast tokenizer: [PAD]=0, [UNK]=1, [EOS]=2, then `specials`, then `words`."""
    import tokenizers
    import transformers

    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2}
    for word in (*specials, *words):
        vocab.setdefault(word, len(vocab))
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.decoder = tokenizers.decoders.WordPiece(prefix="##", cleanup=False)
    return transformers.PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )


def tiny_sizes(vocab_size: int) -> dict[str, Any]:
    """The layer sizes of every tiny model: 2 layers, hidden 32, 4 heads (2 key/value)."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }


def frequent_words(texts: Iterable[str], limit: int) -> list[str]:
    """The `limit` most frequent whitespace/punctuation-split words of `texts` (a vocabulary).

    Example:
        >>> frequent_words(["a b a", "b a c"], 2)
        ['a', 'b']
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(re.findall(r"\w+|[^\w\s]", text))
    return [word for word, _ in counts.most_common(limit)]


def build_tiny_causal_lm(directory: Path, words: Iterable[str], *, stops: bool = True) -> Path:
    """Saves a 2-layer Qwen2 causal LM with random weights (seed 0) and a word tokenizer.

    `stops=False` saves it without an end-of-sequence token, so every reply runs to its budget.
    """
    import torch
    import transformers

    tokenizer = word_tokenizer(words, specials=THINK_TAGS)
    tokenizer.chat_template = CHAT_TEMPLATE
    eos = 2 if stops else None
    config = transformers.Qwen2Config(
        **tiny_sizes(len(tokenizer)),
        max_position_embeddings=4096,
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


def main(argv: list[str] | None = None) -> int:
    """`python -m amfast.tiny_model OUT [JSONL ...]`: a tiny model whose words come from the files.

    The vocabulary is the 4,000 most frequent words of every string value in the JSONL files
    (the demo's sources), so the model's tokens mean something on that data.
    """
    import argparse

    from amfast.io import iter_jsonl

    parser = argparse.ArgumentParser(prog="python -m amfast.tiny_model", description=main.__doc__)
    parser.add_argument("output", type=Path, help="folder for the model and tokenizer")
    parser.add_argument("texts", nargs="*", help="JSONL files the vocabulary comes from")
    parser.add_argument("--words", type=int, default=4000, help="vocabulary size")
    args = parser.parse_args(argv)
    if (args.output / "config.json").is_file():
        print(f"tiny model    {args.output} (already there)")
        return 0

    def strings() -> Iterable[str]:
        for path in args.texts:
            for line in iter_jsonl(path):
                yield from (v for v in line.record.values() if isinstance(v, str))

    words = frequent_words(strings(), args.words) or ["the"]
    build_tiny_causal_lm(args.output, words)
    print(f"tiny model    {args.output} ({len(words):,} words, random weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
