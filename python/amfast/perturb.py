r"""Seeded perturbations of benchmark items: how contamination looks after someone edited it.

Used to measure decontamination (`benches/decontam_perturbations.py`, the decontam tests): each
kind turns an evaluation item into the training row a pipeline might have collected.

- `reformat`: whitespace, LaTeX spelling (`\frac` -> `\dfrac`, `$` dropped, `\left(` -> `(`),
  letter case and punctuation;
- `renumber`: every number replaced by another of the same length;
- `wrap`: an instruction prefix and suffix from public SFT / RL prompt templates;
- `substitute`: several word substitutions from a fixed synonym table (`SYNONYMS`);
- `reorder`: sentences (or, in a one-sentence item, its clauses) in another order;
- `paraphrase`: clause rewordings (`REWORDINGS`), then substitutions, then a reorder.

Math (`$...$`, `\[...\]`) is never edited by substitutions or rewordings, so a perturbed item
still states the same problem. Everything depends only on the text, the kind and the seed.
"""

from __future__ import annotations

import functools
import random
import re
import zlib
from collections.abc import Callable
from typing import Literal

PerturbationKind = Literal["reformat", "renumber", "wrap", "substitute", "reorder", "paraphrase"]
KINDS: tuple[PerturbationKind, ...] = (
    "reformat",
    "renumber",
    "wrap",
    "substitute",
    "reorder",
    "paraphrase",
)

SYNONYMS: tuple[tuple[str, str], ...] = (
    ("find", "determine"),
    ("compute", "calculate"),
    ("calculate", "work out"),
    ("evaluate", "compute"),
    ("determine", "find"),
    ("integer", "whole number"),
    ("integers", "whole numbers"),
    ("positive", "greater than zero"),
    ("number", "value"),
    ("numbers", "values"),
    ("largest", "greatest"),
    ("smallest", "least"),
    ("greatest", "largest"),
    ("least", "smallest"),
    ("total", "overall"),
    ("each", "every"),
    ("every", "each"),
    ("buy", "purchase"),
    ("buys", "purchases"),
    ("bought", "purchased"),
    ("costs", "is priced at"),
    ("cost", "price"),
    ("has", "owns"),
    ("have", "own"),
    ("makes", "earns"),
    ("gets", "receives"),
    ("get", "receive"),
    ("uses", "utilizes"),
    ("needs", "requires"),
    ("wants", "would like"),
    ("start", "begin"),
    ("starts", "begins"),
    ("end", "finish"),
    ("begins", "starts"),
    ("amount", "quantity"),
    ("money", "cash"),
    ("week", "7-day period"),
    ("triangle", "three-sided figure"),
    ("circle", "round figure"),
    ("sum", "total"),
    ("difference", "gap"),
    ("probability", "chance"),
    ("equal", "identical"),
    ("distinct", "different"),
    ("different", "distinct"),
    ("real", "real-valued"),
    ("value", "numerical value"),
    ("length", "measure"),
    ("area", "surface area"),
    ("side", "edge"),
    ("sides", "edges"),
    ("function", "map"),
    ("satisfies", "fulfills"),
    ("satisfy", "fulfill"),
    ("such that", "so that"),
    ("given", "provided"),
    ("possible", "feasible"),
    ("maximum", "largest possible"),
    ("minimum", "smallest possible"),
    ("average", "mean"),
    ("half", "one half"),
    ("twice", "two times"),
    ("remainder", "leftover"),
    ("divided", "split"),
    ("people", "persons"),
    ("students", "pupils"),
    ("student", "pupil"),
    ("car", "automobile"),
    ("shop", "store"),
    ("store", "shop"),
    ("friend", "pal"),
    ("friends", "pals"),
    ("day", "24-hour period"),
    ("large", "big"),
    ("small", "little"),
    ("fast", "quick"),
    ("answer", "response"),
    ("express", "write"),
)
"""Word substitutions a paraphraser makes (case follows the original's first letter)."""

