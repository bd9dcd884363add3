"""The sample store: journal, sealing, and recovery after a kill (no loss, no duplicates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amfast.distill.store import SampleStore, read_sample_rows
from amfast.errors import InputError


def sample(key: str) -> dict[str, Any]:
    prompt_id, _, index = key.rpartition(":")
    info = {"finish_reason": "stop"}
    return {
        "kind": "sample",
        "row": {
            "key": key,
            "prompt_id": prompt_id,
            "sample_index": int(index),
            "finish_reason": "stop",
            "messages": [
                {"role": "user", "content": "q", "info": {"source": "s"}},
                {
                    "role": "assistant",
                    "content": "<think>t</think>\n<answer>a</answer>",
                    "info": info,
                },
            ],
        },
    }


def keys_on_disk(store: SampleStore) -> list[str]:
    return sorted(row["key"] for path in store.shard_files() for row in read_sample_rows(path))


@pytest.mark.parametrize("output_format", ["parquet", "jsonl"])
def test_journal_seals_every_shard_rows_and_on_exit(tmp_path: Path, output_format: str) -> None:
    store = SampleStore(tmp_path, "00000-of-00001", output_format=output_format, shard_rows=2)  # type: ignore[arg-type]
    with store:
        for i in range(5):
            store.append(sample(f"p:{i}"))
        assert len(store.shard_files()) == 2
        assert store.journal_path.exists()
    assert len(store.shard_files()) == 3
    assert not store.journal_path.exists()
    assert keys_on_disk(store) == [f"p:{i}" for i in range(5)]


def test_a_killed_runs_journal_is_recovered_without_torn_lines_or_duplicates(
    tmp_path: Path,
) -> None:
    with SampleStore(tmp_path, "t", shard_rows=100) as store:
        store.append(sample("p:0"))
    sealed = store.shard_files()[0].read_bytes()
    # What a SIGKILL can leave: lines already sealed (killed between rename and unlink),
    # new lines, an outcome, and a torn last line.
    truncated = {"kind": "outcome", "key": "p:2", "prompt_id": "p", "sample_index": 2,
                 "status": "truncated", "attempts": 1, "detail": "length"}  # fmt: skip
    lines = [sample("p:0"), sample("p:1"), truncated]
    journal = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    (tmp_path / "journal-t.jsonl").write_bytes(journal + b'{"kind": "sample", "ro')
    with SampleStore(tmp_path, "t") as resumed:
        assert resumed.index.settled("p:2")
        assert not resumed.index.settled("p:3")
    assert keys_on_disk(resumed) == ["p:0", "p:1"]
    assert resumed.shard_files()[0].read_bytes() == sealed  # finished shards untouched
    assert max(resumed.index.samples.values()) == 1


def test_failed_outcomes_do_not_settle_a_key(tmp_path: Path) -> None:
    failed = {"kind": "outcome", "key": "p:0", "prompt_id": "p", "sample_index": 0,
              "status": "failed", "attempts": 1, "detail": "HTTP 500"}  # fmt: skip
    with SampleStore(tmp_path, "t") as store:
        store.append(failed)
    with SampleStore(tmp_path, "t") as store:
        assert not store.index.settled("p:0")
        store.append(sample("p:0"))
        assert store.index.settled("p:0")
        assert "p:0" not in store.index.outcomes


def test_two_processes_cannot_write_one_shard(tmp_path: Path) -> None:
    with SampleStore(tmp_path, "t"), pytest.raises(InputError, match="another process"):
        SampleStore(tmp_path, "t").__enter__()
