"""The LLM-judge tier of decontamination, end to end.

Borderline copies are `amfast.perturb` edits of real MATH-500 / GSM8K test items that the rules
miss but whose content-word share with their item is near the cut; they sit among real MATH
training problems, verbatim and renumbered copies. The judge is a real OpenAI-compatible server
on loopback (`judge_server.py`) that answers True exactly for the planted (row, item) pairs, and
a tiny random-weight model through the transformers backend.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from amfast.clean import clean
from amfast.clean.config import CleanConfig
from amfast.clean.ledger import read_ledger
from amfast.cli.main import main
from amfast.decontam import Benchmark, find_contamination, load_benchmark
from amfast.decontam_judge import parse_same_problem
from amfast.errors import InputError
from amfast.generate.judge import JudgeOptions
from amfast.perturb import copies_of, perturb
from judge_server import GARBLED_REPLY
from loopback_servers import ServerProcess, free_port

HERE = Path(__file__).parent
BENCHMARK_FILES = {"math500": "math500.jsonl", "gsm8k_test": "gsm8k_test.jsonl"}
BAND = 0.5  # the default judge_content_threshold
GARBLED = 3  # borderline copies the judge answers with a hedge
BENCH_TOY = Benchmark("toy", ["Find the sum of all positive divisors of 36."], ["d"])


@dataclass
class Planted:
    """The training rows of these tests and what each one really is."""

    texts: list[str]
    kind: list[str]  # borderline, garbled, missed (out of the band), fuzzy_copy, unrelated, exact
    item: list[tuple[str, str] | None]  # the planted (benchmark, item id)
    same: list[tuple[str, str]]  # (row text, item text) of every planted row


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def benchmark_paths(benchmarks_dir: Path) -> dict[str, Path]:
    return {name: benchmarks_dir / "eval" / file for name, file in BENCHMARK_FILES.items()}


@pytest.fixture(scope="module")
def benchmarks(benchmark_paths: dict[str, Path]) -> list[Benchmark]:
    return [load_benchmark(path, name) for name, path in benchmark_paths.items()]


@pytest.fixture(scope="module")
def planted(benchmarks: list[Benchmark], benchmarks_dir: Path) -> Planted:
    """Copies the rules miss near the cut, copies they miss far from it, unrelated and exact."""
    edits = [
        (benchmark, index, perturb(text, kind, seed=1))
        for kind in ("substitute", "paraphrase")
        for benchmark in benchmarks
        for index, text in enumerate(benchmark.texts)
    ]
    rows = [edit[2] for edit in edits]
    # Which copies are near misses, by the rules alone: unflagged at the defaults, but matched
    # to their own item at the band's lower content threshold.
    rules = find_contamination(rows, benchmarks)
    lower = find_contamination(rows, benchmarks, content_threshold=BAND)
    planted = Planted([], [], [], [])
    for row, (benchmark, index, text) in enumerate(edits):
        if text in planted.texts:
            continue  # both kinds changed nothing that differs
        if rules.flagged[row]:
            # A few copies only the content rules caught: what judge_confirm asks about.
            exact = any(
                h.exact_item[row] >= 0 or h.ngram_item[row] >= 0 for h in rules.hits.values()
            )
            kind = None if exact or planted.kind.count("fuzzy_copy") >= 10 else "fuzzy_copy"
        else:
            near = lower.hits[benchmark.name].content_item[row] == index
            kind = "borderline" if near else "missed" if not lower.flagged[row] else None
        if kind is not None:
            planted.texts.append(text)
            planted.kind.append(kind)
            planted.item.append((benchmark.name, benchmark.ids[index]))
    borderline = [row for row, kind in enumerate(planted.kind) if kind == "borderline"]
    for row in borderline[:GARBLED]:
        planted.kind[row] = "garbled"
    with gzip.open(benchmarks_dir / "corpus" / "math_problems_union.jsonl.gz", "rt") as handle:
        corpus = [json.loads(line) for line in handle if line.strip()]
    math_train = [row["problem"] for row in corpus if row["source"] == "math_train"][:3000]
    items = [text for benchmark in benchmarks for text in benchmark.texts]
    unrelated = [
        t for t, copy in zip(math_train, copies_of(math_train, items), strict=True) if not copy
    ]
    planted.texts += unrelated
    planted.kind += ["unrelated"] * len(unrelated)
    planted.item += [None] * len(unrelated)
    math500 = benchmarks[0]
    for index in range(5):
        renumbered = "".join("7" if ch.isdigit() else ch for ch in math500.texts[index + 5])
        planted.texts += [math500.texts[index], renumbered]
        planted.kind += ["exact", "exact"]
        planted.item += [("math500", math500.ids[index]), ("math500", math500.ids[index + 5])]
    by_name = {benchmark.name: benchmark for benchmark in benchmarks}
    for text, item in zip(planted.texts, planted.item, strict=True):
        if item is not None:
            benchmark = by_name[item[0]]
            planted.same.append((text, benchmark.texts[benchmark.ids.index(item[1])]))
    assert planted.kind.count("borderline") >= 20, "the perturbation seed no longer gives enough"
    assert planted.kind.count("missed") >= 5
    assert planted.kind.count("fuzzy_copy") == 10
    return planted


@pytest.fixture(scope="module")
def judge_server(planted: Planted, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(base URL, log path) of the truth-telling judge server, shared by the module."""
    pytest.importorskip("aiohttp")
    folder = tmp_path_factory.mktemp("judge")
    answers = folder / "answers.json"
    garbled = [t for t, k in zip(planted.texts, planted.kind, strict=True) if k == "garbled"]
    answers.write_text(json.dumps({"same": planted.same, "garbled": garbled}))
    log = folder / "asked.jsonl"
    port = free_port()
    command = [sys.executable, str(HERE / "judge_server.py"), "--port", str(port)]
    command += ["--answers", str(answers), "--log", str(log)]
    server = ServerProcess(command, port, folder / "server.log")
    server.start()
    try:
        yield server.base_url, log
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cli_run(
    planted: Planted,
    benchmark_paths: dict[str, Path],
    judge_server: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """`amfast decontam --judge` on the planted rows: its outputs and the server's log."""
    url, log = judge_server
    log.write_text("")
    folder = tmp_path_factory.mktemp("cli")
    source = folder / "train.jsonl"
    source.write_text("".join(json.dumps({"problem": text}) + "\n" for text in planted.texts))
    argv = ["decontam", str(source), "-o", str(folder / "clean.jsonl"), "--text-field", "problem"]
    for name, path in benchmark_paths.items():
        argv += ["--benchmark", f"{name}={path}"]
    argv += ["--flagged", str(folder / "flagged.jsonl"), "--report", str(folder / "report.json")]
    argv += ["--judged", str(folder / "judged.jsonl"), "--judge", "--judge-model", "judge"]
    assert main([*argv, "--judge-base-url", url]) == 0
    return {
        "flagged": {line["row_id"]: line for line in _read(folder / "flagged.jsonl")},
        "judged": _read(folder / "judged.jsonl"),
        "report": json.loads((folder / "report.json").read_text()),
        "kept": {line["problem"] for line in _read(folder / "clean.jsonl")},
        "asked": _read(log),
    }


def _rows(planted: Planted, *kinds: str) -> list[int]:
    return [row for row, kind in enumerate(planted.kind) if kind in kinds]


def test_borderline_copies_are_flagged_by_the_judge_with_the_match_that_sent_them(
    planted: Planted, cli_run: dict[str, Any]
) -> None:
    flagged = cli_run["flagged"]
    for row in _rows(planted, "borderline"):
        line = flagged.get(row)
        assert line is not None, planted.texts[row]
        assert line["rule"] == "llm_judge"
        assert (line["benchmark"], line["item_id"]) == planted.item[row]
        assert line["judged_rule"] == "content_words"
        assert BAND <= line["judged_score"] < 0.65  # the band under content_threshold
        assert (line["judge_verdict"], line["judge_reply"]) == (True, "True")
        assert planted.texts[row] not in cli_run["kept"]
    judge_flags = {row for row, line in flagged.items() if line["rule"] == "llm_judge"}
    assert judge_flags == set(_rows(planted, "borderline"))
    by_rule = [cli_run["report"][name]["by_rule"]["llm_judge"] for name in BENCHMARK_FILES]
    assert sum(by_rule) == len(judge_flags)


def test_unrelated_and_out_of_band_rows_are_not_flagged_by_the_judge(
    planted: Planted, cli_run: dict[str, Any]
) -> None:
    flagged = cli_run["flagged"]
    unrelated = _rows(planted, "unrelated")
    assert not [row for row in unrelated if flagged.get(row, {}).get("rule", "").startswith("llm")]
    # Some unrelated rows were near misses: the judge was asked, said False, and they stayed.
    refused = [line for line in cli_run["judged"] if line["judge_verdict"] is False]
    refused_rows = {line["row_id"] for line in refused}
    assert len(refused_rows & set(unrelated)) >= 10
    assert all(planted.texts[row] in cli_run["kept"] for row in refused_rows & set(unrelated))
    # Copies far below the cut are never asked about: the tier adds nothing there.
    missed = set(_rows(planted, "missed"))
    assert not missed & {line["row_id"] for line in cli_run["judged"]}
    assert all(planted.texts[row] in cli_run["kept"] for row in missed)


def test_unparsable_replies_are_flagged_under_their_own_rule_and_reported(
    planted: Planted, cli_run: dict[str, Any]
) -> None:
    garbled = _rows(planted, "garbled")
    for row in garbled:
        line = cli_run["flagged"][row]
        assert line["rule"] == "llm_judge_unparsable"
        assert (line["judge_verdict"], line["judge_reply"]) == (None, GARBLED_REPLY)
    unparsable = [line for line in cli_run["judged"] if line["judge_verdict"] is None]
    assert {line["row_id"] for line in unparsable} == set(garbled)
    counts = [cli_run["report"][name]["judge"]["unparsable"] for name in BENCHMARK_FILES]
    assert sum(counts) == GARBLED


def test_every_question_is_asked_once_and_recorded(
    planted: Planted, cli_run: dict[str, Any]
) -> None:
    asked = sorted((line["problem1"], line["problem2"]) for line in cli_run["asked"])
    assert len(asked) == len(set(asked)) == len(cli_run["judged"])
    recorded = {(planted.texts[line["row_id"]], line["benchmark"]) for line in cli_run["judged"]}
    assert {row for row, _ in asked} == {row for row, _ in recorded}
    total = sum(cli_run["report"][name]["judge"]["asked"] for name in BENCHMARK_FILES)
    assert total == len(asked)


def test_the_judge_is_never_asked_about_rows_an_exact_rule_flagged(
    planted: Planted, cli_run: dict[str, Any]
) -> None:
    exact = _rows(planted, "exact")
    rules = {cli_run["flagged"][row]["rule"] for row in exact}
    assert rules <= {"exact_no_digits", "ngram"}
    asked = {line["problem1"] for line in cli_run["asked"]}
    assert not asked & {planted.texts[row] for row in exact}


def test_without_confirm_the_judge_only_adds_flags(
    planted: Planted, cli_run: dict[str, Any]
) -> None:
    asked = {line["problem1"] for line in cli_run["asked"]}
    copies = _rows(planted, "fuzzy_copy")
    assert not asked & {planted.texts[row] for row in copies}
    assert {cli_run["flagged"][row]["rule"] for row in copies} <= {
        "content_words",
        "content_words_no_digits",
    }


def test_confirm_clears_the_fuzzy_flags_the_judge_rejects_and_keeps_exact_ones(
    planted: Planted, benchmarks: list[Benchmark], judge_server: tuple[str, Path]
) -> None:
    url, log = judge_server
    log.write_text("")
    judge = JudgeOptions(judge=True, judge_model="judge", judge_base_url=[url])
    texts = planted.texts
    rules = find_contamination(texts, benchmarks)
    confirmed = find_contamination(
        texts, benchmarks, judge=judge.generate_function(), judge_confirm=True
    )
    fuzzy = [
        row
        for row in np.flatnonzero(rules.flagged).tolist()
        if all(
            (hits.exact_item[row] < 0 and hits.ngram_item[row] < 0) for hits in rules.hits.values()
        )
    ]
    false_flags = [row for row in fuzzy if planted.kind[row] == "unrelated"]
    assert len(false_flags) >= 10  # MATH train problems sharing a MATH-500 item's template
    assert not confirmed.flagged[false_flags].any()
    cleared = sum(confirmed.report[name]["judge"]["cleared"] for name in BENCHMARK_FILES)
    assert cleared >= len(false_flags)
    # Real copies the content rules caught are confirmed: still flagged, by the same rule.
    copies = _rows(planted, "fuzzy_copy")
    assert set(copies) <= set(fuzzy)
    assert [confirmed.rule[row] for row in copies] == [rules.rule[row] for row in copies]
    exact = _rows(planted, "exact")
    assert confirmed.flagged[exact].all()
    asked = {line["problem1"] for line in _read(log)}
    assert not asked & {texts[row] for row in exact}
    assert {texts[row] for row in fuzzy} <= asked


def _clean_input(
    planted: Planted, rows: list[int], benchmark_paths: dict[str, Path], url: str, folder: Path
) -> tuple[Path, dict[str, Any]]:
    """A clean input of these planted rows (ids `r<row>`), a `[decontam]` table with the judge."""
    source = folder / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"r{row}", "problem": planted.texts[row]}) + "\n" for row in rows)
    )
    table = {"benchmarks": [str(path) for path in benchmark_paths.values()]}
    table |= {"judge": True, "judge_model": "judge", "judge_base_url": [url]}
    return source, table


