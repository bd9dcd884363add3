"""`amfast.outputs`: outputs checked before work, written through hidden temporaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amfast.errors import InputError
from amfast.outputs import (
    TEMPORARY_MARK,
    AtomicWriter,
    Output,
    check_outputs,
    remove_stale_temporaries,
    write_text_atomically,
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a"}\n')
    return path


@pytest.mark.parametrize(
    "target",
    ["in.jsonl", "sub/../in.jsonl", "./in.jsonl", "link.jsonl"],
)
def test_an_output_resolving_to_the_input_is_refused(
    tmp_path: Path, source: Path, target: str
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(source)
    with pytest.raises(InputError, match=r"-o .*is the input .*nothing overwrites an input"):
        check_outputs([source], [Output(tmp_path / target, "-o")])


def test_a_folder_output_may_not_hold_an_input(tmp_path: Path, source: Path) -> None:
    with pytest.raises(InputError, match="holds the input"):
        check_outputs([source], [Output(tmp_path, "-o", folder=True)])


def test_a_file_output_may_not_sit_in_an_input_folder(tmp_path: Path, source: Path) -> None:
    with pytest.raises(InputError, match="inside the input folder"):
        check_outputs([tmp_path], [Output(tmp_path / "out.jsonl", "-o")])


def test_two_outputs_may_not_be_one_path(tmp_path: Path, source: Path) -> None:
    outputs = [Output(tmp_path / "a.jsonl", "-o"), Output(tmp_path / "x" / ".." / "a.jsonl", "--b")]
    with pytest.raises(InputError, match=r"--b .*same path as -o"):
        check_outputs([source], outputs)


def test_an_output_under_a_file_or_of_the_wrong_kind_is_refused(
    tmp_path: Path, source: Path
) -> None:
    with pytest.raises(InputError, match="is not a folder"):
        check_outputs([], [Output(source / "out.jsonl", "-o")])
    with pytest.raises(InputError, match="is a folder; give a file name"):
        check_outputs([], [Output(tmp_path, "-o")])
    with pytest.raises(InputError, match="exists and is not a folder"):
        check_outputs([], [Output(source, "-o", folder=True)])


def test_distinct_writable_outputs_pass(tmp_path: Path, source: Path) -> None:
    check_outputs(
        [source],
        [
            Output(tmp_path / "new" / "deeper" / "out.jsonl", "-o"),
            Output(tmp_path / "out", "--folder", folder=True),
            Output(tmp_path / "out" / "dropped.parquet", "--dropped"),
        ],
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl"]  # nothing created


def test_atomic_writer_hides_its_temporary_and_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "part-00000.jsonl"

    def write_half_then_fail() -> None:
        with AtomicWriter(target) as temporary:
            temporary.write_text("half")
            assert list(tmp_path.glob("part-*")) == []  # the temporary is hidden from the glob
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_half_then_fail()
    assert list(tmp_path.iterdir()) == []
    write_text_atomically(target, "whole")
    assert target.read_text() == "whole"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f".part-00001.jsonl{TEMPORARY_MARK}999999999"
    alive = tmp_path / f".part-00002.jsonl{TEMPORARY_MARK}{os.getppid()}"
    dead.write_text("x")
    alive.write_text("y")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == [alive.name]
    with AtomicWriter(tmp_path / "other.json") as temporary:
        temporary.write_text("{}")
    assert alive.exists()  # a live process's temporary is never touched
