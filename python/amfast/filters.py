"""Quality filters: each a stage with a name, parameters and reason codes; metrics in Rust.

The measurements come from `quality_metrics` (one parallel Rust pass per column, see
`rust/src/quality.rs`); a filter is a threshold on one of them. Filters run in the configured
order, so a row is attributed to the first filter it fails. Each filter reads the `text` (query)
or the `response` column; a filter of the response passes every row whose response is null.

- `length` (text): words / tokens outside `[min, max]` (0: no bound) -> `too_short`,
  `too_long`.
- `repetition` (response): a phrase of <= `repeat_max_period` tokens repeated back to back
  >= `repeat_min_repeats` times over >= `repeat_min_span` tokens -> `repetition`.
- `frequent_ngrams` (text): a `frequent_ngram`-token n-gram found in more than
  `frequent_min_count` rows -> `frequent_ngram`.
- `language` (text): language (none / en / zh / other) not in `languages` -> `language`.
- `language_mix` (response): over `max_mixed_fraction` in another language -> `language_mix`.
- `think_form` (response): not `<think>..</think><answer>..</answer>`, each once, in order,
  non-empty -> `think_missing`, `think_repeated`, `think_order`, `think_empty`.
- `unicode` (text): unusual characters over `max_unusual_fraction` -> `unusual_characters`.
- `url`, `image`, `table` (text): a URL / image reference / table -> `url`,
  `image_reference`, `table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from amfast import _core
from amfast.normalize import TextColumn
from amfast.stage import Drops, StageContext

FILTER_NAMES = (
    "length",
    "repetition",
    "frequent_ngrams",
    "language",
    "language_mix",
    "think_form",
    "unicode",
    "url",
    "image",
    "table",
)
LANGUAGES = ("none", "en", "zh", "other")
THINK_REASONS = ("ok", "think_missing", "think_repeated", "think_order", "think_empty")
Column = Literal["text", "response"]


@dataclass(frozen=True)
class FilterOptions:
    """Thresholds of every filter (the `amfast clean` config keys of the same names)."""

    min_words: int = 0
    max_words: int = 0
    min_tokens: int = 5
    max_tokens: int = 0
    repeat_max_period: int = 20
    repeat_min_repeats: int = 4
    repeat_min_span: int = 40
    frequent_ngram: int = 20
    frequent_min_count: int = 20
    languages: tuple[str, ...] = ("en", "zh")
    max_mixed_fraction: float = 0.2
    max_unusual_fraction: float = 0.1


def quality_metrics(
    texts: TextColumn,
    *,
    repeat_max_period: int = 20,
    repeat_min_repeats: int = 4,
    num_threads: int | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Every quality metric of every text, as numpy columns (Rust, parallel, GIL released).

    Null texts get zeros (and a missing think form).

    Example:
        >>> metrics = quality_metrics(["<think>hm</think><answer>4</answer>", "一 一 一 一 一"])
        >>> metrics["think_form"].tolist(), metrics["language"].tolist()
        ([0, 1], [1, 2])
    """
    result: dict[str, npt.NDArray[Any]] = _core.quality_metrics(
        texts,
        repeat_max_period=repeat_max_period,
        repeat_min_repeats=repeat_min_repeats,
        num_threads=num_threads,
    )
    return result