REWORDINGS: tuple[tuple[str, str], ...] = (
    (r"\bWhat is the value of\b", "Compute"),
    (r"\bHow many ([a-z]+) are there\b", r"Determine the count of \1"),
    (r"\bHow many\b", "What number of"),
    (r"\bHow much\b", "What amount of"),
    (r"\bWhat is\b", "Give"),
    (r"\bLet ([^,.;]{1,30}?) be\b", r"Suppose \1 is"),
    (r"\bIf ([^,?]{5,}?), (what|how|find)\b", r"Assume \1. Then \2"),
    (r"\bExpress your answer as a common fraction\.", "Give the answer as a reduced fraction."),
    (r"\bExpress your answer\b", "Write the result"),
    (r"\bthere are\b", "we have"),
    (r"\bin terms of\b", "as a function of"),
    (r"\bwhich of the following\b", "which option"),
)
"""Clause rewordings of `paraphrase` (regex, replacement), applied outside math."""

PREFIXES = (
    "Solve the following math problem. Make sure to put the answer (and only answer) inside "
    "\\boxed{}.\n\n",
    "Question: ",
    "You will be given a problem. Please reason step by step, and put your final answer within "
    "\\boxed{}:\n",
    "Problem:\n",
    "Answer the following question carefully, showing your work.\n\n",
)
SUFFIXES = (
    "\nPlease reason step by step, and put your final answer within \\boxed{}.",
    "\n\nAnswer:",
    " Let's think step by step and output the final answer within \\boxed{}.",
    "\nReturn your final response as 'Final Answer: \\boxed{<answer>}'.",
    "",
)
"""Instruction boilerplate of `wrap` (Qwen, NuminaMath, DeepScaleR, OpenR1-style prompts)."""

_MATH = re.compile(r"(\$\$.+?\$\$|\$.+?\$|\\\[.+?\\\]|\\\(.+?\\\)|\[asy\].+?\[/asy\])", re.DOTALL)
_NUMBER = re.compile(r"\d+")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z$\\])")


def _rng(text: str, kind: str, seed: int) -> random.Random:
    """A generator seeded by the text, the kind and the seed (stable across runs)."""
    return random.Random(zlib.crc32(f"{seed}\0{kind}\0{text}".encode()))


def _outside_math(text: str, edit: Callable[[str], str]) -> str:
    """`edit` applied to the prose between math spans, math left as it is."""
    parts = _MATH.split(text)
    return "".join(part if index % 2 else edit(part) for index, part in enumerate(parts))


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def substitute(text: str, rng: random.Random, count: int = 4) -> str:
    """`count` synonym substitutions (every occurrence of each chosen word), if there are any."""
    prose = " ".join(_MATH.split(text)[::2])
    present = [
        (word, other)
        for word, other in SYNONYMS
        if re.search(rf"\b{re.escape(word)}\b", prose, re.IGNORECASE)
    ]
    chosen = rng.sample(present, min(count, len(present)))
    if not chosen:
        return text
    table = dict(chosen)
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w, _ in chosen) + r")\b", re.I)

    def edit(part: str) -> str:
        return pattern.sub(lambda m: _match_case(m[0], table[m[0].lower()]), part)

    return _outside_math(text, edit)


def reformat(text: str, rng: random.Random) -> str:
    """Three of: whitespace, LaTeX spelling, letter case, punctuation."""
    edits: list[Callable[[str], str]] = [
        lambda t: re.sub(r"\s+", lambda m: rng.choice(["  ", "\n", " ", " \n "]), t),
        lambda t: t.replace("\\frac", "\\dfrac").replace("\\left(", "(").replace("\\right)", ")"),
        lambda t: t.replace("$", ""),
        lambda t: t.lower(),
        lambda t: t.upper(),
        lambda t: re.sub(r"[,;:]", lambda m: rng.choice([" ,", ";", ""]), t).rstrip(".?"),
    ]
    for edit in rng.sample(edits, 3):
        text = edit(text)
    return text


def renumber(text: str, rng: random.Random) -> str:
    """Every number replaced by a different one of the same number of digits."""

    def other(match: re.Match[str]) -> str:
        digits = match[0]
        low = 10 ** (len(digits) - 1) if len(digits) > 1 else 0
        choices = [str(value) for value in rng.sample(range(low, 10 ** len(digits)), 2)]
        return choices[0] if choices[0] != digits else choices[1]

    return _NUMBER.sub(other, text)


def wrap(text: str, rng: random.Random) -> str:
    """The item between an instruction prefix and suffix."""
    return rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)


