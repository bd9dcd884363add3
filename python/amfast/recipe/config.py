"""The recipe file: its sources, its stage tables and the run folder (`read_recipe`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from amfast.config import check_values, read_toml
from amfast.errors import InputError

STAGES = (
    "sources",
    "clean",
    "label",
    "select",
    "verify_existing",
    "distill",
    "verify",
    "collect",
    "filter_responses",
    "export",
    "train",
    "eval",
)
# Stages a recipe runs only when it has their table (they need a labelling model, or rules).
OPTIONAL_STAGES = ("label", "select")
ReferenceExtract = Literal["field", "last_boxed", "after_hashes"]


@dataclass(frozen=True)
class Source:
    r"""One `[[source]]` table: where a source's rows are and which field holds what.

    Attributes:
        name: The source's name (`info.source` of its rows; ids are `<name>/<row>`).
        path: A JSONL (.gz/.zst) or Parquet file.
        prompt_field: The problem (dotted paths allowed).
        response_field: An existing response, verified before anything is distilled for it.
        reference_field: The reference answer, or the field it is extracted from.
        reference_extract: `field` (as is), `last_boxed` (the last `\boxed{}` of the field, as in
            MATH solutions) or `after_hashes` (what follows `####`, as in GSM8K answers).
        test_case_field: Test cases (code).
        id_field: A stable id already in the data.
        keep_fields: Fields carried into the row as they are (e.g. MATH's `level`, `type`).
        max_rows: Only the first N rows (slices for demos and smoke runs).
    """

    name: str
    path: str
    prompt_field: str = "prompt"
    response_field: str | None = None
    reference_field: str | None = None
    reference_extract: ReferenceExtract = "field"
    test_case_field: str | None = None
    id_field: str | None = None
    keep_fields: list[str] = field(default_factory=list)
    max_rows: int | None = None


@dataclass
class Recipe:
    """A whole recipe file: run folder, sources, stage list and each stage's table."""

    run_dir: Path
    sources: list[Source]
    stages: list[str]
    tables: dict[str, dict[str, Any]]
    base: Path

    def stage_dir(self, name: str) -> Path:
        """`RUN/NN-<name>`, numbered by the stage's place in this recipe."""
        return self.run_dir / f"{self.stages.index(name) + 1:02d}-{name}"

    def prompts_dir(self) -> Path:
        """Where the curated prompts are: the last of select, label and clean in the recipe."""
        name = next(n for n in ("select", "label", "clean") if n in self.stages)
        return self.stage_dir(name)

    def training_set(self) -> Path:
        """The training set: `train.jsonl` of filter_responses, else of collect."""
        name = next(n for n in ("filter_responses", "collect") if n in self.stages)
        return self.stage_dir(name) / "train.jsonl"


def read_recipe(path: str | os.PathLike[str], run_dir: str | None = None) -> Recipe:
    """Reads and checks a recipe file; relative paths in it are relative to the file.

    Raises:
        InputError: Unknown keys, stages or source fields, naming the file and the table.
    """
    path = Path(path)
    document = read_toml(path)
    base = path.parent
    known = {"run_dir", "stages", "source", *STAGES}
    unknown = sorted(set(document) - known)
    if unknown:
        raise InputError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    sources = []
    for number, table in enumerate(document.get("source", [])):
        where = f"{path}: [[source]] #{number + 1}"
        if not isinstance(table, dict):
            raise InputError(f"{where}: expected a table")
        values = check_values(Source, table, where)
        missing = [name for name in ("name", "path") if name not in values]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}")
        values["path"] = str(base / values["path"])
        sources.append(Source(**values))
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: source names must be unique, got {names}")
    default = [n for n in STAGES if n not in OPTIONAL_STAGES or n in document]
    stages = document.get("stages", default)
    bad = [name for name in stages if name not in STAGES]
    if bad:
        raise InputError(f"{path}: unknown stages {bad}; known: {', '.join(STAGES)}")
    if "sources" in stages and not sources:
        raise InputError(f"{path}: no [[source]] table")
    if [n for n in STAGES if n in stages] != list(stages):
        raise InputError(f"{path}: stages must keep the order {', '.join(STAGES)}")
    for needed, stage in (
        ("sources", "clean"),
        ("clean", "verify_existing"),
        ("collect", "filter_responses"),
    ):
        if stage in stages and needed not in stages:
            raise InputError(f"{path}: stage {stage} needs stage {needed} before it")
    run = run_dir or document.get("run_dir")
    if not run:
        raise InputError(f"{path}: no run_dir (set it in the file or pass --run-dir)")
    tables = {name: _with_paths(name, dict(document.get(name, {})), base) for name in STAGES}
    run_path = Path(run) if run_dir else base / run
    return Recipe(run_path.resolve(), sources, list(stages), tables, base)


# Keys of stage tables that name files: a relative one is relative to the recipe file when it
# exists there (a `model` that does not is a hub or served name, left as it is).
PATH_KEYS = {
    "distill": ("model",),
    "filter_responses": ("reward_model",),
    "train": ("model", "tokenizer", "chat_template"),
    "eval": ("model", "benchmarks", "gpqa_path", "livecodebench_path"),
}


def _with_paths(stage: str, table: dict[str, Any], base: Path) -> dict[str, Any]:
    for key in PATH_KEYS.get(stage, ()):
        value = table.get(key)
        if isinstance(value, str) and not Path(value).is_absolute() and (base / value).exists():
            table[key] = str(base / value)
    return table
