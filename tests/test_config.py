"""`amfast.config`: dataclass fields = TOML keys = CLI flags; flags override the file."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from amfast.config import (
    add_config_flags,
    build_config,
    load_config,
    options_from,
    require,
    resolve_config,
    settings_of,
)
from amfast.errors import InputError


@dataclass
class StageConfig:
    input: str = field(metadata={"positional": True, "help": "input file"})
    output: str = field(metadata={"aliases": ("-o",), "help": "output"})
    max_tokens: int = 16
    temperature: float = 0.6
    mode: Literal["fast", "exact"] = "fast"
    verify: bool = False
    base_url: list[str] = field(default_factory=list)
    limit: int | None = None


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, StageConfig)
    return parser.parse_args(argv)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_flags_override_the_file_and_the_file_overrides_defaults(tmp_path: Path) -> None:
    config_file = write(
        tmp_path / "stage.toml",
        'output = "from-file"\nmax-tokens = 64\ntemperature = 1\nmode = "exact"\nverify = true\n',
    )
    args = parse(["in.jsonl", "-o", "from-flag", "--max-tokens", "8", "--no-verify"])
    config = resolve_config(StageConfig, args, config_path=config_file)
    assert config == StageConfig(
        input="in.jsonl",
        output="from-flag",
        max_tokens=8,
        temperature=1.0,
        mode="exact",
        verify=False,
    )


def test_a_stage_table_is_read_when_present(tmp_path: Path) -> None:
    config_file = write(tmp_path / "all.toml", '[stage]\ninput = "a"\noutput = "b"\nlimit = 3\n')
    assert resolve_config(StageConfig, config_path=config_file, section="stage").limit == 3


def test_repeatable_flags_and_toml_arrays_become_lists(tmp_path: Path) -> None:
    args = parse(["x", "-o", "y", "--base-url", "http://a/v1", "--base-url", "http://b/v1"])
    assert resolve_config(StageConfig, args).base_url == ["http://a/v1", "http://b/v1"]
    config_file = write(
        tmp_path / "s.toml", 'input = "x"\noutput = "y"\nbase_url = "http://c/v1"\n'
    )
    assert resolve_config(StageConfig, config_path=config_file).base_url == ["http://c/v1"]


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    config_file = write(tmp_path / "bad.toml", "max_tokenz = 3\n")
    with pytest.raises(InputError, match=r"bad\.toml: unknown key 'max_tokenz'"):
        load_config(config_file, StageConfig)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_tokens = 1.5", "'max_tokens' is 1.5, expected an integer"),
        ("verify = 1", "'verify' is 1, expected true or false"),
        ('mode = "slow"', "'mode' is 'slow', expected one of 'fast', 'exact'"),
        ("max_tokens = [", "invalid TOML"),
    ],
)
def test_bad_values_name_the_key_and_the_problem(tmp_path: Path, line: str, message: str) -> None:
    config_file = write(tmp_path / "bad.toml", line + "\n")
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_config(config_file, StageConfig)


def test_missing_required_settings_name_their_flags() -> None:
    with pytest.raises(InputError, match="--output"):
        resolve_config(StageConfig, parse(["in.jsonl"]))


def test_missing_config_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read config"):
        load_config(tmp_path / "absent.toml", StageConfig)


def test_options_are_built_from_same_named_attributes() -> None:
    from amfast.normalize import NormalizeOptions

    flags = argparse.Namespace(
        lowercase=False, case_fold=True, keep_digits=True, math_operators=False, strip_latex=True
    )
    options = options_from(NormalizeOptions, flags, keep_digits=False)
    assert options == NormalizeOptions(
        lowercase=False, case_fold=True, keep_digits=False, math_operators=False, strip_latex=True
    )
    # Attributes the source lacks keep their defaults; extra attributes are ignored.
    partial = argparse.Namespace(case_fold=True, unrelated=3)
    assert options_from(NormalizeOptions, partial) == NormalizeOptions(case_fold=True)


@dataclass(frozen=True)
class Knobs:
    width: int = field(default=3, metadata={"help": "width"})
    strict: bool = False

    def __post_init__(self) -> None:
        require(self.width >= 1, "width", self.width, "an integer >= 1")


@dataclass
class NestedConfig:
    input: str = field(metadata={"positional": True})
    knobs: Knobs = field(default_factory=Knobs)
    other: Knobs = field(default_factory=Knobs, metadata={"prefix": "other_"})
    rows: int = field(default=10, metadata={"deprecated": ("chunk_rows",)})
    tags: list[str] = field(default_factory=list)


def parse_nested(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, NestedConfig)
    return parser.parse_args(argv)


def test_options_objects_are_flattened_into_flags_and_built_whole() -> None:
    args = parse_nested(["x", "--width", "5", "--other-strict", "--tags", "a,b", "--tags", "c"])
    config = resolve_config(NestedConfig, args)
    assert config.knobs == Knobs(width=5)
    assert config.other == Knobs(strict=True)
    assert config.tags == ["a", "b", "c"]
    assert sorted(settings_of(NestedConfig)) == [
        "input", "other_strict", "other_width", "rows", "strict", "tags", "width",
    ]  # fmt: skip


def test_an_options_table_may_be_flat_or_nested_in_toml(tmp_path: Path) -> None:
    config_file = write(
        tmp_path / "n.toml", '[stage]\ninput = "x"\nwidth = 4\nother = { width = 7 }\n'
    )
    config = resolve_config(NestedConfig, config_path=config_file, section="stage")
    assert (config.knobs.width, config.other.width) == (4, 7)


def test_a_rule_broken_inside_an_options_object_names_the_prefixed_flag_and_key() -> None:
    with pytest.raises(InputError, match=r"--other-width \(key 'other_width'\) is 0"):
        resolve_config(NestedConfig, parse_nested(["x", "--other-width", "0"]))


def test_deprecated_spellings_warn_and_set_the_new_name(tmp_path: Path) -> None:
    with pytest.warns(FutureWarning, match="--chunk-rows is deprecated; use --rows"):
        args = parse_nested(["x", "--chunk-rows", "3"])
    assert resolve_config(NestedConfig, args).rows == 3
    config_file = write(tmp_path / "d.toml", 'input = "x"\nchunk_rows = 4\n')
    with pytest.warns(FutureWarning, match="key 'chunk_rows' is deprecated; use 'rows'"):
        assert resolve_config(NestedConfig, config_path=config_file).rows == 4


def test_a_shared_file_gives_each_command_its_table_only(tmp_path: Path) -> None:
    config_file = write(
        tmp_path / "all.toml",
        '[distill]\ninput = "a"\noutput = "b"\n[dedup]\nthreshold = 0.5\n[clean]\nbogus = 1\n',
    )
    assert resolve_config(StageConfig, config_path=config_file, section="distill").output == "b"
    # No [eval] table: the top level minus other stages' tables, here nothing.
    with pytest.raises(InputError, match="missing required setting"):
        resolve_config(StageConfig, config_path=config_file, section="eval")


def test_help_shows_every_default() -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, NestedConfig)
    text = parser.format_help()
    assert "width (default: 3)" in text
    assert "--chunk-rows" not in text  # deprecated spellings are accepted, not advertised


def test_options_inside_options_are_flat_settings_too() -> None:
    # SemanticOptions holds an EmbeddingModel: `--model` and `--embedding-backend` reach it.
    from amfast.dedup.config import DedupConfig
    from amfast.dedup.files import SemanticOptions
    from amfast.embed import EmbeddingModel

    required = {"input": "in.jsonl", "output": "out.jsonl", "text_field": "problem"}
    flat = {**required, "model": "/models/bge", "embedding_backend": "onnx", "nprobe": 8}
    config = build_config(DedupConfig, flat)
    assert config.semantic.embedding_model == EmbeddingModel("/models/bge", "onnx")
    assert config.semantic.nprobe == 8
    base = SemanticOptions(nprobe=4, embedding_model=EmbeddingModel("/models/e5"))
    config = build_config(DedupConfig, {**required, "semantic": base, "embedding_backend": "onnx"})
    assert config.semantic.embedding_model == EmbeddingModel("/models/e5", "onnx")
    assert config.semantic.nprobe == 4
    with pytest.raises(InputError, match=r"--nprobe \(key 'nprobe'\) is 0"):
        build_config(DedupConfig, {**required, "nprobe": 0})
