r"""Math verification: math-verify's equivalence plus extraction, deadlines and batching.

Agreement on real data (measured with math-verify 0.9.0, 2 workers):

- MATH-500, each reference solution graded against its `answer`: 500/500. Every solution's
  last `\boxed{}` equals `answer` verbatim, so this is an extraction check; the next two are
  the equivalence checks.
- MATH-500 answers re-typeset in equivalent notation (`\dfrac`->`\frac`, no `\left`/`\right`,
  `\!` or `^\circ`, `\frac{3}{4}`->`3/4`, `\sqrt{2}`->`\sqrt 2`): 87/87 of the changed rows.
- AIME 2024 solutions vs the zero-padded answers ("073"): 29/30. The miss is a dataset quirk:
  that solution (answer 204) states its result without `\boxed` (graded `no_answer`). Two rows
  passed only after amfast tidied boxes math-verify cannot read (`\boxed{104.}`,
  `\boxed{\textbf{(073)}}`).
- Shuffled MATH-500 answers (seed 0): 492/500 fail; all 8 passes pair textually equal answers.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from amfast.verify.answer import last_boxed
from amfast.verify.math import reference_answer, verify_math, verify_math_batch
from amfast.verify.verdict import Verdict

MATH500_AGREEMENT_FLOOR = 1.0  # measured 500/500
RETYPESET_AGREEMENT_FLOOR = 1.0  # measured 87/87
AIME24_AGREEMENT_FLOOR = 29 / 30  # measured 29/30; the miss has no \boxed in its solution
SLOW_REFERENCE = r"(10^{7})!"  # sympy computes the factorial exactly: minutes, small memory


def read_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


@pytest.fixture(scope="module")
def math500(benchmarks_dir: Path) -> list[dict[str, str]]:
    return read_jsonl(benchmarks_dir / "eval" / "math500.jsonl")  # type: ignore[return-value]


def boxed_response(answer: str) -> str:
    return f"<think>Working it out.</think>\nThe final answer is $\\boxed{{{answer}}}$."


# ---------------------------------------------------------------- edge cases (one batch)

# (reference, boxed answer, should pass). Each row states what math-verify 0.9.0 decides.
EDGE_CASES = [
    # mixed numbers
    (r"\frac{3}{2}", r"1\frac{1}{2}", True),
    (r"1\frac{1}{2}", r"\frac{3}{2}", True),
    (r"1\frac{1}{2}", r"\frac{1}{2}", False),
    # fractions, decimals, notation
    (r"\frac{3}{2}", "3/2", True),
    (r"\frac{1}{2}", "0.5", True),
    (r"\dfrac{1}{2}", "1/2", True),
    (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}", True),
    (r"\frac{\pi}{2}", r"\pi/2", True),
    ("1000", "1,000", True),
    (r"\sqrt{2}", "2", False),
    ("5", "5.0001", False),
    ("5", "6", False),
    # percentages
    (r"10\%", "10", True),
    ("10", r"10\%", True),
    (r"10\%", "0.1", True),
    (r"10\%", "20", False),
    # degrees: the unit is dropped, not converted (30 degrees != pi/6 for math-verify)
    (r"30^\circ", "30", True),
    ("30", r"30^{\circ}", True),
    (r"30^\circ", r"\frac{\pi}{6}", False),
    # units
    ("5", r"5 \text{ cm}", True),
    (r"5\text{ cm}", "5", True),
    # sets (order-free), unbraced lists
    (r"\{1,2\}", r"\{2,1\}", True),
    (r"\{1,2\}", r"\{1,3\}", False),
    ("2, 3", "3, 2", True),
    # intervals
    ("[1,2)", "[1, 2)", True),
    (r"(-\infty, 3]", r"(-\infty,3]", True),
    (r"x \in [1,2]", "[1,2]", True),
    ("[1,2]", "(1,2)", False),
    # tuples (order matters)
    ("(1,2)", "(1, 2)", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", True),
    ("(1,2)", "(2,1)", False),
    # matrices
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}", True),
    (
        r"\begin{pmatrix} 1/2 & 0 \\ 0 & 1 \end{pmatrix}",
        r"\begin{pmatrix}0.5&0\\0&1\end{pmatrix}",
        True,
    ),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}2\\1\end{pmatrix}", False),
    # complex numbers
    ("1+2i", "2i+1", True),
    ("1+2i", "1-2i", False),
    # equations vs values
    ("5", "x = 5", True),
    ("x=5", "5", True),
    ("5", "x = 6", False),
    # symbolic
    ("(x+1)^2", "x^2+2x+1", True),
    # text answers
    (r"\text{Monday}", r"\text{Monday}", True),
    (r"\text{(C)}", "C", True),
    (r"\text{Monday}", r"\text{Tuesday}", False),
    # amfast tidies what math-verify cannot read (math-verify alone fails these)
    ("104", "104.", True),
    ("73", r"\textbf{(073)}", True),
]


@pytest.fixture(scope="module")
def edge_verdicts() -> list[Verdict]:
    responses = [boxed_response(answer) for _, answer, _ in EDGE_CASES]
    return verify_math_batch(responses, [reference for reference, _, _ in EDGE_CASES])


@pytest.mark.parametrize(
    ("index", "case"),
    list(enumerate(EDGE_CASES)),
    ids=[f"{ref} vs {ans} {'pass' if ok else 'fail'}" for ref, ans, ok in EDGE_CASES],
)
def test_edge_case_verdict_matches_table(
    edge_verdicts: list[Verdict], index: int, case: tuple[str, str, bool]
) -> None:
    _, answer, should_pass = case
    verdict = edge_verdicts[index]
    assert verdict.passed is should_pass, verdict
    assert verdict.reason == ("correct" if should_pass else "wrong"), verdict
    assert verdict.extracted == answer


# ---------------------------------------------------------------- real data


def test_math500_reference_solutions_pass_against_their_answers(
    math500: list[dict[str, str]],
) -> None:
    verdicts = verify_math_batch(
        [row["solution"] for row in math500], [row["answer"] for row in math500]
    )
    misses = [(row["answer"], v) for row, v in zip(math500, verdicts, strict=True) if not v.passed]
    assert len(verdicts) == 500
    assert 1 - len(misses) / len(verdicts) >= MATH500_AGREEMENT_FLOOR, misses
    # Option-letter answers (`\text{(C)}`) are graded, and recorded, as the letter chosen.
    boxed = [last_boxed(row["solution"]) or "" for row in math500]
    letters = [re.fullmatch(r"\\text\{\(([A-E])\)\}", answer) for answer in boxed]
    expected = [m.group(1) if m else answer for m, answer in zip(letters, boxed, strict=True)]
    assert [v.extracted for v in verdicts] == expected


def retypeset(answer: str) -> str:
    """The same answer in other, equivalent LaTeX."""
    text = re.sub(r"\\[dt]frac", r"\\frac", answer)
    text = re.sub(r"\\(left|right)(?![a-zA-Z])", "", text)
    text = re.sub(r"\\!\s*", "", text)
    text = re.sub(r"\^\{?\\circ\}?", "", text)

    def slash(match: re.Match[str]) -> str:
        # `1\frac{4}{5}` is a mixed number: `14/5` would change its value.
        if re.search(r"\d\s*$", text[: match.start()]):
            return match.group(0)
        return f"{match.group(1)}/{match.group(2)}"

    text = re.sub(r"\\frac\{(-?\d+)\}\{(\d+)\}", slash, text)
    return re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt \1", text)


def test_math500_answers_in_equivalent_notation_pass(math500: list[dict[str, str]]) -> None:
    pairs = [(row["answer"], retypeset(row["answer"])) for row in math500]
    changed = [(reference, other) for reference, other in pairs if other != reference]
    verdicts = verify_math_batch(
        [boxed_response(other) for _, other in changed], [reference for reference, _ in changed]
    )
    misses = [pair for pair, v in zip(changed, verdicts, strict=True) if not v.passed]
    assert len(changed) >= 80
    assert 1 - len(misses) / len(changed) >= RETYPESET_AGREEMENT_FLOOR, misses


def test_math500_shuffled_answers_fail_unless_equal(math500: list[dict[str, str]]) -> None:
    answers = [row["answer"] for row in math500]
    shuffled = answers[:]
    random.Random(0).shuffle(shuffled)
    verdicts = verify_math_batch([row["solution"] for row in math500], shuffled)
    differing = [v for v, a, b in zip(verdicts, answers, shuffled, strict=True) if a != b]
    false_passes = [v for v in differing if v.passed]
    assert sum(not v.passed for v in verdicts) / len(verdicts) >= 0.95
    assert len(false_passes) / len(differing) <= 0.01, false_passes


def test_aime24_solutions_pass_against_zero_padded_answers(benchmarks_dir: Path) -> None:
    rows = read_jsonl(benchmarks_dir / "eval" / "aime24.jsonl")
    verdicts = verify_math_batch(
        [str(r["solution"]) for r in rows], [str(r["answer"]) for r in rows]
    )
    assert sum(v.passed for v in verdicts) / len(rows) >= AIME24_AGREEMENT_FLOOR
    assert {v.reason for v in verdicts if not v.passed} <= {"no_answer"}


# ---------------------------------------------------------------- what gets graded


@pytest.mark.parametrize(
    ("response", "finish_reason", "reason", "extracted"),
    [
        (r"<think>x</think>$\boxed{5}$", "length", "truncated", "5"),
        (r"<think>it is surely \boxed{5}", None, "truncated", None),
        (r"<think>x</think><answer>$\boxed{5}$", None, "truncated", "5"),
        (r"<think>it is \boxed{5}</think>", None, "no_answer", None),
        (r"<think>it is \boxed{5}</think>I am not sure.", None, "no_answer", None),
        ("<think>x</think>\nFirst line.\nSecond line, no answer.", None, "no_answer", None),
        (r"<think>the answer is 5</think>The answer is 6.", None, "wrong", "6"),
        (r"<think>x</think>$\boxed{?}$", None, "parse_error", "?"),
        ("<think>x</think><answer>5</answer>", None, "correct", "5"),
        ("Half of 10. The answer is $5$ apples.", None, "correct", "$5$ apples"),
        (r"Answer: \frac{10}{2}", None, "correct", r"\frac{10}{2}"),
    ],
)
def test_only_the_answer_part_is_graded(
    response: str, finish_reason: str | None, reason: str, extracted: str | None
) -> None:
    verdict = verify_math(response, "5", finish_reason=finish_reason)
    assert (verdict.reason, verdict.extracted) == (reason, extracted), verdict
    assert verdict.passed is (reason == "correct")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (r"So $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
        ("Then 3 * 6 = 18.\n#### 1,800", "1800"),
        ("$(1, 2)$", "(1, 2)"),
        ("  ", None),
        (r"\boxed{5", None),
    ],
)
def test_reference_answer_handles_bare_answers_and_solutions(
    reference: str, expected: str | None
) -> None:
    assert reference_answer(reference) == expected


@pytest.mark.parametrize("reference", ["", r"see \boxed{", r"\boxed{?}"])
def test_unusable_reference_leaves_the_row_ungraded(reference: str) -> None:
    verdict = verify_math(r"$\boxed{5}$", reference)
    assert verdict.reason == "bad_reference"
    assert not verdict.graded
    assert math.isnan(verdict.score)


def test_batch_checks_lengths_and_keeps_order() -> None:
    with pytest.raises(ValueError, match="2 responses but 1 references"):
        verify_math_batch(["a", "b"], ["1"])
    with pytest.raises(ValueError, match="finish_reasons"):
        verify_math_batch(["a"], ["1"], finish_reasons=[None, None])
    answers = [str(n) for n in range(40)]
    verdicts = verify_math_batch([boxed_response(a) for a in answers], answers[::-1], num_workers=2)
    assert [v.passed for v in verdicts] == [
        a == b for a, b in zip(answers, answers[::-1], strict=True)
    ]


# ---------------------------------------------------------------- deadlines and processes


def test_slow_check_times_out_without_sinking_the_batch() -> None:
    responses = [boxed_response("2"), boxed_response("7"), boxed_response("3")]
    references = ["2", SLOW_REFERENCE, "3"]
    verdicts = verify_math_batch(responses, references, num_workers=2, timeout=1.0)
    assert [v.reason for v in verdicts] == ["correct", "timeout", "correct"]
    assert verdicts[1].extracted == "7"
    assert verdicts[1].graded
    # The pool replaced the killed worker: the next check in the shared pool runs normally.
    assert verify_math(boxed_response("1"), SLOW_REFERENCE, timeout=0.5).reason == "timeout"
    assert verify_math(boxed_response("1"), "1").passed


def test_verify_math_from_many_threads_at_once(math500: list[dict[str, str]]) -> None:
    rows = math500[:64]
    barrier = threading.Barrier(8)

    def grade(row: dict[str, str]) -> Verdict:
        if rows.index(row) < 8:
            barrier.wait()  # the first eight calls start together
        return verify_math(row["solution"], row["answer"])

    with ThreadPoolExecutor(8) as threads:
        verdicts = list(threads.map(grade, rows))
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]


def _verify_in_daemon(pair: tuple[str, str]) -> str:
    return verify_math(*pair).reason


def test_verify_math_inside_a_daemonic_worker_process() -> None:
    # multiprocessing.Pool workers are daemons and may not start multiprocessing children;
    # the check's workers are plain subprocesses, which they may.
    with get_context("spawn").Pool(1) as daemons:
        reasons = daemons.map(_verify_in_daemon, [(r"$\boxed{0.5}$", r"\frac12"), ("5", "6")])
    assert reasons == ["correct", "wrong"]


def test_progress_callback_counts_every_checked_row() -> None:
    counts: list[int] = []
    responses = [boxed_response(str(n)) for n in range(10)] + ["<think>cut off"]
    verify_math_batch(responses, ["1"] * 11, num_workers=1, progress=counts.append)
    assert sum(counts) == 10  # the truncated row is decided without a worker


def test_importing_the_module_does_not_import_sympy() -> None:
    code = "import sys, amfast.verify.math\n"
    code += "print('sympy' in sys.modules, 'math_verify' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


GUARDLESS_SCRIPT = """\
from amfast.verify import verify_math, verify_math_batch

