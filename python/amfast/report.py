"""`RUN/report.html`: one offline page across the stages of a run, from what each stage wrote.

A run folder holds one folder per stage (`01-clean`, `02-label`, ...). Each is recognised by
the files its stage leaves (no stage has to know about the report):

| stage   | reads                         | shows                                          |
|---------|-------------------------------|------------------------------------------------|
| clean   | `funnel.json`, `manifest.json`| each curation step, per source; the ledger     |
| label   | `labels.json`                 | label counts, unparseable replies per reason   |
| select  | `selection.json`              | rows kept / dropped per rule and source; ledger|
| distill | `summary-*.json`              | prompts -> samples, failures                   |
| verify  | `*.audit.json`                | verifier x reason, source x outcome            |
| filter_responses | `response_filters.json` | samples kept / dropped per rule and source; ledger |
| train   | `metrics.jsonl`               | the loss curve                                 |
| eval    | `results.json`                | pass@1 ± SE per benchmark                      |
| export  | `export.json`                 | release rows; the dataset card                 |
| sources, collect (`amfast run`) | `recipe-stage.json` | rows per source; samples collected |

In an `amfast run` folder, `recipe-summary.json` adds the table of stages (reused or seconds,
and each stage's summary line).

The page has no scripts and no external resources: tables, inline SVG charts and relative links
to the ledgers and files, so it opens from disk anywhere (tested in headless Chromium).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amfast.errors import InputError
from amfast.eval.report import DISPLAY_NAMES
from amfast.io import AtomicWriter
from amfast.records import read_json

RECIPE_MARKER = "recipe-stage.json"  # `amfast run` writes it when a stage finishes
_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
    "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}th{background:#f3f4f6}"
    "h2{border-bottom:1px solid #ddd;margin-top:1.5em}.muted{color:#666}"
)


@dataclass
class Step:
    """One line of the funnel: rows into a step, dropped by it, out of it, per source."""

    folder: str
    name: str
    unit: str
    rows_in: int
    rows_out: int
    by_source: dict[str, tuple[int, int]] = field(default_factory=dict)
    note: str = ""


@dataclass
class RunView:
    """Everything the report shows, gathered from the stage folders."""

    run: Path
    stages: list[tuple[str, str]] = field(default_factory=list)
    funnel: list[Step] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)
    audits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    recipe: list[dict[str, Any]] = field(default_factory=list)


def stage_kind(folder: Path) -> str | None:
    """What stage wrote `folder`, from its files (None: not a stage folder)."""
    markers = [
        ("export", "export.json"),
        ("clean", "funnel.json"),
        ("label", "labels.json"),
        ("select", "selection.json"),
        ("filter_responses", "response_filters.json"),
        ("train", "metrics.jsonl"),
        ("eval", "results.json"),
    ]
    for kind, name in markers:
        if (folder / name).is_file():
            return kind
    if any(folder.glob("summary-*.json")):
        return "distill"
    if any(folder.glob("*.audit.json")):
        return "verify"
    if (folder / RECIPE_MARKER).is_file():  # an `amfast run` stage without files of its own
        name = folder.name.partition("-")[2]
        return name if name in ("sources", "collect") else "recipe"
    return None


def _link(view: RunView, label: str, path: Path | str, folder: Path | None = None) -> None:
    """Links `path` when it exists (else its file name in `folder`).

    A relative path that a stage recorded is relative to where that stage ran, not to here.
    """
    target = Path(path)
    if not target.exists() and folder is not None:
        target = folder / target.name
    if target.exists():
        try:
            relative = os.path.relpath(target.resolve(), view.run.resolve())
        except ValueError:  # another drive (Windows)
            relative = str(target.resolve())
        view.links.append((label, relative))


def _read_clean(view: RunView, folder: Path) -> None:
    funnel = read_json(folder / "funnel.json") or {}
    for stage in funnel.get("stages", []):
        by_source = {
            source: (counts["in"], counts["out"]) for source, counts in stage["by_source"].items()
        }
        reasons = ", ".join(f"{k} {v:,}" for k, v in stage.get("reasons", {}).items())
        view.funnel.append(
            Step(folder.name, stage["stage"], "rows", stage["in"], stage["out"], by_source, reasons)
        )
    manifest = read_json(folder / "manifest.json") or {}
    if manifest.get("ledger"):
        _link(view, f"{folder.name}: ledger of dropped rows", manifest["ledger"], folder)
    _link(view, f"{folder.name}: funnel chart", folder / "funnel.html")
    _link(view, f"{folder.name}: row index", folder / "row_index.parquet")


def _read_label(view: RunView, folder: Path) -> None:
    labels = read_json(folder / "labels.json") or {}
    rows = int(labels.get("rows", 0))
    view.funnel.append(Step(folder.name, "label", "rows", rows, rows))
    view.labels = labels


def _read_select(view: RunView, folder: Path) -> None:
    summary = read_json(folder / "selection.json") or {}
    by_source = {s: (c["in"], c["out"]) for s, c in summary.get("by_source", {}).items()}
    rules = ", ".join(
        f"{rule}: -{c['dropped']:,}" for rule, c in summary.get("by_rule", {}).items()
    )
    view.funnel.append(
        Step(folder.name, "select", "rows", summary.get("rows", 0), summary.get("kept", 0),
             by_source, rules)
    )  # fmt: skip
    if summary.get("ledger"):
        _link(view, f"{folder.name}: ledger of downsampled rows", summary["ledger"], folder)


def _read_filter_responses(view: RunView, folder: Path) -> None:
    summary = read_json(folder / "response_filters.json") or {}
    by_source = {s: (c["in"], c["out"]) for s, c in summary.get("by_source", {}).items()}
    notes = []
    by_rule = summary.get("by_rule", {})
    for rule in summary.get("rules", list(by_rule)):
        counts = by_rule.get(rule, {})
        reasons = ", ".join(f"{k} {v:,}" for k, v in counts.get("reasons", {}).items())
        notes.append(
            f"{rule}: -{counts.get('dropped', 0):,}" + (f" ({reasons})" if reasons else "")
        )
    if summary.get("reward_threshold") is not None:
        notes.append(f"reward threshold {summary['reward_threshold']:.4g}")
    view.funnel.append(
        Step(folder.name, "filter_responses", "samples", summary.get("rows", 0),
             summary.get("kept", 0), by_source, "; ".join(notes))
    )  # fmt: skip
    if summary.get("ledger"):
        _link(view, f"{folder.name}: ledger of filtered responses", summary["ledger"], folder)


def _read_distill(view: RunView, folder: Path) -> None:
    parts = [read_json(path) or {} for path in sorted(folder.glob("summary-*.json"))]
    prompts = sum(int(part.get("prompts", 0)) for part in parts)
    done = sum(int(part.get("done", 0)) for part in parts)
    failed = sum(int(part.get("failed", 0)) for part in parts)
    rejected = sum(int(part.get("rejected", 0)) for part in parts)
    note = f"prompts in, samples out; failed {failed:,}, rejected {rejected:,}"
    view.funnel.append(Step(folder.name, "distill", "prompts -> samples", prompts, done, {}, note))
    _link(view, f"{folder.name}: sample shards", folder / "shards")


def _read_verify(view: RunView, folder: Path) -> None:
    """One funnel step and one audit per folder, summed over its parts' audits."""
    by_verifier: dict[str, dict[str, int]] = {}
    by_source: dict[str, dict[str, int]] = {}
    rows = 0
    for path in sorted(folder.glob("*.audit.json")):
        audit = read_json(path) or {}
        rows += int(audit.get("rows", 0))
        for total, part in ((by_verifier, "by_verifier"), (by_source, "by_source")):
            for name, counts in audit.get(part, {}).items():
                merged = total.setdefault(name, {})
                for key, count in counts.items():
                    merged[key] = merged.get(key, 0) + count
        _link(view, f"{folder.name}: {path.name}", path)
    sources = {name: (sum(c.values()), c.get("passed", 0)) for name, c in by_source.items()}
    passed = sum(out for _, out in sources.values())
    view.funnel.append(Step(folder.name, "verify", "samples -> passed", rows, passed, sources))
    view.audits.append((folder.name, {"by_verifier": by_verifier, "by_source": by_source}))


