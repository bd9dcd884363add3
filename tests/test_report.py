"""`RUN/report.html` from the outputs of real stage runs, checked as HTML and, where Chromium is
installed, rendered in headless Chromium."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from amfast.cli.main import main
from amfast.distill import DistillConfig, run_distill
from amfast.export import ExportConfig, run_export
from amfast.label import LabelConfig, run_label
from amfast.records import iter_records
from amfast.report import gather, write_report
from amfast.selection import SelectConfig, run_select
from amfast.verify import verify_file


@pytest.fixture(scope="module")
def run_folder(
    benchmarks_dir: Path, tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path
) -> Path:
    """A run folder whose stages ran for real on shared data (train and eval outputs are
    written in their formats: a real SFT or eval run does not fit a unit test)."""
    run = tmp_path_factory.mktemp("run")
    corpus = run.parent / "corpus.jsonl"
    with gzip.open(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz", "rt") as source:
        lines = [line for _, line in zip(range(60_000), source, strict=False)][::40]
    corpus.write_text("".join(lines))
    assert main(["clean", str(corpus), "-o", str(run / "01-clean"), "--text-field", "problem"]) == 0
    run_label(LabelConfig(input=str(run / "01-clean"), output=str(run / "02-label"),
                          labels=["language", "length"], prompt_field="problem"))  # fmt: skip
    run_select(SelectConfig(input=str(run / "02-label"), output=str(run / "03-select"),
                            keep=["language=zh:0.5"], prompt_field="problem"))  # fmt: skip
    math_rows = [row for _, row in iter_records(benchmarks_dir / "eval" / "math500.jsonl")][:12]
    prompts = run.parent / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": r["unique_id"], "prompt": r["problem"]}) + "\n"
                               for r in math_rows[:3]))  # fmt: skip
    run_distill(DistillConfig(input=str(prompts), output=str(run / "04-distill"),
                              model=str(tiny_teacher), backend="transformers", device="cpu",
                              samples=2, max_tokens=8, truncation="keep",
                              progress=False))  # fmt: skip
    samples = run.parent / "samples.jsonl"
    with samples.open("w") as handle:
        for i, row in enumerate(math_rows):
            answer = row["answer"] if i % 3 else "wrong"  # every third response is wrong
            reply = f"<think>{row['solution']}</think>\n<answer>$\\boxed{{{answer}}}$</answer>"
            messages = [
                {"role": "user", "content": row["problem"],
                 "info": {"source": "math500", "reference_answer": row["answer"]}},
                {"role": "assistant", "info": {"source": "human"}, "content": reply},
            ]  # fmt: skip
            handle.write(json.dumps({"id": row["unique_id"], "messages": messages}) + "\n")
    (run / "05-verify").mkdir()
    verify_file(samples, run / "05-verify" / "verified.jsonl", progress=False)
    (run / "06-train").mkdir()
    metrics = [{"step": s, "loss": 2.0 / s, "lr": 8e-5, "tokens": 4096} for s in range(1, 21)]
    (run / "06-train" / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (run / "07-eval").mkdir()
    score = {"pass_at_1": {"mean": 0.25, "standard_error": 0.1, "problems": 5}}
    results = {"label": "tiny", "tasks": {"math500": {"score": score}}}
    (run / "07-eval" / "results.json").write_text(json.dumps(results))
    run_export(ExportConfig(input=str(run / "05-verify"), output=str(run / "08-export"),
                            formats=["jsonl.zst"]))  # fmt: skip
    return run


def test_report_shows_every_stage_from_what_it_wrote(run_folder: Path) -> None:
    view = gather(run_folder)
    kinds = [kind for _, kind in view.stages]
    assert kinds == ["clean", "label", "select", "distill", "verify", "train", "eval", "export"]
    clean_funnel = json.loads((run_folder / "01-clean" / "funnel.json").read_text())
    steps = {(step.folder, step.name): step for step in view.funnel}
    for stage in clean_funnel["stages"]:
        assert steps["01-clean", stage["stage"]].rows_out == stage["out"]
    selection = json.loads((run_folder / "03-select" / "selection.json").read_text())
    assert steps["03-select", "select"].rows_in == selection["rows"]
    assert steps["03-select", "select"].rows_out == selection["kept"] < selection["rows"]
    assert (steps["04-distill", "distill"].rows_in, steps["04-distill", "distill"].rows_out) == (
        3,
        6,
    )
    assert steps["05-verify", "verify"].rows_in == 12
    assert steps["05-verify", "verify"].rows_out == 8  # every third response was wrong
    assert steps["08-export", "export"].rows_out == 12
    path = write_report(run_folder)
    page = path.read_text()
    assert page.count("<polyline") == 1
    assert len(re.search(r'points="([^"]*)"', page)[1].split()) == 20  # type: ignore[index]
    assert "25.0 ± 10.0" in page
    assert "zh" in page  # the language labels
    hrefs = re.findall(r"href='([^']*)'", page)
    assert any("dropped" in href for href in hrefs)
    assert any(href.endswith("README.md") for href in hrefs)
    for href in hrefs:
        assert (run_folder / href).exists(), href  # relative links that resolve offline
    assert not re.search(r"(src|href)=['\"]?https?:", page)  # nothing fetched from the network


def test_report_cli_and_an_empty_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 0
    assert "No stage folder" in (tmp_path / "report.html").read_text()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run_folder: Path, tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    page = write_report(run_folder)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout  # fmt: skip
    assert 'id="funnel-chart"' in dom
    assert 'id="loss-curve"' in dom
    assert dom.count("<table>") >= 5
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    image = pil.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    blue = sum(count for count, rgb in colours if rgb == (0x3B, 0x82, 0xF6))
    assert blue > 1000  # the funnel bars were drawn


@pytest.mark.slow
def test_report_of_an_amfast_run_folder(
    benchmarks_dir: Path, tmp_path: Path, tiny_teacher: Path
) -> None:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f"""
run_dir = "run"

