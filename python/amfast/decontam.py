"""Decontamination: flag training rows that copy an evaluation benchmark item.

Five rules, checked against each benchmark separately (one Rust index, parallel queries):

- `exact_no_digits`: equal after normalization with digits removed, which catches copies whose
  numbers were changed (GSM-Hard style, MATH templates); texts shorter than `min_exact_words`
  words once digits are gone are not compared ("what is the remainder when 2007 is divided by
  25" is not a copy of every remainder question);
- `ngram`: the row shares word n-grams (13 by default, GPT-3 / Llama style) with a benchmark
  item: at least `min_overlap` of them and at least `min_item_fraction` of the item's n-grams
  (so shared boilerplate such as "where m and n are relatively prime positive integers. Find
  m+n" does not flag every AIME-style problem); an item shorter than `ngram` words counts as
  one n-gram, so its verbatim copies match;
- `content_words`: the row holds at least `content_threshold` of the item's content (its words
  less stopwords, its numbers, its formula symbols, and adjacent pairs of them; each weighted
  by its rarity among the benchmark items), and the item at least `content_row_fraction` of
  the row's. Catches reworded, reordered and wrapped copies (`amfast.perturb`,
  `benches/decontam_perturbations.py`); items lighter than `min_content_weight` are too
  generic for it;
- `content_words_no_digits`: the same with numbers ignored, at `content_no_digits_threshold`
  (renumbered copies that were also reworded); items need `min_content_weight_no_digits`;
- `embedding` (optional): cosine with the nearest benchmark item >= `embedding_threshold`.

An optional LLM-judge tier (`amfast.decontam_judge`, `find_contamination(..., judge=...)`) puts
the near misses of the fuzzy rules to a model and flags the copies it confirms (`llm_judge`).

Benchmarks are files the user names (`amfast.benchmarks.load_benchmark`: MATH-500 / AIME / AMC
JSONL, AIME 2025 QwQ, GPQA-Diamond CSV, LiveCodeBench JSON / JSONL, or any JSONL with a named
field).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from amfast import _core
from amfast.benchmarks import Benchmark, load_benchmark
from amfast.config import fraction, positive, require, with_overrides
from amfast.embed import Embedder, EmbeddingModel, embed_texts, load_embedder
from amfast.errors import InputError
from amfast.generate.judge import Generate, JudgeOptions
from amfast.io import DroppedInfo, file_format, iter_text_batches, write_split
from amfast.normalize import NormalizeOptions
from amfast.outputs import Output, check_outputs, write_text_atomically

if TYPE_CHECKING:
    from amfast.decontam_judge import Judgement


@dataclass(frozen=True)
class DecontamOptions:
    """The decontamination rules' settings: the one declaration of them and their defaults.

    The `judge_*` settings say which matches the LLM-judge tier asks about; the judge itself
    (model, backend) is `amfast.generate.judge.JudgeOptions`.

    `amfast decontam` exposes them as flags (`--ngram`), `amfast clean` as `--decontam-ngram`
    (and keys of a `[decontam]` table); `find_contamination(texts, benchmarks, options)` and
    the core's `NgramIndex` take it whole.
    """

    ngram: int = field(default=13, metadata={"help": "words per n-gram"})
    min_overlap: int = field(default=1, metadata={"help": "shared n-grams that flag a row"})
    min_item_fraction: float = field(
        default=0.5, metadata={"help": "share of the benchmark item's n-grams the row must hold"}
    )
    min_exact_words: int = field(
        default=10, metadata={"help": "words (digits removed) a text needs for the exact rule"}
    )
    exact: bool = field(default=True, metadata={"help": "apply the exact-without-digits rule"})
    content: bool = field(
        default=True, metadata={"help": "apply the content-word rules (reworded copies)"}
    )
    content_threshold: float = field(
        default=0.65,
        metadata={"help": "share of an item's weighted content words (numbers too) the row holds"},
    )
    content_no_digits_threshold: float = field(
        default=0.8, metadata={"help": "the same share with numbers ignored (renumbered copies)"}
    )
    content_row_fraction: float = field(
        default=0.3, metadata={"help": "share of the row's weighted content words in the item"}
    )
    min_content_weight: float = field(
        default=4.0, metadata={"help": "content weight an item needs (1 = one rare word)"}
    )
    min_content_weight_no_digits: float = field(
        default=8.0, metadata={"help": "content weight without numbers an item needs"}
    )
    embedding_threshold: float | None = field(
        default=None, metadata={"help": "also flag rows this close (cosine; default: off)"}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "embedding cache directory"})
    judge_content_threshold: float = field(
        default=0.5,
        metadata={
            "help": "judge tier: rows under the content threshold that hold at least this "
            "share of an item go to the judge"
        },
    )
    judge_embedding_threshold: float | None = field(
        default=None,
        metadata={
            "help": "judge tier: rows under the embedding threshold at least this close "
            "(cosine) go to the judge (default: none)"
        },
    )
    judge_confirm: bool = field(
        default=False,
        metadata={
            "help": "judge tier: also put rows flagged only by the fuzzy rules (content words, "
            "embedding) to the judge, and keep those it calls different"
        },
    )

    def __post_init__(self) -> None:
        positive("ngram", self.ngram)
        positive("min_overlap", self.min_overlap)
        fraction("min_item_fraction", self.min_item_fraction)
        require(self.min_exact_words >= 0, "min_exact_words", self.min_exact_words, ">= 0")
        fraction("content_threshold", self.content_threshold)
        fraction("content_no_digits_threshold", self.content_no_digits_threshold)
        share = self.content_row_fraction
        require(0.0 <= share <= 1.0, "content_row_fraction", share, "a number in [0, 1]")
        for name in ("min_content_weight", "min_content_weight_no_digits"):
            value = getattr(self, name)
            require(math.isfinite(value) and value >= 0, name, value, "a number >= 0")
        fraction("embedding_threshold", self.embedding_threshold, optional=True)
        fraction("judge_content_threshold", self.judge_content_threshold)
        fraction("judge_embedding_threshold", self.judge_embedding_threshold, optional=True)
        below = self.judge_embedding_threshold
        require(
            below is None
            or (self.embedding_threshold is not None and below <= self.embedding_threshold),
            "judge_embedding_threshold",
            below,
            "a cosine at most embedding_threshold (which must be set)",
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of `find_contamination`."""
        return asdict(self)