print("half", verify_math(r"$\\boxed{0.5}$", r"\\frac12").reason)
rows = [(rf"$\\boxed{{{n}/2}}$", f"{n / 2}") for n in range(1, 9)]
verdicts = verify_math_batch([r for r, _ in rows], [a for _, a in rows], timeout=5.0)
print("batch", " ".join(v.reason for v in verdicts))
"""


def run_guardless_script(directory: Path) -> subprocess.CompletedProcess[str]:
    """Runs `GUARDLESS_SCRIPT` as a file with no `__main__` guard, as a new user would."""
    script = directory / "check_answers.py"
    script.write_text(GUARDLESS_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )


def assert_guardless_verdicts(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["half correct", "batch " + " ".join(["correct"] * 8)]
    assert "safe importing of main module" not in done.stderr
    assert "Traceback" not in done.stderr


def test_script_without_a_main_guard_gets_right_verdicts_and_exits(tmp_path: Path) -> None:
    # Each line is printed once: the workers never re-run the script.
    assert_guardless_verdicts(run_guardless_script(tmp_path))


@pytest.mark.slow
def test_script_verdicts_unchanged_on_a_loaded_machine(tmp_path: Path) -> None:
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(4 * len(os.sched_getaffinity(0)))
    ]
    try:
        done = run_guardless_script(tmp_path)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert_guardless_verdicts(done)