[[source]]
name = "math_train"
path = "{benchmarks_dir}/math/math_train.jsonl.gz"
prompt_field = "problem"
response_field = "solution"
reference_field = "solution"
reference_extract = "last_boxed"
max_rows = 4

[[source]]
name = "gsm8k_train"
path = "{benchmarks_dir}/eval/gsm8k_train.jsonl.gz"
prompt_field = "question"
reference_field = "answer"
reference_extract = "after_hashes"
max_rows = 2

[clean]
filters = ["length"]

[verify]
num_threads = 1

[distill]
backend = "transformers"
model = "{tiny_teacher}"
device = "cpu"
max_tokens = 8
""",
        encoding="utf-8",
    )
    assert main(["run", str(recipe), "--until", "collect", "--no-progress"]) == 0
    run = tmp_path / "run"
    view = gather(run)
    assert [kind for _, kind in view.stages] == [
        "sources", "clean", "verify", "distill", "verify", "collect",
    ]  # fmt: skip
    steps = {(step.folder, step.name): step for step in view.funnel}
    assert steps["01-sources", "sources"].by_source == {"math_train": (4, 4), "gsm8k_train": (2, 2)}
    existing = json.loads((run / "03-verify_existing" / "recipe-stage.json").read_text())
    assert steps["03-verify_existing", "verify"].rows_out == existing["summary"]["passed"]
    collect = json.loads((run / "06-collect" / "recipe-stage.json").read_text())
    assert steps["06-collect", "collect"].rows_out == collect["summary"]["samples"]
    # label, select and export take a stage folder as input, as a recipe would call them
    run_label(LabelConfig(input=str(run / "06-collect"), output=str(run / "07-label"),
                          labels=["language", "length"]))  # fmt: skip
    run_select(SelectConfig(input=str(run / "07-label"), output=str(run / "08-select"),
                            keep=["language=en:0.5"]))  # fmt: skip
    summary = run_export(ExportConfig(input=str(run / "08-select"), output=str(run / "09-export"),
                                      formats=["jsonl.zst"]))  # fmt: skip
    selected = json.loads((run / "08-select" / "selection.json").read_text())
    assert summary.rows == selected["kept"] <= collect["summary"]["samples"]
    page = write_report(run).read_text()
    assert "<h2 id='stages'>Stages</h2>" in page
    assert "09-export: dataset card" in page
    for name in ("sources", "clean", "verify_existing", "distill", "verify", "collect"):
        assert f"<td>{name}</td>" in page
