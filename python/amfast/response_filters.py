"""Rule filters on the final responses, and an optional reward-model cut from the score spread.

The AM recipe keeps a verified response only when it also has the R1 form and no degenerate
loop: `<think>…</think><answer>…</answer>` and no n-gram repeated back to back. The rules are
`amfast clean`'s quality filters (`amfast.filters`: the same names, thresholds, reason codes
and one Rust pass of `quality_metrics`), measured here on the assistant's content instead of the
query. In order, a row goes to the first rule it fails:

- `think_form`: not `<think>…</think><answer>…</answer>` -> `think_missing`, `think_repeated`,
  `think_order`, `think_empty`. By default only on *distilled* responses (`think_form_on`):
  the form is what the teacher is asked for; a response that came with the data (a human
  solution, another corpus's layout) was checked by verification, and no honest rewrite gives
  it a reasoning trace it never had. `all` applies it to every response.
- `repetition`: a phrase of <= `repeat_max_period` tokens repeated back to back
  >= `repeat_min_repeats` times over >= `repeat_min_span` tokens -> `repetition`.
- `language_mix`: over `max_mixed_fraction` of the words in sentences of another language
  -> `language_mix`.
- `language`, `length` (`min_tokens`, `max_tokens`, `min_words`, `max_words`), `unicode`:
  as in `amfast.filters`, on the response.
- `reward` (when `reward_quantile` > 0): rows scoring below the `reward_quantile`-quantile of the
  reward scores of the rows every rule kept (about that share of them; ties at the threshold
  are kept) -> `low_reward`. Scores come from the reward-model verifier
  (`amfast.verify.reward.RewardModel` on the answer part) unless the row has one: the assistant's
  `reward_score`, or its `verify_score` when the `reward` verifier graded it. A kept row carries
  its score as `reward_score` in the assistant's `info`.

Input: AM-schema rows (a file or a stage folder). In a recipe, `collect` tags each row with
`response_kind` (`existing` or `distilled`); an untagged row counts as distilled.

Output folder: `train.jsonl` (the kept rows), the ledger (`dropped.parquet`, or `.jsonl` by
name: `amfast clean`'s ledger columns, with `stage` = the rule, `reason`, `params` = the rule's
thresholds, `score` = the measured value, `message` saying why) and `response_filters.json`
(per rule: in, dropped, out and reasons; per instruction source: in, dropped, out). Rows are
read in chunks, so memory holds one chunk (and, with the reward cut, one float per row).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from amfast.clean.ledger import LEDGER_SCHEMA
from amfast.config import positive, require
from amfast.errors import InputError
from amfast.filters import FilterOptions, FilterStage, quality_metrics
from amfast.io import AtomicWriter, chunked, iter_jsonl
from amfast.records import (
    Row,
    assistant_message,
    check_output_apart,
    iter_records,
    query_of,
    row_id_of,
    write_json,
)
from amfast.selection import source_of

if TYPE_CHECKING:
    from amfast.verify.reward import RewardModel

RESPONSE_FILTERS = ("think_form", "repetition", "language_mix", "language", "length", "unicode")
DEFAULT_RESPONSE_FILTERS = ["think_form", "repetition"]
RESPONSE_KINDS = ("existing", "distilled")
REWARD_RULE = "reward"
KEPT_FILE = "train.jsonl"
SUMMARY_FILE = "response_filters.json"


@dataclass
class ResponseFilterConfig:
    """Settings of the response filters (the recipe's `[filter_responses]` table)."""

    input: str = field(metadata={"positional": True, "help": "AM-schema rows: file or folder"})
    output: str = field(metadata={"aliases": ("-o",), "help": "output folder"})
    filters: list[str] = field(
        default_factory=lambda: list(DEFAULT_RESPONSE_FILTERS),
        metadata={"help": "rules in order, from " + ", ".join(RESPONSE_FILTERS)},
    )
    think_form_on: Literal["distilled", "all"] = field(
        default="distilled",
        metadata={"help": "responses the think_form rule applies to: distilled, or all"},
    )
    # The thresholds of `amfast.filters`, declared once there: flat keys (`repeat_min_span`).
    thresholds: FilterOptions = field(default_factory=FilterOptions)
    reward_quantile: float = field(
        default=0.0,
        metadata={"help": "drop the rows scoring below this quantile of reward scores (0: off)"},
    )
    reward_model: str | None = field(
        default=None, metadata={"help": "local sequence-classification model directory"}
    )
    reward_batch_size: int = field(default=8, metadata={"help": "pairs per reward-model pass"})
    reward_max_length: int = field(default=4096, metadata={"help": "tokens per scored pair"})
    device: str | None = field(
        default=None, metadata={"help": "reward model device (default: cuda when available)"}
    )
    dropped: str | None = field(
        default=None, metadata={"help": "ledger path (default OUT/dropped.parquet; .jsonl too)"}
    )
    batch_rows: int = field(default=4096, metadata={"help": "rows per chunk"})
    num_threads: int | None = field(default=None, metadata={"help": "threads (default: all)"})
    progress: bool = field(default=True, metadata={"help": "progress bars on stderr"})

    def __post_init__(self) -> None:
        unknown = [name for name in self.filters if name not in RESPONSE_FILTERS]
        require(not unknown, "filters", unknown, "names from " + ", ".join(RESPONSE_FILTERS))
        require(
            0.0 <= self.reward_quantile < 1.0,
            "reward_quantile",
            self.reward_quantile,
            "a number in [0, 1)",
        )
        positive("reward_batch_size", self.reward_batch_size)
        positive("reward_max_length", self.reward_max_length)
        positive("batch_rows", self.batch_rows)
        positive("num_threads", self.num_threads, optional=True)
        FilterStage("language", self.thresholds)  # checks the language names now

    @property
    def ledger_path(self) -> Path:
        """Where the dropped rows go."""
        return Path(self.dropped) if self.dropped else Path(self.output) / "dropped.parquet"

    @property
    def rules(self) -> list[str]:
        """The rules in the order they run (the reward cut last, when on)."""
        return [*self.filters, *([REWARD_RULE] if self.reward_quantile > 0 else [])]


@dataclass
class ResponseFilterSummary:
    """Rows in, dropped and out, per rule and per instruction source."""

    rows: int = 0
    kept: int = 0
    dropped: int = 0
    rules: list[str] = field(default_factory=list)  # in the order they ran (JSON sorts keys)
    by_rule: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    reward_threshold: float | None = None
    ledger: str = ""


@dataclass
class _Chunk:
    """One chunk of rows, where each was read (location, input row number) and its response."""

    rows: list[Row]
    locations: list[str]
    numbers: list[int]
    responses: list[str | None] = field(init=False)

    def __post_init__(self) -> None:
        self.responses = [_content(row) for row in self.rows]


def run_response_filters(config: ResponseFilterConfig) -> ResponseFilterSummary:
    """Filters `config.input` into `config.output` (see the module docs).

    Raises:
        InputError: A row that is not AM-schema (naming file and line), a reward cut without a
            score or a model, or an output overlapping the input.
    """
    check_output_apart(config.input, config.output)
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    stages = {name: FilterStage(name, config.thresholds) for name in config.filters}
    by_rule: dict[str, dict[str, Any]] = {
        rule: {"in": 0, "dropped": 0, "out": 0, "reasons": Counter[str]()} for rule in config.rules
    }
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    reward = _RewardScores(config)
    cut = config.reward_quantile > 0
    # With the cut, the rules' survivors wait here (with where they were read) for the threshold.
    scored_path = output / "_scored.jsonl"
    scores: list[float] = []
    total = 0
    with _Ledger(config.ledger_path) as ledger:
        kept_target = scored_path if cut else output / KEPT_FILE
        with AtomicWriter(kept_target) as temporary, temporary.open("w", encoding="utf-8") as out:
            for chunk in _chunks(config):
                total += len(chunk.rows)
                alive = _apply_rules(config, stages, chunk, by_rule, by_source, ledger)
                survivors = [index for index in range(len(chunk.rows)) if alive[index]]
                if config.reward_model is not None or cut:
                    scores += reward.score(chunk, survivors)
                for index in survivors:
                    row = chunk.rows[index]
                    if cut:
                        row = {
                            "location": chunk.locations[index],
                            "number": chunk.numbers[index],
                            "row": row,
                        }
                    _write_row(out, row)
        threshold = None
        if cut:
            threshold = _reward_cut(config, scored_path, scores, by_rule, by_source, ledger)
            scored_path.unlink()
    kept = sum(counts["out"] for counts in by_source.values())
    summary = ResponseFilterSummary(
        rows=total,
        kept=kept,
        dropped=total - kept,
        rules=config.rules,
        by_rule={
            rule: counts | {"reasons": dict(counts["reasons"])} for rule, counts in by_rule.items()
        },
        by_source={
            source: {k: counts[k] for k in ("in", "dropped", "out")}
            for source, counts in sorted(by_source.items())
        },
        reward_threshold=threshold,
        ledger=str(config.ledger_path),
    )
    write_json(output / SUMMARY_FILE, asdict(summary))
    return summary


def _chunks(config: ResponseFilterConfig) -> Iterator[_Chunk]:
    records = enumerate(iter_records(config.input))
    for part in chunked(records, config.batch_rows):
        for _, (location, row) in part:
            if assistant_message(row) is None:
                raise InputError(f"{location}: expected an AM-schema row with an assistant reply")
        yield _Chunk(
            [row for _, (_, row) in part],
            [loc for _, (loc, _) in part],
            [number for number, _ in part],
        )


def _content(row: Row) -> str | None:
    reply = assistant_message(row) or {}
    content = reply.get("content")
    return content if isinstance(content, str) else None


def _reply_info(row: Row) -> dict[str, Any]:
    reply = assistant_message(row) or {}
    info = reply.get("info")
    if not isinstance(info, dict):
        info = {}
        reply["info"] = info
    return info


def _row_id(row: Row, location: str) -> str:
    for name in ("id", "key"):
        value = row.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return row_id_of(row, None, query_of(row, "prompt", location))


def _apply_rules(
    config: ResponseFilterConfig,
    stages: dict[str, FilterStage],
    chunk: _Chunk,
    by_rule: dict[str, dict[str, Any]],
    by_source: dict[str, Counter[str]],
    ledger: _Ledger,
) -> npt.NDArray[np.bool_]:
    """Runs the rules over one chunk; returns which rows every rule kept."""
    responses = chunk.responses
    sources = [source_of(row) for row in chunk.rows]
    for source in sources:
        by_source[source]["in"] += 1
    alive = np.ones(len(responses), bool)
    if stages:
        _decide(config, stages, chunk, sources, alive, by_rule, by_source, ledger)
    if config.reward_quantile == 0:
        for index in np.flatnonzero(alive):
            by_source[sources[index]]["out"] += 1
    return alive


def _decide(
    config: ResponseFilterConfig,
    stages: dict[str, FilterStage],
    chunk: _Chunk,
    sources: list[str],
    alive: npt.NDArray[np.bool_],
    by_rule: dict[str, dict[str, Any]],
    by_source: dict[str, Counter[str]],
    ledger: _Ledger,
) -> None:
    """Measures the chunk's responses once and applies each rule; clears `alive` of drops."""
    responses = chunk.responses
    options = config.thresholds
    metrics = quality_metrics(
        responses,
        repeat_max_period=options.repeat_max_period,
        repeat_min_repeats=options.repeat_min_repeats,
        num_threads=config.num_threads,
    )
    present = np.array([response is not None for response in responses])
    distilled = np.array(
        [row.get("response_kind", "distilled") == "distilled" for row in chunk.rows]
    )
    for name, stage in stages.items():
        mask, reasons, scores = stage.decide(metrics)
        mask = mask & present & alive
        if name == "think_form" and config.think_form_on == "distilled":
            mask &= distilled
        counts = by_rule[name]
        counts["in"] += int(alive.sum())
        params = json.dumps(_params(config, stage), sort_keys=True)
        for index in np.flatnonzero(mask):
            reason = reasons if isinstance(reasons, str) else str(reasons[index])
            counts["reasons"][reason] += 1
            why = _why(name, reason, metrics, int(index), options)
            ledger.add(
                chunk.rows[index],
                chunk.locations[index],
                chunk.numbers[index],
                sources[index],
                name,
                reason,
                params,
                float(scores[index]),
                why,
            )
            by_source[sources[index]]["dropped"] += 1
        alive &= ~mask
        counts["dropped"] += int(mask.sum())
        counts["out"] += int(alive.sum())


def _params(config: ResponseFilterConfig, stage: FilterStage) -> dict[str, Any]:
    extra = {"think_form_on": config.think_form_on} if stage.name == "think_form" else {}
    return stage.params() | {"column": "response"} | extra


def _why(
    rule: str,
    reason: str,
    metrics: dict[str, npt.NDArray[Any]],
    index: int,
    options: FilterOptions,
) -> str:
    """The decision in words, with the measured value and the threshold it crossed."""
    if rule == "think_form":
        return f"the response is not <think>…</think><answer>…</answer> ({reason})"
    if rule == "repetition":
        return (
            f"a phrase repeated back to back over {int(metrics['repeat_span'][index])} tokens "
            f"(repeat_min_span {options.repeat_min_span})"
        )
    if rule == "language_mix":
        mixed = float(metrics["mixed_fraction"][index])
        limit = options.max_mixed_fraction
        return f"{mixed:.1%} in sentences of another language (max_mixed_fraction {limit})"
    if rule == "length":
        words, tokens = int(metrics["words"][index]), int(metrics["tokens"][index])
        bounds = (
            f"min_words {options.min_words}, max_words {options.max_words}, "
            f"min_tokens {options.min_tokens}, max_tokens {options.max_tokens}"
        )
        return f"{words} words, {tokens} tokens ({reason}: {bounds}; 0 is no bound)"
    if rule == "language":
        code = int(metrics["language"][index])
        found = ("none", "en", "zh", "other")[code]
        return f"language {found}, not in {list(options.languages)}"
    unusual = float(metrics["unusual_fraction"][index])
    return f"{unusual:.1%} unusual characters (max_unusual_fraction {options.max_unusual_fraction})"


class _RewardScores:
    """Reward scores of the rows the rules kept: the row's own score, else the model's."""

    def __init__(self, config: ResponseFilterConfig) -> None:
        self.config = config
        self._model: RewardModel | None = None

    def _loaded(self, path: str) -> RewardModel:
        if self._model is None:
            from amfast.verify.reward import RewardModel

            config = self.config
            self._model = RewardModel(
                path,
                device=config.device,
                batch_size=config.reward_batch_size,
                max_length=config.reward_max_length,
                threshold=-math.inf,  # every scored row "passes": the cut is the quantile's
            )
        return self._model

    def score(self, chunk: _Chunk, indices: list[int]) -> list[float]:
        """The scores of the rows at `indices` (NaN: not scored), set as their `reward_score`."""
        path = self.config.reward_model
        to_score = []
        for index in indices:
            row = chunk.rows[index]
            given = _given_score(row)
            if given is not None:
                _reply_info(row)["reward_score"] = given
            elif path is None:
                raise InputError(
                    f"{chunk.locations[index]}: no reward score in the row and no reward_model "
                    "to compute one (reward_quantile needs one or the other)"
                )
            else:
                to_score.append(index)
        if path is not None and to_score:
            self._score_with_model(path, chunk, to_score)
        values = [_reply_info(chunk.rows[index]).get("reward_score") for index in indices]
        return [math.nan if value is None else float(value) for value in values]

    def _score_with_model(self, path: str, chunk: _Chunk, to_score: list[int]) -> None:
        prompts = [query_of(chunk.rows[i], "prompt", chunk.locations[i]) for i in to_score]
        responses = [chunk.responses[i] or "" for i in to_score]
        finish = [_reply_info(chunk.rows[i]).get("finish_reason") for i in to_score]
        verdicts = self._loaded(path).verify_batch(
            prompts, responses, finish_reasons=finish, progress=self.config.progress
        )
        for index, verdict in zip(to_score, verdicts, strict=True):
            # Truncated or answerless replies are not scored (null): the cut drops them.
            value = verdict.score if verdict.reason == "correct" else None
            _reply_info(chunk.rows[index])["reward_score"] = value


def _given_score(row: Row) -> float | None:
    info = _reply_info(row)
    value = info.get("reward_score")
    if value is None and info.get("verifier") == "reward":
        value = info.get("verify_score")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _reward_cut(
    config: ResponseFilterConfig,
    scored_path: Path,
    scores: list[float],
    by_rule: dict[str, dict[str, Any]],
    by_source: dict[str, Counter[str]],
    ledger: _Ledger,
) -> float | None:
    """Drops the survivors scoring below the quantile; returns the threshold."""
    values = np.array(scores, np.float64)
    finite = values[np.isfinite(values)]
    threshold = float(np.quantile(finite, config.reward_quantile)) if len(finite) else None
    counts = by_rule[REWARD_RULE]
    counts["in"] = len(scores)
    params = json.dumps(
        {
            "reward_quantile": config.reward_quantile,
            "reward_model": config.reward_model,
            "threshold": threshold,
        },
        sort_keys=True,
    )
    with (
        AtomicWriter(Path(config.output) / KEPT_FILE) as temporary,
        temporary.open("w", encoding="utf-8") as out,
    ):
        waiting = (line.record for line in iter_jsonl(scored_path))
        for entry, score in zip(waiting, scores, strict=True):
            row, location, number = entry["row"], entry["location"], entry["number"]
            source = source_of(row)
            if threshold is not None and score >= threshold:
                by_source[source]["out"] += 1
                _write_row(out, row)
                continue
            reason = "low_reward" if math.isfinite(score) else "unscored"
            why = (
                f"reward score {score:.4f} below the {config.reward_quantile:g}-quantile "
                f"{threshold:.4f} of {len(finite):,} scores"
                if reason == "low_reward"
                else "no reward score (a truncated reply, or no answer part to score)"
            )
            counts["reasons"][reason] += 1
            by_source[source]["dropped"] += 1
            ledger.add(row, location, number, source, REWARD_RULE, reason, params, score, why)
    counts["dropped"] = sum(counts["reasons"].values())
    counts["out"] = counts["in"] - counts["dropped"]
    return threshold


def _write_row(handle: IO[str], row: Row) -> None:
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")


class _Ledger:
    """The dropped rows, written as they come (Parquet in batches, or JSONL), atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._atomic = AtomicWriter(path)
        self._writer: pq.ParquetWriter | None = None
        self._lines: IO[str] | None = None

    def __enter__(self) -> _Ledger:
        temporary = self._atomic.__enter__()
        if self.path.name.endswith(".jsonl"):
            self._lines = temporary.open("w", encoding="utf-8")
        else:
            self._writer = pq.ParquetWriter(temporary, LEDGER_SCHEMA)
        return self

    def add(
        self,
        row: Row,
        location: str,
        number: int,
        source: str,
        rule: str,
        reason: str,
        params: str,
        score: float,
        why: str,
    ) -> None:
        """Adds one dropped row; `why` says what was measured against which threshold."""
        self.entries.append(
            {
                "row": number,
                "row_id": _row_id(row, location),
                "source": source,
                "stage": rule,
                "reason": reason,
                "params": params,
                "kept_row": None,
                "kept_row_id": None,
                "score": score,
                "message": f"{location}: {why}",
                "record": json.dumps(row, ensure_ascii=False),
            }
        )
        if len(self.entries) >= 4096:
            self._flush()

    def _flush(self) -> None:
        if self._lines is not None:
            for entry in self.entries:
                self._lines.write(json.dumps(entry, ensure_ascii=False) + "\n")
        elif self._writer is not None and self.entries:
            self._writer.write_table(pa.Table.from_pylist(self.entries, schema=LEDGER_SCHEMA))
        self.entries = []

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self._flush()
        if self._lines is not None:
            self._lines.close()
        if self._writer is not None:
            self._writer.close()
        self._atomic.__exit__(kind, error, traceback)