def _read_sources(view: RunView, folder: Path) -> None:
    summary = (read_json(folder / RECIPE_MARKER) or {}).get("summary", {})
    per_source = {name: (count, count) for name, count in summary.get("per_source", {}).items()}
    rows = int(summary.get("rows", 0))
    skipped = summary.get("skipped_no_prompt", 0)
    note = f"skipped without a prompt: {skipped:,}" if skipped else ""
    view.funnel.append(Step(folder.name, "sources", "rows", rows, rows, per_source, note))


def _read_collect(view: RunView, folder: Path) -> None:
    summary = (read_json(folder / RECIPE_MARKER) or {}).get("summary", {})
    note = f"existing {summary.get('existing', 0):,}, distilled {summary.get('distilled', 0):,}"
    samples = int(summary.get("samples", 0))
    view.funnel.append(Step(folder.name, "collect", "verified samples", samples, samples, {}, note))


def _read_recipe_stage(view: RunView, folder: Path) -> None:
    summary = (read_json(folder / RECIPE_MARKER) or {}).get("summary", {})
    facts = ", ".join(f"{key} {value}" for key, value in summary.items())
    view.notes.append((folder.name, facts))


def _read_train(view: RunView, folder: Path) -> None:
    for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            view.losses.append((int(record["step"]), float(record["loss"])))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of a killed run
    _link(view, f"{folder.name}: final checkpoint", folder / "final")


