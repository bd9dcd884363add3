"""Verify-and-regenerate (rejection sampling) with the real math verifier on MATH-500 rows.

A random-weight model never answers right, so this test alone uses `ScriptedTeacher`: a
deterministic, in-process implementation of the `Backend` protocol (not an HTTP fake; no
server is involved) whose answers become right after a set number of generations per key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from distill_servers import shard_rows, write_jsonl

from amfast.distill import DistillConfig, GenerationRequest, GenerationResult, run_distill


class ScriptedTeacher:
    """Answers key `k` right from its `right_from[prompt id]`-th generation on (0 = never)."""

    name = "scripted"
    model = "scripted-teacher"
    max_batch_size = 64
    max_concurrency = 1

    def __init__(self, answers: dict[str, str], right_from: dict[str, int]) -> None:
        self.answers = answers
        self.right_from = right_from
        self.calls: Counter[str] = Counter()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            self.calls[request.key] += 1
            prompt_id = request.key.rpartition(":")[0]
            right = 0 < self.right_from[prompt_id] <= self.calls[request.key]
            answer = self.answers[prompt_id] if right else "-12345"
            text = f"Let me work it out.\n</think>\nSo it is $\\boxed{{{answer}}}$."
            results.append(GenerationResult(request.key, text, None, "stop", 10, 20))
        return results

    async def aclose(self) -> None:
        pass


def test_failing_samples_are_regenerated_until_they_pass_or_the_budget_is_spent(
    tmp_path: Path, math_rows: list[dict[str, str]]
) -> None:
    rows = [*math_rows[:3], {"id": "no-ref", "prompt": "Write a haiku."}]
    ids = [row["id"] for row in rows]
    teacher = ScriptedTeacher(
        answers={row["id"]: row.get("reference_answer", "") for row in rows},
        right_from={ids[0]: 1, ids[1]: 3, ids[2]: 0, "no-ref": 0},
    )
    config = DistillConfig(
        input=str(write_jsonl(tmp_path / "p.jsonl", rows)),  # type: ignore[arg-type]
        output=str(tmp_path / "out"),
        model="scripted-teacher",
        samples=2,
        verify=True,
        max_attempts=3,
        verify_workers=1,
        progress=False,
    )
    summary = run_distill(config, backend=teacher)

    samples = {row["key"]: row["messages"][1]["info"] for row in shard_rows(tmp_path / "out")}
    assert {key: info["attempts"] for key, info in samples.items()} == {
        f"{ids[0]}:0": 1, f"{ids[0]}:1": 1, f"{ids[1]}:0": 3, f"{ids[1]}:1": 3,
        "no-ref:0": 1, "no-ref:1": 1,
    }  # fmt: skip
    assert samples[f"{ids[1]}:0"]["verify_reason"] == "correct"
    assert samples["no-ref:0"]["verify_reason"] == "bad_reference"  # kept, unverifiable
    assert (summary.verified_passed, summary.rejected, summary.regenerated) == (4, 2, 8)
    assert teacher.calls[f"{ids[2]}:0"] == 3
    (short,) = summary.shortfalls
    assert short.prompt_id == ids[2]
    assert short.reasons == [
        f"sample {i}: rejected after 3 attempts: verification failed (wrong)" for i in range(2)
    ]


def test_with_k_below_n_a_prompt_stops_regenerating_once_k_samples_pass(
    tmp_path: Path, math_rows: list[dict[str, str]]
) -> None:
    row = math_rows[0]
    teacher = ScriptedTeacher({row["id"]: row["reference_answer"]}, {row["id"]: 1})
    always_wrong = ScriptedTeacher({row["id"]: row["reference_answer"]}, {row["id"]: 0})

    class OneRight:
        """Key 0 answers right, key 1 wrong: k = 1 is met by key 0 alone."""

        name, model, max_batch_size, max_concurrency = "scripted", "scripted", 64, 1

        async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
            return [
                (await (teacher if r.key.endswith(":0") else always_wrong).generate([r]))[0]
                for r in requests
            ]

        async def aclose(self) -> None:
            pass

    config = DistillConfig(
        input=str(write_jsonl(tmp_path / "p.jsonl", [row])),  # type: ignore[list-item]
        output=str(tmp_path / "out"),
        model="scripted",
        samples=2,
        k=1,
        verify=True,
        max_attempts=5,
        verify_workers=1,
        progress=False,
    )
    summary = run_distill(config, backend=OneRight())
    assert summary.complete
    assert (summary.verified_passed, summary.rejected, summary.regenerated) == (1, 1, 0)
    assert always_wrong.calls[f"{row['id']}:1"] == 1