def test_clean_funnel_counts_judge_flags_by_rule_and_benchmark(
    planted: Planted, benchmark_paths: dict[str, Path], judge_server: tuple[str, Path], tmp_path
) -> None:
    url, _ = judge_server
    rows = _rows(planted, "borderline") + _rows(planted, "unrelated")[:300]
    source, table = _clean_input(planted, rows, benchmark_paths, url, tmp_path)
    config = CleanConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        text_field="problem",
        stages=["normalize", "decontam"],
        plugin_options={"decontam": table},
        progress=False,
    )
    summary = clean(config)
    ledger = read_ledger(summary.ledger).to_pylist()
    judged = [drop for drop in ledger if drop["reason"].startswith("llm_judge:")]
    expected = {f"r{row}" for row in _rows(planted, "borderline")}
    assert {drop["row_id"] for drop in judged} == expected
    assert all("judged content_words" in drop["detail"] for drop in judged)
    assert all(BAND <= drop["score"] < 0.65 for drop in judged)
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    reasons = next(s for s in funnel["stages"] if s["stage"] == "decontam")["reasons"]
    judge_reasons = {key: n for key, n in reasons.items() if key.startswith("llm_judge:")}
    assert sum(judge_reasons.values()) == len(expected)
    assert set(judge_reasons) <= {f"llm_judge:{name}" for name in BENCHMARK_FILES}


