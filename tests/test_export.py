"""`amfast export`: the release read back with `datasets` and pyarrow, and the dataset card's
tables checked against counts computed here, independently, from the Parquet files."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from amfast.cli.main import main
from amfast.export import ASSISTANT_KEYS, USER_KEYS, ExportConfig, run_export
from amfast.records import iter_records

datasets = pytest.importorskip("datasets")
zstandard = pytest.importorskip("zstandard")
LEVELS = {"Level 1": "very easy", "Level 2": "easy", "Level 3": "medium", "Level 4": "hard"}


def am_row(query: str, reply: str, user: dict[str, Any], assistant: dict[str, Any]) -> dict:
    return {
        "id": user.pop("id"),
        "messages": [
            {"role": "user", "content": query, "info": user},
            {"role": "assistant", "content": reply, "info": assistant},
        ],
    }


@pytest.fixture(scope="module")
def verified_rows(benchmarks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MATH train problems with their human solutions, MBPP tasks with reference code (test
    cases), and a few chat rows: labelled and verified as the recipe leaves them."""
    math_rows = [row for _, row in iter_records(benchmarks_dir / "math" / "math_train.jsonl.gz")]
    mbpp = [row for _, row in iter_records(benchmarks_dir / "code" / "mbpp.jsonl")]
    rows = []
    for row in math_rows[::61][:120]:
        labels = {"category": "Math", "difficulty": LEVELS.get(row["level"])}
        boxed = re.findall(r"\\boxed\{(.*)\}", row["solution"])
        rows.append(
            am_row(
                row["problem"],
                f"<think>{row['solution']}</think>\n<answer>{boxed[-1] if boxed else ''}</answer>",
                {"id": row["unique_id"], "source": "math_train", "reference_answer":
                 boxed[-1] if boxed else None, "language": "en", **labels},
                {"source": "human", "verify_score": 1.0, "verify_reason": "correct",
                 "verifier": "math"},
            )
        )  # fmt: skip
    for row in mbpp[:40]:
        code = f"```python\n{row['code']}\n```"
        rows.append(
            am_row(
                row["text"], f"<think>Write it.</think>\n<answer>{code}</answer>",
                {"id": f"mbpp/{row['task_id']}", "source": "mbpp", "test_case":
                 {"test_list": row["test_list"]}, "category": "Coding & Debugging"},
                {"source": "deepseek-r1", "think_content": "Write it.", "answer_content": code,
                 "verify_score": 1.0, "verify_reason": "correct", "verifier": "code"},
            )
        )  # fmt: skip
    for i in range(7):
        rows.append(
            am_row(f"Write a short poem about the sea, take {i}.", "The sea is wide.",
                   {"id": f"chat/{i}", "source": "chat"}, {"source": "deepseek-r1"})
        )  # fmt: skip
    path = tmp_path_factory.mktemp("verified") / "part-00000.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path.parent


def card_tables(card: str) -> dict[str, dict[str, int]]:
    """`## title` -> {label: rows} of every table in the card."""
    tables: dict[str, dict[str, int]] = {}
    title = ""
    for line in card.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif line.startswith("| ") and title and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if cells[1] != "rows":
                tables.setdefault(title, {})[cells[0]] = int(cells[1].replace(",", ""))
    return tables


