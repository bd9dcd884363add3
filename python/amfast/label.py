r"""`amfast label`: category, difficulty, language and length labels for every row.

The AM recipe labels each problem's category (Qwen2.5-7B-Instruct with a Magpie-style
taxonomy) and difficulty (an LLM, five levels), and later the response's length and language.

- **category / difficulty from a model**: each distinct query is put to a generation backend
  (`amfast.generate`: OpenAI-compatible server, vLLM or transformers) with a prompt template
  (`{prompt}` and `{choices}` are filled in; override `category_template` /
  `difficulty_template`). The reply is parsed under constraint: the JSON object's
  `primary_tag` / `difficulty` key, or a reply that is exactly one label, and only a label from
  the list counts. Anything else is *unparseable*: the label stays null, the status says why
  (`no_answer`, `bad_json`, `not_a_label`, `generation_failed`) and the summary counts it; no
  label is ever guessed. The raw reply is kept next to the label.
- **difficulty from a pass rate** (`difficulty_from = "pass_rate"`): the share of a model's
  samples that passed `amfast verify` (`pass_rate_input`: the verified distill output, matched by
  prompt id), or a field holding the rate (`pass_rate_field`); cut into the five levels at
  `pass_rate_cutoffs`.
- **language and length** from the Rust metrics (`amfast._core.quality_metrics`): the query's
  language (en, zh, other, none) and the token counts of query and response, in the words of
  the Rust tokenizer or, with `tokenizer`, in tokens of that local tokenizer.

Labels go into `info` (the user message's for AM rows, a top-level `info` for flat rows):
`category`, `category_status`, `category_response`, the same three for `difficulty` (plus
`difficulty_pass_rate` and `difficulty_samples` from pass rates), `language`, `query_tokens`,
`response_tokens`. Output folder: `part-NNNNN.jsonl` shards, `labels.json` (the counts and the
settings), and `manifest.json` last. Model replies are journalled under `_work/` as they arrive:
a killed run resumes without asking again; a finished run with the same settings is reused.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from amfast.distill.runner import sample_seed
from amfast.errors import InputError
from amfast.filters import LANGUAGES, quality_metrics
from amfast.generate import Backend, GenerationRequest, GenerationResult, Message, create_backend
from amfast.generate.backend import R1_COMPLETION_TEMPLATE, BackendName, Endpoint
from amfast.io import AtomicWriter, chunked
from amfast.records import (
    Row,
    check_output_apart,
    info_of,
    input_fingerprint,
    iter_records,
    query_of,
    read_json,
    response_of,
    row_id_of,
    write_json,
)
from amfast.stage import fingerprint
from amfast.taxonomy import (
    ANSWER_KEYS,
    CATEGORY_TEMPLATE,
    DIFFICULTY_LEVELS,
    DIFFICULTY_TEMPLATE,
    MAGPIE_CATEGORIES,
    difficulty_of_pass_rate,
    parse_cutoffs,
    parse_label,
)


def _setting(default: Any, text: str) -> Any:  # noqa: ANN401 - dataclasses.field's own type
    return field(default=default, metadata={"help": text})


@dataclass
class LabelConfig:
    """Settings of `amfast label` / `run_label` (the help text of each is its CLI help)."""

    input: str = field(metadata={"positional": True, "help": "JSONL/Parquet file or stage folder"})
    output: str = field(metadata={"aliases": ("-o",), "help": "output folder"})
    labels: list[str] = field(
        default_factory=lambda: ["category", "difficulty", "language", "length"],
        metadata={"help": "labels to add: category, difficulty, language, length"},
    )
    difficulty_from: Literal["model", "pass_rate"] = field(
        default="model", metadata={"help": "ask a model, or cut a pass rate into levels"}
    )
    pass_rate_input: str | None = field(
        default=None, metadata={"help": "verified distill output (samples with verify_score)"}
    )
    pass_rate_field: str | None = field(
        default=None, metadata={"help": "row field holding a pass rate in [0, 1] instead"}
    )
    pass_rate_cutoffs: str = field(
        default="0.8,0.6,0.4,0.2",
        metadata={"help": "pass rates at or above which a row is very easy, easy, medium, hard"},
    )
    categories: list[str] = field(
        default_factory=lambda: list(MAGPIE_CATEGORIES),
        metadata={"help": "the category taxonomy (default: Magpie's task tags)"},
    )
    category_template: str = _setting(CATEGORY_TEMPLATE, "category prompt ({prompt}, {choices})")
    difficulty_template: str = _setting(
        DIFFICULTY_TEMPLATE, "difficulty prompt ({prompt}, {choices})"
    )
    prompt_field: str = _setting("prompt", "query field of flat rows (dotted path)")
    response_field: str | None = _setting(None, "response field of flat rows")
    id_field: str | None = _setting("id", "row id field (absent: prompt_id, else a hash)")
    tokenizer: str | None = _setting(None, "local tokenizer for lengths (default: Rust words)")
    model: str = _setting("", "labelling model: served name (openai) or local path")
    backend: BackendName = field(default="openai", metadata={"help": "generation backend"})
    base_url: list[str] = field(
        default_factory=list, metadata={"help": "OpenAI-compatible base URL"}
    )
    endpoint: Endpoint = field(
        default="chat", metadata={"help": "/v1/chat/completions or /v1/completions"}
    )
    api_key_env: str = _setting("OPENAI_API_KEY", "environment variable with the API key")
    max_in_flight: int = _setting(256, "HTTP requests in flight")
    request_timeout: float = _setting(600.0, "seconds per request")
    max_retries: int = _setting(8, "retries per request")
    retry_backoff: float = _setting(1.0, "first retry delay, doubling")
    chat_prefill: bool = _setting(False, "prefill the reply prefix on the chat endpoint")
    completion_template: str = _setting(
        R1_COMPLETION_TEMPLATE, "raw prompt for --endpoint completions"
    )
    tensor_parallel_size: int = _setting(1, "GPUs per model (vllm)")
    batch_size: int | None = _setting(None, "requests per engine call")
    device: str | None = _setting(None, "torch device (transformers)")
    dtype: str | None = _setting(None, "torch dtype (transformers)")
    max_tokens: int = _setting(256, "label reply token budget")
    temperature: float = _setting(0.0, "sampling temperature (0: greedy)")
    seed: int = _setting(0, "base seed of the label requests")
    shard_rows: int = _setting(100_000, "rows per output shard")

    def __post_init__(self) -> None:
        unknown = set(self.labels) - {"category", "difficulty", "language", "length"}
        if unknown:
            raise ValueError(f"unknown labels {sorted(unknown)}; use category, difficulty, ...")
        if self.difficulty_from == "pass_rate" and not (
            self.pass_rate_input or self.pass_rate_field
        ):
            raise ValueError("difficulty_from = pass_rate needs pass_rate_input or pass_rate_field")
        cutoffs = parse_cutoffs(self.pass_rate_cutoffs)
        if len(cutoffs) != len(DIFFICULTY_LEVELS) - 1:
            raise ValueError("pass_rate_cutoffs needs four decreasing rates in [0, 1]")
        if self.shard_rows < 1 or self.max_tokens < 1:
            raise ValueError("shard_rows and max_tokens must be at least 1")

    @property
    def asked(self) -> list[str]:
        """The labels a model is asked for."""
        wanted = ["category"] if "category" in self.labels else []
        if "difficulty" in self.labels and self.difficulty_from == "model":
            wanted.append("difficulty")
        return wanted

    def choices(self, kind: str) -> Sequence[str]:
        """The allowed labels of `kind`."""
        return self.categories if kind == "category" else DIFFICULTY_LEVELS

    def template(self, kind: str) -> str:
        """The prompt template of `kind`."""
        return self.category_template if kind == "category" else self.difficulty_template

    def generation_fingerprint(self) -> str:
        """What shapes a model's reply: a reply journalled under another value is not reused."""
        return fingerprint(
            self.model, self.backend, self.endpoint, self.max_tokens, self.temperature,
            self.seed, self.categories, self.category_template, self.difficulty_template,
        )  # fmt: skip