def test_a_tiny_random_model_judges_every_borderline_row_through_transformers(
    planted: Planted, benchmark_paths: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from tiny_models import build_tiny_teacher

    model = build_tiny_teacher(tmp_path / "judge")
    borderline = _rows(planted, "borderline")[:3]
    rows = borderline + _rows(planted, "exact")[:2]
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps({"problem": planted.texts[r]}) + "\n" for r in rows))
    judged_path, flagged_path = tmp_path / "judged.jsonl", tmp_path / "flagged.jsonl"
    argv = ["decontam", str(source), "-o", str(tmp_path / "clean.jsonl"), "--text-field"]
    argv += ["problem"]
    for name, path in benchmark_paths.items():
        argv += ["--benchmark", f"{name}={path}"]
    argv += ["--flagged", str(flagged_path), "--judged", str(judged_path), "--judge"]
    argv += ["--judge-model", str(model), "--judge-backend", "transformers"]
    assert main([*argv, "--judge-max-tokens", "4"]) == 0
    judged = _read(judged_path)
    # Its verdicts are noise; what counts is that each borderline row got a recorded reply.
    assert {line["row_id"] for line in judged} == set(range(len(borderline)))
    assert all(isinstance(line["judge_reply"], str) for line in judged)
    own = [line for line in judged if (line["benchmark"], line["item_id"]) in planted.item]
    assert len(own) == len(borderline)  # each asked about its own item at least
    flagged = {line["row_id"]: line for line in _read(flagged_path)}
    for row in range(len(borderline)):
        verdicts = {line["judge_verdict"] for line in judged if line["row_id"] == row}
        rule = flagged.get(row, {}).get("rule")
        if verdicts == {False}:
            assert rule is None
        elif verdicts == {None}:
            assert rule == "llm_judge_unparsable"
        else:
            assert rule in ("llm_judge", "llm_judge_unparsable")
    assert {flagged[row]["rule"] for row in range(len(borderline), len(rows))} <= {
        "exact_no_digits",
        "ngram",
    }


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("True", True),
        ("false", False),
        (' "True". ', True),
        ("<think>The second renames Tom to Ann; same question.</think>\n\nTrue", True),
        ("**False**", False),
        ("", None),
        ("True or False", None),
        ("The answer is True", None),
        ("Yes", None),
        ("<think>Tom buys 3 apples", None),  # reasoning cut off: no answer
    ],
)
def test_replies_are_read_strictly(reply: str, verdict: bool | None) -> None:
    assert parse_same_problem(reply) is verdict


