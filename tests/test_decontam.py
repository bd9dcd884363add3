"""Decontamination: rules on small inputs, benchmark loaders, the CLI, and the real corpus."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from amfast.cli.main import main
from amfast.decontam import (
    Benchmark,
    DecontamOptions,
    clean_stage,
    find_contamination,
    load_benchmark,
)
from amfast.errors import InputError, InvalidRowError
from amfast.perturb import KINDS, copies_of, perturb

BENCH = Benchmark(
    "toy",
    [
        "Janet has 16 ducks that lay eggs; she eats 3 every morning and sells the rest.",
        "Find x.",
    ],
    ["t0", "t1"],
)


def test_number_changed_copy_is_flagged_by_the_exact_rule():
    rows = ["Janet has 20 ducks that lay eggs; she eats 5 every morning and sells the rest."]
    found = find_contamination(rows, [BENCH])
    assert found.flagged.tolist() == [True]
    assert (found.rule, found.item, found.benchmark) == (["exact_no_digits"], ["t0"], ["toy"])
    assert found.report["toy"]["by_rule"] == {
        "exact_no_digits": 1,
        "ngram": 0,
        "content_words": 1,  # two changed numbers of many content features
        "content_words_no_digits": 1,
    }


def test_shared_ngram_is_flagged_and_short_items_need_a_verbatim_copy():
    rows = [
        "Note: janet has 16 ducks that lay eggs she eats 3 every morning and sells the rest.",
        "Find x.",
        "Find x if x + 1 = 2.",
        "Something unrelated entirely about prime gaps and twin primes.",
    ]
    found = find_contamination(rows, [BENCH], ngram=8)
    assert found.flagged.tolist() == [True, True, False, False]
    assert found.rule[:2] == ["ngram", "ngram"]


def test_null_rows_are_named():
    with pytest.raises(InvalidRowError, match="row 1: text is null"):
        find_contamination(["ok", None], [BENCH])  # type: ignore[list-item]


def test_loaders_read_csv_json_and_strip_the_qwq_suffix(tmp_path, benchmarks_dir):
    csv_path = tmp_path / "gpqa_diamond.csv"
    csv_path.write_text(
        'Record ID,Question,Correct Answer\nrec1,"What is the spin of a photon?",1\n'
    )
    gpqa = load_benchmark(csv_path)
    assert (gpqa.name, gpqa.texts, gpqa.ids) == (
        "gpqa_diamond",
        ["What is the spin of a photon?"],
        ["rec1"],
    )
    lcb = load_benchmark(benchmarks_dir / "code" / "livecodebench_v5_test_2408_2501.json", "lcb")
    assert len(lcb.texts) == 279
    aime25 = load_benchmark(benchmarks_dir / "eval" / "aime25.jsonl")
    assert len(aime25.texts) == 30
    assert not any(text.endswith("\\boxed{}.") for text in aime25.texts)


@pytest.fixture(scope="module")
def corpus(benchmarks_dir):
    with gzip.open(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz", "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def corpus_result(corpus, benchmarks_dir):
    eval_dir = benchmarks_dir / "eval"
    benchmarks = [
        load_benchmark(eval_dir / "math500.jsonl"),
        load_benchmark(eval_dir / "aime24.jsonl"),
        load_benchmark(eval_dir / "aime25.jsonl"),
        load_benchmark(eval_dir / "gsm8k_test.jsonl"),
    ]
    return find_contamination([row["problem"] for row in corpus], benchmarks)


def _flagged_by_source(corpus, result, benchmark):
    hits = result.hits[benchmark]
    fired = (hits.exact_item >= 0) | (hits.ngram_item >= 0)
    counts: dict[str, int] = {}
    for row in np.flatnonzero(fired).tolist():
        counts[corpus[row]["source"]] = counts.get(corpus[row]["source"], 0) + 1
    return counts


def test_real_corpus_flags_the_known_contaminated_families(corpus, corpus_result):
    math500 = _flagged_by_source(corpus, corpus_result, "math500")
    assert math500["math500"] == 500
    assert math500["math_test"] >= 500  # the 500 MATH-500 items inside MATH test
    assert math500.get("deepscaler_aime_1983_2023", 0) >= 3
    aime24 = _flagged_by_source(corpus, corpus_result, "aime24")
    assert aime24["aime24"] == 30
    aime25 = _flagged_by_source(corpus, corpus_result, "aime25")
    assert aime25["aime25_qwq"] == 30
    assert aime25["aime25_deepscaler"] >= 27  # 18 exact + most of the 12 reworded variants
    gsm = _flagged_by_source(corpus, corpus_result, "gsm8k_test")
    assert gsm["gsm8k_test"] == gsm["gsm8k_test_socratic"] == 1319
    assert gsm["gsm_hard"] >= 1250  # number-changed copies: the exact-minus-digits rule
    assert gsm.get("mgsm_zh", 0) == 0  # translations are not n-gram copies


def test_real_corpus_flags_are_precise_on_unrelated_sources(corpus, corpus_result):
    # Sources that copy none of the four benchmarks (labelled from the README's families);
    # every flag there is a false positive.
    unrelated = {"gsm8k_train", "ape210k_valid", "ape210k_test", "cmath", "svamp", "asdiv"}
    rows = [i for i, row in enumerate(corpus) if row["source"] in unrelated]
    false = [i for i in rows if corpus_result.flagged[i]]
    assert len(false) / len(rows) < 0.002


@pytest.fixture(scope="module")
def eval_sample(benchmarks_dir):
    """The seven eval sets of `benches/decontam_perturbations.py`."""
    eval_dir = benchmarks_dir / "eval"
    names = ("math500.jsonl", "aime24.jsonl", "aime25.jsonl", "amc23.jsonl", "gsm8k_test.jsonl")
    names += ("minerva_math.jsonl", "olympiadbench.jsonl.gz")
    return [load_benchmark(eval_dir / name) for name in names]


@pytest.fixture(scope="module")
def perturbed(eval_sample):
    """Every eval item edited by each kind (seed 1), all checked in one call at the defaults."""
    items = [(b.name, b.ids[i], t) for b in eval_sample for i, t in enumerate(b.texts)]
    planted = [(kind, item) for kind in KINDS for item in items]
    rows = [perturb(item[2], kind, seed=1) for kind, item in planted]
    return planted, find_contamination(rows, eval_sample)


@pytest.mark.parametrize("kind", KINDS)
def test_each_perturbation_of_real_eval_items_is_caught_at_the_defaults(perturbed, kind):
    planted, found = perturbed
    rows = [row for row, (planted_kind, _) in enumerate(planted) if planted_kind == kind]
    caught = found.flagged[rows].mean()
    right = np.mean([(found.benchmark[r], found.item[r]) == planted[r][1][:2] for r in rows])
    assert caught >= 0.95, (kind, caught)
    assert right >= 0.95, (kind, right)
    if kind in ("substitute", "paraphrase"):
        # The n-gram rules miss most of these; the content rule is what catches them.
        named = [found.rule[r] for r in rows]
        assert named.count("content_words") > len(rows) / 2


def test_unrelated_real_training_rows_are_not_flagged(corpus, eval_sample):
    sample = [row["problem"] for row in corpus if row["source"] in ("math_train", "gsm8k_train")]
    sample = sample[::5]
    items = [text for benchmark in eval_sample for text in benchmark.texts]
    unrelated = [
        text for text, copy in zip(sample, copies_of(sample, items), strict=True) if not copy
    ]
    assert len(unrelated) > 2500
    found = find_contamination(unrelated, eval_sample)
    assert found.flagged.mean() <= 0.005


def test_bad_content_settings_are_input_errors():
    with pytest.raises(ValueError, match="content_threshold"):
        DecontamOptions(content_threshold=1.5)
    with pytest.raises(ValueError, match="min_content_weight"):
        DecontamOptions(min_content_weight=float("nan"))
    with pytest.raises(InputError, match="content_row_fraction"):
        clean_stage({"benchmarks": ["x.jsonl"], "content_row_fraction": -0.5})


def test_cli_writes_clean_rows_flags_and_report(tmp_path, benchmarks_dir):
    source = tmp_path / "train.jsonl"
    bench = benchmarks_dir / "eval" / "math500.jsonl"
    first_item = json.loads(bench.read_text().splitlines()[0])["problem"]
    rows = [
        {"problem": first_item},
        {"problem": "A completely new question about counting lattice paths in a 9 by 9 grid."},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code = main(
        [
            "decontam",
            str(source),
            "-o",
            str(tmp_path / "clean.jsonl"),
            "--text-field",
            "problem",
            "--benchmark",
            f"math500={bench}",
            "--flagged",
            str(tmp_path / "flagged.jsonl"),
            "--report",
            str(tmp_path / "report.json"),
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "clean.jsonl").read_text()) == rows[1]
    flagged = json.loads((tmp_path / "flagged.jsonl").read_text())
    assert (flagged["row_id"], flagged["benchmark"]) == (0, "math500")
    assert json.loads((tmp_path / "report.json").read_text())["math500"]["rows_flagged"] == 1


def test_cli_names_the_content_rule_for_a_reworded_copy(tmp_path, benchmarks_dir):
    bench = benchmarks_dir / "eval" / "gsm8k_test.jsonl"
    item = json.loads(bench.read_text().splitlines()[3])["question"]
    reworded = perturb(item, "paraphrase", seed=1)
    source = tmp_path / "train.jsonl"
    source.write_text(json.dumps({"problem": reworded}) + "\n")
    flagged_path = tmp_path / "flagged.jsonl"
    args = ["decontam", str(source), "-o", str(tmp_path / "clean.jsonl"), "--text-field"]
    args += ["problem", "--benchmark", f"gsm8k={bench}", "--flagged", str(flagged_path)]
    assert main(args) == 0
    flagged = json.loads(flagged_path.read_text())
    assert (flagged["rule"], flagged["benchmark"], flagged["item_id"]) == (
        "content_words",
        "gsm8k",
        "3",
    )
    assert main([*args[:-1], str(tmp_path / "f2.jsonl"), "--no-content"]) == 0
    assert (tmp_path / "f2.jsonl").read_text() == ""


@pytest.mark.slow
def test_embedding_rule_flags_a_paraphrase_the_ngram_rule_misses():
    from amfast.embed import SentenceTransformerEmbedder

    bench = Benchmark("toy", ["How many positive divisors does the number 36 have?"], ["d"])
    rows = ["Count the positive divisors of 36.", "Who wrote the novel Moby Dick?"]
    found = find_contamination(
        rows,
        [bench],
        embedder=SentenceTransformerEmbedder(device="cpu", progress=False),
        embedding_threshold=0.8,
    )
    assert found.flagged.tolist() == [True, False]
    assert found.rule == ["embedding", None]
    assert found.report["toy"]["by_rule"]["embedding"] == 1
