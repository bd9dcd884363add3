"""Generated corpora with planted near-duplicates, and recall/precision against the truth.

Used by `amfast demo`, the tests and the benchmarks. Each family is an original document and
1-4 variants made by edits of known kinds (word substitutions, deletions, insertions, swaps,
truncation, changed numbers, case/punctuation noise). The ground truth is the exact Jaccard of
word n-gram sets, computed here in plain Python, independently of the Rust core.
"""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

VARIANT_KINDS = ("noise", "substitute", "delete", "insert", "swap", "truncate", "numbers", "mixed")
# Unicode words (letters, digits, marks), as amfast.normalize tokenizes; `_` separates.
_TOKEN = re.compile(r"[^\W_]+")


@dataclass
class PlantedCorpus:
    """Texts plus the families of planted near-duplicates (row ids, original first)."""

    texts: list[str]
    families: list[list[int]] = field(default_factory=list)
    kinds: dict[int, str] = field(default_factory=dict)


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(size * 2)}
    return sorted(words)[:size]


def _variant(words: list[str], kind: str, rng: random.Random, vocabulary: list[str]) -> list[str]:
    words = list(words)
    rate = rng.uniform(0.005, 0.04)
    edits = max(1, round(rate * len(words)))
    if kind == "mixed":
        for sub_kind in rng.sample(["substitute", "delete", "insert", "swap"], 2):
            words = _variant(words, sub_kind, rng, vocabulary)
        return words
    if kind == "noise":
        return [
            w.upper() if rng.random() < 0.1 else w + rng.choice(["", "", ",", "!"]) for w in words
        ]
    if kind == "truncate":
        return words[: len(words) - max(1, round(rng.uniform(0.02, 0.15) * len(words)))]
    if kind == "numbers":
        numbered = [i for i, w in enumerate(words) if w.isdigit()]
        for i in rng.sample(numbered, min(len(numbered), edits)) or [rng.randrange(len(words))]:
            words[i] = str(rng.randint(0, 999))
        return words
    for _ in range(edits):
        i = rng.randrange(len(words))
        if kind == "substitute":
            words[i] = rng.choice(vocabulary)
        elif kind == "delete" and len(words) > 1:
            del words[i]
        elif kind == "insert":
            words.insert(i, rng.choice(vocabulary))
        elif kind == "swap" and i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
    return words