def test_a_judge_with_nothing_to_ask_about_is_an_input_error(benchmarks: list[Benchmark]) -> None:
    with pytest.raises(InputError, match="nothing to ask"):
        find_contamination(["x"], benchmarks, judge=lambda prompts: [], content=False)


def test_a_backend_that_drops_replies_is_an_input_error(planted: Planted, benchmarks) -> None:
    rows = [planted.texts[row] for row in _rows(planted, "borderline")[:2]]
    with pytest.raises(InputError, match="returned 0 replies for"):
        find_contamination(rows, benchmarks, judge=lambda prompts: [])


class _TableEmbedder:
    """Fixed vectors per text: the embedding rule's plumbing without a model."""

    name = "table"

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed(self, texts: Any) -> Any:
        rows = np.array([self.vectors[text] for text in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_embedding_near_misses_go_to_the_judge_and_confirm_asks_about_embedding_flags() -> None:
    items = ["Alpha item about circles.", "Beta item about primes.", "Gamma item about dice."]
    rows = ["row close to alpha", "row near beta", "row far from gamma"]
    vectors = {text: [float(i == k) for k in range(3)] + [0.0] for i, text in enumerate(items)}
    for row, (item, cosine) in enumerate(zip(items, (0.95, 0.85, 0.5), strict=True)):
        vector = np.array(vectors[item]) * cosine
        vector[3] = np.sqrt(1 - cosine**2)  # unit length, `cosine` from its item
        vectors[rows[row]] = vector.tolist()
    bench = Benchmark("toy", items, ["a", "b", "c"])
    asked: list[str] = []

    def judge(prompts: list[str]) -> list[str]:
        asked.extend(prompts)
        return ["True" for _ in prompts]

    settings = {"embedding_threshold": 0.9, "judge_embedding_threshold": 0.8, "content": False}
    found = find_contamination(
        rows, [bench], embedder=_TableEmbedder(vectors), judge=judge, **settings
    )
    assert found.rule == ["embedding", "llm_judge", None]
    assert found.item == ["a", "b", None]
    [judgement] = found.judgements
    assert (judgement.row, judgement.rule, judgement.flagged) == (1, "embedding", False)
    assert judgement.score == pytest.approx(0.85, abs=1e-3)
    [prompt] = asked
    assert "row near beta" in prompt
    assert items[1] in prompt
    # Confirmation asks about the embedding flag too; a False there clears it.
    confirmed = find_contamination(
        rows,
        [bench],
        embedder=_TableEmbedder(vectors),
        judge=lambda prompts: ["False" for _ in prompts],
        judge_confirm=True,
        **settings,
    )
    assert confirmed.flagged.tolist() == [False, False, False]
    assert [(j.row, j.flagged) for j in confirmed.judgements] == [(0, True), (1, False)]
    assert confirmed.report["toy"]["judge"]["cleared"] == 1


def test_an_embedding_band_without_the_embedding_rule_is_a_setting_error() -> None:
    with pytest.raises(ValueError, match="judge_embedding_threshold"):
        find_contamination(["x"], [BENCH_TOY], judge_embedding_threshold=0.8)
    with pytest.raises(ValueError, match="judge_embedding_threshold"):
        find_contamination(
            ["x"], [BENCH_TOY], embedding_threshold=0.8, judge_embedding_threshold=0.85
        )


def test_clean_reads_the_judge_from_the_decontam_table(
    tmp_path: Path, benchmark_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"problem": "What is 1 + 1?"}) + "\n")
    config = tmp_path / "clean.toml"
    math500 = benchmark_paths["math500"]
    config.write_text(
        f'stages = ["normalize", "decontam"]\n[decontam]\nbenchmarks = ["{math500}"]\n'
        "judge = true\njudge_content_threshold = 0.55\n"
    )
    argv = ["clean", str(source), "-o", str(tmp_path / "out"), "--text-field", "problem"]
    assert main([*argv, "--no-progress", "--config", str(config)]) == 2
    assert "--decontam-judge-model (key 'decontam_judge_model')" in capsys.readouterr().err
    stages = CleanConfig(
        input=str(source),
        output=str(tmp_path / "out"),
        stages=["decontam"],
        benchmarks=[str(benchmark_paths["math500"])],
        decontam_llm_judge=JudgeOptions(judge=True, judge_model="m"),
        progress=False,
    ).build_stages()
    params = stages[0].params()
    assert (params["judge"], params["judge_model"], params["judge_confirm"]) == (True, "m", False)