@dataclass(frozen=True)
class DecontamConfig:
    """Settings of `amfast decontam`; field = TOML key (`[decontam]`) = CLI flag."""

    input: str = field(metadata={"positional": True, "help": "JSONL (.gz, .zst) or Parquet file"})
    output: str = field(
        metadata={"aliases": ("-o",), "help": "rows no benchmark flags (the input's format)"}
    )
    text_field: str = field(metadata={"help": "field holding the problem text"})
    benchmarks: list[str] = field(
        default_factory=list,
        metadata={
            "aliases": ("--benchmark",),
            "split": False,
            "help": "benchmark file, NAME=PATH[::FIELD] (JSONL, JSON array or CSV); required",
        },
    )
    flagged: str | None = field(
        default=None, metadata={"help": "JSONL of flagged rows with benchmark, rule, item_id"}
    )
    report: str | None = field(default=None, metadata={"help": "per-benchmark report (JSON)"})
    judged: str | None = field(
        default=None,
        metadata={"help": "JSONL of every question put to the LLM judge, with its reply"},
    )
    embedding_model: EmbeddingModel = field(default_factory=EmbeddingModel)
    decontam: DecontamOptions = field(default_factory=DecontamOptions)
    llm_judge: JudgeOptions = field(default_factory=JudgeOptions)
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    num_threads: int | None = field(
        default=None, metadata={"help": "worker threads (default: all cores)"}
    )

    def __post_init__(self) -> None:
        require(bool(self.benchmarks), "benchmarks", self.benchmarks, "at least one file")
        positive("num_threads", self.num_threads, optional=True)
        judge = self.llm_judge.judge
        require(self.judged is None or judge, "judged", self.judged, "none unless --judge is on")
        confirm = self.decontam.judge_confirm
        require(not confirm or judge, "judge_confirm", confirm, "false unless --judge is on")


@dataclass(frozen=True)
class BenchmarkHits:
    """Per row, what one benchmark's rules found (-1 / NaN: nothing)."""

    exact_item: npt.NDArray[np.int64]
    ngram_item: npt.NDArray[np.int64]
    ngram_overlap: npt.NDArray[np.uint32]
    item_ngram_count: npt.NDArray[np.uint32]
    content_item: npt.NDArray[np.int64]
    content_share: npt.NDArray[np.float32]
    content_no_digits_item: npt.NDArray[np.int64]
    content_no_digits_share: npt.NDArray[np.float32]
    embedding_item: npt.NDArray[np.int64] | None = None
    embedding_similarity: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True)
