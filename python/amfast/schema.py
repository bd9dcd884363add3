"""The AM message schema as Arrow, its validation, and the one mapping of flat rows into it.

One sample is one conversation (`messages[{role, content, info}]`), as in
AM-DeepSeek-R1-Distilled-1.4M. The user message's `info` carries `source`, `reference_answer`
and `test_case`; the assistant message's `info` carries `think_content`, `answer_content` and
what later stages add: `verify_score`, `verify_reason`, `verifier` (see `INFO_FIELDS`). A
row may also have a top-level `id`.

Every stage reads rows through `FieldMap` and `read_sample`, so a field means the same thing in
`clean`, `distill`, `verify` and `train`. A mapping field left `None` is found: in an AM row
from its messages (the first user message, the last assistant message and their `info`),
in a flat row from the first present of the common names (`PROMPT_FIELDS`...). A field that
is named (`--prompt-field problem`, dotted paths allowed: `messages.0.content`) is read there
and nowhere else.

Example:
    >>> row = {"problem": "1+1?", "answer": 2, "source": "gsm8k"}
    >>> sample = read_sample(row)
    >>> sample.prompt, sample.reference_answer, sample.source
    ('1+1?', 2, 'gsm8k')
    >>> am_record(sample)["messages"][0]["info"]["reference_answer"]
    '2'
"""

from __future__ import annotations

import json
import warnings
from dataclasses import InitVar, dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from amfast.errors import InputError

# Names a flat row's fields are looked up by, in order, when the mapping does not name them.
PROMPT_FIELDS = ("problem", "prompt", "question", "query", "instruction", "text")
RESPONSE_FIELDS = ("response", "completion", "output")
REFERENCE_FIELDS = ("reference_answer", "answer", "solution")
TEST_CASE_FIELDS = ("test_case", "test_cases", "tests")
SOURCE_FIELD = "source"
ID_FIELD = "id"

_STRING = pa.string()
USER_INFO_FIELDS = (
    pa.field("source", _STRING),
    pa.field("reference_answer", _STRING),
    pa.field("test_case", _STRING),  # JSON text when the source gave an object
)
VERIFY_FIELDS = (
    pa.field("verify_score", pa.float64()),
    pa.field("verify_reason", _STRING),
    pa.field("verifier", _STRING),
)
ASSISTANT_INFO_FIELDS = (
    pa.field("think_content", _STRING),
    pa.field("answer_content", _STRING),
    *VERIFY_FIELDS,
)
# One `info` struct for every role (an Arrow list holds one type): a role leaves the others null.
INFO_TYPE = pa.struct([*USER_INFO_FIELDS, *ASSISTANT_INFO_FIELDS])
MESSAGE_TYPE = pa.struct([("role", _STRING), ("content", _STRING), ("info", INFO_TYPE)])
AM_SCHEMA = pa.schema([("id", _STRING), ("messages", pa.list_(MESSAGE_TYPE))])
# The verdict that lets a row through the training gate (`amfast.verify.verdict`'s pass).
PASSED_REASON = "correct"


@dataclass(frozen=True)
class FieldMap:
    """Where each part of a row lives; `None` means "find it" (AM messages, then common names).

    One instance per input, built from the `--prompt-field`, `--response-field`,
    `--reference-field`, `--test-case-field`, `--source-field` and `--id-field` flags (the same
    keys in TOML). Dotted paths reach into objects and lists (`messages.0.content`).

    Attributes:
        prompt: The user's question.
        response: The assistant's reply, if any.
        reference: A reference answer.
        test_case: Test cases (an object, a JSON string or a list).
        source: The row's source dataset.
        id: A stable id already in the data.
    """

    prompt: str | None = None
    response: str | None = None
    reference: str | None = None
    test_case: str | None = None
    source: str | None = None
    id: str | None = None
    text: InitVar[str | None] = None  # deprecated name of `prompt` (amfast clean's query field)

    def __post_init__(self, text: str | None) -> None:
        if text is not None:
            warnings.warn("FieldMap(text=...) is now FieldMap(prompt=...)", DeprecationWarning, 2)
            object.__setattr__(self, "prompt", self.prompt or text)


class RowProblem(ValueError):
    """A row the mapping cannot read; `reason` is `missing_field` or `wrong_type`.

    The message names the field (`field 'problem' is missing`), not the file: callers add where
    the row is.
    """

    def __init__(self, reason: Literal["missing_field", "wrong_type"], message: str) -> None:
        """Keeps the reason next to the message."""
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Sample:
    """One row as every stage sees it (values as given: numbers stay numbers).

    Attributes:
        prompt: The user's question.
        response: The last assistant reply, or None.
        reference_answer: The reference answer as given, or None.
        test_case: The test cases as given (object, JSON string, list), or None.
        source: The source dataset, or None.
        id: The row's own id, or None.
        messages: The conversation of an AM row (None for a flat row).
        user_info: The first user message's `info` (empty for a flat row).
        assistant_info: The last assistant message's `info`, or the flat row's verify fields.
    """

    prompt: str
    response: str | None = None
    reference_answer: Any = None
    test_case: Any = None
    source: str | None = None
    id: str | None = None
    messages: list[dict[str, Any]] | None = None
    user_info: dict[str, Any] = field(default_factory=dict)
    assistant_info: dict[str, Any] = field(default_factory=dict)

    @property
    def has_reference(self) -> bool:
        """A non-empty reference answer."""
        return is_present(self.reference_answer)

    @property
    def has_test_case(self) -> bool:
        """Non-empty test cases."""
        return is_present(self.test_case)

    @property
    def verified(self) -> bool | None:
        """Whether `verify` passed the response; None when the row carries no verdict."""
        reason = self.assistant_info.get("verify_reason")
        return None if reason is None else reason == PASSED_REASON


