"""Bad input across every subcommand: one line naming the flag or key, exit 2, nothing written.

Every case runs the real command on real rows (MATH test problems, MATH-500 as the benchmark)
and checks that the input is byte-identical afterwards and that no output appeared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amfast.cli.main import EXIT_USER_ERROR, build_parser, main


@pytest.fixture(scope="module")
def math_rows(benchmarks_dir: Path) -> list[dict]:
    with gzip.open(benchmarks_dir / "math" / "math_test.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(40), f, strict=False)]


@pytest.fixture
def source(tmp_path: Path, math_rows: list[dict]) -> Path:
    """Flat rows every command can read: problem text, a response and a reference answer."""
    path = tmp_path / "in.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for row in math_rows:
            record = {
                "id": row["unique_id"],
                "problem": row["problem"],
                "prompt": row["problem"],
                "response": "The answer is \\boxed{2}.",
                "reference_answer": "2",
            }
            out.write(json.dumps(record) + "\n")
    return path


@pytest.fixture
def benchmark(tmp_path: Path, benchmarks_dir: Path) -> Path:
    path = tmp_path / "math500.jsonl"
    shutil.copyfile(benchmarks_dir / "eval" / "math500.jsonl", path)
    return path


def command(name: str, source: Path, benchmark: Path, out: Path) -> list[str]:
    """A valid command line of `name` reading `source` and writing under `out`."""
    text = ["--text-field", "problem"]
    return {
        "clean": ["clean", str(source), "-o", str(out / "clean"), *text, "--no-progress"],
        "dedup": ["dedup", str(source), "-o", str(out / "kept.jsonl"), *text],
        "decontam": [
            "decontam", str(source), "-o", str(out / "clean.jsonl"), *text,
            "--benchmark", str(benchmark),
        ],
        "verify": [
            "verify", str(source), "-o", str(out / "verified.jsonl"), "--num-threads", "1",
            "--no-progress",
        ],
        "demo": ["demo", "-o", str(out / "demo"), "--rows", "50"],
    }[name]  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


BAD_NUMBERS = [
    ("dedup", ["--threshold", "1.5"], "--threshold"),
    ("dedup", ["--num-perm", "0"], "--num-perm"),
    ("dedup", ["--num-threads", "-2"], "--num-threads"),
    ("dedup", ["--bands", "4"], "--bands"),
    ("dedup", ["--bands", "64", "--rows", "4"], "--bands"),
    ("dedup", ["--method", "semantic", "--k", "0"], "--k"),
    ("dedup", ["--batch-rows", "0"], "--batch-rows"),
    ("clean", ["--threshold", "1.5"], "--threshold"),
    ("clean", ["--num-perm", "0"], "--num-perm"),
    ("clean", ["--num-threads", "-2"], "--num-threads"),
    ("clean", ["--filters", "bogus"], "--filters"),
    ("clean", ["--stages", "normalize,bogus"], "--stages"),
    ("clean", ["--stages", "normalize,decontam"], "--benchmarks"),
    ("clean", ["--decontam-min-item-fraction", "2"], "--decontam-min-item-fraction"),
    ("clean", ["--shard-rows", "0"], "--shard-rows"),
    ("decontam", ["--min-item-fraction", "2"], "--min-item-fraction"),
    ("decontam", ["--ngram", "0"], "--ngram"),
    ("decontam", ["--num-threads", "-2"], "--num-threads"),
    ("decontam", ["--embedding-threshold", "1.5"], "--embedding-threshold"),
    ("decontam", ["--content-threshold", "1.5"], "--content-threshold"),
    ("decontam", ["--content-row-fraction", "-0.1"], "--content-row-fraction"),
    ("decontam", ["--min-content-weight", "-1"], "--min-content-weight"),
    ("clean", ["--decontam-content-no-digits-threshold", "2"], "--decontam-content-no-digits"),
    ("decontam", ["--judge"], "--judge-model"),
    ("decontam", ["--judge-max-tokens", "0"], "--judge-max-tokens"),
    ("decontam", ["--judged", "judged.jsonl"], "--judged"),
    ("decontam", ["--judge-content-threshold", "0"], "--judge-content-threshold"),
    ("decontam", ["--judge-embedding-threshold", "0.8"], "--judge-embedding-threshold"),
    ("decontam", ["--judge-confirm"], "--judge-confirm"),
    ("clean", ["--decontam-judge"], "--decontam-judge-model"),
    ("clean", ["--decontam-judge-confirm"], "--decontam-judge-confirm"),
    ("verify", ["--num-threads", "-2"], "--num-threads"),
    ("verify", ["--shard-rows", "0"], "--shard-rows"),
    ("verify", ["--math-timeout", "0"], "--math-timeout"),
    ("verify", ["--judge"], "--judge-model"),
    ("demo", ["--rows", "0"], "--rows"),
    ("demo", ["--threshold", "2"], "--threshold"),
]


@pytest.mark.parametrize(("name", "extra", "flag"), BAD_NUMBERS)
def test_invalid_numbers_exit_2_naming_the_flag_before_any_work(
    tmp_path: Path, source: Path, benchmark: Path, capsys, name: str, extra: list[str], flag: str
) -> None:
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    assert main([*command(name, source, benchmark, out), *extra]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("amfast: error: ")
    assert flag in err
    assert err.count("\n") == 1  # one line, no traceback
    assert snapshot(tmp_path) == before
    assert not out.exists()


def test_a_bad_value_in_toml_names_the_file_and_the_key(
    tmp_path: Path, source: Path, benchmark: Path, capsys
) -> None:
    config = tmp_path / "all.toml"
    config.write_text("[dedup]\nthreshold = 1.5\n[clean]\nfilters = ['bogus']\n")
    argv = [*command("dedup", source, benchmark, tmp_path / "o"), "--config", str(config)]
    assert main(argv) == EXIT_USER_ERROR
    assert "(key 'threshold') is 1.5, expected a number in (0, 1]" in capsys.readouterr().err
    argv = [*command("clean", source, benchmark, tmp_path / "o"), "--config", str(config)]
    assert main(argv) == EXIT_USER_ERROR
    assert "--filters (key 'filters') is ['bogus']" in capsys.readouterr().err
    config.write_text("[verify]\nworkerz = 3\n")
    argv = [*command("verify", source, benchmark, tmp_path / "o"), "--config", str(config)]
    assert main(argv) == EXIT_USER_ERROR
    assert f"{config}: unknown key 'workerz'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def overwrite_cases(source: Path, benchmark: Path, tmp: Path) -> list[list[str]]:
    text = ["--text-field", "problem"]
    decontam = ["decontam", str(source), *text, "--benchmark", str(benchmark)]
    verify = ["verify", str(source), "--num-threads", "1", "--no-progress"]
    link = tmp / "link.jsonl"
    link.symlink_to(source)
    return [
        ["dedup", str(source), "-o", str(source), *text],
        ["dedup", str(source), "-o", str(tmp / "sub" / ".." / "in.jsonl"), *text],
        ["dedup", str(source), "-o", str(link), *text],
        ["dedup", str(source), "-o", str(tmp / "k.jsonl"), "--dropped", str(source), *text],
        ["dedup", str(source), "-o", str(tmp / "k.jsonl"), "--dropped", str(tmp / "k.jsonl"),
         *text],
        [*decontam, "-o", str(source)],
        [*decontam, "-o", str(tmp / "c.jsonl"), "--flagged", str(source)],
        [*decontam, "-o", str(tmp / "c.jsonl"), "--flagged", str(benchmark)],
        [*decontam, "-o", str(tmp / "c.jsonl"), "--report", str(link)],
        [*verify, "-o", str(source)],
        [*verify, "-o", str(tmp / "v.jsonl"), "--audit", str(source)],
        [*verify, "-o", str(tmp / "v.jsonl"), "--audit", str(tmp / "v.jsonl")],
        ["clean", str(source), "-o", str(tmp / "c"), *text, "--dropped", str(source)],
        ["clean", str(source), "-o", str(tmp), *text],
        ["clean", str(source), "-o", str(tmp / "c"), *text, "--work-dir", str(tmp)],
    ]  # fmt: skip


def test_no_command_overwrites_an_input_or_writes_one_output_twice(
    tmp_path: Path, source: Path, benchmark: Path, capsys
) -> None:
    for argv in overwrite_cases(source, benchmark, tmp_path):
        before = snapshot(tmp_path)
        assert main(argv) == EXIT_USER_ERROR, argv
        err = capsys.readouterr().err
        assert "nothing overwrites an input" in err or "same path as" in err, (argv, err)
        assert snapshot(tmp_path) == before, argv


@pytest.mark.parametrize("name", ["dedup", "decontam", "verify"])
def test_an_output_in_another_format_than_written_is_refused(
    tmp_path: Path, source: Path, benchmark: Path, capsys, name: str
) -> None:
    argv = command(name, source, benchmark, tmp_path)
    argv[argv.index("-o") + 1] = str(tmp_path / "out.parquet")
    assert main(argv) == EXIT_USER_ERROR
    assert "out.parquet" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("name", ["clean", "dedup", "decontam", "verify"])
def test_an_output_that_cannot_be_created_fails_before_any_work(
    tmp_path: Path, source: Path, benchmark: Path, capsys, name: str
) -> None:
    # A path under a regular file cannot be created (root can write anywhere else).
    out = source / "out"
    argv = command(name, source, benchmark, out)
    assert main(argv) == EXIT_USER_ERROR
    assert "is not a folder" in capsys.readouterr().err


def test_one_toml_file_holds_every_stage(
    tmp_path: Path, source: Path, benchmark: Path, capsys
) -> None:
    config = tmp_path / "amfast.toml"
    config.write_text(
        f"""
