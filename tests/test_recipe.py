"""`amfast run`: the whole recipe on real rows with a tiny random-weight model, on a CPU."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from amfast.cli.main import main
from amfast.errors import InputError
from amfast.recipe import last_boxed_content, read_recipe, run_recipe
from amfast.tiny_model import build_tiny_causal_lm


def _recipe(tmp_path: Path, benchmarks: Path, model: Path, *, threshold: float = 0.8) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(
        f"""
run_dir = "run"

[[source]]
name = "math_train"
path = "{benchmarks}/math/math_train.jsonl.gz"
prompt_field = "problem"
response_field = "solution"
reference_field = "solution"
reference_extract = "last_boxed"
keep_fields = ["level", "type"]
max_rows = 6

[[source]]
name = "gsm8k_train"
path = "{benchmarks}/eval/gsm8k_train.jsonl.gz"
prompt_field = "question"
reference_field = "answer"
reference_extract = "after_hashes"
max_rows = 3

[select]
keep = ["level=Level 5:0.0"]

[clean]
threshold = {threshold}
filters = ["length", "repetition"]

[verify]
num_threads = 1

[distill]
backend = "transformers"
model = "{model}"
device = "cpu"
max_tokens = 8
samples = 1
truncation = "keep"

[train]
model = "{model}"
max_seq_len = 256
global_batch_size = 1
max_steps = 2
num_proc = 1
save_every = 0
activation_checkpointing = false

[eval]
backend = "transformers"
device = "cpu"
tasks = ["math500"]
benchmarks = "{benchmarks}"
limit = 2
samples = 1
max_tokens = 8
verify_workers = 1
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    words = ["the", "a", "is", "of", "what", "find", "answer", "think", "step", "boxed"]
    return build_tiny_causal_lm(tmp_path_factory.mktemp("model"), words)


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_recipe_runs_every_stage_and_trains_only_on_verified_rows(
    tmp_path: Path, benchmarks_dir: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmarks = benchmarks_dir
    recipe = _recipe(tmp_path, benchmarks, tiny_model)
    assert main(["run", str(recipe), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    run = tmp_path / "run"
    for stage in (
        "sources",
        "clean",
        "verify_existing",
        "distill",
        "verify",
        "collect",
        "filter_responses",
    ):
        assert stage in printed
    corpus = _rows(run / "01-sources" / "corpus.jsonl")
    assert len(corpus) == 9
    math_rows = [r for r in corpus if r["source"] == "math_train"]
    assert all(r["reference_answer"] for r in math_rows)
    assert {"level", "type"} <= set(math_rows[0])
    gsm = [r for r in corpus if r["source"] == "gsm8k_train"]
    assert all(str(r["reference_answer"]).isdigit() for r in gsm)
    assert not any("candidate_response" in r for r in gsm)

    # select drops every Level 5 MATH problem, with its reason in the ledger.
    level5 = {r["id"] for r in math_rows if r["level"] == "Level 5"}
    selected = [_rows(path) for path in sorted((run / "03-select").glob("part-*.jsonl"))]
    assert {r["id"] for rows in selected for r in rows}.isdisjoint(level5)
    existing = _rows(run / "04-verify_existing" / "verified.jsonl")
    passed = {r["id"] for r in existing if r["verify_reason"] == "correct"}
    # Human MATH solutions end in the boxed answer they are graded against.
    assert passed, [r["verify_reason"] for r in existing]
    to_distill = _rows(run / "04-verify_existing" / "to_distill.jsonl")
    assert {r["id"] for r in to_distill}.isdisjoint(passed)
    assert {r["id"] for r in gsm} <= {r["id"] for r in to_distill}

    training = _rows(run / "07-collect" / "train.jsonl")
    assert len(training) >= len(passed)
    for row in training:
        messages = row["messages"]
        assert isinstance(messages, list)
        assert messages[-1]["info"]["verify_reason"] == "correct"
    marker = json.loads((run / "10-train" / "recipe-stage.json").read_text())
    assert marker["summary"]["steps"] == 2
    assert (run / "11-eval" / "results.json").is_file()
    card = (run / "09-export" / "README.md").read_text(encoding="utf-8")
    assert "math_train" in card
    assert list((run / "09-export").glob("am_*.jsonl.zst"))
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "verify_existing" in report

    # A rerun reuses every stage; a changed clean setting reruns clean and what follows it.
    outcomes = run_recipe(read_recipe(recipe), progress=False)
    assert all(outcome.reused for outcome in outcomes)
    changed = _recipe(tmp_path, benchmarks, tiny_model, threshold=0.7)
    outcomes = run_recipe(read_recipe(changed), until="verify_existing", progress=False)
    assert [o.reused for o in outcomes] == [True, False, False, False]


def test_recipe_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "recipe.toml"
    path.write_text('run_dir = "r"\n[[source]]\nname = "a"\npath = "x.jsonl"\nbogus = 1\n')
    with pytest.raises(InputError, match=r"recipe.toml: \[\[source\]\] #1: unknown key 'bogus'"):
        read_recipe(path)
    path.write_text('run_dir = "r"\nstages = ["clean", "nope"]\n')
    with pytest.raises(InputError, match="unknown stages \\['nope'\\]"):
        read_recipe(path)
    path.write_text('run_dir = "r"\n[[source]]\nname = "a"\npath = "missing.jsonl"\n')
    with pytest.raises(InputError, match=r"missing\.jsonl: cannot read the source"):
        run_recipe(read_recipe(path), progress=False)


def test_last_boxed_content_balances_braces() -> None:
    assert last_boxed_content(r"\boxed{1} then \boxed{\frac{a}{b}}") == r"\frac{a}{b}"
    assert last_boxed_content("no box") is None
    assert last_boxed_content(r"\boxed{unclosed") is None


@pytest.mark.slow
def test_recipe_killed_mid_stage_resumes_without_redoing_finished_stages(
    tmp_path: Path, benchmarks_dir: Path, tiny_model: Path
) -> None:
    recipe = _recipe(tmp_path, benchmarks_dir, tiny_model)
    command = [sys.executable, "-m", "amfast.cli.main", "run", str(recipe), "--no-progress"]
    command += ["--until", "verify"]
    started = tmp_path / "run" / "05-distill" / "recipe-started.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not started.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the recipe never reached distill"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (started.parent / "recipe-stage.json").exists()

    outcomes = run_recipe(read_recipe(recipe), until="verify", progress=False)
    assert [(o.name, o.reused) for o in outcomes] == [
        ("sources", True),
        ("clean", True),
        ("select", True),
        ("verify_existing", True),
        ("distill", False),
        ("verify", False),
    ]
    samples = _rows(next((tmp_path / "run" / "06-verify").glob("part-*.jsonl")))
    ids = [row["prompt_id"] for row in samples]
    assert len(ids) == len(set(ids)) == outcomes[3].summary["to_distill"]
