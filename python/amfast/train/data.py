"""SFT data: AM-schema conversations -> tokens with exact assistant-only loss masks -> packs.

A conversation is rendered with the tokenizer's own chat template. The trained span of an
assistant turn is found by rendering twice: the conversation up to the turn with the generation
prompt (the prompt the model sees at inference) and the conversation through the turn. The
second must extend the first, the turn's content must appear verbatim after it (so a template
that strips `<think>` fails loudly instead of training on a mangled target), and the span ends
right after the template's end-of-turn token (`<|im_end|>` for Qwen2.5), which is appended when
the template writes none. Prompt and reply segments are tokenized apart, as they are at
inference (the prompt is encoded, the reply generated), so the tokens that carry loss are
exactly the tokens of the replies and their end tokens, and no token straddles a boundary.

Only rows that `amfast verify` passed are trained on, unless `include_unverified`: a row whose
verdict is not a pass is skipped and counted as `verify:<reason>`, and a row with no verdict at
all is an error (the data was never verified). Rows that cannot be trained on (no assistant
turn, an empty reply, longer than `max_seq_len`) are dropped and counted; a broken template or
row structure raises `InputError`. Tokenized samples are cached on disk as flat numpy arrays
(memory-mapped on load) keyed by the data files, the tokenizer and the options, and packed best-
fit decreasing into sequences of `max_seq_len` whose position ids restart at every sample, so
that attention and loss never cross samples.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from amfast.errors import InputError
from amfast.schema import (
    PASSED_REASON,
    RESPONSE_FIELDS,
    FieldMap,
    RowProblem,
    field_at,
    read_sample,
    verify_reason_of,
)

AM_SYSTEM_PROMPT = (
    "You are a helpful assistant. To answer the user's question, you first think about the "
    "reasoning process and then provide the user with the answer. The reasoning process and "
    "answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, "
    "i.e., <think> reasoning process here </think> <answer> answer here </answer>."
)
THINK_OPEN = "<think>"
IGNORE_INDEX = -100
TrainOn = Literal["last", "all"]
DropReason = Literal["no_assistant", "empty_response", "too_long"]


class DroppedSample(Exception):
    """A row that is counted and skipped, not trained on (`reason` says why)."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(reason)
        self.reason: DropReason = reason


@dataclass(frozen=True)
class TokenizeOptions:
    """How conversations become training tokens (each is also an `SftConfig` key).

    Attributes:
        system_prompt: prepended as a system message unless the row has one; "" for none.
        train_on: `last`: the final assistant turn carries loss; `all`: every assistant turn.
        end_token: the end-of-turn token; None: the first special token the template writes
            after the reply, else the tokenizer's eos token (appended).
        max_seq_len: longer samples are dropped (counted as `too_long`).
        messages_field: the column holding the message list (AM schema).
        prompt_field: with `response_field`, read flat rows as one user and one assistant turn.
        response_field: see `prompt_field`.
        include_unverified: also train on rows `amfast verify` did not pass or never saw.
    """

    system_prompt: str = AM_SYSTEM_PROMPT
    train_on: TrainOn = "last"
    end_token: str | None = None
    max_seq_len: int = 32768
    messages_field: str = "messages"
    prompt_field: str | None = None
    response_field: str | None = None
    include_unverified: bool = False

    def __post_init__(self) -> None:
        if (self.prompt_field is None) != (self.response_field is None):
            raise ValueError("prompt_field and response_field must be given together")
        if self.max_seq_len < 2:
            raise ValueError(f"max_seq_len must be at least 2, got {self.max_seq_len}")


@dataclass(frozen=True)
class Encoded:
    """One tokenized conversation: `loss_mask[t]` is True where token `t` is a target."""

    input_ids: npt.NDArray[np.int32]
    loss_mask: npt.NDArray[np.bool_]
    text: str


# ---------------------------------------------------------------------------- reading rows


