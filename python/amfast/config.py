"""Typed stage configs: one dataclass per stage, read from TOML, overridden by CLI flags.

One name per setting everywhere: a dataclass field `max_tokens` is the TOML key `max_tokens`
(or `max-tokens`) and the CLI flag `--max-tokens`. A stage declares its options once, as a
dataclass whose fields carry a `help` in their metadata; `add_config_flags` derives the flags
(each help ends with its default), `load_config` reads a TOML file (the table named after the
stage, else the top-level keys that are not another stage's table), and `resolve_config` merges
them: defaults < TOML < flags given on the command line.

Field metadata may name `aliases` (`("-o",)`), mark a field `positional`, or list `deprecated`
spellings (`("chunk_rows",)`: the flag `--chunk-rows` and the key `chunk_rows` still work, with a
warning naming the new one). A field whose type is itself a dataclass is an *options object*
(`normalize: NormalizeOptions`): its fields are flags and keys of their own (flat, or under a
`prefix` from the metadata), and the object is built whole, so a concept's settings and their
defaults are declared once, on the options class. An options table may also be given nested
(`[dedup.normalize]`). `ValueError`s from `__post_init__` checks become `InputError`s.

Supported field types: `str`, `int`, `float`, `bool` (`--flag/--no-flag`), `Literal[...]` of
strings (choices), `list[str]` / `tuple[str, ...]` (a repeatable flag, commas split it; a TOML
array), `X | None` of those, and options dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
import types
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from amfast.errors import InputError

C = TypeVar("C")

STAGE_TABLES = frozenset(
    {
        "clean", "dedup", "decontam", "verify", "distill", "train", "eval", "demo",
        "semantic_dedup", "label", "select", "export",
    }
)  # fmt: skip
"""Tables of one shared TOML file: each command reads its own (`amfast dedup` reads `[dedup]`)."""

# argparse default for config flags: tells "not given" apart from any real value.
_NOT_GIVEN: Any = object()


class SettingError(InputError):
    """A setting's value breaks its rule; `resolve_config` names the flag and the key.

    Raised by `__post_init__` checks (see `require`); the options class does not know under
    which prefix it is exposed, the config mechanism does.
    """

    def __init__(self, name: str, value: object, rule: str) -> None:
        """`name` is the field, `rule` what the value must be ("in (0, 1]")."""
        super().__init__(f"{name!r} is {value!r}, expected {rule}")
        self.name, self.value, self.rule = name, value, rule


def require(ok: bool, name: str, value: object, rule: str) -> None:
    """Raises `SettingError(name, value, rule)` unless `ok`.

    Example:
        >>> require(0 < 0.5 <= 1, "threshold", 0.5, "a number in (0, 1]")
    """
    if not ok:
        raise SettingError(name, value, rule)


def with_overrides(kind: type[C], options: C | None, settings: dict[str, Any]) -> C:
    """`options` (default: `kind()`) with `settings` replacing some of its fields.

    Raises:
        TypeError: A key is not a field of `kind` (the keys are named).
        SettingError: A value breaks its field's rule.
    """
    names = {item.name for item in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(settings) - names)
    if unknown:
        raise TypeError(f"unknown {kind.__name__} settings {unknown}")
    return dataclasses.replace(options or kind(), **settings)  # type: ignore[type-var]


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


def _is_options(kind: Any) -> bool:  # noqa: ANN401 - typing objects
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _is_sequence(kind: Any) -> bool:  # noqa: ANN401 - typing objects
    return get_origin(kind) in (list, tuple)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One flag / key of a config class: a field, or a field of one of its options objects."""

    name: str
    """The flat name: flag `--name`, key `name` (an options object's prefix included)."""
    path: tuple[str, ...]
    """Field names from the config class down (`("normalize", "lowercase")`)."""
    kind: Any
    field: dataclasses.Field[Any]

    @property
    def default(self) -> Any:  # noqa: ANN401 - the field's type
        """The default value (`MISSING` for a required field)."""
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return self.field.default