def verify_reason_of(record: dict[str, Any], messages_field: str = "messages") -> str | None:
    """The `verify_reason` `amfast verify` gave a row (`correct` = passed); None if never verified.

    AM rows carry it in the last assistant message's `info`, flat rows at the top level.

    Example:
        >>> verify_reason_of({"prompt": "q", "response": "r", "verify_reason": "wrong"})
        'wrong'
    """
    messages = record.get(messages_field)
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "assistant":
                info = message.get("info")
                reason = info.get("verify_reason") if isinstance(info, dict) else None
                return None if reason is None else str(reason)
    reason = record.get("verify_reason")
    return None if reason is None else str(reason)


def field_at(record: Any, path: str) -> Any:  # noqa: ANN401 - JSON values are untyped
    """Follows a dotted path through objects and lists; raises KeyError naming the missing part.

    Example:
        >>> field_at({"messages": [{"content": "hi"}]}, "messages.0.content")
        'hi'
    """
    value = record
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            raise KeyError(part)
    return value


def is_present(value: Any) -> bool:  # noqa: ANN401 - JSON values are untyped
    """False for a missing or empty value: None, "", [], {}, and the string "null".

    Example:
        >>> [is_present(v) for v in (None, "", "null", [], "x", 0)]
        [False, False, False, False, True, True]
    """
    if isinstance(value, str):
        return value not in ("", "null")
    return value is not None and value != [] and value != {}


def _lookup(record: dict[str, Any], path: str) -> tuple[bool, Any]:
    try:
        return True, field_at(record, path)
    except KeyError:
        return False, None