def reorder(text: str, rng: random.Random) -> str:
    """Sentences shuffled (the question moved first); one sentence: its clauses swapped."""
    sentences = _sentences(text)
    if len(sentences) > 1:
        order = list(range(len(sentences)))
        while order == sorted(order):
            rng.shuffle(order)
        return " ".join(sentences[i] for i in order)
    clauses = _outside_math_split(text, ", ")
    if len(clauses) > 1:
        cut = rng.randrange(1, len(clauses))
        head, tail = ", ".join(clauses[:cut]), ", ".join(clauses[cut:])
        end = tail[-1] if tail[-1:] in ".?!" else ""
        return f"{_match_case(tail, tail.rstrip('.?!'))}, {head[:1].lower()}{head[1:]}{end}"
    return text


def paraphrase(text: str, rng: random.Random) -> str:
    """A light paraphrase: clause rewordings, two substitutions, then a reorder."""
    for pattern, replacement in REWORDINGS:
        text = _outside_math(text, functools.partial(re.sub, pattern, replacement))
    return reorder(substitute(text, rng, count=2), rng)


def _sentences(text: str) -> list[str]:
    """Sentences of the prose (a split never falls inside math)."""
    return [s for s in _outside_math_split(text, None) if s.strip()]


def _outside_math_split(text: str, separator: str | None) -> list[str]:
    """`text` split at `separator` (None: sentence ends) where that is outside math."""
    pieces, current = [], ""
    for index, part in enumerate(_MATH.split(text)):
        if index % 2:
            current += part
            continue
        cuts = _SENTENCE_END.split(part) if separator is None else part.split(separator)
        current += cuts[0]
        for cut in cuts[1:]:
            pieces.append(current.strip())
            current = cut
    pieces.append(current.strip())
    return [piece for piece in pieces if piece]


_KINDS: dict[str, Callable[[str, random.Random], str]] = {
    "reformat": reformat,
    "renumber": renumber,
    "wrap": wrap,
    "substitute": substitute,
    "reorder": reorder,
    "paraphrase": paraphrase,
}


def perturb(text: str, kind: PerturbationKind, seed: int = 0) -> str:
    """`text` perturbed by `kind` (see the module docs); the same inputs give the same output.

    Raises:
        ValueError: An unknown kind.

    Example:
        >>> perturb("Find the largest integer $n$ such that $n^2 < 50$.", "substitute", seed=1)
        'Determine the greatest whole number $n$ so that $n^2 < 50$.'
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown perturbation {kind!r}; use one of {KINDS}")
    return _KINDS[kind](text, _rng(text, kind, seed))


def copies_of(
    rows: list[str], items: list[str], *, ngram: int = 8, share: float = 0.5
) -> list[bool]:
    """Which rows are copies of an item by checks independent of amfast's rules.

    A row is a copy when, lower-cased and split into words, it equals an item (with or
    without its digits) or holds at least `share` of an item's word `ngram`-grams. Used to keep
    real copies out of the "unrelated" rows a false-flag rate is measured on.
    """

    def words(text: str) -> list[str]:
        return re.findall(r"[^\W_]+", text.lower())

    def grams(tokens: list[str]) -> set[tuple[str, ...]]:
        if len(tokens) < ngram:
            return {tuple(tokens)} if tokens else set()
        return {tuple(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)}

    whole = {" ".join(words(item)) for item in items}
    digitless = {" ".join(words(re.sub(r"\d", " ", item))) for item in items}
    index: dict[tuple[str, ...], list[int]] = {}
    sizes = []
    for number, item in enumerate(items):
        item_grams = grams(words(item))
        sizes.append(len(item_grams))
        for gram in item_grams:
            index.setdefault(gram, []).append(number)
    flags = []
    for row in rows:
        tokens = words(row)
        if " ".join(tokens) in whole or " ".join(words(re.sub(r"\d", " ", row))) in digitless:
            flags.append(True)
            continue
        counts: dict[int, int] = {}
        for gram in grams(tokens):
            for number in index.get(gram, ()):
                counts[number] = counts.get(number, 0) + 1
        flags.append(any(count >= share * sizes[number] for number, count in counts.items()))
    return flags