def settings_of(config_class: type[Any]) -> dict[str, Setting]:
    """Every setting of `config_class` by flat name, options objects flattened.

    An options field shadowed by a top-level field of the same name (`threshold` of both
    `DedupConfig` and `MinHashOptions`) is set through the top-level one.

    Raises:
        TypeError: Two options objects expose the same name (give one a `prefix`).
    """
    hints = _field_types(config_class)
    fields = [field for field in dataclasses.fields(config_class) if field.init]
    top = {
        field.name: Setting(field.name, (field.name,), hints[field.name], field)
        for field in fields
        if not _is_options(hints[field.name])
    }
    settings: dict[str, Setting] = {}
    for field in fields:
        if field.name in top:
            settings[field.name] = top[field.name]
            continue
        prefix = field.metadata.get("prefix", "")
        for inner in settings_of(hints[field.name]).values():
            name = prefix + inner.name
            if name in top:
                continue  # set through the top-level setting of that name
            if name in settings:
                raise TypeError(f"{config_class.__name__}: two options objects expose {name!r}")
            settings[name] = Setting(name, (field.name, *inner.path), inner.kind, inner.field)
    return settings


def _options_fields(config_class: type[Any]) -> dict[str, tuple[type[Any], str]]:
    """`{field: (options class, prefix)}` of the options objects of `config_class`."""
    hints = _field_types(config_class)
    return {
        field.name: (hints[field.name], field.metadata.get("prefix", ""))
        for field in dataclasses.fields(config_class)
        if field.init and _is_options(hints[field.name])
    }


def _deprecated_names(config_class: type[Any]) -> dict[str, str]:
    """`{old spelling: setting}` from the `deprecated` metadata of every setting."""
    return {
        old: setting.name
        for setting in settings_of(config_class).values()
        for old in setting.field.metadata.get("deprecated", ())
    }


def _shown(value: Any) -> str:  # noqa: ANN401 - any default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "none"
    return str(value)


def _help_with_default(setting: Setting) -> str:
    text = str(setting.field.metadata.get("help", ""))
    if setting.default is dataclasses.MISSING:
        if not setting.field.metadata.get("positional"):
            text = f"{text} (required)".strip()
    elif "default" not in text:
        text = f"{text} (default: {_shown(setting.default)})".strip()
    return text.replace("%", "%%")  # argparse %-formats help texts


def _warn_deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; use {new} (same meaning)", FutureWarning, stacklevel=3)


def _deprecated_action(base: type[argparse.Action], new_flag: str) -> type[argparse.Action]:
    class Deprecated(base):  # type: ignore[valid-type,misc]
        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: Any,  # noqa: ANN401 - whatever the flag takes
            option_string: str | None = None,
        ) -> None:
            _warn_deprecated(option_string or "", new_flag)
            super().__call__(parser, namespace, values, option_string)

    return Deprecated