def _read_eval(view: RunView, folder: Path) -> None:
    results = read_json(folder / "results.json") or {}
    for task, data in results.get("tasks", {}).items():
        view.evals[f"{results.get('label', folder.name)}|{task}"] = data
    _link(view, f"{folder.name}: eval report", folder / "report.md")


def _read_export(view: RunView, folder: Path) -> None:
    summary = (read_json(folder / "export.json") or {}).get("summary", {})
    rows = int(summary.get("rows", 0))
    view.funnel.append(Step(folder.name, "export", "rows", rows, rows))
    _link(view, f"{folder.name}: dataset card", folder / "README.md")
    for plot in sorted((folder / "plots").glob("*.png")):
        _link(view, f"{folder.name}: {plot.stem} plot", plot)


READERS = {
    "clean": _read_clean,
    "label": _read_label,
    "select": _read_select,
    "filter_responses": _read_filter_responses,
    "distill": _read_distill,
    "verify": _read_verify,
    "train": _read_train,
    "eval": _read_eval,
    "export": _read_export,
    "sources": _read_sources,
    "collect": _read_collect,
    "recipe": _read_recipe_stage,
}


def gather(run: str | os.PathLike[str]) -> RunView:
    """What every stage folder of `run` wrote, in folder order.

    Raises:
        InputError: `run` is not a folder.
    """
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"{run}: not a run folder")
    view = RunView(run)
    outcomes = read_json(run / "recipe-summary.json")
    view.recipe = outcomes if isinstance(outcomes, list) else []
    for folder in sorted(path for path in run.iterdir() if path.is_dir()):
        kind = stage_kind(folder)
        if kind is not None:
            view.stages.append((folder.name, kind))
            READERS[kind](view, folder)
    return view


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:  # noqa: ANN401 - any printable value
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value))