def test_clean_stage_settings_of_the_judge_are_checked(benchmark_paths: dict[str, Path]) -> None:
    from amfast.decontam import clean_stage

    table = {"benchmarks": [str(benchmark_paths["math500"])]}
    with pytest.raises(InputError, match="judge_confirm is true but the judge is off"):
        clean_stage(table | {"judge_confirm": True})
    with pytest.raises(InputError, match="judge_model"):
        clean_stage(table | {"judge": True})
    with pytest.raises(InputError, match="unknown keys \\['judge_modle'\\]"):
        clean_stage(table | {"judge": True, "judge_modle": "m"})
    stage = clean_stage(table | {"judge": True, "judge_model": "m", "judge_max_tokens": 64})
    assert stage.judge is not None
    assert (stage.judge["judge_model"], stage.judge["judge_max_tokens"]) == ("m", 64)
    assert clean_stage(table).judge is None


def test_without_the_judge_its_bands_leave_the_stage_fingerprint_alone(benchmarks_dir):
    # A run made before the judge existed (or with it off) resumes its decontam marker.
    from amfast.decontam import clean_stage

    benchmark = str(benchmarks_dir / "eval" / "math500.jsonl")
    off = clean_stage({"benchmarks": [benchmark], "judge_content_threshold": 0.4}).params()
    assert not [key for key in off if key.startswith("judge")]
    on = clean_stage(
        {"benchmarks": [benchmark], "judge": True, "judge_model": "m", "judge_base_url": ["x"]}
    ).params()
    assert on["judge_content_threshold"] == 0.5


