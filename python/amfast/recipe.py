"""`amfast run recipe.toml`: the AM recipe from one file, stages wired by a run folder.

A recipe names its sources (`[[source]]` tables) and one table per stage, each holding that
stage's own config keys (`[clean]` takes `CleanConfig`'s, `[distill]` `DistillConfig`'s, ...);
the recipe fills in every input and output path, so no path is written twice. Stages, in order:

1. `sources`: every source's rows mapped onto the flat row schema (`id`, `source`, `prompt`,
   `reference_answer`, `test_case`, and `candidate_response` / `response_source` for a response
   that came with the row) in one corpus with stable ids (`<source name>/<row>` unless the
   source names an id field);
2. `clean`: normalize, dedup, decontaminate and filter the prompts (`amfast clean`);
   `label` (category, difficulty, language, length) and `select` (reproducible downsampling
   per label) follow when the recipe has their tables;
3. `verify_existing`: rows that arrived with a response are verified first; the prompts whose
   response passed are done, the rest go to distill;
4. `distill`: responses from the teacher for the remaining prompts (`amfast distill`);
5. `verify`: every distilled response graded (`amfast verify`);
6. `collect`: the passing responses of both, as AM-schema conversations, each tagged with its
   `response_kind` (`existing` or `distilled`);
7. `filter_responses`: the rule filters on those final responses (`<think>`/`<answer>` form on
   distilled ones, repeated n-grams, optionally language mix, length and a reward-model cut at
   a quantile of the scores), with a ledger of what each rule dropped
   (`amfast.response_filters`); its `train.jsonl` is the training set;
8. `export`: the release (`am_*.jsonl.zst`, Parquet, a `datasets` folder) and its dataset card;
9. `train`: SFT on the training set (`amfast train`);
10. `eval`: the trained model on the eval tasks (`amfast eval`).

At the end `RUN/report.html` shows every stage on one offline page (`amfast.report`).

Each stage writes `RUN/NN-<stage>/` (numbered in the recipe's order) and, when it finishes,
`recipe-stage.json` there with the fingerprint of its settings and of everything upstream. A
rerun reuses a finished stage whose fingerprint still matches, resumes an unfinished one (the
stages are resumable themselves), and reruns a stage whose settings changed together with every
stage after it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from amfast.config import build_config, check_values, read_toml
from amfast.errors import InputError
from amfast.io import AtomicWriter, field_at, iter_jsonl
from amfast.stage import PLUGINS

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
MARKER = "recipe-stage.json"
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


# ------------------------------------------------------------------------------------ running


@dataclass
class StageOutcome:
    """What one stage of a run did (printed as its summary line)."""

    name: str
    reused: bool
    seconds: float
    summary: dict[str, Any]

    def line(self) -> str:
        """One line for the terminal: `clean  reused  rows 63,920 -> kept 51,313`."""
        facts = ", ".join(f"{key} {_number(value)}" for key, value in self.summary.items())
        state = "reused" if self.reused else f"{self.seconds:.1f}s"
        return f"{self.name:<16} {state:>8}  {facts}"


def _number(value: Any) -> str:  # noqa: ANN401 - summary values are JSON
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def run_recipe(
    recipe: Recipe,
    *,
    until: str | None = None,
    only: str | None = None,
    progress: bool = True,
    report: Callable[[StageOutcome], None] | None = None,
) -> list[StageOutcome]:
    """Runs the recipe's stages in order (see the module docs); returns what each did.

    Raises:
        InputError: A stage's settings or input are wrong (the stage's own error).
    """
    for name in (until, only):
        if name is not None and name not in recipe.stages:
            raise InputError(f"no stage {name!r} in this recipe; its stages: {recipe.stages}")
    recipe.run_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    upstream = ""
    changed = False
    for name in recipe.stages:
        folder = recipe.stage_dir(name)
        key = _fingerprint(name, recipe, upstream)
        upstream = key
        marker = _read_marker(folder)
        if only is not None and name != only:
            finished = marker is not None and marker.get("fingerprint") == key
            if not finished and STAGES.index(name) < STAGES.index(only):
                raise InputError(
                    f"--only {only}: stage {name} has not finished with these settings; "
                    "run the recipe up to it first"
                )
            continue
        if marker is not None and marker.get("fingerprint") == key and not changed:
            outcome = StageOutcome(name, True, 0.0, marker.get("summary", {}))
        else:
            # Settings changed here or upstream reran: nothing in the folder can be reused.
            # Same settings and nothing upstream reran: the stage resumes its own work.
            if folder.exists() and (changed or _read_started(folder) != key):
                shutil.rmtree(folder)
            changed = True
            folder.mkdir(parents=True, exist_ok=True)
            _write_json(folder / "recipe-started.json", {"fingerprint": key})
            began = time.perf_counter()
            summary = STAGE_RUNNERS[name](recipe, folder, progress)
            outcome = StageOutcome(name, False, time.perf_counter() - began, summary)
            _write_json(folder / MARKER, {"fingerprint": key, "summary": summary})
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
        if name == until:
            break
    _write_json(recipe.run_dir / "recipe-summary.json", [dataclasses.asdict(o) for o in outcomes])
    from amfast.report import write_report

    write_report(recipe.run_dir)
    return outcomes


def _fingerprint(name: str, recipe: Recipe, upstream: str) -> str:
    settings: Any = recipe.tables.get(name, {})
    if name == "sources":
        settings = [
            dataclasses.asdict(source) | {"stat": _stat(Path(source.path))}
            for source in recipe.sources
        ]
    text = json.dumps([name, settings, upstream], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _stat(path: Path) -> list[int]:
    try:
        status = path.stat()
    except OSError as error:
        raise InputError(f"{path}: cannot read the source ({error.strerror})") from None
    return [status.st_size, status.st_mtime_ns]


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker: dict[str, Any] = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker


def _read_started(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / "recipe-started.json").read_text())["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: Path, value: Any) -> None:  # noqa: ANN401 - any JSON value
    with AtomicWriter(path) as temporary:
        temporary.write_text(json.dumps(value, indent=1, default=str) + "\n")


# ---------------------------------------------------------------------------------- the stages


def _write_rows(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with AtomicWriter(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _read_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        for line in iter_jsonl(path):
            yield line.record


def _parts(folder: Path, pattern: str = "*.jsonl") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.name != MARKER)


_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed_content(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` in `text` (braces balanced), or None.

    Example:
        >>> last_boxed_content(r"so $x = \boxed{\frac{1}{2}}$.")
        '\\frac{1}{2}'
    """
    starts = [match.end() for match in _BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for position in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[start:position].strip() or None
    return None


def _reference(source: Source, record: dict[str, Any]) -> str | None:
    if source.reference_field is None:
        return None
    value = _lookup(record, source.reference_field)
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    if source.reference_extract == "last_boxed":
        return last_boxed_content(text)
    if source.reference_extract == "after_hashes":
        _, hashes, answer = text.rpartition("####")
        return answer.strip().replace(",", "") or None if hashes else None
    return text.strip() or None


def _lookup(record: dict[str, Any], path: str | None) -> Any:  # noqa: ANN401 - JSON value
    if path is None:
        return None
    try:
        return field_at(record, path)
    except (KeyError, IndexError, TypeError):
        return None


def _source_records(source: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    path = Path(source.path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        yield from enumerate(rows[: source.max_rows] if source.max_rows else rows)
        return
    for index, line in enumerate(iter_jsonl(path)):
        if source.max_rows is not None and index >= source.max_rows:
            return
        yield index, line.record


def _run_sources(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    counts: dict[str, int] = {}
    skipped: dict[str, int] = {}

    def rows() -> Iterator[dict[str, Any]]:
        for source in recipe.sources:
            for index, record in _source_records(source):
                prompt = _lookup(record, source.prompt_field)
                if not isinstance(prompt, str) or not prompt.strip():
                    skipped[source.name] = skipped.get(source.name, 0) + 1
                    continue
                given = _lookup(record, source.id_field)
                response = _lookup(record, source.response_field)
                tests = _lookup(record, source.test_case_field)
                row: dict[str, Any] = {
                    "id": f"{source.name}/{given if given is not None else index}",
                    "source": source.name,
                    "prompt": prompt,
                    "reference_answer": _reference(source, record),
                    "test_case": tests,
                }
                if isinstance(response, str) and response.strip():
                    row["candidate_response"] = response
                    row["response_source"] = source.name
                for name in source.keep_fields:
                    row[name] = _lookup(record, name)
                counts[source.name] = counts.get(source.name, 0) + 1
                yield row

    total = _write_rows(folder / "corpus.jsonl", rows())
    return {"rows": total, "per_source": counts, "skipped_no_prompt": sum(skipped.values())}


def _run_clean(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.clean import CleanConfig, clean

    table = dict(recipe.tables["clean"])
    plugins = {name: table.pop(name) for name in list(table) if name in PLUGINS}
    for options in plugins.values():
        if isinstance(options.get("benchmarks"), list):
            options["benchmarks"] = [str(recipe.base / path) for path in options["benchmarks"]]
    settings = check_values(CleanConfig, table, "[clean]")
    fixed = {
        "input": str(recipe.stage_dir("sources") / "corpus.jsonl"),
        "output": str(folder),
        "text_field": "prompt",
        "source_field": "source",
        "id_field": "id",
        "reference_field": "reference_answer",
        "test_case_field": "test_case",
        "output_format": "jsonl",
        "progress": progress,
        "plugin_options": plugins,
    }
    settings.setdefault("source_rank", [source.name for source in recipe.sources])
    summary = clean(build_config(CleanConfig, settings | fixed))
    return {"rows": summary.rows, "kept": summary.kept, "dropped": summary.dropped}


def _run_label(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.label import LabelConfig, run_label

    settings = check_values(LabelConfig, recipe.tables["label"], "[label]")
    fixed = {
        "input": str(recipe.stage_dir("clean")),
        "output": str(folder),
        "prompt_field": "prompt",
        "id_field": "id",
    }
    summary = run_label(LabelConfig(**(settings | fixed)))
    return {"rows": summary.rows, "labels": summary.counts}


def _run_select(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.selection import SelectConfig, run_select

    upstream = recipe.stage_dir("label" if "label" in recipe.stages else "clean")
    settings = check_values(SelectConfig, recipe.tables["select"], "[select]")
    fixed = {"input": str(upstream), "output": str(folder), "id_field": "id"}
    summary = run_select(SelectConfig(**(settings | fixed)))
    return {"rows": summary.rows, "kept": summary.kept, "dropped": summary.dropped}


def _run_export(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.export import ExportConfig, run_export

    settings = check_values(ExportConfig, recipe.tables["export"], "[export]")
    fixed = {"input": str(recipe.training_set()), "output": str(folder)}
    summary = run_export(ExportConfig(**(settings | fixed)))
    return {"rows": summary.rows, "shards": summary.shards, "card": summary.card}


@dataclass
class RecipeVerifySettings:
    """The `[verify]` table of a recipe: how both verify stages run."""

    num_threads: int | None = field(
        default=None,
        metadata={"help": "math processes / code sandboxes", "deprecated": ("num_workers",)},
    )
    math_timeout: float = 10.0
    code_timeout: float = 10.0
    code_memory_mb: int = 1024


def _verify_options(recipe: Recipe, progress: bool) -> Any:  # noqa: ANN401 - VerifyOptions
    from amfast.verify.dispatch import VerifyOptions

    settings = RecipeVerifySettings(
        **check_values(RecipeVerifySettings, recipe.tables["verify"], "[verify]")
    )
    return VerifyOptions(
        num_workers=settings.num_threads,
        math_timeout=settings.math_timeout,
        code_timeout=settings.code_timeout,
        code_memory_mb=settings.code_memory_mb,
        progress=progress,
    )


def _passed(row: dict[str, Any]) -> bool:
    messages = row.get("messages")
    if isinstance(messages, list):
        info = next(
            (m.get("info") or {} for m in reversed(messages) if m.get("role") == "assistant"), {}
        )
        return bool(info.get("verify_reason") == "correct")
    return row.get("verify_reason") == "correct"


def _run_verify_existing(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.verify.job import verify_file

    kept = _parts(recipe.prompts_dir(), "part-*.jsonl")
    # The clean stage curated prompts; the response that came with a row is graded only here.
    with_response = _write_rows(
        folder / "candidates.jsonl",
        (
            {k: v for k, v in row.items() if k != "candidate_response"}
            | {"response": row["candidate_response"]}
            for row in _read_rows(kept)
            if row.get("candidate_response")
        ),
    )
    passed_ids: set[str] = set()
    if with_response:
        verify_file(
            folder / "candidates.jsonl",
            folder / "verified.jsonl",
            options=_verify_options(recipe, progress),
            progress=progress,
        )
        passed_ids = {
            str(row["id"]) for row in _read_rows([folder / "verified.jsonl"]) if _passed(row)
        }
    to_distill = _write_rows(
        folder / "to_distill.jsonl",
        (
            {k: v for k, v in row.items() if k not in ("candidate_response", "response_source")}
            for row in _read_rows(kept)
            if str(row["id"]) not in passed_ids
        ),
    )
    return {"with_response": with_response, "passed": len(passed_ids), "to_distill": to_distill}


def _run_distill(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.distill.runner import run_distill
    from amfast.distill.settings import DistillConfig

    prompts = recipe.stage_dir("verify_existing") / "to_distill.jsonl"
    if not any(True for _ in _read_rows([prompts])):
        return {"prompts": 0, "samples": 0}
    settings = check_values(DistillConfig, recipe.tables["distill"], "[distill]")
    fixed = {
        "input": str(prompts),
        "output": str(folder),
        "prompt_field": "prompt",
        "id_field": "id",
        "output_format": "jsonl",
        "progress": progress,
    }
    summary = run_distill(DistillConfig(**(settings | fixed)))
    return {
        "prompts": summary.prompts,
        "samples": summary.done,
        "truncated_dropped": summary.truncated_dropped,
        "failed": summary.failed,
    }


def _run_verify(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.verify.job import verify_file

    shards = [
        path
        for path in _parts(recipe.stage_dir("distill") / "shards")
        if not path.name.endswith(".outcomes.jsonl")
    ]
    for index, shard in enumerate(shards):
        verify_file(
            shard,
            folder / f"part-{index:05d}.jsonl",
            options=_verify_options(recipe, progress),
            audit_path=folder / f"part-{index:05d}.audit.json",
            progress=progress,
        )
    verdicts = [_passed(row) for row in _read_rows(_parts(folder, "part-*.jsonl"))]
    return {"samples": len(verdicts), "passed": sum(verdicts)}


def am_conversation(row: dict[str, Any]) -> dict[str, Any]:
    """A flat verified row as an AM-schema conversation (AM-schema rows come back as they are).

    Example:
        >>> row = {"id": "s/1", "source": "s", "prompt": "1+1?", "response": "2",
        ...        "response_source": "s", "reference_answer": "2", "verify_reason": "correct"}
        >>> [m["role"] for m in am_conversation(row)["messages"]]
        ['user', 'assistant']
    """
    if isinstance(row.get("messages"), list):
        return row
    verify = {k: row[k] for k in ("verify_score", "verify_reason", "verifier") if k in row}
    extra = {
        k: v
        for k, v in row.items()
        if k
        not in ("prompt", "response", "response_source", "reference_answer", "test_case", "info")
        and k not in verify
    }
    labels: dict[str, Any] = row["info"] if isinstance(row.get("info"), dict) else {}
    return extra | {
        "messages": [
            {
                "role": "user",
                "content": row["prompt"],
                "info": labels
                | {
                    "source": row.get("source"),
                    "reference_answer": row.get("reference_answer"),
                    "test_case": row.get("test_case"),
                },
            },
            {
                "role": "assistant",
                "content": row.get("response", ""),
                "info": {"source": row.get("response_source")} | verify,
            },
        ]
    }


def _run_collect(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    existing = _parts(recipe.stage_dir("verify_existing"), "verified.jsonl")
    distilled = _parts(recipe.stage_dir("verify"), "part-*.jsonl")
    counts = {"existing": 0, "distilled": 0}
    # Distill keeps a prompt's id, not its labels: they come back from the prompt rows.
    prompts = recipe.stage_dir("verify_existing") / "to_distill.jsonl"
    labels = {
        str(row["id"]): row["info"]
        for row in _read_rows([prompts] if prompts.is_file() else [])
        if isinstance(row.get("info"), dict)
    }

    def rows() -> Iterator[dict[str, Any]]:
        for kind, paths in (("existing", existing), ("distilled", distilled)):
            for row in _read_rows(paths):
                if _passed(row):
                    counts[kind] += 1
                    # Which rules apply depends on it (the think form is asked of the teacher).
                    conversation = am_conversation(row) | {"response_kind": kind}
                    info = labels.get(str(conversation.get("prompt_id")))
                    if kind == "distilled" and info:
                        user = conversation["messages"][0]
                        user["info"] = info | (user.get("info") or {})
                    yield conversation

    total = _write_rows(folder / "train.jsonl", rows())
    return {"samples": total, **counts}


def _run_filter_responses(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.response_filters import ResponseFilterConfig, run_response_filters

    table = recipe.tables["filter_responses"]
    settings = check_values(ResponseFilterConfig, table, "[filter_responses]")
    fixed = {
        "input": str(recipe.stage_dir("collect") / "train.jsonl"),
        "output": str(folder),
        "progress": progress,
    }
    summary = run_response_filters(build_config(ResponseFilterConfig, settings | fixed))
    line: dict[str, Any] = {"samples": summary.rows, "kept": summary.kept}
    line |= {f"dropped by {rule}": c["dropped"] for rule, c in summary.by_rule.items()}
    if summary.reward_threshold is not None:
        line["reward_threshold"] = summary.reward_threshold
    return line


def _run_train(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.train.config import SftConfig
    from amfast.train.sft import train

    data = recipe.training_set()
    if not any(True for _ in _read_rows([data])):
        raise InputError(f"{data}: no sample to train on (none passed verify and the filters)")
    settings = check_values(SftConfig, recipe.tables["train"], "[train]")
    fixed = {"data": str(data), "output_dir": str(folder)}
    result = train(SftConfig(**(settings | fixed)))
    last = result.losses[-1] if result.losses else math.nan
    return {"steps": result.steps, "final_loss": last, "model": str(result.export_dir)}


def _run_eval(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.eval.runner import run_eval
    from amfast.eval.sampling import EvalConfig

    settings = check_values(EvalConfig, recipe.tables["eval"], "[eval]")
    marker = _read_marker(recipe.stage_dir("train")) or {}
    model = settings.get("model") or marker.get("summary", {}).get("model")
    if not model:
        raise InputError("[eval]: no model (set model, or run the train stage first)")
    fixed = {"model": str(model), "output": str(folder), "progress": progress}
    results_path = run_eval(EvalConfig(**(settings | fixed)))
    tasks = json.loads(results_path.read_text())["tasks"]
    scores: dict[str, float] = {
        f"{name} pass@1": task["score"]["pass_at_1"]["mean"] for name, task in tasks.items()
    }
    return {"results": str(results_path), **scores}


STAGE_RUNNERS: dict[str, Callable[[Recipe, Path, bool], dict[str, Any]]] = {
    "sources": _run_sources,
    "clean": _run_clean,
    "label": _run_label,
    "select": _run_select,
    "verify_existing": _run_verify_existing,
    "distill": _run_distill,
    "verify": _run_verify,
    "collect": _run_collect,
    "filter_responses": _run_filter_responses,
    "export": _run_export,
    "train": _run_train,
    "eval": _run_eval,
}


def print_outcome(outcome: StageOutcome) -> None:
    """The default `report` of `run_recipe`: one summary line per stage on stdout."""
    print(outcome.line(), file=sys.stdout, flush=True)
