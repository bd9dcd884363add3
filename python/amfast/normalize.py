"""Text normalization for dedup and decontamination (the Rust core does the work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import pyarrow as pa

from amfast import _core

TextColumn: TypeAlias = Sequence[str | None] | pa.Array | pa.ChunkedArray
"""A column of texts: a list of `str | None`, or an Arrow string/large_string/string_view
array or chunked array (read without copying its buffers)."""


@dataclass(frozen=True)
class NormalizeOptions:
    r"""How text is normalized before hashing: the one declaration of these settings.

    Every command that normalizes (`clean`, `dedup`, `decontam`) exposes these fields as its
    flags and TOML keys (`--no-lowercase`, `case_fold = true`) through `amfast.config`.

    Attributes:
        lowercase: Map letters to lower case.
        case_fold: Full Unicode case folding (`ß` -> `ss`); implies lower case.
        keep_digits: Keep digits; `False` deletes them (compare problems up to their numbers).
        math_operators: Keep `+ - * / = ^ < >` as one-character tokens.
        strip_latex: Drop `$`, `\left`, `\right`, `\displaystyle` and `\,` first.
    """

    lowercase: bool = field(default=True, metadata={"help": "map letters to lower case"})
    case_fold: bool = field(
        default=False, metadata={"help": "full Unicode case folding (implies lower case)"}
    )
    keep_digits: bool = field(
        default=True, metadata={"help": "keep digits (--no-keep-digits deletes them)"}
    )
    math_operators: bool = field(default=False, metadata={"help": "keep + - * / = ^ < > as tokens"})
    strip_latex: bool = field(
        default=False, metadata={"help": "drop $, \\left, \\right, \\displaystyle and \\, first"}
    )


def normalize(
    texts: TextColumn,
    options: NormalizeOptions | None = None,
    *,
    num_threads: int | None = None,
) -> list[str | None] | pa.Array | pa.ChunkedArray:
    r"""Normalizes every text: NFKC, lower case, non-word runs to one space, trimmed.

    Runs in parallel in Rust with the GIL released. Nulls stay null. The result has the same
    kind as the input (list, Arrow array or chunked array, same string type). Idempotent.

    Args:
        texts: The texts.
        options: Normalization options; the defaults when omitted.
        num_threads: Worker threads (None: all cores).

    Returns:
        The normalized texts.

    Example:
        >>> normalize(["  Hello,   WORLD!! ", None, "\uff26\uff55\uff4c\uff4c\uff11\uff12"])
        ['hello world', None, 'full12']
        >>> normalize(["x^2 + 1 = 10"], NormalizeOptions(math_operators=True, keep_digits=False))
        ['x ^ + =']
    """
    result: list[str | None] | pa.Array | pa.ChunkedArray = _core.normalize(
        texts, options=options, num_threads=num_threads
    )
    return result