class Contamination:
    """Decontamination result.

    Attributes:
        flagged: True for rows that match any benchmark by any rule.
        benchmark: Per row, the first benchmark (in the given order) that flagged it.
        rule: Per row, the rule that flagged it there (`exact_no_digits`, `ngram`,
            `content_words`, `content_words_no_digits`, `embedding`, `llm_judge`,
            `llm_judge_unparsable`; the first that fired, in that order).
        item: Per row, the matching benchmark item id.
        hits: Everything each benchmark's rules found, by benchmark name.
        report: Per benchmark: rows flagged, rows per rule, distinct items matched, and with
            the judge, its questions' outcomes (`judge`: asked, same, different, unparsable,
            cleared).
        judgements: Every question put to the LLM judge, with its reply (empty without one).
    """

    flagged: npt.NDArray[np.bool_]
    benchmark: list[str | None]
    rule: list[str | None]
    item: list[str | None]
    hits: dict[str, BenchmarkHits] = field(repr=False)
    report: dict[str, dict[str, Any]]
    judgements: list[Judgement] = field(default_factory=list, repr=False)


def find_contamination(
    texts: Sequence[str],
    benchmarks: Sequence[Benchmark],
    decontam: DecontamOptions | None = None,
    *,
    normalize: NormalizeOptions | None = None,
    embedder: Embedder | None = None,
    judge: Generate | None = None,
    num_threads: int | None = None,
    **settings: Any,  # noqa: ANN401 - DecontamOptions fields
) -> Contamination:
    """Flags rows of `texts` that copy an item of any benchmark.

    Args:
        texts: Training rows.
        benchmarks: Evaluation sets (see `load_benchmark`).
        decontam: The rules' settings (`DecontamOptions`); the defaults when omitted.
        normalize: Normalization before both rules (digits are removed for the exact rule).
        embedder: Model for the embedding rule (None with a threshold: `load_embedder()`).
        judge: An LLM judge for the rules' near misses, as prompts -> completions (e.g.
            `JudgeOptions(...).generate_function()`; see `amfast.decontam_judge`); None: no
            judge tier. One generation per question.
        num_threads: Worker threads (None: all cores).
        **settings: `DecontamOptions` fields that override `decontam` (`ngram=8`).

    Raises:
        InvalidRowError: A null text (named).
        InputError: The judge has nothing to ask about, or its backend misbehaved.

    Example:
        >>> item = "Tom has 3 apples and buys 5 more at the shop. How many apples does he have?"
        >>> bench = Benchmark("toy", [item], ["t1"])
        >>> row = "Tom has 7 apples and buys 2 more at the shop. How many apples does he have?"
        >>> found = find_contamination([row], [bench])
        >>> found.flagged.tolist(), found.rule, found.item
        ([True], ['exact_no_digits'], ['t1'])
        >>> def judge(prompts):  # prompts -> completions; a model in practice
        ...     return ["True" for _ in prompts]
        >>> reworded = "Tom had 3 apples and bought 5 more apples at the shop. What is his total?"
        >>> found = find_contamination([reworded], [bench], judge=judge)
        >>> found.rule, found.judgements[0].rule, found.judgements[0].reply
        (['llm_judge'], 'content_words', 'True')
    """
    options = with_overrides(DecontamOptions, decontam, settings)
    embedding_threshold, cache_dir = options.embedding_threshold, options.cache_dir
    rows = len(texts)
    hits: dict[str, BenchmarkHits] = {}
    rules: dict[str, list[tuple[str, npt.NDArray[np.int64]]]] = {}
    corpus_embeddings = None
    if embedding_threshold is not None and rows:
        embedder = embedder or load_embedder()  # loaded once for the corpus and every benchmark
        corpus_embeddings = embed_texts(texts, embedder, cache_dir=cache_dir)
    # One index, one group per benchmark: each row is normalized once for all of them.
    index = _core.NgramIndex(decontam=options, normalize=normalize, num_threads=num_threads)
    offsets = []
    for benchmark in benchmarks:
        offsets.append(len(index))
        index.add(benchmark.texts)
    found = index.query(texts) if benchmarks else None
    for group, benchmark in enumerate(benchmarks):
        assert found is not None
        exact_item = _local(found["exact_item"][:, group], offsets[group])
        overlap = found["ngram_overlap"][:, group]
        item_count = found["item_ngram_count"][:, group]
        enough = (overlap >= options.min_overlap) & (
            overlap >= options.min_item_fraction * item_count
        )
        best = _local(found["ngram_item"][:, group], offsets[group])
        ngram_item = np.where(enough & (overlap > 0), best, -1)
        content_item = _local(found["content_item"][:, group], offsets[group])
        no_digits_item = _local(found["content_no_digits_item"][:, group], offsets[group])
        benchmark_rules = [("exact_no_digits", exact_item), ("ngram", ngram_item)]
        if options.content:
            benchmark_rules += [
                ("content_words", content_item),
                ("content_words_no_digits", no_digits_item),
            ]
        benchmark_hits = BenchmarkHits(
            exact_item,
            ngram_item,
            overlap,
            item_count,
            content_item,
            found["content_share"][:, group],
            no_digits_item,
            found["content_no_digits_share"][:, group],
        )
        if corpus_embeddings is not None and benchmark.texts:
            bench_embeddings = embed_texts(benchmark.texts, embedder, cache_dir=cache_dir)
            nearest, similarity = _core.best_matches(
                corpus_embeddings, bench_embeddings, num_threads=num_threads
            )
            assert embedding_threshold is not None
            near = np.where(similarity >= embedding_threshold, nearest, -1)
            benchmark_rules.append(("embedding", near))
            benchmark_hits = dataclasses.replace(
                benchmark_hits, embedding_item=nearest, embedding_similarity=similarity
            )
        hits[benchmark.name] = benchmark_hits
        rules[benchmark.name] = benchmark_rules
    judgements: list[Judgement] | None = None
    if judge is not None:
        from amfast.decontam_judge import judge_matches

        judgements, rules = judge_matches(
            texts,
            benchmarks,
            hits,
            rules,
            options,
            judge,
            normalize=normalize,
            num_threads=num_threads,
        )
    return _named_flags(rows, benchmarks, rules, hits, judgements)


