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


def build_tiny_sentence_model(
    directory: Path,
    texts: list[str],
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int = 128,
    vocab_size: int = 2000,
) -> Path:
    """A sentence-transformers directory shaped like all-MiniLM-L6-v2, smaller, random weights.

    BERT with a WordPiece tokenizer trained on `texts` (lower-cased, [CLS] ... [SEP]), mean
    pooling and normalization, saved in the layout of the all-MiniLM-L6-v2 directory.
    """
    import json

    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    core = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    core.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = transformers.BertTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    config = transformers.BertConfig(
        vocab_size=core.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    modules = [
        ("", "sentence_transformers.models.Transformer"),
        ("1_Pooling", "sentence_transformers.models.Pooling"),
        ("2_Normalize", "sentence_transformers.models.Normalize"),
    ]
    listing = [
        {"idx": i, "name": str(i), "path": path, "type": kind}
        for i, (path, kind) in enumerate(modules)
    ]
    (directory / "modules.json").write_text(json.dumps(listing))
    (directory / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 128, "do_lower_case": False})
    )
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True})
    )
    (directory / "2_Normalize").mkdir(exist_ok=True)
    return directory