def _value_at(row: dict[str, Any], field: str) -> Any:  # noqa: ANN401 - JSON values are untyped
    try:
        return field_at(row, field)
    except KeyError:
        return None


def data_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files behind `path` (`amfast.io.input_files`: a file, a stage's output folder...)."""
    from amfast.io import input_files

    return input_files(path)


def _rows_of(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    from amfast.io import read_records

    for where, record in read_records(path):
        if not isinstance(record, dict):
            raise InputError(f"{where}: {record}")
        yield where, record


def passes_gate(
    row: dict[str, Any], options: TokenizeOptions, where: str, skipped: Counter[str] | None
) -> bool:
    """Whether the training gate lets `row` through; a skipped row is counted in `skipped`.

    Raises:
        InputError: The row has no verdict and unverified rows are not included.
    """
    if options.include_unverified:
        return True
    reason = verify_reason_of(row, options.messages_field)
    if reason is None:
        raise InputError(
            f"{where}: the row has no verify verdict (verify_reason); train takes only rows "
            "that `amfast verify` passed: verify the data first, or set include_unverified "
            "(--include-unverified) to train on it as it is"
        )
    if reason == PASSED_REASON:
        return True
    if skipped is not None:
        skipped[f"verify:{reason}"] += 1
    return False


def read_conversations(
    path: str | os.PathLike[str],
    options: TokenizeOptions = TokenizeOptions(),
    skipped: Counter[str] | None = None,
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Yields `(where, messages)` per row the gate lets through (`passes_gate`).

    `where` names file and line or row; messages have role and content. Rows the gate skips
    are counted in `skipped` by reason.

    Raises:
        InputError: A row lacks the messages field, a message lacks a string role/content, or
            a row was never verified (see `passes_gate`).
    """
    for where, row in _rows_of(path):
        if passes_gate(row, options, where, skipped):
            yield where, _messages_of(row, options, where)


def _messages_of(row: dict[str, Any], options: TokenizeOptions, where: str) -> list[dict[str, str]]:
    """The conversation of an AM row, or the user and assistant turn of a flat row.

    A flat row is one without the messages field, or any row when `prompt_field` and
    `response_field` are set; its fields are mapped by `amfast.schema.read_sample` (named, or
    found: `prompt`/`problem`/`question`..., `response`/`completion`/`output`).
    """
    flat = options.prompt_field is not None or options.messages_field not in row
    if flat:
        fields = FieldMap(prompt=options.prompt_field, response=options.response_field)
        for field in (options.prompt_field, options.response_field):
            if field is not None and not isinstance(_value_at(row, field), str):
                raise InputError(f"{where}: field {field!r} is missing or not a string")
        try:
            sample = read_sample(row, fields)
        except RowProblem as problem:
            sample = None
            reason = str(problem)
        if sample is not None and sample.response is not None:
            return [
                {"role": "user", "content": sample.prompt},
                {"role": "assistant", "content": sample.response},
            ]
        if sample is not None:
            reason = f"no response field ({', '.join(RESPONSE_FIELDS)})"
        raise InputError(
            f"{where}: field {options.messages_field!r} is missing or not a list, and the row "
            f"is not a flat prompt/response row: {reason}"
        )
    raw = row.get(options.messages_field)
    if not isinstance(raw, list):
        raise InputError(f"{where}: field {options.messages_field!r} is missing or not a list")
    messages = []
    for number, message in enumerate(raw):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(role, str) or not isinstance(content, str):
            raise InputError(f"{where}: message {number} needs a string 'role' and 'content'")
        messages.append({"role": role, "content": content})
    return messages


# ---------------------------------------------------------------------------- one conversation


def load_tokenizer(path: str, chat_template: str | None = None) -> Any:  # noqa: ANN401 - HF type
    """The tokenizer at `path`, with `chat_template` (a Jinja file) in place of its own.

    Raises:
        InputError: transformers is missing, or the tokenizer has no chat template.
    """
    try:
        from transformers import AutoTokenizer
    except ImportError as error:
        raise InputError("training needs `pip install amfast[train]` (transformers)") from error
    tokenizer = AutoTokenizer.from_pretrained(path)
    if chat_template is not None:
        tokenizer.chat_template = Path(chat_template).read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            f"{path}: the tokenizer has no chat template; pass --chat-template FILE.jinja"
        )
    return tokenizer


def _render(tokenizer: Any, messages: list[dict[str, str]], generation: bool) -> str:  # noqa: ANN401
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    return str(text)


def _end_token(tokenizer: Any, suffix: str, configured: str | None) -> tuple[str, bool]:  # noqa: ANN401
    """The end-of-turn token and whether the template already wrote it at `suffix`'s start."""
    if configured is not None:
        return configured, suffix.lstrip(" \t").startswith(configured)
    stripped = suffix.lstrip(" \t")
    for token in sorted(tokenizer.all_special_tokens, key=len, reverse=True):
        if token and stripped.startswith(token):
            return str(token), True
    if tokenizer.eos_token:
        return str(tokenizer.eos_token), False
    raise InputError("the chat template ends a turn with no special token and there is no eos "
                     "token; set end_token")  # fmt: skip


def encode_conversation(
    tokenizer: Any,  # noqa: ANN401 - a transformers tokenizer
    messages: list[dict[str, str]],
    options: TokenizeOptions = TokenizeOptions(),
) -> Encoded:
    """Renders and tokenizes one conversation, with loss on the assistant reply tokens only.

    Raises:
        DroppedSample: no assistant turn, an empty reply, or longer than `max_seq_len`.
        InputError: the template drops the think block or alters the reply, or the end token is
            not a single token.
    """
    if options.system_prompt and not (messages and messages[0]["role"] == "system"):
        messages = [{"role": "system", "content": options.system_prompt}, *messages]
    targets = [i for i, message in enumerate(messages) if message["role"] == "assistant"]
    if options.train_on == "last":
        targets = targets[-1:]
    if not targets:
        raise DroppedSample("no_assistant")
    if any(not messages[i]["content"].strip() for i in targets):
        raise DroppedSample("empty_response")
    full = _render(tokenizer, messages[: targets[-1] + 1], generation=False)
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    cursor, length = 0, 0
    for turn in targets:
        prompt = _render(tokenizer, messages[:turn], generation=True)
        start, content = len(prompt), messages[turn]["content"]
        if not full.startswith(prompt):
            raise InputError(f"chat template: the conversation through assistant turn {turn} "
                             "does not begin with the prompt rendered for that turn")  # fmt: skip
        at = full.find(content, start)
        if at < 0 or full[start:at].strip():
            if THINK_OPEN in content and content.split(THINK_OPEN, 1)[1][:40] not in full:
                raise InputError("chat template dropped the <think> block of an assistant turn; "
                                 "use a template that keeps it (--chat-template)")  # fmt: skip
            raise InputError(f"chat template altered the content of assistant turn {turn}")
        content_end = at + len(content)
        end_token, written = _end_token(tokenizer, full[content_end:], options.end_token)
        end = full.index(end_token, content_end) + len(end_token) if written else content_end
        pieces.append(full[cursor:end])
        length += end - cursor
        span_start = length - (end - start)
        if not written:
            pieces.append(end_token)
            length += len(end_token)
        spans.append((span_start, length))
        cursor = end
    text = "".join(pieces)
    # Prompt and reply are tokenized apart, as at inference (the prompt is encoded, the reply
    # generated), so no token straddles the boundary and the mask is exact by construction.
    ids: list[int] = []
    flags: list[bool] = []
    cursor = 0
    for span_start, span_end in spans:
        for segment, trained in (
            (text[cursor:span_start], False),
            (text[span_start:span_end], True),
        ):
            segment_ids = tokenizer.encode(segment, add_special_tokens=False) if segment else []
            ids += segment_ids
            flags += [trained] * len(segment_ids)
        cursor = span_end
    input_ids = np.asarray(ids, dtype=np.int32)
    loss_mask = np.asarray(flags, dtype=np.bool_)
    end_id = tokenizer.convert_tokens_to_ids(end_token)
    if not loss_mask.any() or int(input_ids[loss_mask][-1]) != end_id:
        raise InputError(f"end token {end_token!r} is not a single token of this tokenizer")
    if len(input_ids) > options.max_seq_len:
        raise DroppedSample("too_long")
    return Encoded(input_ids, loss_mask, text)


@dataclass
class TemplateCheck:
    """What `check_template` saw: rendered samples with their trained text, and the problems."""

    rendered: list[str]
    problems: list[str]
    drops: dict[str, int]

    def report(self) -> str:
        """The samples with trained text between `«` and `»`, then a verdict."""
        lines = []
        for number, text in enumerate(self.rendered):
            lines += [f"--- sample {number} (text between « » carries loss)", text]
        lines += [f"dropped: {self.drops}"] if self.drops else []
        lines += [f"PROBLEM: {problem}" for problem in self.problems] or ["template OK"]
        return "\n".join(lines)


def check_template(
    tokenizer: Any,  # noqa: ANN401 - a transformers tokenizer
    conversations: Iterator[tuple[str, list[dict[str, str]]]],
    options: TokenizeOptions = TokenizeOptions(),
    *,
    samples: int = 3,
    eos_token_ids: Sequence[int] = (),
) -> TemplateCheck:
    """Renders the first `samples` trainable conversations and reports what carries loss.

    A problem is reported when the template drops the think block or alters a reply, a mask is
    empty, the end token is not a single token, or (given the model's `eos_token_ids`) the end
    token is not one the model stops at.
    """
    rendered: list[str] = []
    problems: list[str] = []
    drops: Counter[str] = Counter()
    for where, messages in conversations:
        if len(rendered) >= samples:
            break
        try:
            encoded = encode_conversation(tokenizer, messages, options)
        except DroppedSample as drop:
            drops[drop.reason] += 1
            continue
        except InputError as error:
            problems.append(f"{where}: {error}")
            break
        # Decode runs of equal mask, not single tokens: a byte-level token may be half a char.
        edges = np.flatnonzero(np.diff(encoded.loss_mask.astype(np.int8))) + 1
        pieces = []
        for run in np.split(np.arange(len(encoded.input_ids)), edges):
            piece = tokenizer.decode(encoded.input_ids[run].tolist())
            pieces.append(f"«{piece}»" if encoded.loss_mask[run[0]] else piece)
        rendered.append("".join(pieces))
        last = int(encoded.input_ids[encoded.loss_mask][-1])
        if eos_token_ids and last not in eos_token_ids:
            problems.append(
                f"{where}: replies end with {tokenizer.decode([last])!r} (id {last}), which is "
                f"not among the model's eos ids {list(eos_token_ids)}; the exported checkpoint "
                "adds it to generation_config.json"
            )
    if not rendered and not problems:
        problems.append(f"no trainable sample among the rows read (dropped: {dict(drops)})")
    return TemplateCheck(rendered, problems, dict(drops))


# ---------------------------------------------------------------------------- the dataset


@dataclass
class TokenizedDataset:
    """Tokenized samples as flat arrays: sample `i` is `[offsets[i], offsets[i + 1])`."""

    input_ids: npt.NDArray[np.int32]
    loss_mask: npt.NDArray[np.bool_]
    offsets: npt.NDArray[np.int64]
    drops: dict[str, int]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Tokens per sample."""
        return np.diff(self.offsets)

    def sample(self, index: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
        """The input ids and loss mask of sample `index`."""
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.input_ids[start:end], self.loss_mask[start:end]


_WORKER_TOKENIZER: Any = None


def _init_worker(tokenizer_path: str, chat_template: str | None) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = load_tokenizer(tokenizer_path, chat_template)


def _encode_chunk(
    chunk: list[tuple[str, list[dict[str, str]]]], options: TokenizeOptions
) -> list[Encoded | DropReason]:
    results: list[Encoded | DropReason] = []
    for where, messages in chunk:
        try:
            results.append(encode_conversation(_WORKER_TOKENIZER, messages, options))
        except DroppedSample as drop:
            results.append(drop.reason)
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
    return results


def _fingerprint(data: str, tokenizer_path: str, chat_template: str | None, options: Any) -> str:  # noqa: ANN401
    digest = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode())
    files = [*data_files(data), *sorted(Path(tokenizer_path).glob("*token*"))]
    files += [Path(chat_template)] if chat_template else []
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def tokenize_dataset(
    data: str,
    tokenizer_path: str,
    options: TokenizeOptions,
    *,
    cache_dir: str | os.PathLike[str],
    chat_template: str | None = None,
    num_proc: int = 1,
    chunk_rows: int = 256,
    wait: bool = False,
) -> TokenizedDataset:
    """Tokenizes every row of `data` (in `num_proc` processes), or loads the cached result.

    The cache is `cache_dir/<fingerprint>/`, keyed by the data files (path, size, mtime), the
    tokenizer files, the chat template and `options`; it is written whole or not at all. With
    `wait`, another process is writing it: poll until it is there instead of tokenizing.

    Raises:
        InputError: a row or the template is unusable (naming file and row), or no row is left.
    """
    fingerprint = _fingerprint(data, tokenizer_path, chat_template, options)
    directory = Path(cache_dir) / fingerprint
    while wait and not (directory / "stats.json").exists():
        time.sleep(1.0)
    if not (directory / "stats.json").exists():
        _tokenize_to(directory, data, tokenizer_path, options, chat_template, num_proc, chunk_rows)
    stats = json.loads((directory / "stats.json").read_text())
    return TokenizedDataset(
        input_ids=np.load(directory / "input_ids.npy", mmap_mode="r"),
        loss_mask=np.load(directory / "loss_mask.npy", mmap_mode="r"),
        offsets=np.load(directory / "offsets.npy"),
        drops=stats["drops"],
        fingerprint=fingerprint,
    )


def _tokenize_to(
    directory: Path,
    data: str,
    tokenizer_path: str,
    options: TokenizeOptions,
    chat_template: str | None,
    num_proc: int,
    chunk_rows: int,
) -> None:
    ids: list[npt.NDArray[np.int32]] = []
    masks: list[npt.NDArray[np.bool_]] = []
    drops: Counter[str] = Counter()

    def collect(results: list[Encoded | DropReason]) -> None:
        for result in results:
            if isinstance(result, str):
                drops[result] += 1
            else:
                ids.append(result.input_ids)
                masks.append(result.loss_mask)

    from amfast.io import chunked

    chunks = chunked(read_conversations(data, options, drops), chunk_rows)
    if num_proc <= 1:
        _init_worker(tokenizer_path, chat_template)
        for chunk in chunks:
            collect(_encode_chunk(chunk, options))
    else:
        # Spawned, not forked: the parent may hold threads (torch, tokenizers) a fork would break.
        with concurrent.futures.ProcessPoolExecutor(
            num_proc,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(tokenizer_path, chat_template),
        ) as pool:
            # A bounded window of chunks in flight keeps memory flat on large inputs.
            pending: list[concurrent.futures.Future[list[Encoded | DropReason]]] = []
            for chunk in chunks:
                pending.append(pool.submit(_encode_chunk, chunk, options))
                if len(pending) >= 2 * num_proc:
                    collect(pending.pop(0).result())
            for future in pending:
                collect(future.result())
    if not ids:
        raise InputError(f"{data}: no trainable sample (dropped: {dict(drops) or 'none read'})")
    temporary = directory.with_name(f"{directory.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    temporary.mkdir(parents=True, exist_ok=True)
    np.save(temporary / "input_ids.npy", np.concatenate(ids))
    np.save(temporary / "loss_mask.npy", np.concatenate(masks))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(sample) for sample in ids], out=offsets[1:])
    np.save(temporary / "offsets.npy", offsets)
    stats = {"samples": len(ids), "tokens": int(offsets[-1]), "drops": dict(drops)}
    (temporary / "stats.json").write_text(json.dumps(stats, indent=2))
    try:
        temporary.rename(directory)
    except OSError:
        # Another node wrote the same cache first (same fingerprint, same contents): keep it.
        if not (directory / "stats.json").exists():
            raise
        shutil.rmtree(temporary, ignore_errors=True)


# ---------------------------------------------------------------------------- packing


def pack_best_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Packs items into bins of `capacity`, best-fit decreasing; returns item indexes per bin.

    Each item goes, longest first, into the open bin it fills most tightly (ties: the oldest),
    else into a new bin. Deterministic for a given input.

    Example:
        >>> pack_best_fit([5, 3, 4, 2, 6], capacity=10)
        [[4, 2], [0, 1, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free space, bin index), sorted
    for item in order:
        size = lengths[item]
        if size > capacity:
            raise ValueError(f"item {item} of length {size} exceeds capacity {capacity}")
        slot = bisect.bisect_left(free, (size, -1))
        if slot == len(free):
            bins.append([item])
            bisect.insort(free, (capacity - size, len(bins) - 1))
            continue
        space, index = free.pop(slot)
        bins[index].append(item)
        bisect.insort(free, (space - size, index))
    return bins


@dataclass(frozen=True)
class Pack:
    """One training sequence: several samples back to back, each attending only to itself.

    `labels[t]` is the token the model must predict at `t` (the next token of the same sample
    when that one carries loss, else -100), so no loss crosses a sample boundary; position ids
    restart at 0 for every sample, which is how the attention kernels find the boundaries.
    """

    input_ids: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    position_ids: npt.NDArray[np.int64]

    @property
    def num_targets(self) -> int:
        """Tokens that carry loss."""
        return int((self.labels != IGNORE_INDEX).sum())


def assemble_pack(dataset: TokenizedDataset, samples: Sequence[int]) -> Pack:
    """Concatenates `samples` of `dataset` into one `Pack` with per-sample labels and positions.

    Example:
        >>> dataset = TokenizedDataset(
        ...     input_ids=np.array([1, 2, 3, 4, 5], dtype=np.int32),
        ...     loss_mask=np.array([0, 1, 1, 0, 1], dtype=np.bool_),
        ...     offsets=np.array([0, 3, 5]), drops={}, fingerprint="")
        >>> pack = assemble_pack(dataset, [0, 1])
        >>> pack.labels.tolist(), pack.position_ids.tolist()
        ([2, 3, -100, 5, -100], [0, 1, 2, 0, 1])
    """
    ids, labels, positions = [], [], []
    for index in samples:
        sample_ids, mask = dataset.sample(index)
        targets = np.where(mask[1:], sample_ids[1:], IGNORE_INDEX).astype(np.int64)
        ids.append(sample_ids.astype(np.int64))
        labels.append(np.append(targets, IGNORE_INDEX))
        positions.append(np.arange(len(sample_ids), dtype=np.int64))
    return Pack(np.concatenate(ids), np.concatenate(labels), np.concatenate(positions))


def plan_sequences(dataset: TokenizedDataset, max_seq_len: int, packing: bool) -> list[list[int]]:
    """The training sequences as sample indexes: packed best-fit decreasing, or one per sample."""
    if not packing:
        return [[index] for index in range(len(dataset))]
    return pack_best_fit(dataset.lengths.tolist(), max_seq_len)