def _named_flags(
    rows: int,
    benchmarks: Sequence[Benchmark],
    rules: dict[str, list[tuple[str, npt.NDArray[np.int64]]]],
    hits: dict[str, BenchmarkHits],
    judgements: list[Judgement] | None,
) -> Contamination:
    """Flags, the first (benchmark, rule, item) per row, and the report, from every rule.

    `judgements` is None when no judge ran (the report then has no `judge` counts).
    """
    flagged = np.zeros(rows, dtype=bool)
    first_benchmark: list[str | None] = [None] * rows
    first_rule: list[str | None] = [None] * rows
    first_item: list[str | None] = [None] * rows
    report: dict[str, dict[str, Any]] = {}
    for benchmark in benchmarks:
        any_rule = np.zeros(rows, dtype=bool)
        by_rule: dict[str, int] = {}
        for rule, items in rules[benchmark.name]:
            fired = items >= 0
            by_rule[rule] = int(np.count_nonzero(fired))
            for row in np.flatnonzero(fired & ~flagged & ~any_rule).tolist():
                first_benchmark[row] = benchmark.name
                first_rule[row] = rule
                first_item[row] = benchmark.ids[int(items[row])]
            any_rule |= fired
        matched = {
            int(items[row])
            for _, items in rules[benchmark.name]
            for row in np.flatnonzero(items >= 0)
        }
        report[benchmark.name] = {
            "items": len(benchmark.texts),
            "rows_flagged": int(np.count_nonzero(any_rule)),
            "by_rule": by_rule,
            "items_matched": len(matched),
        }
        if judgements is not None:
            from amfast.decontam_judge import judge_summary

            report[benchmark.name]["judge"] = judge_summary(judgements, benchmark.name)
        flagged |= any_rule
    return Contamination(
        flagged, first_benchmark, first_rule, first_item, hits, report, judgements or []
    )


def _local(items: npt.NDArray[np.int64], offset: int) -> npt.NDArray[np.int64]:
    """Global item ids of the shared index as ids within one benchmark (-1 stays -1)."""
    return np.where(items >= 0, items - offset, -1)