class FilterStage:
    """One quality filter as a pipeline stage (see the module docs for the table)."""

    def __init__(self, name: str, options: FilterOptions) -> None:
        """A filter by name.

        Raises:
            ValueError: An unknown filter name or language.
        """
        if name not in FILTER_NAMES:
            raise ValueError(f"unknown filter {name!r}; known: {', '.join(FILTER_NAMES)}")
        unknown = set(options.languages) - set(LANGUAGES)
        if unknown:
            raise ValueError(f"unknown languages {sorted(unknown)}; use {', '.join(LANGUAGES)}")
        self.name, self.options = name, options
        self.column: Column = (
            "response" if name in ("repetition", "language_mix", "think_form") else "text"
        )

    def params(self) -> dict[str, Any]:
        """The thresholds this filter reads."""
        options = self.options
        by_name: dict[str, dict[str, Any]] = {
            "length": {
                "min_words": options.min_words,
                "max_words": options.max_words,
                "min_tokens": options.min_tokens,
                "max_tokens": options.max_tokens,
            },
            "repetition": {
                "repeat_max_period": options.repeat_max_period,
                "repeat_min_repeats": options.repeat_min_repeats,
                "repeat_min_span": options.repeat_min_span,
            },
            "frequent_ngrams": {
                "frequent_ngram": options.frequent_ngram,
                "frequent_min_count": options.frequent_min_count,
            },
            "language": {"languages": list(options.languages)},
            "language_mix": {"max_mixed_fraction": options.max_mixed_fraction},
            "unicode": {"max_unusual_fraction": options.max_unusual_fraction},
        }
        return {"column": self.column, **by_name.get(self.name, {})}

    def run(self, frame: pa.Table, context: StageContext) -> Drops:
        """Measures the column (metrics shared between filters) and applies the threshold."""
        texts = frame.column(self.column)
        present = texts.is_valid().to_numpy(zero_copy_only=False)
        if not present.any():
            return Drops.none()
        if self.name == "frequent_ngrams":
            counts = frequent_ngram_counts(
                texts,
                self.options.frequent_ngram,
                self.options.frequent_min_count,
                context.batch_rows,
                context.num_threads,
            )
            return _drops(counts > 0, "frequent_ngram", counts)
        metrics = _cached_metrics(frame, self.column, self.options, context)
        mask, reasons, scores = self.decide(metrics)
        context.progress(frame.num_rows)
        return _drops(mask & present, reasons, scores)

    def decide(
        self, metrics: dict[str, npt.NDArray[Any]]
    ) -> tuple[npt.NDArray[np.bool_], str | npt.NDArray[Any], npt.NDArray[Any]]:
        """`(drop mask, reason or reasons, score)` of every row from its metrics."""
        options = self.options
        name = self.name
        if name == "length":
            words, tokens = metrics["words"], metrics["tokens"]
            short = (words < options.min_words) | (tokens < options.min_tokens)
            long = np.zeros(len(words), bool)
            if options.max_words:
                long |= words > options.max_words
            if options.max_tokens:
                long |= tokens > options.max_tokens
            return short | long, np.where(short, "too_short", "too_long"), words
        if name == "repetition":
            span = metrics["repeat_span"]
            return span >= options.repeat_min_span, "repetition", span
        if name == "language":
            codes = metrics["language"]
            allowed = [LANGUAGES.index(language) for language in options.languages]
            return ~np.isin(codes, allowed), "language", metrics["cjk_fraction"]
        if name == "language_mix":
            mixed = metrics["mixed_fraction"]
            return mixed > options.max_mixed_fraction, "language_mix", mixed
        if name == "think_form":
            form = metrics["think_form"]
            return form > 0, np.array(THINK_REASONS, dtype=object)[form], form
        if name == "unicode":
            unusual = metrics["unusual_fraction"]
            return unusual > options.max_unusual_fraction, "unusual_characters", unusual
        column, reason = {
            "url": ("urls", "url"),
            "image": ("image_refs", "image_reference"),
            "table": ("tables", "table"),
        }[name]
        return metrics[column] > 0, reason, metrics[column]


def frequent_ngram_counts(
    texts: pa.ChunkedArray | pa.Array,
    ngram: int,
    min_count: int,
    batch_rows: int = 65_536,
    num_threads: int | None = None,
) -> npt.NDArray[np.uint32]:
    """Per row, how many of its `ngram`-token n-grams occur in more than `min_count` rows.

    Example:
        >>> texts = pa.array(["a b c d", "x a b c", "a b c", "p q r"])
        >>> frequent_ngram_counts(texts, 3, 2).tolist()
        [1, 1, 1, 0]
    """
    counter = _core.NgramCounter(ngram, num_threads=num_threads)
    chunked = texts if isinstance(texts, pa.ChunkedArray) else pa.chunked_array([texts])
    for start in range(0, len(chunked), batch_rows):
        counter.add(chunked.slice(start, batch_rows))
    counter.finish(min_count)
    parts = [
        counter.count_frequent(chunked.slice(start, batch_rows))
        for start in range(0, len(chunked), batch_rows)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint32)


def _cached_metrics(
    frame: pa.Table, column: Column, options: FilterOptions, context: StageContext
) -> dict[str, npt.NDArray[Any]]:
    """Metrics of `column` for the frame's rows, measured once per column and run."""
    key = f"quality:{column}"
    cached = context.cache.get(key)
    rows = frame.column("row").to_numpy()
    if cached is None or not np.isin(rows, cached[0]).all():
        texts = frame.column(column)
        parts = [
            quality_metrics(
                texts.slice(start, context.batch_rows),
                repeat_max_period=options.repeat_max_period,
                repeat_min_repeats=options.repeat_min_repeats,
                num_threads=context.num_threads,
            )
            for start in range(0, frame.num_rows, context.batch_rows)
        ]
        metrics = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        cached = (rows, metrics)
        context.cache[key] = cached
    cached_rows, metrics = cached
    positions = np.searchsorted(cached_rows, rows)
    return {name: values[positions] for name, values in metrics.items()}


def _drops(
    mask: npt.NDArray[np.bool_], reasons: str | npt.NDArray[Any], scores: npt.NDArray[Any]
) -> Drops:
    positions = np.flatnonzero(mask).astype(np.int64)
    reason_list = reasons if isinstance(reasons, str) else [str(r) for r in reasons[positions]]
    return Drops(positions, reason_list, scores=np.asarray(scores, np.float64)[positions])