def _funnel_svg(steps: list[Step]) -> str:
    """Bars of rows out (blue) and dropped (red) per step, scaled to the largest input."""
    width, height, left = 640, 22, 260
    top = max([step.rows_in for step in steps] + [1])
    bars = []
    for index, step in enumerate(steps):
        y = index * (height + 4)
        kept = step.rows_out / top * width
        lost = max(step.rows_in - step.rows_out, 0) / top * width
        label = html.escape(f"{step.folder} {step.name}: {step.rows_out:,}")
        bars.append(
            f'<text x="0" y="{y + 15}" font-size="12">{label}</text>'
            f'<rect x="{left}" y="{y}" width="{kept:.1f}" height="{height}" fill="#3b82f6"/>'
            f'<rect x="{left + kept:.1f}" y="{y}" width="{lost:.1f}" height="{height}" '
            'fill="#f87171"/>'
        )
    total = len(steps) * (height + 4)
    return (
        f'<svg id="funnel-chart" width="{left + width + 10}" height="{total}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg>'
    )


def _loss_svg(losses: list[tuple[int, float]]) -> str:
    width, height, pad = 640, 240, 40
    steps = [step for step, _ in losses]
    values = [loss for _, loss in losses]
    low, high = min(values), max(values)
    span_x, span_y = max(steps[-1] - steps[0], 1), max(high - low, 1e-9)
    points = " ".join(
        f"{pad + (s - steps[0]) / span_x * (width - 2 * pad):.1f},"
        f"{height - pad - (v - low) / span_y * (height - 2 * pad):.1f}"
        for s, v in losses
    )
    return (
        f'<svg id="loss-curve" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<polyline fill="none" stroke="#3b82f6" stroke-width="2" points="{points}"/>'
        f'<text x="{pad}" y="{height - 10}" font-size="12">step {steps[0]}</text>'
        f'<text x="{width - pad - 60}" y="{height - 10}" font-size="12">step {steps[-1]}</text>'
        f'<text x="0" y="{pad - 10}" font-size="12">loss {high:.4g}</text>'
        f'<text x="0" y="{height - pad + 14}" font-size="12">{low:.4g}</text></svg>'
    )