def decontam_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    benchmarks: Sequence[Benchmark],
    *,
    text_field: str,
    flagged_path: str | os.PathLike[str] | None = None,
    report_path: str | os.PathLike[str] | None = None,
    judged_path: str | os.PathLike[str] | None = None,
    benchmark_paths: Sequence[str | os.PathLike[str]] | None = None,
    **options: Any,  # noqa: ANN401 - forwarded to find_contamination
) -> Contamination:
    """Writes the rows of `source` no benchmark flags to `output` (what `amfast decontam` runs).

    `flagged_path` (JSONL) gets one line per flagged row: `row_id`, `benchmark`, `rule`,
    `item_id`, `text`, and when the judge was asked about that match, its `Judgement.record`
    (`judged_rule`, `judged_score`, `judge_verdict`, `judge_reply` ...); `report_path` the
    per-benchmark report as JSON; `judged_path` one line per question put to the judge. Outputs
    appear only once complete.

    Raises:
        InputError: Unreadable input, a missing or non-string field (file, line and field named).
    """
    source = Path(source)
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    kind = file_format(source)
    if file_format(output) != kind:
        raise InputError(
            f"-o/--output {output}: the input is {kind} and decontam writes rows in the input's "
            f"format; name it .{kind}"
        )
    outputs = [Output(output, "-o/--output")]
    outputs += [Output(flagged_path, "--flagged")] if flagged_path is not None else []
    outputs += [Output(report_path, "--report")] if report_path is not None else []
    outputs += [Output(judged_path, "--judged")] if judged_path is not None else []
    check_outputs([source, *(benchmark_paths or [])], outputs)
    texts: list[str] = []
    for batch in iter_text_batches(source, text_field):
        texts.extend(batch if isinstance(batch, list) else batch.to_pylist())
    result = find_contamination(texts, benchmarks, **options)
    keep = (~result.flagged).tolist()
    write_split(source, keep, output, None, DroppedInfo([], [], "contaminated"))
    from amfast.decontam_judge import judgement_index

    asked = judgement_index(result.judgements)
    if flagged_path is not None:
        lines: list[dict[str, Any]] = []
        for row in np.flatnonzero(result.flagged).tolist():
            line: dict[str, Any] = {
                "row_id": row,
                "benchmark": result.benchmark[row],
                "rule": result.rule[row],
                "item_id": result.item[row],
            }
            judgement = asked.get((row, str(result.benchmark[row])))
            line |= judgement.record() if judgement is not None else {}
            lines.append(line | {"text": texts[row]})
        write_text_atomically(flagged_path, "".join(json.dumps(line) + "\n" for line in lines))
    if report_path is not None:
        write_text_atomically(report_path, json.dumps(result.report, indent=2) + "\n")
    if judged_path is not None:
        judged = [
            {"row_id": j.row, "benchmark": j.benchmark, "item_id": j.item_id}
            | j.record()
            | {"text": texts[j.row]}
            for j in result.judgements
        ]
        write_text_atomically(judged_path, "".join(json.dumps(line) + "\n" for line in judged))
    return result


BENCHMARKS_CACHE_KEY = "decontam:benchmarks"
"""`StageContext.cache` key of benchmarks read once for many `run` calls (see `clean_ray`)."""