def test_a_judge_that_cannot_be_reached_is_recorded_as_a_failed_request(
    planted: Planted, benchmarks
) -> None:
    from amfast.distill.settings import DistillConfig
    from amfast.generate.judge import REQUEST_FAILED, backend_generate

    nobody = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    config = DistillConfig(
        input="-", output="-", model="judge", base_url=[nobody], max_tokens=8, max_retries=0
    )
    rows = [planted.texts[row] for row in _rows(planted, "borderline")[:2]]
    found = find_contamination(rows, benchmarks, judge=backend_generate(config))
    assert found.judgements, "the borderline rows were put to the judge"
    for judgement in found.judgements:
        assert judgement.reply.startswith(REQUEST_FAILED), judgement.reply
        assert judgement.verdict is None
    assert set(found.rule) == {"llm_judge_unparsable"}


@pytest.mark.slow
def test_the_ray_engine_asks_the_judge_from_its_blocks_and_drops_what_the_local_engine_drops(
    planted: Planted, benchmark_paths: dict[str, Path], judge_server: tuple[str, Path], tmp_path
) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    url, _ = judge_server
    rows = _rows(planted, "borderline") + _rows(planted, "unrelated")[:60]
    source, table = _clean_input(planted, rows, benchmark_paths, url, tmp_path)
    ledgers = {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for engine in ("local", "ray"):
            config = CleanConfig(
                input=str(source),
                output=str(tmp_path / engine),
                text_field="problem",
                stages=["normalize", "decontam"],
                plugin_options={"decontam": table},
                shard_rows=16,  # several blocks, each asking the judge about its own rows
                engine=engine,
                progress=False,
            )
            ledgers[engine] = read_ledger(clean(config).ledger)
    finally:
        ray.shutdown()
    judged = [d for d in ledgers["ray"].to_pylist() if d["reason"].startswith("llm_judge:")]
    assert {drop["row_id"] for drop in judged} == {
        f"r{row}" for row in _rows(planted, "borderline")
    }
    assert ledgers["ray"].equals(ledgers["local"])