def generate_corpus(
    rows: int,
    *,
    duplicate_fraction: float = 0.1,
    min_words: int = 50,
    max_words: int = 400,
    base_texts: Sequence[str] | None = None,
    seed: int = 0,
) -> PlantedCorpus:
    """Generates `rows` documents of `min_words..max_words` words with planted variants.

    Args:
        rows: Number of documents.
        duplicate_fraction: Share of rows that are planted variants of another row.
        min_words: Fewest words in an original document.
        max_words: Most words in an original document.
        base_texts: Real texts to build originals from (concatenated to the drawn length);
            without them, originals are Zipf-distributed words from a synthetic vocabulary.
        seed: Random seed; the same seed gives the same corpus.

    Returns:
        The texts in shuffled order and the planted families.

    Example:
        >>> corpus = generate_corpus(100, seed=1)
        >>> len(corpus.texts), all(len(family) >= 2 for family in corpus.families)
        (100, True)
    """
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng, 20_000)
    cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(vocabulary))))
    variants_wanted = round(rows * duplicate_fraction)
    originals: list[list[str]] = []
    variants: list[tuple[int, str, list[str]]] = []
    while len(originals) + len(variants) < rows:
        length = rng.randint(min_words, max_words)
        if base_texts:
            words: list[str] = []
            while len(words) < length:
                words.extend(rng.choice(base_texts).split())
            words = words[:length]
        else:
            words = rng.choices(vocabulary, cum_weights=cumulative, k=length)
            for i in rng.sample(range(length), k=max(1, length // 40)):
                words[i] = str(rng.randint(0, 999))
        originals.append(words)
        if len(variants) < variants_wanted:
            for _ in range(
                min(rng.choice([1, 1, 1, 2, 3, 4]), rows - len(originals) - len(variants))
            ):
                kind = rng.choice(VARIANT_KINDS)
                variants.append((len(originals) - 1, kind, _variant(words, kind, rng, vocabulary)))
    documents: list[tuple[int, str | None, list[str]]] = [
        (i, None, words) for i, words in enumerate(originals)
    ]
    documents.extend(variants)
    order = list(range(len(documents)))
    rng.shuffle(order)
    corpus = PlantedCorpus(texts=[""] * len(documents))
    family_rows: dict[int, list[int]] = {}
    for row, position in enumerate(order):
        original, variant_kind, document = documents[position]
        text = " ".join(document)
        corpus.texts[row] = text[:1].upper() + text[1:] + "."
        family_rows.setdefault(original, []).append(row)
        if variant_kind is not None:
            corpus.kinds[row] = variant_kind
    corpus.families = [sorted(rows_) for rows_ in family_rows.values() if len(rows_) > 1]
    return corpus


def shingle_set(
    text: str, ngram: int = 5, *, unigram_below: int = 0, bigram_below: int = 0
) -> set[tuple[str, ...]]:
    """Word n-gram set: NFKC, lower case, runs of Unicode letters/digits as words.

    With `unigram_below` / `bigram_below` (near dedup's defaults are 20 and 50), a text with
    fewer words is shingled as single words / word pairs (`amfast-shingle-v2`); a shingle's
    width is part of it, so sets of different widths share nothing.
    """
    words = _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    if len(words) < unigram_below:
        ngram = min(ngram, 1)
    elif len(words) < bigram_below:
        ngram = min(ngram, 2)
    if 0 < len(words) < ngram:
        return {(str(ngram), *words)}
    return {(str(ngram), *words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def same_numbers(left: str, right: str) -> bool:
    """Whether two texts hold the same multiset of digit runs (what `number_guard` compares)."""
    numbers = [
        sorted(re.findall(r"[0-9]+", unicodedata.normalize("NFKC", t))) for t in (left, right)
    ]
    return numbers[0] == numbers[1]


def jaccard(left: set[tuple[str, ...]], right: set[tuple[str, ...]]) -> float:
    """Exact Jaccard similarity; two empty sets score 0."""
    union = len(left | right)
    return len(left & right) / union if union else 0.0


@dataclass(frozen=True)
class PairScores:
    """Pair-level quality of a dedup result against exact Jaccard ground truth."""

    true_pairs: int
    found_pairs: int
    recall: float
    reported_pairs: int
    precision: float


def score_clusters(
    corpus: PlantedCorpus,
    cluster: npt.NDArray[np.int64],
    reported: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    *,
    threshold: float = 0.8,
    ngram: int = 5,
    unigram_below: int = 0,
    bigram_below: int = 0,
    number_guard: bool = False,
    kept: npt.NDArray[np.bool_] | None = None,
) -> PairScores:
    """Recall and precision of a dedup result against exact Jaccard within planted families.

    Recall: true pairs (exact J >= threshold within a family) that share a cluster, or with
    `kept` (greedy keep, which does not merge clusters) of which at most one row is kept.

    Precision: reported pairs whose exact J, recomputed here, is >= threshold. The shingling
    options are `shingle_set`'s; with `number_guard`, pairs whose numbers differ are not true
    pairs (the guard keeps them apart on purpose).
    """
    sets: dict[int, set[tuple[str, ...]]] = {}

    def set_of(row: int) -> set[tuple[str, ...]]:
        if row not in sets:
            sets[row] = shingle_set(
                corpus.texts[row],
                ngram,
                unigram_below=unigram_below,
                bigram_below=bigram_below,
            )
        return sets[row]

    def comparable(left: int, right: int) -> bool:
        return not number_guard or same_numbers(corpus.texts[left], corpus.texts[right])

    true_pairs = found = 0
    for family in corpus.families:
        for i, left in enumerate(family):
            for right in family[i + 1 :]:
                if jaccard(set_of(left), set_of(right)) >= threshold and comparable(left, right):
                    true_pairs += 1
                    if kept is None:
                        found += int(cluster[left] == cluster[right])
                    else:
                        found += int(not (kept[left] and kept[right]))
    left_rows, right_rows = reported
    correct = sum(
        jaccard(set_of(int(a)), set_of(int(b))) >= threshold - 1e-9
        for a, b in zip(left_rows, right_rows, strict=True)
    )
    return PairScores(
        true_pairs=true_pairs,
        found_pairs=found,
        recall=found / true_pairs if true_pairs else 1.0,
        reported_pairs=len(left_rows),
        precision=correct / len(left_rows) if len(left_rows) else 1.0,
    )