@dataclass(frozen=True)
class _DecontamStage:
    """`amfast clean`'s decontamination step (see `clean_stage`)."""

    benchmark_paths: tuple[str, ...]
    options: dict[str, Any]
    name: str = "decontam"
    judge: dict[str, Any] | None = None
    """`JudgeOptions` fields when the LLM judge is on (plain values: the stage travels to Ray)."""
    embedding_model: EmbeddingModel = field(default_factory=EmbeddingModel)
    """The embedding rule's model (used when `embedding_threshold` is set)."""

    def params(self) -> dict[str, Any]:
        options = dict(self.options)
        if not self.judge:
            # Without the judge its bands decide nothing: earlier runs' markers stay valid.
            for key in [key for key in options if key.startswith("judge_")]:
                del options[key]
        if options.get("embedding_threshold") is not None:
            # The model decides the vectors; the backend does not (cosine >= 0.9999 per row).
            options["model"] = self.embedding_model.model
        return {"benchmarks": list(self.benchmark_paths), **options, **(self.judge or {})}

    def benchmarks(self) -> list[Benchmark]:
        """The benchmark files, read (engines that run blocks share them via the cache)."""
        return [load_benchmark(path) for path in self.benchmark_paths]

    def run(self, frame: Any, context: Any) -> Any:  # noqa: ANN401 - pipeline types, lazily
        from amfast.stage import Drops

        benchmarks = context.cache.get(BENCHMARKS_CACHE_KEY) or self.benchmarks()
        texts = frame.column("text").to_pylist()
        judge = JudgeOptions(**self.judge).generate_function() if self.judge else None
        embedder = None
        if self.options.get("embedding_threshold") is not None:
            embedder = self.embedding_model.load(num_threads=context.num_threads)
        result = find_contamination(
            texts,
            benchmarks,
            judge=judge,
            embedder=embedder,
            num_threads=context.num_threads,
            **self.options,
        )
        positions = np.flatnonzero(result.flagged).astype(np.int64)
        # The funnel counts reasons, so the item (one per row) goes to the ledger's detail,
        # with what the judge was asked and answered; the score is the judged match's.
        reasons = [f"{result.rule[p]}:{result.benchmark[p]}" for p in positions]
        from amfast.decontam_judge import judgement_index

        asked = judgement_index(result.judgements)
        details: list[str | None] = []
        scores = np.full(len(positions), math.nan)
        for index, position in enumerate(positions.tolist()):
            detail = f"item {result.item[position]}"
            judgement = asked.get((position, str(result.benchmark[position])))
            if judgement is not None:
                scores[index] = judgement.score
                detail += (
                    f"; judged {judgement.rule} {judgement.score:.4f}; "
                    f"reply {json.dumps(judgement.reply)}"
                )
            details.append(detail)
        return Drops(positions, reasons, scores=scores, details=details)


def clean_stage(options: dict[str, Any]) -> _DecontamStage:
    """The `decontam` step of `amfast clean`, from its `[decontam]` table.

    Keys: `benchmarks` (benchmark files, required), any `find_contamination` option
    (`ngram`, `min_overlap`, `min_item_fraction`, `min_exact_words`, `exact`,
    `embedding_threshold`, `cache_dir`, the `content*` and `judge_*` band settings), the
    embedding rule's `model` and `embedding_backend` (as `amfast decontam`'s), and the
    LLM judge's `JudgeOptions` (`judge`, `judge_model`, `judge_backend`, `judge_base_url`,
    `judge_max_tokens`). A flagged row's reason is `rule:benchmark` (what the funnel counts,
    `llm_judge:math500` for the judge's); the matched item is its ledger `detail`, with the
    judged rule, score and reply when the judge was asked.

    Raises:
        InputError: no benchmarks, a missing file, an unknown key, or a bad value.
    """
    settings = dict(options)
    paths = settings.pop("benchmarks", None)
    if not paths or not isinstance(paths, list):
        raise InputError('[decontam] needs `benchmarks = ["path/to/math500.jsonl", ...]`')
    judge_keys = {field.name for field in dataclasses.fields(JudgeOptions)}
    judge_settings = {key: settings.pop(key) for key in judge_keys & set(settings)}
    model_keys = {field.name for field in dataclasses.fields(EmbeddingModel)}
    model_settings = {key: settings.pop(key) for key in model_keys & set(settings)}
    allowed = {field.name for field in dataclasses.fields(DecontamOptions)}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        known = sorted(allowed | judge_keys | model_keys)
        raise InputError(f"[decontam] unknown keys {unknown}; known: {known}")
    try:
        settings = DecontamOptions(**settings).as_kwargs()
        judge = JudgeOptions(**judge_settings)
        embedding_model = EmbeddingModel(**model_settings)
    except ValueError as error:
        raise InputError(f"[decontam] {error}") from error
    if settings["judge_confirm"] and not judge.judge:
        raise InputError("[decontam] judge_confirm is true but the judge is off (judge = true)")
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"[decontam] benchmark {path}: no such file")
    judge_fields = dataclasses.asdict(judge) if judge.judge else None
    return _DecontamStage(
        tuple(str(p) for p in paths),
        settings,
        judge=judge_fields,
        embedding_model=embedding_model,
    )


__all__ = [
    "BENCHMARKS_CACHE_KEY",
    "Benchmark",
    "BenchmarkHits",
    "Contamination",
    "DecontamConfig",
    "DecontamOptions",
    "clean_stage",
    "decontam_file",
    "find_contamination",
    "load_benchmark",
]
