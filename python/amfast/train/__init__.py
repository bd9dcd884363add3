"""Supervised fine-tuning on AM-schema reasoning data (`amfast train`).

- `amfast.train.data`: conversations -> tokens with exact assistant-only loss masks, a disk
  cache, best-fit-decreasing packing, and the chat-template linter. Needs no torch.
- `amfast.train.sft`: `SftConfig` and `train`, the FSDP2 recipe (torch and transformers are
  imported when it runs; install `amfast[train]`).
"""

from amfast.train.config import SftConfig, TrainResult
from amfast.train.data import (
    AM_SYSTEM_PROMPT,
    Encoded,
    Pack,
    TemplateCheck,
    TokenizedDataset,
    TokenizeOptions,
    assemble_pack,
    check_template,
    encode_conversation,
    load_tokenizer,
    pack_best_fit,
    read_conversations,
    tokenize_dataset,
)
from amfast.train.sft import lr_at, train

__all__ = [
    "AM_SYSTEM_PROMPT",
    "Encoded",
    "Pack",
    "SftConfig",
    "TemplateCheck",
    "TokenizeOptions",
    "TokenizedDataset",
    "TrainResult",
    "assemble_pack",
    "check_template",
    "encode_conversation",
    "load_tokenizer",
    "lr_at",
    "pack_best_fit",
    "read_conversations",
    "tokenize_dataset",
    "train",
]