def add_config_flags(
    parser: argparse.ArgumentParser, config_class: type[Any], *, skip: tuple[str, ...] = ()
) -> None:
    """Adds one flag per setting of `config_class` (`max_tokens` -> `--max-tokens`).

    Flags default to "not given", so `resolve_config` can tell them from TOML values; each help
    text ends with the default. Settings in `skip` get no flag.

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
    groups: dict[str, argparse._ArgumentGroup] = {}
    for setting in settings_of(config_class).values():
        if setting.name in skip:
            continue
        kind, _ = _unwrap_optional(setting.kind)
        metadata = setting.field.metadata
        help_text = _help_with_default(setting)
        target: argparse.ArgumentParser | argparse._ArgumentGroup = parser
        if len(setting.path) > 1:
            title = setting.path[0].replace("_", " ") + " options"
            target = groups.get(title) or groups.setdefault(title, parser.add_argument_group(title))
        if metadata.get("positional"):
            parser.add_argument(setting.name, nargs="?", default=_NOT_GIVEN, help=help_text)
            continue
        names = [*metadata.get("aliases", ()), _flag(setting.name)]
        old_names = [_flag(old) for old in metadata.get("deprecated", ())]
        common: dict[str, Any] = {"dest": setting.name, "default": _NOT_GIVEN}
        action: type[argparse.Action] | str
        if kind is bool:
            action = argparse.BooleanOptionalAction
        elif get_origin(kind) is Literal:
            action, common["choices"] = "store", list(get_args(kind))
        elif _is_sequence(kind):
            # `append` needs a list or None to start from; None means "not given" here.
            action, common["default"], common["type"] = "append", None, str
            split = ", commas split" if metadata.get("split", True) else ""
            help_text = f"{help_text}; repeatable{split}".strip("; ")
        elif kind in (str, int, float):
            action, common["type"] = "store", kind
        else:
            raise TypeError(f"{config_class.__name__}.{setting.name}: unsupported type {kind}")
        target.add_argument(*names, action=action, help=help_text, **common)
        for old in old_names:
            base = parser._registry_get("action", action, action)
            target.add_argument(
                old,
                action=_deprecated_action(base, names[-1]),
                help=argparse.SUPPRESS,
                **common,
            )


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
    elif _is_sequence(base):
        items: list[str] | None = None
        if isinstance(value, str):
            items = [value]
        elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            items = list(value)
        if items is not None:
            return tuple(items) if get_origin(base) is tuple else items
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


def stage_table(document: Mapping[str, Any], section: str | None, where: str) -> Mapping[str, Any]:
    """The keys of `section` in a (possibly shared) TOML document.

    The `[section]` table when there is one; else the top-level keys that are not another
    stage's table, so a one-stage file needs no table and one file can hold every stage's.

    Raises:
        InputError: `[section]` is not a table.
    """
    if section and section in document:
        table = document[section]
        if not isinstance(table, Mapping):
            raise InputError(f"{where}: [{section}] must be a table")
        return table
    return {
        key: value
        for key, value in document.items()
        if not (key in STAGE_TABLES and isinstance(value, Mapping))
    }


def load_config(
    path: str | os.PathLike[str], config_class: type[Any], *, section: str | None = None
) -> dict[str, Any]:
    """The settings of a TOML file as `{setting: value}`, checked against `config_class`.

    Keys are the setting names; dashes are accepted for underscores (`max-tokens`). See
    `stage_table` for which keys are read.

    Raises:
        InputError: The file is missing or not valid TOML, a key is unknown, or a value has
            the wrong type; the message names the file and the key.
    """
    path = Path(path)
    return check_values(config_class, stage_table(read_toml(path), section, str(path)), str(path))


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
    """`table` as `{setting: value}` checked against `config_class` (dashes read as underscores).

    An options object's settings may also come as a nested table named after its field
    (`normalize = {lowercase = false}`). Deprecated spellings are accepted with a warning.

    Raises:
        InputError: An unknown key or a value of the wrong type, naming `where` and the key.
    """
    settings = settings_of(config_class)
    nested = _options_fields(config_class)
    deprecated = _deprecated_names(config_class)
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key in nested and isinstance(value, Mapping):
            options_class, prefix = nested[key]
            inner = check_values(options_class, value, f"{where} [{raw_key}]")
            values |= {prefix + name: item for name, item in inner.items()}
            continue
        if key in deprecated:
            _warn_deprecated(f"{where}: key {raw_key!r}", repr(deprecated[key]))
            key = deprecated[key]
        if key not in settings:
            known = ", ".join(sorted(settings))
            raise InputError(f"{where}: unknown key {raw_key!r} (known keys: {known})")
        values[key] = _checked_value(config_class, key, value, settings[key].kind, where)
    return values


def _split_commas(value: Any) -> Any:  # noqa: ANN401 - a flag's value
    if isinstance(value, list):
        return [part for item in value for part in str(item).split(",") if part]
    return value


def build_config(config_class: type[C], values: Mapping[str, Any]) -> C:
    """`config_class` from `{setting: value}` (flat names), options objects built whole.

    A value under an options field's own name (`normalize=NormalizeOptions(...)`) is the base
    its flat settings are applied to. Options objects may hold options objects of their own
    (`SemanticOptions.embedding_model`): their settings are flat names too.

    Raises:
        InputError: A required setting is missing, or a value breaks a rule of the class
            (the message names the flag and the key).
    """
    return _build(config_class, values, "")


def _build(config_class: type[C], values: Mapping[str, Any], prefix: str) -> C:
    """`build_config` of an options object whose flat names carry `prefix` outside it."""
    settings = settings_of(config_class)
    nested = _options_fields(config_class)
    missing = [
        prefix + setting.name
        for setting in settings.values()
        if setting.default is dataclasses.MISSING and setting.name not in values
    ]
    if missing:
        flags = ", ".join(_flag(name) for name in missing)
        raise InputError(f"missing required setting(s): {flags} (or set them in the config file)")
    arguments: dict[str, Any] = {}
    for setting in settings.values():
        if len(setting.path) == 1 and setting.name in values:
            arguments[setting.name] = values[setting.name]
    for field_name, (options_class, inner_prefix) in nested.items():
        inner = {
            setting.name.removeprefix(inner_prefix): values[setting.name]
            for setting in settings.values()
            if setting.path[0] == field_name and len(setting.path) > 1 and setting.name in values
        }
        # A top-level setting shadowing an options field sets it when given.
        for name in settings_of(options_class):
            shadowed = settings.get(inner_prefix + name)
            given = arguments.get(name)
            if shadowed is not None and shadowed.path == (name,) and given is not None:
                inner.setdefault(name, given)
        base = values.get(field_name)
        if base is not None:
            inner = {**_flat_values(base), **inner}
        if inner:
            arguments[field_name] = _build(options_class, inner, prefix + inner_prefix)
    try:
        return config_class(**arguments)
    except ValueError as error:
        raise _named(error, prefix) from error


def _flat_values(options: Any) -> dict[str, Any]:  # noqa: ANN401 - any options object
    """The settings of an options object by flat name (what `_build` rebuilds it from)."""
    flat = {}
    for name, setting in settings_of(type(options)).items():
        value = options
        for step in setting.path:
            value = getattr(value, step)
        flat[name] = value
    return flat


def _named(error: ValueError, prefix: str) -> InputError:
    if isinstance(error, SettingError):
        name = prefix + error.name
        return InputError(f"{_flag(name)} (key {name!r}) is {error.value!r}, expected {error.rule}")
    return InputError(str(error))


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
    settings = settings_of(config_class)
    given = {
        name: _split_commas(value) if settings[name].field.metadata.get("split", True) else value
        for name, value in (vars(args) if args is not None else {}).items()
        if name in settings and value is not _NOT_GIVEN and value is not None
    }
    options = _options_fields(config_class)
    for name, value in (given | overrides).items():
        if name in options and not isinstance(value, Mapping):
            values[name] = value  # a whole options object
            continue
        values[name] = _checked_value(
            config_class, name, value, settings[name].kind, "command line"
        )
    return build_config(config_class, values)


__all__ = [
    "STAGE_TABLES",
    "Setting",
    "SettingError",
    "add_config_flags",
    "build_config",
    "check_values",
    "fraction",
    "load_config",
    "options_from",
    "positive",
    "read_toml",
    "require",
    "resolve_config",
    "settings_of",
    "stage_table",
]


def positive(name: str, value: int | float | None, *, optional: bool = False) -> None:
    """Requires `value >= 1` (`None` too when `optional`): counts, threads, rows per batch.

    Example:
        >>> positive("num_threads", None, optional=True)
    """
    if value is None and optional:
        return
    require(value is not None and value >= 1, name, value, "an integer >= 1")


def fraction(name: str, value: float | None, *, optional: bool = False) -> None:
    """Requires `0 < value <= 1` (`None` too when `optional`): thresholds and shares.

    Example:
        >>> fraction("threshold", 0.8)
    """
    if value is None and optional:
        return
    require(value is not None and 0.0 < value <= 1.0, name, value, "a number in (0, 1]")
