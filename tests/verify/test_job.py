"""`verify_file` and `amfast verify` on AM-schema rows built from real benchmark data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from amfast.cli.main import main
from amfast.errors import InputError
from amfast.verify import dispatch, job
from amfast.verify.dispatch import RowFields, VerifyOptions, task_of
from amfast.verify.job import verify_file
from amfast.verify.judge import LLMJudge
from amfast.verify.verdict import Verdict


def _am_row(prompt: str, response: str, *, source: str, **user_info: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": prompt, "info": {"source": source, **user_info}},
            {"role": "assistant", "content": response, "info": {"source": "teacher"}},
        ]
    }


def _response(answer: str) -> str:
    return f"<think>Let me work this out step by step.</think>\n<answer>{answer}</answer>"


def _math_rows(benchmarks_dir: Path, count: int) -> list[dict[str, Any]]:
    lines = (benchmarks_dir / "eval" / "math500.jsonl").read_text().splitlines()[:count]
    problems = [json.loads(line) for line in lines]
    rows = []
    for index, problem in enumerate(problems):
        # Even rows answer their own problem; odd rows answer the next problem's (wrong).
        answer = problem["answer"] if index % 2 == 0 else problems[(index + 1) % count]["answer"]
        rows.append(
            _am_row(
                problem["problem"],
                _response(f"Therefore the answer is $\\boxed{{{answer}}}$."),
                source="math500",
                reference_answer=problem["answer"],
            )
        )
    return rows


def _code_rows(benchmarks_dir: Path) -> list[dict[str, Any]]:
    with gzip.open(benchmarks_dir / "code" / "humaneval.jsonl.gz", "rt") as handle:
        tasks = [json.loads(line) for line in handle][:4]
    rows = []
    for index, task in enumerate(tasks):
        body = task["canonical_solution"] if index < 2 else "    return None\n"
        code = task["prompt"] + body
        rows.append(
            _am_row(
                task["prompt"],
                _response(f"```python\n{code}```"),
                source="humaneval",
                test_case=json.dumps(
                    {"test_code": task["test"], "test_entry_point": task["entry_point"]}
                ),
            )
        )
    return rows


CHOICE_PROMPT = "Which is a noble gas?\n(A) N\n(B) Ne\n(C) Na\n(D) Ni"


def _other_rows() -> list[dict[str, Any]]:
    return [
        _am_row(
            CHOICE_PROMPT, _response("The answer is (B)."), source="gpqa", reference_answer="B"
        ),
        _am_row(CHOICE_PROMPT, _response("**C**"), source="gpqa", reference_answer="B"),
        _am_row("2+2?", "<think>2+2 is", source="math500", reference_answer="4"),  # truncated
        _am_row("Write a poem.", _response("Roses..."), source="chat"),  # nothing to verify against
        {"messages": [{"role": "user", "content": "no reply"}]},  # bad row: no assistant message
    ]


@pytest.fixture
def am_input(tmp_path: Path, benchmarks_dir: Path) -> Path:
    rows = _math_rows(benchmarks_dir, 12) + _code_rows(benchmarks_dir) + _other_rows()
    lines = [json.dumps(row) for row in rows]
    lines.insert(3, '{"messages": [broken json')
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _assistant_info(row: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = row["messages"][-1]["info"]
    return info


def test_every_row_gets_a_verdict_in_input_order(am_input: Path, tmp_path: Path) -> None:
    output = tmp_path / "verified.jsonl"
    audit = verify_file(am_input, output, chunk_rows=7, progress=False)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == len(am_input.read_text().splitlines())
    assert rows[3]["verify_reason"] == "bad_row"
    assert "rows.jsonl:4: invalid JSON" in rows[3]["verify_detail"]
    assert rows[3]["raw_line"] == am_input.read_text().splitlines()[3]
    graded = [r for i, r in enumerate(rows) if i != 3]
    math_reasons = [_assistant_info(r)["verify_reason"] for r in graded[:12]]
    assert math_reasons == ["correct", "wrong"] * 6
    assert [_assistant_info(r)["verify_score"] for r in graded[:2]] == [1.0, 0.0]
    code = [_assistant_info(r) for r in graded[12:16]]
    assert [c["verifier"] for c in code] == ["code"] * 4
    assert [c["verify_reason"] for c in code][:2] == ["correct", "correct"]
    assert all(c["verify_score"] == 0.0 for c in code[2:])
    choice, wrong_choice, truncated, chat, no_reply = graded[16:]
    assert (_assistant_info(choice)["verifier"], _assistant_info(choice)["verify_reason"]) == (
        "choice",
        "correct",
    )
    assert _assistant_info(wrong_choice)["verify_reason"] == "wrong"
    assert _assistant_info(truncated)["verify_reason"] == "truncated"
    assert _assistant_info(chat)["verify_reason"] == "bad_reference"
    assert _assistant_info(chat)["verify_score"] is None
    assert no_reply["verify_reason"] == "bad_row"
    assert audit.by_verifier["math"]["correct"] == 6
    assert audit.by_source["math500"]["failed"] == 7  # 6 wrong + 1 truncated
    assert audit.unreadable_rows == 1
    saved = json.loads((tmp_path / "verified.jsonl.audit.json").read_text())
    assert saved["by_verifier"]["choice"] == {"correct": 1, "wrong": 1}
    assert not (tmp_path / "verified.jsonl.parts").exists()


def test_an_interrupted_run_resumes_without_reverifying_finished_parts(
    am_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = tmp_path / "expected.jsonl"
    verify_file(am_input, expected, chunk_rows=5, progress=False)
    calls: list[int] = []
    real_verify_tasks = dispatch.verify_tasks

    def interrupted_after_two_chunks(tasks: Any, options: Any = None) -> Any:
        calls.append(len(tasks))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_verify_tasks(tasks, options)

    monkeypatch.setattr(job, "verify_tasks", interrupted_after_two_chunks)
    output = tmp_path / "verified.jsonl"
    with pytest.raises(KeyboardInterrupt):
        verify_file(am_input, output, chunk_rows=5, progress=False)
    assert not output.exists()
    assert len(list((tmp_path / "verified.jsonl.parts").glob("part-*.jsonl"))) == 2
    calls.clear()
    monkeypatch.setattr(job, "verify_tasks", real_verify_tasks)
    verify_file(am_input, output, chunk_rows=5, progress=False)
    assert output.read_bytes() == expected.read_bytes()


def test_infrastructure_failures_are_kept_for_a_rerun_that_retries_only_them(
    am_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_verify_tasks = dispatch.verify_tasks

    def sandbox_down(tasks: Any, options: Any = None) -> Any:
        verdicts, judgements = real_verify_tasks(tasks, options)
        broken = Verdict.ungraded("infra_error", detail="sandbox did not start")
        return [
            broken if t.verifier == "code" else v for t, v in zip(tasks, verdicts, strict=True)
        ], judgements

    monkeypatch.setattr(job, "verify_tasks", sandbox_down)
    output = tmp_path / "verified.jsonl"
    audit = verify_file(am_input, output, chunk_rows=8, progress=False)
    assert audit.infrastructure_failures == 4
    assert (tmp_path / "verified.jsonl.parts").is_dir()
    retried: list[str] = []

    def recording(tasks: Any, options: Any = None) -> Any:
        retried.extend(t.verifier for t in tasks)
        return real_verify_tasks(tasks, options)

    monkeypatch.setattr(job, "verify_tasks", recording)
    audit = verify_file(am_input, output, chunk_rows=8, progress=False)
    assert retried == ["code"] * 4
    assert audit.infrastructure_failures == 0
    assert audit.by_verifier["code"] == {"correct": 2, "wrong": 2}
    assert not (tmp_path / "verified.jsonl.parts").exists()


def test_parts_from_a_run_with_other_settings_are_not_mixed_in(
    am_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job, "verify_tasks", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    output = tmp_path / "verified.jsonl"
    with pytest.raises(KeyboardInterrupt):
        verify_file(am_input, output, chunk_rows=5, progress=False)
    monkeypatch.setattr(job, "verify_tasks", dispatch.verify_tasks)
    with pytest.raises(InputError, match="another input or other settings"):
        verify_file(am_input, output, chunk_rows=6, progress=False)
    verify_file(am_input, output, chunk_rows=6, progress=False, restart=True)
    assert output.exists()


def test_flat_rows_use_the_field_mapping(tmp_path: Path) -> None:
    rows = [
        {"question": "1+1?", "gold": "2", "output": "\\boxed{2}", "origin": "toy"},
        {"question": "1+2?", "gold": "3", "output": "\\boxed{4}", "origin": "toy"},
        {"question": "1+3?", "gold": "4", "output": 5, "origin": "toy"},
        {"question": "1+3?", "gold": "4", "output": ["list"], "origin": "toy"},
    ]
    source = tmp_path / "flat.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fields = RowFields(prompt="question", response="output", reference="gold", source="origin")
    output = tmp_path / "out.jsonl.gz"
    audit = verify_file(source, output, fields=fields, progress=False)
    with gzip.open(output, "rt") as handle:
        out = [json.loads(line) for line in handle]
    assert [r["verify_reason"] for r in out] == ["correct", "wrong", "wrong", "bad_row"]
    assert "expected a string" in out[3]["verify_detail"]
    assert audit.by_source["toy"]["passed"] == 1


def test_verifier_choice_follows_the_row(benchmarks_dir: Path) -> None:
    math_row = _math_rows(benchmarks_dir, 1)[0]
    assert task_of(math_row).verifier == "math"
    assert task_of(_code_rows(benchmarks_dir)[0]).verifier == "code"
    assert task_of(_other_rows()[0]).verifier == "choice"
    # A one-letter reference the prompt does not offer as an option is a math answer.
    assert (
        task_of(_am_row("Solve for the constant.", "x", source="s", reference_answer="C")).verifier
        == "math"
    )
    assert task_of(_other_rows()[3]).verifier == "none"
    assert task_of(_other_rows()[3], reward=True).verifier == "reward"
    explicit = _am_row("Q", "A", source="s", reference_answer="5", verifier="reward")
    assert task_of(explicit).verifier == "reward"


def test_the_judge_records_its_opinion_and_the_audit_counts_agreement(
    tmp_path: Path, benchmarks_dir: Path
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _math_rows(benchmarks_dir, 6)))
    asked: list[str] = []

    def generate(prompts: list[str]) -> list[str]:
        asked.extend(prompts)
        return [
            "<think>compare</think>YES" if i % 3 else "I cannot tell" for i in range(len(prompts))
        ]

    options = VerifyOptions(judge=LLMJudge(generate))
    audit = verify_file(source, tmp_path / "out.jsonl", options=options, progress=False)
    assert len(asked) == 6
    assert "Reference answer:" in asked[0]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [_assistant_info(r)["verify_judge"] for r in rows] == [
        None,
        True,
        True,
        None,
        True,
        True,
    ]
    assert audit.judge_agreement == {
        "passed/judge_none": 1,
        "failed/judge_none": 1,
        "passed/judge_yes": 2,
        "failed/judge_yes": 2,
    }
    assert audit.agreement_rate() == 0.5
    assert "math-verify vs judge" in audit.table()


def test_cli_prints_the_audit_and_exits_zero(
    am_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "verified.jsonl"
    assert main(["verify", str(am_input), "-o", str(output), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "math" in printed
    assert "pass rate" in printed
    assert (tmp_path / "verified.jsonl.audit.json").exists()


def test_cli_judge_without_a_model_is_a_clear_error(
    am_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(am_input), "-o", str(tmp_path / "o.jsonl"), "--judge"]) == 2
    assert "--judge-model" in capsys.readouterr().err


def test_cli_judge_runs_a_real_local_model_through_the_distill_backend(
    tmp_path: Path, benchmarks_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    from tiny_models import build_tiny_teacher

    model = build_tiny_teacher(tmp_path / "judge")
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _math_rows(benchmarks_dir, 4)))
    output = tmp_path / "out.jsonl"
    argv = ["verify", str(source), "-o", str(output), "--no-progress", "--judge"]
    argv += ["--judge-model", str(model), "--judge-backend", "transformers"]
    assert main([*argv, "--judge-max-tokens", "8"]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    # A random-weight judge says neither YES nor NO, but every math row was put to it.
    assert all("verify_judge" in _assistant_info(row) for row in rows)
    audit = json.loads((tmp_path / "out.jsonl.audit.json").read_text())
    assert sum(audit["judge_agreement"].values()) == 4
    assert "math-verify vs judge" in capsys.readouterr().out


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_labels_that_name_no_boolean_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text(json.dumps({"response": "\\boxed{1}", "reference_answer": "1", "ok": "yes"}))
    argv = ["verify", str(source), "-o", str(tmp_path / "o.jsonl"), "--labels", "ok"]
    assert main(argv) == 2
    assert "--labels 'ok'" in capsys.readouterr().err


def test_labels_count_in_the_audit_and_disagreements_name_their_row(tmp_path: Path) -> None:
    rows = [
        {"response": "\\boxed{1}", "reference_answer": "1", "judged": {"ok": True}},
        {"response": "\\boxed{2}", "reference_answer": "1", "judged": {"ok": True}},
        {"response": "\\boxed{1}", "reference_answer": "1", "judged": {"ok": 0}},
        {"response": "\\boxed{3}", "reference_answer": "1", "judged": {}},
    ]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "out.jsonl"
    audit = verify_file(source, output, labels="judged.ok", progress=False, chunk_rows=2)
    found = audit.agreement("math")
    assert (found.labelled_true, found.passed_true) == (2, 1)
    assert (found.labelled_false, found.passed_false) == (1, 1)
    disagreements = [
        json.loads(line)
        for line in output.with_name("out.jsonl.disagreements.jsonl").read_text().splitlines()
    ]
    assert [(d["row"], d["label"], d["reason"], d["extracted"]) for d in disagreements] == [
        (1, True, "wrong", "2"),
        (2, False, "correct", "1"),
    ]
    assert audit.to_json()["label_agreement"]["by_verifier"]["math"]["recall"] == 0.5
