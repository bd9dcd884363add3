"""The label vocabularies, the prompts that ask a model for them, and constrained parsing.

Categories default to Magpie's twelve task tags (Xu et al. 2024, "Magpie: Alignment Data
Synthesis from Scratch"), difficulty to its five levels; the prompts follow Magpie's tagging
prompts and ask for a JSON object. `parse_label` accepts only a listed label, and says why
otherwise, so an unparseable reply is counted instead of guessed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

MAGPIE_CATEGORIES = (
    "Information seeking",
    "Reasoning",
    "Planning",
    "Editing",
    "Coding & Debugging",
    "Math",
    "Role playing",
    "Data analysis",
    "Creative writing",
    "Advice seeking",
    "Brainstorming",
    "Others",
)
DIFFICULTY_LEVELS = ("very easy", "easy", "medium", "hard", "very hard")
CATEGORY_TEMPLATE = """# Instruction

Please label the task tags for the user query.

## User Query
```
{prompt}
```

## Tagging the user input
Analyze the user query and select the most relevant task tag from this list:
{choices}

## Output Format
Select a single primary tag. Output your answer in JSON, filling in the placeholder:
```
{"primary_tag": "<primary tag>"}
```"""
DIFFICULTY_TEMPLATE = """# Instruction

First identify the user intent, then label the difficulty level of the user query based on
its content.

## User Query
```
{prompt}
```

## Output Format
Identify the user intent and the knowledge needed to solve the task, then rate the difficulty
of the query as one of: {choices}.
Output your answer in JSON, filling in the placeholders:
```
{"intent": "The user wants to ...",
 "knowledge": "To solve this problem, the models need to know ...",
 "difficulty": "<difficulty>"}
```"""
ANSWER_KEYS = {"category": "primary_tag", "difficulty": "difficulty"}
LABEL_STATUSES = ("ok", "no_answer", "bad_json", "not_a_label", "generation_failed")


def parse_cutoffs(text: str) -> list[float]:
    """`"0.8,0.6,0.4,0.2"` -> decreasing floats in [0, 1].

    Example:
        >>> parse_cutoffs("0.8, 0.6,0.4,0.2")
        [0.8, 0.6, 0.4, 0.2]
    """
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"pass_rate_cutoffs {text!r}: expected numbers separated by commas"
        ) from None
    if any(not 0 <= v <= 1 for v in values) or values != sorted(values, reverse=True):
        raise ValueError(f"pass_rate_cutoffs {text!r}: expected decreasing rates in [0, 1]")
    return values


def difficulty_of_pass_rate(rate: float, cutoffs: Sequence[float]) -> str:
    """The level of a pass rate: at or above the first cutoff is very easy, and so on.

    Example:
        >>> difficulty_of_pass_rate(0.5, [0.8, 0.6, 0.4, 0.2])
        'medium'
    """
    for level, cutoff in zip(DIFFICULTY_LEVELS, cutoffs, strict=False):
        if rate >= cutoff:
            return level
    return DIFFICULTY_LEVELS[-1]


def _normal(text: str) -> str:
    return " ".join(text.strip().strip("`'\"*.[]<>(){}:").lower().split())


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object embedded in `text`, in order."""
    decoder, found, start = json.JSONDecoder(), [], text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", end)
    return found


def parse_label(reply: str, key: str, choices: Sequence[str]) -> tuple[str | None, str]:
    """`(label, status)` of a model's reply: the label only when it is one of `choices`.

    The last JSON object holding `key` decides; without one, a reply that is exactly one
    label (case, quotes and surrounding punctuation aside). Never a guess.

    Example:
        >>> parse_label('{"difficulty": "Very Hard"}', "difficulty", ["easy", "very hard"])
        ('very hard', 'ok')
        >>> parse_label('{"difficulty": "tricky"}', "difficulty", ["easy", "very hard"])
        (None, 'not_a_label')
        >>> parse_label("Easy.", "difficulty", ["easy", "very hard"])
        ('easy', 'ok')
        >>> parse_label("easy or very hard", "difficulty", ["easy", "very hard"])
        (None, 'no_answer')
    """
    canonical = {_normal(choice): choice for choice in choices}
    holding = [obj for obj in _json_objects(reply) if key in obj]
    if holding:
        value = holding[-1][key]
        label = canonical.get(_normal(value)) if isinstance(value, str) else None
        return (label, "ok") if label is not None else (None, "not_a_label")
    label = canonical.get(_normal(reply))
    if label is not None:
        return label, "ok"
    return None, "bad_json" if "{" in reply else "no_answer"