def _roles(record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first user and the last assistant message of an AM row."""
    messages = record.get("messages")
    if not isinstance(messages, list):
        return None, None
    user = assistant = None
    for message in messages:
        if isinstance(message, dict):
            role = message.get("role")
            if role == "user" and user is None:
                user = message
            elif role == "assistant":
                assistant = message
    return user, assistant


def _info(message: dict[str, Any] | None) -> dict[str, Any]:
    info = message.get("info") if message else None
    return info if isinstance(info, dict) else {}


def _first(
    record: dict[str, Any], info: dict[str, Any], named: str | None, names: tuple[str, ...]
) -> Any:  # noqa: ANN401 - JSON values are untyped
    """The named field, else the first non-null of `names` in `info`, then in the row."""
    if named:
        return _lookup(record, named)[1]
    return next(
        (where[name] for where in (info, record) for name in names if where.get(name) is not None),
        None,
    )


def _string(value: Any) -> str | None:  # noqa: ANN401 - JSON values are untyped
    """Strings as they are, other values written out, None as None."""
    return None if value is None else value if isinstance(value, str) else str(value)


def _non_empty(*values: Any) -> str | None:  # noqa: ANN401 - JSON values are untyped
    """The first value that is not missing or empty, as a string."""
    return next((text for text in map(_string, values) if text), None)


def read_sample(record: dict[str, Any], fields: FieldMap | None = None) -> Sample:
    """Reads one row (AM schema or flat) through `fields`.

    Messages that are not objects are skipped (a row without a usable user message reads as
    flat). An empty id or source counts as none.

    Raises:
        RowProblem: no prompt (`missing_field`) or a prompt that is not a string (`wrong_type`).

    Example:
        >>> row = {"messages": [{"role": "user", "content": "2+2?"},
        ...                     {"role": "assistant", "content": "4",
        ...                      "info": {"verify_reason": "correct"}}]}
        >>> sample = read_sample(row)
        >>> sample.prompt, sample.response, sample.verified
        ('2+2?', '4', True)
    """
    fields = fields or FieldMap()
    user, assistant = _roles(record)
    user_info, assistant_info = _info(user), _info(assistant)
    if fields.prompt:
        name = fields.prompt
        found, prompt = _lookup(record, name)
    elif user is not None:
        name, found, prompt = "messages[user].content", "content" in user, user.get("content")
    else:
        name = next((n for n in PROMPT_FIELDS if n in record), PROMPT_FIELDS[0])
        found, prompt = _lookup(record, name)
    if not found:
        raise RowProblem("missing_field", f"field {name!r} is missing")
    if not isinstance(prompt, str):
        kind = "null" if prompt is None else type(prompt).__name__
        raise RowProblem("wrong_type", f"field {name!r} is {kind}, expected a string")
    if fields.response:
        response = _string(_lookup(record, fields.response)[1])
    elif assistant is not None:
        content = assistant.get("content")
        response = content if isinstance(content, str) else None
    else:
        response = next(
            (record[n] for n in RESPONSE_FIELDS if isinstance(record.get(n), str)), None
        )
    if assistant is None:  # a flat row carries its verdict at the top level
        assistant_info = {f.name: record[f.name] for f in VERIFY_FIELDS if f.name in record}
    return Sample(
        prompt=prompt,
        response=response,
        reference_answer=_first(record, user_info, fields.reference, REFERENCE_FIELDS),
        test_case=_first(record, user_info, fields.test_case, TEST_CASE_FIELDS),
        source=_non_empty(_lookup(record, fields.source)[1])
        if fields.source
        else _non_empty(user_info.get(SOURCE_FIELD), record.get(SOURCE_FIELD)),
        id=_non_empty(_lookup(record, fields.id or ID_FIELD)[1]),
        messages=record["messages"] if user is not None else None,
        user_info=user_info,
        assistant_info=assistant_info,
    )


def _info_text(value: Any) -> str | None:  # noqa: ANN401 - JSON values are untyped
    if not is_present(value):
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def am_record(sample: Sample) -> dict[str, Any]:
    """The sample as an AM-schema row: `{id, messages}` (a user turn, then the reply if any).

    An AM row keeps its own messages; a flat row gets a user message whose `info` holds
    `source`, `reference_answer` and `test_case` (as text, objects as JSON), and an assistant
    message when it has a response.
    """
    if sample.messages is not None:
        return {"id": sample.id, "messages": sample.messages}
    user_info = {
        "source": sample.source,
        "reference_answer": _info_text(sample.reference_answer),
        "test_case": _info_text(sample.test_case),
    }
    messages: list[dict[str, Any]] = [{"role": "user", "content": sample.prompt, "info": user_info}]
    if sample.response is not None:
        messages.append(
            {"role": "assistant", "content": sample.response, "info": dict(sample.assistant_info)}
        )
    return {"id": sample.id, "messages": messages}


def validate(table: pa.Table | pa.RecordBatch, where: str) -> None:
    """Checks that `table` holds AM-schema conversations, column by column.

    Every row needs a `messages` list of `{role, content}` with string roles and contents and
    at least one user message.

    Raises:
        InputError: naming `where` and the first bad row.

    Example:
        >>> table = pa.Table.from_pylist([{"messages": [{"role": "user", "content": "hi"}]}])
        >>> validate(table, "x.parquet")
    """
    if "messages" not in table.column_names:
        raise InputError(f"{where}: no 'messages' column (columns: {table.column_names})")
    messages = table.column("messages")
    messages = messages.combine_chunks() if isinstance(messages, pa.ChunkedArray) else messages
    kind = messages.type
    if not (
        (pa.types.is_list(kind) or pa.types.is_large_list(kind))
        and pa.types.is_struct(kind.value_type)
    ):
        raise InputError(f"{where}: column 'messages' is {kind}, expected a list of structs")
    for name in ("role", "content"):
        if kind.value_type.get_field_index(name) < 0:
            raise InputError(f"{where}: the messages have no {name!r} (type {kind.value_type})")
        child = kind.value_type.field(name).type
        if not (pa.types.is_string(child) or pa.types.is_large_string(child)):
            raise InputError(f"{where}: message {name!r} is {child}, expected a string")
    _first_bad(where, messages.is_null(), "no 'messages'")
    flat = pc.list_flatten(messages)
    parents = pc.list_parent_indices(messages)
    for name in ("role", "content"):
        missing = pc.is_null(pc.struct_field(flat, name))
        if pc.any(missing).as_py():
            row = parents.filter(missing)[0].as_py()
            raise InputError(f"{where}: row {row}: a message has no {name!r}")
    users = pc.equal(pc.struct_field(flat, "role"), "user")
    has_user = pa.array([False] * len(messages))
    if len(flat):
        owners = pc.unique(parents.filter(users))
        has_user = pc.is_in(pa.array(range(len(messages)), pa.int64()), owners.cast(pa.int64()))
    _first_bad(where, pc.invert(has_user), "no user message")


def _first_bad(where: str, bad: pa.Array, problem: str) -> None:
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        raise InputError(f"{where}: row {row}: {problem}")


__all__ = [
    "AM_SCHEMA",
    "ASSISTANT_INFO_FIELDS",
    "INFO_TYPE",
    "MESSAGE_TYPE",
    "PASSED_REASON",
    "PROMPT_FIELDS",
    "REFERENCE_FIELDS",
    "RESPONSE_FIELDS",
    "TEST_CASE_FIELDS",
    "USER_INFO_FIELDS",
    "VERIFY_FIELDS",
    "FieldMap",
    "RowProblem",
    "Sample",
    "am_record",
    "field_at",
    "is_present",
    "read_sample",
    "validate",
    "verify_reason_of",
]
