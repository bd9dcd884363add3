"""Near dedup on short real problems: single-word edits caught, distinct problems kept apart.

Input: English problems of ../shared/benchmarks/corpus/math_problems_union.jsonl.gz from sources
that hold distinct problems (MATH train, GSM8K train, MathQA test, college math, OlympiadBench,
CARP), exact duplicates removed, grouped by normalized word count.

- Recall: each sampled problem gets one single-word edit (insert, delete or substitute a word
  without digits, each a third of the time; substitutes and inserts drawn from the corpus's
  words); original and edit are deduped together and the edit counts as caught when it is
  dropped for its original.
- False merges: dedup of the distinct problems alone; every dropped row merged two different
  problems (a few are genuine near-copies inside a source, so this bounds precision from below).

Rules compared in the same run, all with the number guard and greedy keep: the defaults (word
sets under 20 words, word pairs under 50, word 5-grams above: `amfast-shingle-v2`) and fixed
word 5-grams (`unigram_below = bigram_below = 0`, the rule before).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from amfast import normalize
from amfast.dedup import exact_duplicates, near_duplicates
from machine import REPO, machine_info

SHARED = REPO.parent / "shared" / "benchmarks"
RESULTS_DIR = REPO / "benches" / "results"
SOURCES = {"math_train", "gsm8k_train", "mathqa_test", "college_math", "olympiadbench", "carp_en"}
RULES: dict[str, dict[str, int]] = {
    "defaults (1-grams < 20 words, 2-grams < 50)": {},
    "fixed word 5-grams": {"unigram_below": 0, "bigram_below": 0},
}


def distinct_problems() -> tuple[list[str], np.ndarray]:
    """The distinct problems of `SOURCES` and their normalized word counts."""
    path = SHARED / "corpus" / "math_problems_union.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    texts = [row["problem"] for row in rows if row["source"] in SOURCES]
    texts = [text for text, kept in zip(texts, exact_duplicates(texts).keep, strict=True) if kept]
    words = np.array([len(text.split(" ")) if text else 0 for text in normalize(texts)])
    return texts, words


def single_word_edit(text: str, rng: random.Random, vocabulary: list[str]) -> tuple[str, str]:
    """`(kind, edited text)`: one word inserted, deleted or substituted (never a number)."""
    words = text.split(" ")
    kind = rng.choice(["insert", "delete", "substitute"])
    positions = [i for i, word in enumerate(words) if not any(c.isdigit() for c in word)]
    position = rng.choice(positions) if positions else rng.randrange(len(words))
    if kind == "insert":
        words.insert(position, rng.choice(vocabulary))
    elif kind == "delete" and len(words) > 1:
        del words[position]
    else:
        kind = "substitute"
        words[position] = rng.choice(vocabulary)
    return kind, " ".join(words)


def measure(
    texts: list[str], words: np.ndarray, low: int, high: int, args: argparse.Namespace
) -> dict[str, Any]:
    inside = [text for text, count in zip(texts, words, strict=True) if low <= count <= high]
    rng = random.Random(args.seed)
    vocabulary = sorted({w for text in inside for w in text.split() if w.isalpha()})
    sample = rng.sample(inside, min(args.sample, len(inside)))
    edits = [single_word_edit(text, rng, vocabulary) for text in sample]
    pairs = [
        text for original, (_, edit) in zip(sample, edits, strict=True) for text in (original, edit)
    ]
    result: dict[str, Any] = {"words": [low, high], "distinct": len(inside), "edited": len(sample)}
    for name, rule in RULES.items():
        started = time.perf_counter()
        edited = near_duplicates(pairs, threshold=args.threshold, **rule)
        caught = edited.representative[1::2] == np.arange(0, len(pairs), 2)
        distinct = near_duplicates(inside, threshold=args.threshold, **rule)
        kinds = {
            kind: float(
                np.mean([hit for hit, (k, _) in zip(caught, edits, strict=True) if k == kind])
            )
            for kind in ("insert", "delete", "substitute")
        }
        result[name] = {
            "recall": float(caught.mean()),
            "recall_by_kind": kinds,
            "false_merges": distinct.duplicate_count,
            "false_merge_rate": distinct.duplicate_count / len(inside),
            "seconds": time.perf_counter() - started,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=3000, help="problems edited per range")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    texts, words = distinct_problems()
    ranges = [(12, 40), (12, 19), (20, 29), (30, 40), (41, 60)]
    results = [measure(texts, words, low, high, args) for low, high in ranges]
    header = f"{'words':>7} {'rule':<44} {'recall':>7} {'ins':>6} {'del':>6} {'sub':>6}"
    print(f"{header} {'false merges':>16}")
    for result in results:
        low, high = result["words"]
        for name in RULES:
            scores = result[name]
            by_kind = scores["recall_by_kind"]
            print(
                f"{low:>3}-{high:<3} {name:<44} {scores['recall']:7.4f} {by_kind['insert']:6.3f} "
                f"{by_kind['delete']:6.3f} {by_kind['substitute']:6.3f} "
                f"{scores['false_merges']:>5} / {result['distinct']:<6,} "
                f"({scores['false_merge_rate']:.2%})"
            )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "near_dedup_short_texts.json"
    out.write_text(
        json.dumps(
            {"args": vars(args), "machine": machine_info(["amfast"]), "results": results}, indent=2
        )
    )
    print(f"saved {Path(out).relative_to(REPO)}")


if __name__ == "__main__":
    main()