def render(view: RunView) -> str:
    """The report page of a gathered run."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>amfast run: {html.escape(view.run.name)}</title><style>{_STYLE}</style></head>",
        f"<body><h1>amfast run: {html.escape(view.run.name)}</h1>",
        "<p class='muted'>stages: "
        + html.escape(", ".join(f"{folder} ({kind})" for folder, kind in view.stages) or "none")
        + "</p>",
    ]
    if view.recipe:
        rows = [
            [o.get("name"), "reused" if o.get("reused") else f"{o.get('seconds', 0):.1f} s",
             ", ".join(f"{k} {v}" for k, v in (o.get("summary") or {}).items())]
            for o in view.recipe
        ]  # fmt: skip
        parts += ["<h2 id='stages'>Stages</h2>", _table(["stage", "time", "summary"], rows)]
    if view.notes:
        parts.append(_table(["folder", "summary"], [list(note) for note in view.notes]))
    parts.append("<h2 id='funnel'>Funnel</h2>")
    if view.funnel:
        parts.append(_funnel_svg(view.funnel))
        rows = [
            [s.folder, s.name, s.unit, s.rows_in, s.rows_in - s.rows_out if "->" not in s.unit
             else "-", s.rows_out, s.note]
            for s in view.funnel
        ]  # fmt: skip
        parts.append(_table(["folder", "step", "unit", "in", "dropped", "out", "notes"], rows))
        parts.append(_by_source_table(view.funnel))
    else:
        parts.append("<p>No stage folder with a funnel.</p>")
    parts.append(_labels_section(view.labels))
    parts.append(_audit_section(view.audits))
    parts.append("<h2 id='loss'>Training loss</h2>")
    parts.append(_loss_svg(view.losses) if view.losses else "<p>No training metrics.</p>")
    parts.append(_eval_section(view.evals))
    parts.append("<h2 id='files'>Ledgers and files</h2><ul>")
    parts += [
        f"<li><a href='{html.escape(href)}'>{html.escape(label)}</a></li>"
        for label, href in view.links
    ]
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def _by_source_table(steps: list[Step]) -> str:
    """Rows per source into the first step, then out of each step that changed some source."""
    with_sources = [step for step in steps if step.by_source]
    if not with_sources:
        return ""
    shown = [
        step
        for step in with_sources
        if any(rows_in != rows_out for rows_in, rows_out in step.by_source.values())
    ]
    first = with_sources[0]
    sources = sorted({source for step in with_sources for source in step.by_source})
    header = ["source", f"into {first.folder} {first.name}"]
    header += [f"out of {step.folder} {step.name}" for step in shown]
    rows = [
        [source, first.by_source.get(source, (0, 0))[0]]
        + [step.by_source.get(source, (0, 0))[1] for step in shown]
        for source in sources
    ]
    title = "<h3 id='funnel-by-source'>Rows per source, into the run and out of each step that "
    return title + "dropped some</h3>" + _table(header, rows)


def _labels_section(labels: dict[str, Any]) -> str:
    parts = ["<h2 id='labels'>Labels</h2>"]
    if not labels:
        return parts[0] + "<p>No label stage.</p>"
    for name, counts in labels.get("counts", {}).items():
        parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(_table([name, "rows"], [[label, count] for label, count in counts.items()]))
    for name, statuses in labels.get("statuses", {}).items():
        failed = {k: v for k, v in statuses.items() if k != "ok"}
        if failed:
            rows = [[reason, count] for reason, count in failed.items()]
            parts.append(f"<p>{html.escape(name)}: unparseable or missing replies</p>")
            parts.append(_table(["status", "rows"], rows))
    return "".join(parts)


def _audit_section(audits: list[tuple[str, dict[str, Any]]]) -> str:
    parts = ["<h2 id='verify'>Verification audit</h2>"]
    if not audits:
        return parts[0] + "<p>No verify stage.</p>"
    for name, audit in audits:
        parts.append(f"<h3>{html.escape(name)}</h3>")
        verifiers = audit.get("by_verifier", {})
        reasons = sorted({reason for counts in verifiers.values() for reason in counts})
        rows = [[v, *(c.get(r, 0) for r in reasons)] for v, c in verifiers.items()]
        parts.append(_table(["verifier", *reasons], rows))
        sources = audit.get("by_source", {})
        outcomes = ["passed", "failed", "ungraded"]
        rows = [[s, *(c.get(o, 0) for o in outcomes)] for s, c in sources.items()]
        parts.append(_table(["source", *outcomes], rows))
    return "".join(parts)


def _eval_section(evals: dict[str, dict[str, Any]]) -> str:
    parts = ["<h2 id='eval'>Evaluation</h2>"]
    if not evals:
        return parts[0] + "<p>No eval stage.</p>"
    rows = []
    for key, data in evals.items():
        label, task = key.split("|", 1)
        estimate = data.get("score", {}).get("pass_at_1", {})
        mean, error = estimate.get("mean"), estimate.get("standard_error")
        cell = "-" if mean is None else f"{100 * mean:.1f} ± {100 * (error or 0):.1f}"
        rows.append([label, DISPLAY_NAMES.get(task, task), cell, estimate.get("problems", "-")])
    return parts[0] + _table(["model", "benchmark", "pass@1 %", "problems"], rows)


def write_report(run: str | os.PathLike[str]) -> Path:
    """Writes `RUN/report.html` (atomically) and returns its path.

    Raises:
        InputError: `run` is not a folder.
    """
    view = gather(run)
    path = Path(run) / "report.html"
    with AtomicWriter(path) as temporary:
        temporary.write_text(render(view), encoding="utf-8")
    return path
