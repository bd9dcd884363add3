"""Test support for training: tiny Qwen2-architecture models with a byte-level BPE tokenizer and
Qwen2.5's chat template, built here from a config (random weights, no hub), and AM-schema rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

# Qwen2.5-Instruct's template without the tool-calling branches.
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) "
    "or (message.role == 'assistant') %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# DeepSeek-R1 / QwQ style: earlier replies lose their reasoning - and here, every reply does.
THINK_STRIPPING_TEMPLATE = QWEN_TEMPLATE.replace(
    "message.content + '<|im_end|>'",
    "(message.content.split('</think>')[-1] if message.role == 'assistant' "
    "else message.content) + '<|im_end|>'",
)
# No end-of-turn marker at all: the eos token must be appended.
PLAIN_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "You are a helpful assistant. To answer the user's question, you first think about the "
    "reasoning process and then provide the user with the answer.",
    "<think> reasoning process here </think> <answer> answer here </answer>",
    "What is the sum of two and three? Please reason step by step.",
    "system user assistant The answer is 5. Let me think: 2 + 3 = 5, so the final answer is 5.",
    "Write a poem about the sea and the moon. Count the letters in strawberry: r appears 3 times",
]


def build_tokenizer(template: str | None = QWEN_TEMPLATE) -> Any:
    core = tokenizers.Tokenizer(tokenizers.models.BPE())
    core.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL[1:]})
    tokenizer.chat_template = template
    return tokenizer


def build_model(directory: Path, *, template: str | None = QWEN_TEMPLATE, seed: int = 0) -> Path:
    """A 2-layer Qwen2 causal LM (random weights) and its tokenizer saved in `directory`."""
    tokenizer = build_tokenizer(template)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = transformers.Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def am_row(question: str, think: str, answer: str, *, source: str = "test") -> dict[str, Any]:
    """One row in the AM message schema, as `amfast verify` writes it (passed)."""
    return {
        "messages": [
            {
                "role": "user",
                "content": question,
                "info": {"source": source, "reference_answer": answer, "test_case": None},
            },
            {
                "role": "assistant",
                "content": f"<think>{think}</think>\n<answer>{answer}</answer>",
                "info": {
                    "think_content": think,
                    "answer_content": answer,
                    "verify_score": 1.0,
                    "verify_reason": "correct",
                    "verifier": "math",
                },
            },
        ]
    }


def am_rows(count: int) -> list[dict[str, Any]]:
    """`count` distinct AM-schema rows of varied lengths."""
    rows = []
    for i in range(count):
        a, b = i % 7, (3 * i) % 5
        think = f"Let me think: {a} + {b} = {a + b}" + ", so the answer is" * (i % 4)
        rows.append(am_row(f"What is the sum of {a} and {b}?", think, f"The answer is {a + b}."))
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