def test_export_writes_the_am_schema_and_a_card_whose_tables_match(
    verified_rows: Path, tmp_path: Path
) -> None:
    config = ExportConfig(input=str(verified_rows), output=str(tmp_path / "rel"), shard_rows=50)
    summary = run_export(config)
    release = tmp_path / "rel"
    assert summary.rows == 167
    assert summary.shards == 4
    assert sorted(p.name for p in release.glob("am_*.jsonl.zst")) == [
        f"am_{i:05d}.jsonl.zst" for i in range(4)
    ]
    # JSONL: exactly the paper's layout, per role, plus amfast's fields.
    lines = []
    for shard in sorted(release.glob("am_*.jsonl.zst")):
        with zstandard.ZstdDecompressor().stream_reader(shard.open("rb")) as reader:
            lines += io.TextIOWrapper(reader, encoding="utf-8").read().splitlines()
    first = json.loads(lines[0])
    assert list(first) == ["messages"]
    user, assistant = first["messages"]
    assert list(user["info"]) == list(USER_KEYS)
    assert list(assistant["info"]) == list(ASSISTANT_KEYS)
    assert assistant["info"]["think_content"].startswith(first["messages"][1]["content"][7:20])
    assert len(lines) == 167
    # Parquet and datasets agree with the JSONL, row for row.
    table = pq.read_table(release / "parquet")
    loaded = datasets.load_from_disk(str(release / "datasets"))
    assert table.num_rows == len(loaded) == 167
    assert loaded[0]["messages"][0]["content"] == user["content"]
    assert loaded[0]["messages"][1]["info"]["verify_score"] == 1.0
    tests = json.loads(loaded[120]["messages"][0]["info"]["test_case"])
    assert tests["test_list"][0].startswith("assert ")
    # The card's tables, against counts computed here from the Parquet columns.
    messages = pc.list_flatten(table.column("messages"))
    roles = pc.struct_field(messages, "role")
    info = pc.struct_field(messages, "info")
    users = info.filter(pc.equal(roles, "user"))
    replies = info.filter(pc.equal(roles, "assistant"))

    def column(infos: Any, key: str) -> list[Any]:
        return pc.struct_field(infos, key).to_pylist()

    has_reference = [v is not None for v in column(users, "reference_answer")]
    has_tests = [v is not None for v in column(users, "test_case")]
    kinds = Counter(
        {(True, False): "reference answer", (False, True): "test case",
         (True, True): "both", (False, False): "neither"}[pair]
        for pair in zip(has_reference, has_tests, strict=True)
    )  # fmt: skip
    tables = card_tables((release / "README.md").read_text())
    assert tables["Rows per instruction source"] == Counter(column(users, "source"))
    assert tables["Rows per response source"] == Counter(column(replies, "source"))
    assert tables["Reference answers and test cases"] == kinds
    expected_categories = Counter(c or "(unlabelled)" for c in column(users, "category"))
    assert tables["Categories"] == expected_categories
    assert tables["Difficulty"] == Counter(d or "(unlabelled)" for d in column(users, "difficulty"))
    lengths = column(replies, "response_tokens")
    assert all(isinstance(n, int) and n > 0 for n in lengths)
    assert sum(tables["Response length"].values()) == 167
    assert tables["Response length"].get("< 1,024", 0) == sum(n < 1024 for n in lengths)
    for plot in ("category", "difficulty", "length"):
        assert (release / "plots" / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "path: parquet/am_*.parquet" in (release / "README.md").read_text()


def test_rerun_reuses_a_finished_export_and_a_changed_setting_rewrites_it(
    verified_rows: Path, tmp_path: Path
) -> None:
    config = ExportConfig(input=str(verified_rows), output=str(tmp_path / "rel"),
                          formats=["jsonl.zst"], shard_rows=50)  # fmt: skip
    run_export(config)
    assert run_export(config).reused
    smaller = ExportConfig(input=str(verified_rows), output=str(tmp_path / "rel"),
                           formats=["jsonl.zst"], shard_rows=100)  # fmt: skip
    again = run_export(smaller)
    assert not again.reused
    assert len(list((tmp_path / "rel").glob("am_*.jsonl.zst"))) == 2  # stale shards removed
    assert not (tmp_path / "rel" / "parquet").exists()


def test_export_refuses_flat_rows_and_its_own_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flat = tmp_path / "flat.jsonl"
    flat.write_text('{"id": "a", "prompt": "x"}\n')
    assert main(["export", str(flat), "-o", str(tmp_path / "rel")]) == 2
    assert "flat.jsonl:1: export needs AM-schema rows" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "-o", str(tmp_path)]) == 2
    assert "may not overlap" in capsys.readouterr().err
