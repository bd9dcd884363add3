"""What each recipe stage runs, on the run folder (`STAGE_RUNNERS`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amfast.config import build_config, check_values
from amfast.errors import InputError
from amfast.io import field_at, iter_jsonl
from amfast.recipe.config import Recipe, Source
from amfast.recipe.folders import parts_of, read_marker, read_rows, write_rows
from amfast.stage import PLUGINS

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

    total = write_rows(folder / "corpus.jsonl", rows())
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

    kept = parts_of(recipe.prompts_dir(), "part-*.jsonl")
    # The clean stage curated prompts; the response that came with a row is graded only here.
    with_response = write_rows(
        folder / "candidates.jsonl",
        (
            {k: v for k, v in row.items() if k != "candidate_response"}
            | {"response": row["candidate_response"]}
            for row in read_rows(kept)
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
            str(row["id"]) for row in read_rows([folder / "verified.jsonl"]) if _passed(row)
        }
    to_distill = write_rows(
        folder / "to_distill.jsonl",
        (
            {k: v for k, v in row.items() if k not in ("candidate_response", "response_source")}
            for row in read_rows(kept)
            if str(row["id"]) not in passed_ids
        ),
    )
    return {"with_response": with_response, "passed": len(passed_ids), "to_distill": to_distill}


def _run_distill(recipe: Recipe, folder: Path, progress: bool) -> dict[str, Any]:
    from amfast.distill.runner import run_distill
    from amfast.distill.settings import DistillConfig

    prompts = recipe.stage_dir("verify_existing") / "to_distill.jsonl"
    if not any(True for _ in read_rows([prompts])):
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
        for path in parts_of(recipe.stage_dir("distill") / "shards")
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
    verdicts = [_passed(row) for row in read_rows(parts_of(folder, "part-*.jsonl"))]
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
    existing = parts_of(recipe.stage_dir("verify_existing"), "verified.jsonl")
    distilled = parts_of(recipe.stage_dir("verify"), "part-*.jsonl")
    counts = {"existing": 0, "distilled": 0}
    # Distill keeps a prompt's id, not its labels: they come back from the prompt rows.
    prompts = recipe.stage_dir("verify_existing") / "to_distill.jsonl"
    labels = {
        str(row["id"]): row["info"]
        for row in read_rows([prompts] if prompts.is_file() else [])
        if isinstance(row.get("info"), dict)
    }

    def rows() -> Iterator[dict[str, Any]]:
        for kind, paths in (("existing", existing), ("distilled", distilled)):
            for row in read_rows(paths):
                if _passed(row):
                    counts[kind] += 1
                    # Which rules apply depends on it (the think form is asked of the teacher).
                    conversation = am_conversation(row) | {"response_kind": kind}
                    info = labels.get(str(conversation.get("prompt_id")))
                    if kind == "distilled" and info:
                        user = conversation["messages"][0]
                        user["info"] = info | (user.get("info") or {})
                    yield conversation

    total = write_rows(folder / "train.jsonl", rows())
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
    if not any(True for _ in read_rows([data])):
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
    marker = read_marker(recipe.stage_dir("train")) or {}
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
