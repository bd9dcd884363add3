"""Typed stage configs: one dataclass per stage, read from TOML, overridden by CLI flags.

One name per setting everywhere: a dataclass field `max_tokens` is the TOML key `max_tokens`
(or `max-tokens`) and the CLI flag `--max-tokens`. A stage declares its options once, as a
dataclass whose fields carry a `help` in their metadata; `add_config_flags` derives the flags,
`load_config` reads a TOML file (top-level keys, or the table named after the stage), and
`resolve_config` merges them: defaults < TOML < flags given on the command line. Field metadata
may also name `aliases` (`("-o",)`) or mark a field `positional`.

Supported field types: `str`, `int`, `float`, `bool` (`--flag/--no-flag`), `Literal[...]` of
strings (choices), `list[str]` (a repeatable flag; a TOML array) and `X | None` of those.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from amfast.errors import InputError

C = TypeVar("C")

# argparse default for config flags: tells "not given" apart from any real value.
_NOT_GIVEN: Any = object()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(kind: Any) -> tuple[Any, bool]:  # noqa: ANN401 - typing objects
    """`X | None` -> (X, True); anything else -> (kind, False)."""
    if get_origin(kind) in (typing.Union, types.UnionType):
        members = [arg for arg in get_args(kind) if arg is not type(None)]
        if len(members) == 1 and len(get_args(kind)) == 2:
            return members[0], True
    return kind, False


def _field_types(config_class: type[Any]) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"{config_class.__name__} is not a dataclass")
    return typing.get_type_hints(config_class)


def add_config_flags(
    parser: argparse.ArgumentParser, config_class: type[Any], *, skip: tuple[str, ...] = ()
) -> None:
    """Adds one flag per field of `config_class` (`max_tokens` -> `--max-tokens`).

    Flags default to "not given", so `resolve_config` can tell them from TOML values. Fields in
    `skip` get no flag (a stage may declare them as positionals itself).

    Example:
        >>> @dataclasses.dataclass
        ... class Options:
        ...     max_tokens: int = 16
        ...     mode: Literal["a", "b"] = "a"
        >>> parser = argparse.ArgumentParser()
        >>> add_config_flags(parser, Options)
        >>> args = parser.parse_args(["--max-tokens", "32"])
        >>> resolve_config(Options, args).max_tokens
        32
    """
    hints = _field_types(config_class)
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        kind, _ = _unwrap_optional(hints[field.name])
        help_text = field.metadata.get("help", "")
        if field.metadata.get("positional"):
            parser.add_argument(field.name, nargs="?", default=_NOT_GIVEN, help=help_text)
            continue
        names = [*field.metadata.get("aliases", ()), _flag(field.name)]
        common: dict[str, Any] = {"dest": field.name, "default": _NOT_GIVEN, "help": help_text}
        if kind is bool:
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
        elif get_origin(kind) is Literal:
            parser.add_argument(*names, choices=list(get_args(kind)), **common)
        elif get_origin(kind) is list:
            # `append` needs a list or None to start from; None means "not given" here.
            common |= {"help": f"{help_text} (repeatable)".strip(), "default": None}
            parser.add_argument(*names, action="append", type=str, **common)
        elif kind in (str, int, float):
            parser.add_argument(*names, type=kind, **common)
        else:
            raise TypeError(f"{config_class.__name__}.{field.name}: unsupported type {kind}")


def _checked_value(
    config_class: type[Any],
    name: str,
    value: Any,  # noqa: ANN401 - TOML values are untyped
    kind: Any,  # noqa: ANN401 - typing objects
    where: str,
) -> Any:  # noqa: ANN401 - the field's type
    """`value` converted to the field's type, or an InputError naming the key and the problem."""
    base, optional = _unwrap_optional(kind)
    if value is None:
        if optional:
            return None
        raise InputError(f"{where}: {name!r} may not be empty")
    expected: str
    if base is bool:
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif get_origin(base) is Literal:
        if value in get_args(base):
            return value
        expected = "one of " + ", ".join(repr(choice) for choice in get_args(base))
    elif get_origin(base) is list:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        expected = "a string or a list of strings"
    elif base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "an integer"
    elif base is str:
        if isinstance(value, str):
            return value
        expected = "a string"
    else:
        raise TypeError(f"{config_class.__name__}.{name}: unsupported type {base}")
    raise InputError(f"{where}: {name!r} is {value!r}, expected {expected}")


def load_config(
    path: str | os.PathLike[str], config_class: type[Any], *, section: str | None = None
) -> dict[str, Any]:
    """The settings of a TOML file as `{field: value}`, checked against `config_class`.

    Keys are the field names; dashes are accepted for underscores (`max-tokens`). When the
    file has a table named `section` (`[distill]`), its keys are used, else the top level.

    Raises:
        InputError: The file is missing or not valid TOML, a key is unknown, or a value has
            the wrong type; the message names the file and the key.
    """
    path = Path(path)
    document = read_toml(path)
    table = document.get(section, document) if section else document
    if not isinstance(table, Mapping):
        raise InputError(f"{path}: [{section}] must be a table")
    return check_values(config_class, table, str(path))


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML document at `path`.

    Raises:
        InputError: The file cannot be read or is not valid TOML; the message names the file.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{path}: cannot read config: {error.strerror or error}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: invalid TOML: {error}") from error


def options_from(options_class: type[C], source: object, **overrides: Any) -> C:  # noqa: ANN401
    """An `options_class` dataclass from `source`'s attributes of the same names.

    `source` is parsed CLI flags or a larger config holding these settings; `overrides` win.
    """
    values = {
        field.name: getattr(source, field.name)
        for field in dataclasses.fields(options_class)  # type: ignore[arg-type]
        if field.init and hasattr(source, field.name)
    }
    return options_class(**(values | overrides))


def check_values(config_class: type[Any], table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`table` as `{field: value}` checked against `config_class` (dashes read as underscores).

    Raises:
        InputError: An unknown key or a value of the wrong type, naming `where` and the key.
    """
    hints = _field_types(config_class)
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise InputError(f"{where}: unknown key {raw_key!r} (known keys: {known})")
        values[key] = _checked_value(config_class, key, value, hints[key], where)
    return values


def resolve_config(
    config_class: type[C],
    args: argparse.Namespace | None = None,
    *,
    config_path: str | os.PathLike[str] | None = None,
    section: str | None = None,
    file_values: Mapping[str, Any] | None = None,
    **overrides: Any,  # noqa: ANN401 - values of any field type
) -> C:
    """Builds `config_class` from defaults, then the TOML file, then flags, then `overrides`.

    `file_values` stand for a TOML file already read (and checked) by the caller.

    Raises:
        InputError: A bad config file or value, or a required field set nowhere.
    """
    values: dict[str, Any] = {}
    if config_path is not None:
        values |= load_config(config_path, config_class, section=section)
    values |= file_values or {}
    hints = _field_types(config_class)
    given = {
        name: value
        for name, value in (vars(args) if args is not None else {}).items()
        if name in hints and value is not _NOT_GIVEN and value is not None
    }
    for name, value in (given | overrides).items():
        values[name] = _checked_value(config_class, name, value, hints[name], "command line")
    missing = [
        field.name
        for field in dataclasses.fields(config_class)  # type: ignore[arg-type]
        if field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
        and field.name not in values
    ]
    if missing:
        flags = ", ".join(_flag(name) for name in missing)
        raise InputError(f"missing required setting(s): {flags} (or set them in the config file)")
    try:
        return config_class(**values)
    except ValueError as error:
        raise InputError(str(error)) from error
