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

import numpy as np

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

LabelName = Literal["category", "difficulty", "language", "length"]
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
_ANSWER_KEYS = {"category": "primary_tag", "difficulty": "difficulty"}
LABEL_STATUSES = ("ok", "no_answer", "bad_json", "not_a_label", "generation_failed")


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


async def _ask_model(
    config: LabelConfig,
    queries: dict[str, str],
    journal: _Journal,
    backend: Backend | None,
) -> int:
    """Asks for every (label, query) the journal lacks; returns how many were asked."""
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
    if not requests:
        return 0
    if not config.model and backend is None:
        raise InputError(f"labels {config.asked} need a model: set --model (or model = ...)")
    owned = backend is None
    backend = backend or await create_backend(config)
    try:
        await _ask(backend, requests, journal.add)
    finally:
        if owned:
            await backend.aclose()
    return len(requests)


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
    config: LabelConfig, rows: list[Row], ids: list[str], locations: list[str]
) -> None:
    cutoffs = parse_cutoffs(config.pass_rate_cutoffs)
    rates = read_pass_rates(config.pass_rate_input) if config.pass_rate_input else {}
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
    rows, locations, queries, ids = [], [], [], []
    for location, row in iter_records(config.input):
        query = query_of(row, config.prompt_field, location)
        rows.append(row)
        locations.append(location)
        queries.append(query)
        ids.append(row_id_of(row, config.id_field, query))
    # One request per distinct query: the samples of one prompt share its labels.
    query_ids = [fingerprint(query) for query in queries]
    journal_path = output / "_work" / f"replies-{config.generation_fingerprint()}.jsonl"
    journal = _Journal(journal_path)
    try:
        asked = asyncio.run(
            _ask_model(config, dict(zip(query_ids, queries, strict=True)), journal, backend)
        )
    finally:
        journal.close()
    for kind in config.asked:
        answer_key = _ANSWER_KEYS[kind]
        for row, query_id in zip(rows, query_ids, strict=True):
            reply = journal.replies.get(_key(kind, query_id))
            info = info_of(row)
            if reply is None or reply.get("error") is not None:
                label, status, text = None, "generation_failed", None
            else:
                text = reply["text"]
                label, status = parse_label(text, answer_key, config.choices(kind))
            info[kind], info[f"{kind}_status"], info[f"{kind}_response"] = label, status, text
            info["label_model"] = config.model
    if "difficulty" in config.labels and config.difficulty_from == "pass_rate":
        _pass_rate_difficulty(config, rows, ids, locations)
    if "language" in config.labels:
        codes = quality_metrics(queries)["language"] if queries else np.zeros(0, np.uint8)
        for row, code in zip(rows, codes.tolist(), strict=True):
            info_of(row)["language"] = LANGUAGES[code]
    if "length" in config.labels:
        tokenizer = _load_tokenizer(config.tokenizer) if config.tokenizer else None
        responses = [response_of(row, config.response_field) for row in rows]
        query_tokens = _token_counts(list(queries), tokenizer)
        response_tokens = _token_counts(responses, tokenizer)
        for row, query_count, response_count in zip(
            rows, query_tokens, response_tokens, strict=True
        ):
            info_of(row)["query_tokens"] = query_count
            info_of(row)["response_tokens"] = response_count
    summary = _summarize(config, rows, asked)
    _write_rows(output, rows, config.shard_rows)
    write_json(output / "labels.json", asdict(summary))
    write_json(output / "manifest.json", {"fingerprint": key, "rows": len(rows)})
    return summary


def _summarize(config: LabelConfig, rows: list[Row], asked: int) -> LabelSummary:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        info = info_of(row)
        for name in ("category", "difficulty", "language"):
            if name in config.labels:
                counts[name][str(info.get(name))] += 1
            if f"{name}_status" in info:
                statuses[name][info[f"{name}_status"]] += 1
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
        rows=len(rows),
        output=config.output,
        asked=asked,
        counts=ordered,
        statuses={name: dict(values) for name, values in statuses.items()},
        length_unit=f"tokens of {config.tokenizer}" if config.tokenizer else "words",
        settings={k: v for k, v in settings.items() if not k.endswith("_template")},
    )


def _write_rows(output: Path, rows: list[Row], shard_rows: int) -> None:
    """`part-NNNNN.jsonl` shards, each atomic; shards of an earlier, longer run are removed."""
    count = 0
    for count, part in enumerate(chunked(rows, shard_rows), start=1):
        with AtomicWriter(output / f"part-{count - 1:05d}.jsonl") as temporary:
            temporary.write_bytes(
                b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in part)
            )
    for stale in output.glob("part-*.jsonl"):
        if int(stale.name[5:10]) >= count:
            stale.unlink()
    output.mkdir(parents=True, exist_ok=True)