@dataclass
class LabelSummary:
    """What `run_label` did: rows, label counts and unparseable replies per label."""

    rows: int = 0
    output: str = ""
    reused: bool = False
    asked: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    length_unit: str = "words"
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """The counts as text, one block per label."""
        lines = [f"rows: {self.rows:,}" + (" (reused a finished run)" if self.reused else "")]
        for name, counts in self.counts.items():
            statuses = self.statuses.get(name, {})
            failed = {k: v for k, v in statuses.items() if k != "ok"}
            lines.append(
                f"{name}: " + ", ".join(f"{label} {count:,}" for label, count in counts.items())
            )
            if failed:
                lines.append(f"  unparseable: {failed}")
        return "\n".join(lines)


def _key(kind: str, query_id: str) -> str:
    return f"{kind}:{query_id}"


class _Journal:
    """Model replies as they arrive (one JSON line each, flushed), reused by a rerun."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # a torn last line of a killed run: asked again
                if record.get("error") is None:  # failed requests are tried again
                    self.replies[record["key"]] = record
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("ab")

    def add(self, result: GenerationResult) -> None:
        record = {"key": result.key, "text": result.text, "error": result.error}
        self._handle.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        self._handle.flush()
        if result.error is None:  # a failed request stays unlabelled; a rerun asks again
            self.replies[result.key] = record

    def close(self) -> None:
        self._handle.close()


async def _ask(
    backend: Backend, requests: list[GenerationRequest], done: Callable[[GenerationResult], None]
) -> None:
    semaphore = asyncio.Semaphore(max(1, backend.max_concurrency))

    async def one(batch: list[GenerationRequest]) -> None:
        async with semaphore:
            results = await backend.generate(batch)
        for result in results:
            done(result)

    await asyncio.gather(*(one(b) for b in chunked(requests, max(1, backend.max_batch_size))))


def _requests(
    config: LabelConfig, queries: dict[str, str], journal: _Journal
) -> list[GenerationRequest]:
    """A request per (label, distinct query) that the journal has no reply for."""
    requests = []
    for kind in config.asked:
        choices = ", ".join(config.choices(kind))
        for query_id, query in queries.items():
            key = _key(kind, query_id)
            if key in journal.replies:
                continue
            text = config.template(kind).replace("{choices}", choices).replace("{prompt}", query)
            requests.append(
                GenerationRequest(
                    key=key,
                    messages=(Message("user", text),),
                    reply_prefix="",
                    seed=sample_seed(config.seed, key, 0),
                    max_tokens=config.max_tokens,
                    temperature=config.temperature,
                    top_p=1.0,
                )
            )
    return requests


def _model_labels(
    config: LabelConfig, rows: list[Row], query_ids: list[str], journal: _Journal
) -> None:
    for kind in config.asked:
        for row, query_id in zip(rows, query_ids, strict=True):
            reply = journal.replies.get(_key(kind, query_id))
            info = info_of(row)
            if reply is None:
                label, status, text = None, "generation_failed", None
            else:
                text = reply["text"]
                label, status = parse_label(text, ANSWER_KEYS[kind], config.choices(kind))
            info[kind], info[f"{kind}_status"], info[f"{kind}_response"] = label, status, text
            info["label_model"] = config.model


def read_pass_rates(path: str) -> dict[str, tuple[int, int]]:
    """Per prompt id, `(passed, graded)` samples of a verified distill output.

    Ungraded samples (`verify_score` null) are not counted.

    Raises:
        InputError: A row without a prompt id, or an unreadable file.
    """
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for location, row in iter_records(path):
        prompt_id = row.get("prompt_id")
        if not isinstance(prompt_id, str):
            raise InputError(f"{location}: a pass-rate sample needs 'prompt_id' (distill output)")
        messages = row.get("messages") or []
        info = (messages[-1].get("info") if messages else None) or row
        score = info.get("verify_score")
        if score is None:
            continue
        counts[prompt_id][1] += 1
        counts[prompt_id][0] += int(float(score) >= 1.0)
    return {key: (passed, graded) for key, (passed, graded) in counts.items()}


def _pass_rate_difficulty(
    config: LabelConfig,
    rates: dict[str, tuple[int, int]],
    rows: list[Row],
    ids: list[str],
    locations: list[str],
) -> None:
    cutoffs = parse_cutoffs(config.pass_rate_cutoffs)
    for row, row_id, location in zip(rows, ids, locations, strict=True):
        info = info_of(row)
        rate: float | None = None
        if config.pass_rate_field:
            value = row.get(config.pass_rate_field, info.get(config.pass_rate_field))
            if value is not None:
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise InputError(f"{location}: {config.pass_rate_field!r} is not in [0, 1]")
                rate = float(value)
            info["difficulty_samples"] = None
        else:
            passed, graded = rates.get(row_id, (0, 0))
            rate = passed / graded if graded else None
            info["difficulty_samples"] = graded
        info["difficulty_pass_rate"] = rate
        info["difficulty"] = None if rate is None else difficulty_of_pass_rate(rate, cutoffs)
        info["difficulty_status"] = "ok" if rate is not None else "no_samples"
        info["difficulty_response"] = None


def _token_counts(texts: list[str | None], tokenizer: Any) -> list[int | None]:  # noqa: ANN401
    present = [i for i, text in enumerate(texts) if text is not None]
    counts: list[int | None] = [None] * len(texts)
    if not present:
        return counts
    chosen = [texts[i] or "" for i in present]
    if tokenizer is None:
        values = quality_metrics(chosen)["tokens"].tolist()
    else:
        encoded = tokenizer(chosen, add_special_tokens=False)["input_ids"]
        values = [len(ids) for ids in encoded]
    for i, value in zip(present, values, strict=True):
        counts[i] = int(value)
    return counts


def _load_tokenizer(path: str) -> Any:  # noqa: ANN401 - transformers' tokenizer type
    try:
        import transformers
    except ImportError as error:
        raise InputError("--tokenizer needs transformers: pip install 'amfast[reward]'") from error
    try:
        return transformers.AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot load a tokenizer: {error}") from error


def run_label(config: LabelConfig, backend: Backend | None = None) -> LabelSummary:
    """Labels every row of `config.input` into `config.output` (see the module docs).

    Rows go through in shards of `shard_rows`, so memory holds one shard (and the journal).

    Args:
        config: the stage's settings.
        backend: a ready generation backend instead of the one `config` names (tests, custom
            models); it is not closed.

    Raises:
        InputError: Bad input (naming file, line and field), an output overlapping the input,
            or labels that need a model without one.
    """
    check_output_apart(config.input, config.output)
    output = Path(config.output)
    key = fingerprint(input_fingerprint(config.input), asdict(config) | {"output": None})
    manifest = read_json(output / "manifest.json")
    if isinstance(manifest, dict) and manifest.get("fingerprint") == key:
        summary = LabelSummary(**read_json(output / "labels.json"))
        summary.reused = True
        return summary
    journal = _Journal(output / "_work" / f"replies-{config.generation_fingerprint()}.jsonl")
    try:
        summary = asyncio.run(_label_shards(config, backend, journal))
    finally:
        journal.close()
    write_json(output / "labels.json", asdict(summary))
    write_json(output / "manifest.json", {"fingerprint": key, "rows": summary.rows})
    return summary


async def _label_shards(
    config: LabelConfig, backend: Backend | None, journal: _Journal
) -> LabelSummary:
    output = Path(config.output)
    tokenizer = _load_tokenizer(config.tokenizer) if config.tokenizer else None
    rates = (
        read_pass_rates(config.pass_rate_input)
        if config.difficulty_from == "pass_rate" and config.pass_rate_input
        else {}
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    owned: Backend | None = None
    rows_seen = asked = shards = 0
    try:
        for shards, chunk in enumerate(chunked(iter_records(config.input), config.shard_rows), 1):
            locations = [location for location, _ in chunk]
            rows = [row for _, row in chunk]
            queries = [query_of(row, config.prompt_field, at) for at, row in chunk]
            # One request per distinct query: the samples of one prompt share its labels.
            query_ids = [fingerprint(query) for query in queries]
            requests = _requests(config, dict(zip(query_ids, queries, strict=True)), journal)
            if requests:
                if backend is None:
                    if not config.model:
                        raise InputError(
                            f"labels {config.asked} need a model: set --model (or model = ...)"
                        )
                    backend = owned = await create_backend(config)
                await _ask(backend, requests, journal.add)
                asked += len(requests)
            _model_labels(config, rows, query_ids, journal)
            if "difficulty" in config.labels and config.difficulty_from == "pass_rate":
                ids = [row_id_of(r, config.id_field, q) for r, q in zip(rows, queries, strict=True)]
                _pass_rate_difficulty(config, rates, rows, ids, locations)
            if "language" in config.labels:
                for row, code in zip(
                    rows, quality_metrics(queries)["language"].tolist(), strict=True
                ):
                    info_of(row)["language"] = LANGUAGES[code]
            if "length" in config.labels:
                responses = [response_of(row, config.response_field) for row in rows]
                lengths = zip(
                    _token_counts(list(queries), tokenizer),
                    _token_counts(responses, tokenizer),
                    strict=True,
                )
                for row, (query_count, response_count) in zip(rows, lengths, strict=True):
                    info_of(row)["query_tokens"] = query_count
                    info_of(row)["response_tokens"] = response_count
            _count(config, rows, counts, statuses)
            rows_seen += len(rows)
            with AtomicWriter(output / f"part-{shards - 1:05d}.jsonl") as temporary:
                lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows]
                temporary.write_bytes(b"".join(lines))
    finally:
        if owned is not None:
            await owned.aclose()
    for stale in output.glob("part-*.jsonl"):
        if int(stale.name[5:10]) >= shards:
            stale.unlink()  # a shard of an earlier, longer input
    return _summary(config, rows_seen, asked, counts, statuses)


def _count(
    config: LabelConfig,
    rows: list[Row],
    counts: dict[str, Counter[str]],
    statuses: dict[str, Counter[str]],
) -> None:
    for row in rows:
        info = info_of(row)
        for name in ("category", "difficulty", "language"):
            if name in config.labels:
                counts[name][str(info.get(name))] += 1
            if f"{name}_status" in info:
                statuses[name][info[f"{name}_status"]] += 1


def _summary(
    config: LabelConfig,
    rows: int,
    asked: int,
    counts: dict[str, Counter[str]],
    statuses: dict[str, Counter[str]],
) -> LabelSummary:
    order = {"category": config.categories, "difficulty": DIFFICULTY_LEVELS}
    ordered = {
        name: {
            label: values[label]
            for label in [*order.get(name, ()), *sorted(values)]
            if label in values
        }
        for name, values in counts.items()
    }
    settings = asdict(config)
    return LabelSummary(
        rows=rows,
        output=config.output,
        asked=asked,
        counts=ordered,
        statuses={name: dict(values) for name, values in statuses.items()},
        length_unit=f"tokens of {config.tokenizer}" if config.tokenizer else "words",
        settings={k: v for k, v in settings.items() if not k.endswith("_template")},
    )
