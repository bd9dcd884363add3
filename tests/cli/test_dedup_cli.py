"""`amfast dedup` and `amfast demo` end to end: kept and dropped files, exit codes, messages."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import amfast
from amfast.cli import dedup as dedup_command
from amfast.cli.main import main
from amfast.dedup import exact_duplicates, near_duplicates

# Irregular spacing, key order and escapes: a re-serialized row would not be byte-identical.
EXACT_LINES = [
    b'{"text": "Hello,  World",   "id": 0}',
    b'{"id":1,"text":"x"}',
    b'{"text": "hello world!", "id": 2, "meta": {"k": [1, 2]}}',
    b'{"text": "\\u00fcber  X", "id": 3}',
    b'{"text": "\xc3\xbcber x", "id": 4}',
    b'{"text": "y", "id": 5}',
    b'{"text": "HELLO WORLD", "id": 6}',
]
EXACT_KEEP = [True, True, False, True, False, True, False]
EXACT_DUP_OF = {2: 0, 4: 3, 6: 0}
EXACT_KEPT_LINES = [line for line, keep in zip(EXACT_LINES, EXACT_KEEP, strict=True) if keep]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def run_dedup(*args: str | Path) -> int:
    return main(["dedup", *(str(arg) for arg in args)])


@pytest.fixture(scope="module")
def near_corpus_lines(small_corpus) -> list[bytes]:
    return [
        json.dumps({"id": row, "text": text}).encode()
        for row, text in enumerate(small_corpus.texts)
    ]


# --- exact ---


def test_exact_dedup_jsonl_keeps_first_rows_byte_for_byte(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    args = (source, "-o", kept, "--dropped", dropped, "--text-field", "text", "--method", "exact")
    assert run_dedup(*args) == 0
    assert kept.read_bytes() == b"".join(line + b"\n" for line in EXACT_KEPT_LINES)
    rows = read_jsonl(dropped)
    assert [row["row_id"] for row in rows] == [2, 4, 6]
    assert {row["row_id"]: row["dup_of"] for row in rows} == EXACT_DUP_OF
    assert all(row["reason"] == "exact_duplicate" and row["similarity"] == 1.0 for row in rows)
    assert [row["id"] for row in rows] == [2, 4, 6]  # the original fields are kept
    assert rows[0]["meta"] == {"k": [1, 2]}
    out = capsys.readouterr().out
    assert re.search(r"^rows\s+7$", out, re.MULTILINE)
    assert re.search(r"^kept\s+4$", out, re.MULTILINE)
    assert re.search(r"^dropped\s+3$", out, re.MULTILINE)


def test_exact_dedup_without_dropped_file_writes_only_kept(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    kept = tmp_path / "kept.jsonl"
    assert run_dedup(source, "-o", kept, "--text-field", "text", "--method", "exact") == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "kept.jsonl"]
    assert len(kept.read_bytes().splitlines()) == 4


def test_exact_dedup_gzip_in_and_out(tmp_path):
    source = tmp_path / "in.jsonl.gz"
    source.write_bytes(gzip.compress(b"".join(line + b"\n" for line in EXACT_LINES)))
    kept, dropped = tmp_path / "kept.jsonl.gz", tmp_path / "dropped.jsonl.gz"
    args = (source, "-o", kept, "--dropped", dropped, "--text-field", "text", "--method", "exact")
    assert run_dedup(*args) == 0
    expected = b"".join(line + b"\n" for line in EXACT_KEPT_LINES)
    assert gzip.decompress(kept.read_bytes()) == expected
    assert [row["row_id"] for row in read_jsonl(dropped)] == [2, 4, 6]


def test_blank_lines_do_not_count_as_rows(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", [b"", *EXACT_LINES[:3], b"   ", *EXACT_LINES[3:]])
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    args = (source, "-o", kept, "--dropped", dropped, "--text-field", "text", "--method", "exact")
    assert run_dedup(*args) == 0
    assert kept.read_bytes().splitlines() == EXACT_KEPT_LINES
    assert {row["row_id"]: row["dup_of"] for row in read_jsonl(dropped)} == EXACT_DUP_OF


def test_nested_text_field_and_normalization_flags(tmp_path):
    lines = [
        json.dumps({"messages": [{"content": f"Problem {n}: add the numbers"}]}).encode()
        for n in (12, 13, 12)
    ]
    source = write_lines(tmp_path / "in.jsonl", lines)
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    base = (source, "-o", kept, "--dropped", dropped, "--method", "exact")
    assert run_dedup(*base, "--text-field", "messages.0.content") == 0
    assert [row["row_id"] for row in read_jsonl(dropped)] == [2]
    assert run_dedup(*base, "--text-field", "messages.0.content", "--no-keep-digits") == 0
    assert [(row["row_id"], row["dup_of"]) for row in read_jsonl(dropped)] == [(1, 0), (2, 0)]
    assert kept.read_bytes() == lines[0] + b"\n"


# --- minhash ---


def test_minhash_dedup_jsonl_matches_the_python_api(tmp_path, small_corpus, near_corpus_lines):
    source = write_lines(tmp_path / "in.jsonl", near_corpus_lines)
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    assert run_dedup(source, "-o", kept, "--dropped", dropped, "--text-field", "text") == 0
    expected = near_duplicates(small_corpus.texts)
    assert expected.duplicate_count > 0
    kept_lines = [line for line, keep in zip(near_corpus_lines, expected.keep, strict=True) if keep]
    assert kept.read_bytes() == b"".join(line + b"\n" for line in kept_lines)
    rows = read_jsonl(dropped)
    assert len(kept_lines) + len(rows) == len(near_corpus_lines)
    assert [row["row_id"] for row in rows] == np.flatnonzero(~expected.keep).tolist()
    for row in rows:
        assert row["reason"] == "near_duplicate"
        assert row["dup_of"] == expected.representative[row["row_id"]]
        assert row["dup_of"] < row["row_id"]
        assert row["similarity"] == pytest.approx(expected.similarity[row["row_id"]], abs=1e-6)
        assert row["text"] == small_corpus.texts[row["row_id"]]


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--keep", "component"], {"keep": "component"}),
        (["--no-number-guard"], {"number_guard": False}),
        (["--unigram-below", "0", "--bigram-below", "0"], {"unigram_below": 0, "bigram_below": 0}),
    ],
)
def test_minhash_dedup_flags_reach_the_library(tmp_path, flags, options):
    numbers = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
    texts = [
        f"Find the remainder when {n} is divided by {m}." for n in numbers[:3] for m in numbers[3:]
    ]
    texts += ["A train travels 120 km in 2 hours; what is its speed in km per hour on the track?"]
    texts += ["A train travels 150 km in 2 hours; what is its speed in km per hour on the track?"]
    lines = [json.dumps({"text": text}).encode() for text in texts]
    source = write_lines(tmp_path / "in.jsonl", lines)
    kept = tmp_path / "kept.jsonl"
    assert run_dedup(source, "-o", kept, "--text-field", "text", *flags) == 0
    expected = near_duplicates(texts, **options)
    assert len(read_jsonl(kept)) == int(expected.keep.sum())
    assert expected.keep.sum() != near_duplicates(texts).keep.sum()


def test_minhash_dedup_in_small_batches_matches_one_batch_and_leaves_no_spool(
    tmp_path, monkeypatch, near_corpus_lines
):
    spool_root = tmp_path / "tmp"
    spool_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_root))
    source = write_lines(tmp_path / "in.jsonl", near_corpus_lines)
    outputs = []
    for batch_size in ("97", "65536"):
        kept, dropped = tmp_path / f"kept-{batch_size}.jsonl", tmp_path / f"drop-{batch_size}.jsonl"
        arguments = ("-o", kept, "--dropped", dropped, "--text-field", "text")
        assert run_dedup(source, *arguments, "--batch-rows", batch_size) == 0
        outputs.append((kept.read_bytes(), dropped.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][1], "the corpus has near duplicates"
    assert list(spool_root.iterdir()) == []


def test_minhash_dedup_prints_banding_and_counts(tmp_path, capsys, near_corpus_lines):
    source = write_lines(tmp_path / "in.jsonl", near_corpus_lines)
    args = ("-o", tmp_path / "kept.jsonl", "--text-field", "text", "--batch-rows", "64")
    assert run_dedup(source, *args, "--threshold", "0.7", "--num-perm", "64") == 0
    out = capsys.readouterr().out
    assert "method        minhash" in out
    bands, rows = (int(n) for n in re.search(r"^banding\s+(\d+) x (\d+)$", out, re.M).groups())
    assert bands * rows <= 64
    kept = int(re.search(r"^kept\s+([\d,]+)$", out, re.M).group(1).replace(",", ""))
    dropped = int(re.search(r"^dropped\s+([\d,]+)$", out, re.M).group(1).replace(",", ""))
    assert kept + dropped == len(near_corpus_lines)
    assert dropped > 0


# --- Parquet ---


@pytest.mark.parametrize("method", ["exact", "minhash"])
def test_parquet_dedup_writes_kept_rows_and_dropped_rows_with_reasons(tmp_path, method):
    texts = [json.loads(line)["text"] for line in EXACT_LINES] + [
        "the quick brown fox jumps over the lazy dog near the river bank today"
    ] * 2
    table = pa.table({"id": pa.array(range(len(texts)), pa.int32()), "text": texts})
    source = tmp_path / "in.parquet"
    pq.write_table(table, source, row_group_size=3)
    kept, dropped = tmp_path / "kept.parquet", tmp_path / "dropped.parquet"
    args = (source, "-o", kept, "--dropped", dropped, "--text-field", "text", "--method", method)
    assert run_dedup(*args, "--batch-rows", "4") == 0

    if method == "exact":
        result = exact_duplicates(texts)
        similarity = np.ones(len(texts))
        reason = "exact_duplicate"
    else:
        result = near_duplicates(texts)
        similarity = result.similarity
        reason = "near_duplicate"
    keep = result.keep
    assert keep.sum() < len(texts)
    kept_table = pq.read_table(kept)
    assert kept_table.schema == table.schema
    assert kept_table.to_pylist() == table.filter(pa.array(keep)).to_pylist()
    dropped_table = pq.read_table(dropped)
    assert dropped_table.schema.names == ["id", "text", "row_id", "dup_of", "similarity", "reason"]
    removed = np.flatnonzero(~keep)
    assert dropped_table.column("row_id").to_pylist() == removed.tolist()
    assert dropped_table.column("id").to_pylist() == removed.tolist()
    assert dropped_table.column("dup_of").to_pylist() == result.representative[removed].tolist()
    np.testing.assert_allclose(dropped_table.column("similarity").to_numpy(), similarity[removed])
    assert set(dropped_table.column("reason").to_pylist()) == {reason}
    assert kept_table.num_rows + dropped_table.num_rows == len(texts)


def test_parquet_null_text_exits_2_naming_the_row(tmp_path, capsys):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a", None]}), source)
    kept = tmp_path / "kept.parquet"
    assert run_dedup(source, "-o", kept, "--text-field", "text") == 2
    assert "row 1: field 'text' is null" in capsys.readouterr().err
    assert not kept.exists()


# --- errors ---


def test_output_equal_to_input_exits_2_and_leaves_input_untouched(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    before = source.read_bytes()
    code = run_dedup(source, "-o", tmp_path / "." / "in.jsonl", "--text-field", "text")
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("amfast: error: ")
    assert "is the input" in err
    assert source.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["in.jsonl"]


def test_dropped_equal_to_output_exits_2(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    out = tmp_path / "out.jsonl"
    assert run_dedup(source, "-o", out, "--dropped", out, "--text-field", "text") == 2
    assert "is the same path as -o/--output" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("method", ["exact", "minhash"])
def test_missing_field_exits_2_naming_line_and_field_without_output(tmp_path, capsys, method):
    lines = [*EXACT_LINES[:4], b'{"body": "no text here"}', *EXACT_LINES[4:]]
    source = write_lines(tmp_path / "in.jsonl", lines)
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    args = (source, "-o", kept, "--dropped", dropped, "--text-field", "text", "--method", method)
    assert run_dedup(*args) == 2
    err = capsys.readouterr().err
    assert err == f"amfast: error: {source}:5: field 'text' is missing\n"
    assert [path.name for path in tmp_path.iterdir()] == ["in.jsonl"]


def test_invalid_json_exits_2_naming_the_line(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", [*EXACT_LINES[:2], b"{oops"])
    assert run_dedup(source, "-o", tmp_path / "kept.jsonl", "--text-field", "text") == 2
    assert f"{source}:3: invalid JSON" in capsys.readouterr().err


def test_missing_input_exits_2(tmp_path, capsys):
    code = run_dedup(tmp_path / "none.jsonl", "-o", tmp_path / "kept.jsonl", "--text-field", "t")
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_output_format_exits_2(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    assert run_dedup(source, "-o", tmp_path / "kept.csv", "--text-field", "text") == 2
    assert "unknown format" in capsys.readouterr().err


def test_interrupt_exits_130_without_output(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dedup_command, "dedup_file", interrupted)
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    assert run_dedup(source, "-o", tmp_path / "kept.jsonl", "--text-field", "text") == 130
    assert "interrupted" in capsys.readouterr().err


def test_missing_required_settings_exit_2_naming_their_flags(capsys):
    assert main(["dedup", "in.jsonl"]) == 2
    assert "--output, --text-field" in capsys.readouterr().err


def test_usage_errors_exit_2_from_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dedup", "in.jsonl", "--num-perm", "many"])
    assert exit_info.value.code == 2
    assert "--num-perm" in capsys.readouterr().err


def test_version_flag_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"amfast {amfast.__version__}"


# --- the installed script ---


@pytest.fixture(scope="module")
def amfast_script() -> Path:
    script = Path(sys.executable).with_name("amfast")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    return script


def test_installed_script_dedups_and_reports_errors(tmp_path, amfast_script):
    source = write_lines(tmp_path / "in.jsonl", EXACT_LINES)
    kept = tmp_path / "kept.jsonl"
    ok = subprocess.run(
        [amfast_script, "dedup", source, "-o", kept, "--text-field", "text", "--method", "exact"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"^kept\s+4$", ok.stdout, re.MULTILINE)
    assert len(kept.read_bytes().splitlines()) == 4
    bad = subprocess.run(
        [amfast_script, "dedup", source, "-o", source, "--text-field", "text"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("amfast: error: ")
    assert "Traceback" not in bad.stderr


# --- demo ---


def test_demo_runs_clean_and_prints_the_funnel_recall_and_precision(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--rows", "2000", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^near_dedup\s+[\d,]+\s+[\d,]+", printed, re.MULTILINE)
    recall = float(re.search(r"^recall\s+([\d.]+)", printed, re.MULTILINE).group(1))
    precision = float(re.search(r"^precision\s+([\d.]+)", printed, re.MULTILINE).group(1))
    assert recall >= 0.99
    # Pairs are (dropped row, row kept for it): greedy keep drops a row only for a kept row at
    # or above the threshold, so every pair is a true one.
    assert precision == 1.0
    manifest = json.loads((out / "clean" / "manifest.json").read_text())
    assert manifest["rows"] == 2000
    assert manifest["kept"] + manifest["dropped"] == 2000
