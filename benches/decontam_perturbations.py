"""Decontamination against edited copies: share caught per perturbation kind, false flags.

Every item of seven eval sets in ../shared/benchmarks/eval (MATH-500, AIME 2024, AIME 2025,
AMC 2023, GSM8K test, Minerva math, OlympiadBench: 2,866 items) is planted once per kind of
`amfast.perturb` (reformat, renumber, wrap, substitute, reorder, paraphrase) among ~30,000 real
training problems of the shared corpus (MATH train, GSM8K train, AQuA, MathQA, college math,
CARP, ASDiv, SVAMP, MAWPS, SAT, StackMathQA, AIME 1983-2023, MMLU-STEM, Gaokao 2023 en,
Hungarian exam). Corpus rows that copy an eval item by independent checks
(`amfast.perturb.copies_of`: equal with or without digits, or half of an item's 8-grams) are
left out of the unrelated rows and counted. One `find_contamination` call at the default
settings; then per kind the share of planted rows flagged (by any rule, by the right item, by
each rule alone) and the share of unrelated rows flagged (per rule too). The same call with the
content rules off (the rules before them) is the peer, in the same run, for catch rates and
speed. Last, the LLM-judge tier's questions at its default band are counted (a judge that says
False to everything stands in for a model: no judge model runs here), per kind and on the
unrelated rows, with the catch rate a judge that is always right would reach.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from amfast.decontam import Benchmark, find_contamination, load_benchmark
from amfast.perturb import KINDS, copies_of, perturb
from machine import REPO, machine_info

SHARED = REPO.parent / "shared" / "benchmarks"
RESULTS_DIR = REPO / "benches" / "results"
EVAL_FILES = (
    "math500.jsonl",
    "aime24.jsonl",
    "aime25.jsonl",
    "amc23.jsonl",
    "gsm8k_test.jsonl",
    "minerva_math.jsonl",
    "olympiadbench.jsonl.gz",
)
UNRELATED_SOURCES = (
    "math_train",
    "gsm8k_train",
    "aqua",
    "mathqa_test",
    "college_math",
    "carp_en",
    "asdiv",
    "svamp",
    "mawps",
    "sat_math",
    "stackmathqa100k",
    "deepscaler_aime_1983_2023",
    "mmlu_stem",
    "gaokao2023en",
    "hungarian_exam",
)
RULES = ("exact_no_digits", "ngram", "content_words", "content_words_no_digits")


def eval_benchmarks() -> list[Benchmark]:
    """The seven eval sets, as `amfast decontam` reads them."""
    return [load_benchmark(SHARED / "eval" / name) for name in EVAL_FILES]


def unrelated_rows(benchmarks: list[Benchmark]) -> tuple[list[str], list[str], int]:
    """`(ids, texts, copies left out)` of the corpus rows from `UNRELATED_SOURCES`."""
    with gzip.open(SHARED / "corpus" / "math_problems_union.jsonl.gz", "rt") as handle:
        corpus = [json.loads(line) for line in handle if line.strip()]
    rows = [row for row in corpus if row["source"] in UNRELATED_SOURCES]
    items = [text for benchmark in benchmarks for text in benchmark.texts]
    copies = copies_of([row["problem"] for row in rows], items)
    kept = [row for row, copy in zip(rows, copies, strict=True) if not copy]
    return [row["id"] for row in kept], [row["problem"] for row in kept], sum(copies)


def rule_hits(found: Any, benchmarks: list[Benchmark], rows: int) -> dict[str, np.ndarray]:  # noqa: ANN401
    """Per rule, which rows it flagged for any benchmark; plus which item each row matched."""
    hits = {rule: np.zeros(rows, bool) for rule in RULES}
    for benchmark in benchmarks:
        found_hits = found.hits[benchmark.name]
        hits["exact_no_digits"] |= found_hits.exact_item >= 0
        hits["ngram"] |= found_hits.ngram_item >= 0
        hits["content_words"] |= found_hits.content_item >= 0
        hits["content_words_no_digits"] |= found_hits.content_no_digits_item >= 0
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    benchmarks = eval_benchmarks()
    ids, unrelated, left_out = unrelated_rows(benchmarks)
    items = [(b.name, b.ids[i], text) for b in benchmarks for i, text in enumerate(b.texts)]
    planted = [
        (kind, name, item_id, text, perturb(text, kind, args.seed))
        for kind in KINDS
        for name, item_id, text in items
    ]
    texts = [row[4] for row in planted] + unrelated
    runs = {}
    for label, content in (("defaults", True), ("content off (previous rules)", False)):
        started = time.perf_counter()
        found = find_contamination(texts, benchmarks, content=content)
        runs[label] = (found, time.perf_counter() - started)
    found = runs["defaults"][0]
    started = time.perf_counter()
    questions = find_contamination(
        texts, benchmarks, judge=lambda prompts: ["False"] * len(prompts)
    ).judgements
    band_seconds = time.perf_counter() - started
    asked_rows = {question.row for question in questions}
    own_item = {  # rows asked about the item planted in them
        question.row
        for question in questions
        if question.row < len(planted)
        and (question.benchmark, question.item_id) == planted[question.row][1:3]
    }
    hits = rule_hits(found, benchmarks, len(texts))
    before = runs["content off (previous rules)"][0]
    planted_count = len(planted)
    print(
        f"eval items {len(items):,} ({', '.join(b.name for b in benchmarks)}); unrelated rows "
        f"{len(unrelated):,} ({left_out} corpus copies of eval items left out); seed {args.seed}\n"
    )
    print(
        "| kind | changed | caught | right item | before (no content rules) | "
        + " | ".join(RULES)
        + " |"
    )
    print("|---|---:|---:|---:|---:|" + "---:|" * len(RULES))
    per_kind: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        rows = [i for i, row in enumerate(planted) if row[0] == kind]
        changed = np.mean([planted[i][3] != planted[i][4] for i in rows])
        caught = found.flagged[rows].mean()
        right = np.mean(
            [
                found.flagged[i] and (found.benchmark[i], found.item[i]) == planted[i][1:3]
                for i in rows
            ]
        )
        previous = before.flagged[rows].mean()
        by_rule = {rule: float(hits[rule][rows].mean()) for rule in RULES}
        per_kind[kind] = {
            "rows": len(rows),
            "changed": float(changed),
            "caught": float(caught),
            "right_item": float(right),
            "caught_before": float(previous),
            **by_rule,
        }
        print(
            f"| {kind} | {changed:.3f} | **{caught:.4f}** | {right:.4f} | {previous:.4f} | "
            + " | ".join(f"{value:.4f}" for value in by_rule.values())
            + " |"
        )
    false_rows = np.flatnonzero(found.flagged[planted_count:])
    false_rate = len(false_rows) / len(unrelated)
    false_by_rule = {rule: float(hits[rule][planted_count:].mean()) for rule in RULES}
    false_before = float(before.flagged[planted_count:].mean())
    print(
        f"| unrelated (false flags) | - | **{false_rate:.4f}** ({len(false_rows)}) | - | "
        f"{false_before:.4f} | " + " | ".join(f"{v:.4f}" for v in false_by_rule.values()) + " |"
    )
    by_source = collections.Counter(ids[row].split("/")[0] for row in false_rows)
    print(f"\nfalse flags by source: {dict(by_source.most_common())}")
    print(
        f"\nLLM-judge band (content share in [0.5, 0.65), the default; {band_seconds:.2f} s "
        f"with the rules): {len(questions):,} questions about {len(asked_rows):,} rows\n"
    )
    print(
        "| kind | missed by the rules | asked | asked about its own item | perfect-judge ceiling |"
    )
    print("|---|---:|---:|---:|---:|")
    judge_band: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        rows = [i for i, row in enumerate(planted) if row[0] == kind]
        missed = [i for i in rows if not found.flagged[i]]
        asked = sum(i in asked_rows for i in missed)
        own = sum(i in own_item for i in missed)
        ceiling = (len(rows) - len(missed) + own) / len(rows)
        judge_band[kind] = {"missed": len(missed), "asked": asked, "own_item": own}
        judge_band[kind]["ceiling"] = ceiling
        print(f"| {kind} | {len(missed)} | {asked} | {own} | {ceiling:.4f} |")
    unrelated_asked = sum(row >= planted_count for row in asked_rows)
    judge_band["unrelated"] = {"rows": len(unrelated), "asked": unrelated_asked}
    print(
        f"| unrelated rows | - | {unrelated_asked} ({unrelated_asked / len(unrelated):.2%}) "
        "| - | - |"
    )
    print("\n| rules | seconds | rows/s | ratio |")
    print("|---|---:|---:|---:|")
    slowest = max(s for _, s in runs.values())
    for label, (_, run_seconds) in runs.items():
        print(
            f"| {label} | {run_seconds:.2f} | {len(texts) / run_seconds:,.0f} "
            f"| {slowest / run_seconds:.2f}x |"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "args": vars(args),
        "machine": machine_info(("amfast",)),
        "items": len(items),
        "unrelated": len(unrelated),
        "unrelated_left_out": left_out,
        "per_kind": per_kind,
        "false_flag_rate": false_rate,
        "false_flags_by_rule": false_by_rule,
        "false_flag_rate_before": false_before,
        "false_flags_by_source": dict(by_source),
        "false_flag_examples": [
            {
                "row": ids[row],
                "benchmark": found.benchmark[planted_count + row],
                "rule": found.rule[planted_count + row],
                "item": found.item[planted_count + row],
            }
            for row in false_rows[:50].tolist()
        ],
        "judge_band": judge_band,
        "judge_questions": len(questions),
        "seconds": {label: s for label, (_, s) in runs.items()},
        "rows": len(texts),
    }
    path = RESULTS_DIR / f"decontam_perturbations-{time.strftime('%Y%m%d-%H%M%S')}.json"
    Path(path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