[dedup]
text_field = "problem"
method = "exact"
batch_rows = 16
[decontam]
text_field = "problem"
benchmarks = ["{benchmark}"]
ngram = 8
[clean]
text_field = "problem"
stages = ["normalize", "exact_dedup", "decontam"]
progress = false
[verify]
num_threads = 1
progress = false
[distill]
model = "unused-here"
[train]
model = "unused-here"
"""
    )
    out = tmp_path / "out"
    assert main(["dedup", str(source), "-o", str(out / "d.jsonl"), "--config", str(config)]) == 0
    assert "method        exact" in capsys.readouterr().out
    assert main(["decontam", str(source), "-o", str(out / "c.jsonl"), "--config", str(config)]) == 0
    assert main(["clean", str(source), "-o", str(out / "clean"), "--config", str(config)]) == 0
    ledger = pq.read_table(out / "clean" / "dropped.parquet").to_pylist()
    assert ledger, "MATH-500 is drawn from the MATH test set: some rows are copies"
    for drop in ledger:
        assert drop["stage"] == "decontam"
        params = json.loads(drop["params"])
        assert params["ngram"] == 8  # from [decontam], shared with `amfast decontam`
        assert params["benchmarks"] == [str(benchmark)]


def test_deprecated_spellings_still_work_with_a_warning(
    tmp_path: Path, source: Path, benchmark: Path
) -> None:
    argv = [*command("dedup", source, benchmark, tmp_path), "--batch-size", "8"]
    with pytest.warns(FutureWarning, match="--batch-size is deprecated; use --batch-rows"):
        assert main(argv) == 0
    config = tmp_path / "v.toml"
    config.write_text("[verify]\nchunk_rows = 7\nworkers = 1\n")
    argv = [*command("verify", source, benchmark, tmp_path), "--config", str(config)]
    with pytest.warns(FutureWarning) as warned:
        assert main(argv) == 0
    messages = {str(warning.message).partition(": ")[2] for warning in warned}
    assert messages == {
        "key 'chunk_rows' is deprecated; use 'shard_rows' (same meaning)",
        "key 'workers' is deprecated; use 'num_threads' (same meaning)",
    }


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_flag_shows_its_default_in_help(name: str) -> None:
    parser = _subcommands()[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if action.dest in ("help", "config", "compare", "report", "plot"):
            continue  # not settings: actions of the command itself
        shown = formatter._get_help_string(action) or ""
        assert "default" in shown or "(required)" in shown, (name, action.dest)


def test_an_empty_input_file_is_a_valid_clean_input(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    argv = ["clean", str(empty), "-o", str(out), "--text-field", "problem", "--no-progress"]
    assert main(argv) == 0
    assert json.loads((out / "manifest.json").read_text())["rows"] == 0
    assert "0 rows -> 0 kept" in capsys.readouterr().out


def test_why_works_from_any_directory_after_the_folder_moved(
    tmp_path: Path, source: Path, monkeypatch, capsys
) -> None:
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    duplicated = tmp_path / "dup.jsonl"
    duplicated.write_text("".join(json.dumps(r) + "\n" for r in [*rows, rows[0] | {"id": "x"}]))
    monkeypatch.chdir(tmp_path)
    argv = ["clean", "dup.jsonl", "-o", "run", "--text-field", "problem", "--no-progress"]
    assert main(argv) == 0
    shutil.move(tmp_path / "run", tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["why", str(tmp_path / "moved"), "x"]) == 0
    assert "dropped by exact_dedup" in capsys.readouterr().out


def test_why_on_a_damaged_folder_is_a_clear_error(tmp_path: Path, source: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["clean", str(source), "-o", str(out), "--text-field", "problem", "--no-progress"]
    assert main(argv) == 0
    (out / "row_index.parquet").write_bytes(b"not parquet")
    capsys.readouterr()
    assert main(["why", str(out), "#0"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "damaged `amfast clean` output" in err
    assert err.count("\n") == 1
    (out / "manifest.json").write_text("{")
    assert main(["why", str(out), "#0"]) == EXIT_USER_ERROR


def test_a_parquet_text_column_of_ints_is_an_input_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"problem": pa.array([1, 2, 3])}), path)
    out = tmp_path / "out"
    argv = ["clean", str(path), "-o", str(out), "--text-field", "problem", "--no-progress"]
    assert main(argv) == EXIT_USER_ERROR
    assert "problem" in capsys.readouterr().err


def test_verify_keeps_the_whole_unreadable_line(tmp_path: Path, source: Path) -> None:
    broken = "{" + "x" * 5000 + " not json"
    path = tmp_path / "broken.jsonl"
    path.write_text(source.read_text() + broken + "\n")
    out = tmp_path / "v.jsonl"
    argv = ["verify", str(path), "-o", str(out), "--num-threads", "1", "--no-progress"]
    assert main(argv) == 0
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["raw_line"] == broken
    assert last["verify_reason"] == "bad_row"
