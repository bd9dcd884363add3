"""`run_recipe`: the stages in order, reused, resumed or rerun by fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amfast.errors import InputError
from amfast.recipe.config import STAGES, Recipe
from amfast.recipe.folders import MARKER, read_marker, read_started, write_json
from amfast.recipe.stages import STAGE_RUNNERS


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
        marker = read_marker(folder)
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
            if folder.exists() and (changed or read_started(folder) != key):
                shutil.rmtree(folder)
            changed = True
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "recipe-started.json", {"fingerprint": key})
            began = time.perf_counter()
            summary = STAGE_RUNNERS[name](recipe, folder, progress)
            outcome = StageOutcome(name, False, time.perf_counter() - began, summary)
            write_json(folder / MARKER, {"fingerprint": key, "summary": summary})
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
        if name == until:
            break
    write_json(recipe.run_dir / "recipe-summary.json", [dataclasses.asdict(o) for o in outcomes])
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


def print_outcome(outcome: StageOutcome) -> None:
    """The default `report` of `run_recipe`: one summary line per stage on stdout."""
    print(outcome.line(), file=sys.stdout, flush=True)
