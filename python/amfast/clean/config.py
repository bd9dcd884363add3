"""`CleanConfig`: every setting of `amfast clean`; field = TOML key = CLI flag.

A TOML file holds the settings at its top level or in a `[clean]` table. Normalization and
MinHash settings are options objects declared once (`NormalizeOptions`, `MinHashOptions`), so
their flags and keys are the same as `amfast dedup`'s. Decontamination reads the `[decontam]`
table that `amfast decontam` reads too (`benchmarks`, the rule settings, the embedding model
and the LLM judge's; that command's input/output keys are not clean's), or the flags
`--benchmark` and `--decontam-<setting>` (`--decontam-model`, `--decontam-judge-model`).
`[semantic_dedup]` is handed to its module as it is.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from amfast.config import check_values, positive, read_toml, require, settings_of, stage_table
from amfast.decontam import DecontamConfig, DecontamOptions
from amfast.dedup.near import MinHashOptions
from amfast.dedup.stages import ExactDedupStage, NearDedupStage, NormalizeStage
from amfast.embed import EmbeddingModel
from amfast.errors import InputError
from amfast.filters import FILTER_NAMES, FilterOptions, FilterStage
from amfast.generate.judge import JudgeOptions
from amfast.normalize import NormalizeOptions
from amfast.schema import FieldMap
from amfast.stage import PLUGINS, Stage, plugin_stage

STAGE_NAMES = ("normalize", "exact_dedup", "near_dedup", "semantic_dedup", "decontam", "filters")
DEFAULT_STAGES = ["normalize", "exact_dedup", "near_dedup", "filters"]
DEFAULT_FILTERS = list(FILTER_NAMES)


def _help(text: str, **more: Any) -> Any:  # noqa: ANN401 - dataclass field
    return {"help": text, **more}


@dataclass
class CleanConfig:
    """Settings of `amfast clean` (see README "amfast clean" for a commented example)."""

    input: str = field(
        metadata=_help("file or folder: JSONL(.gz/.zst), Parquet, Arrow, HF save", positional=True)
    )
    output: str = field(metadata=_help("output folder (shards, manifest, funnel)", aliases=("-o",)))
    dropped: str | None = field(
        default=None,
        metadata=_help("rejection ledger, .parquet or .jsonl (default OUTPUT/dropped.parquet)"),
    )
    text_field: str | None = field(
        default=None, metadata=_help("query field (default: AM messages, else problem/prompt..)")
    )
    response_field: str | None = field(default=None, metadata=_help("response field"))
    source_field: str | None = field(default=None, metadata=_help("source field"))
    id_field: str | None = field(default=None, metadata=_help("row id field (default: id)"))
    reference_field: str | None = field(default=None, metadata=_help("reference answer field"))
    test_case_field: str | None = field(default=None, metadata=_help("test case field"))
    dedup_on: Literal["prompt", "prompt_response"] = field(
        default="prompt",
        metadata=_help(
            "text the stages compare: the prompt, or prompt + response (to filter samples: "
            "several samples of one prompt are not duplicates)"
        ),
    )
    stages: list[str] = field(
        default_factory=lambda: list(DEFAULT_STAGES),
        metadata=_help(
            "stages in order, from normalize, exact_dedup, near_dedup, semantic_dedup, "
            "decontam, filters"
        ),
    )
    filters: list[str] = field(
        default_factory=lambda: list(DEFAULT_FILTERS), metadata=_help("quality filters in order")
    )
    priority: list[str] = field(
        default_factory=lambda: ["has_reference", "has_test_case", "source_rank"],
        metadata=_help(
            "which duplicate to keep: has_reference, has_test_case, source_rank, longer, "
            "shorter; the earliest row breaks ties"
        ),
    )
    source_rank: list[str] = field(
        default_factory=list, metadata=_help("sources by preference, best first")
    )
    engine: Literal["local", "ray"] = field(
        default="local", metadata=_help("execution engine: local, or ray (Ray Data, a cluster)")
    )
    ray_address: str | None = field(
        default=None,
        metadata=_help("Ray cluster for engine ray, e.g. auto (default: start a local Ray)"),
    )
    output_format: Literal["jsonl", "parquet"] = field(
        default="jsonl", metadata=_help("format of the kept shards")
    )
    shard_rows: int = field(default=100_000, metadata=_help("input rows per shard"))
    batch_rows: int = field(default=65_536, metadata=_help("rows per Rust call"))
    num_threads: int | None = field(
        default=None, metadata=_help("threads (default: all; engine ray: 1 per Ray task)")
    )
    work_dir: str | None = field(
        default=None, metadata=_help("resume state (default OUTPUT/_work)")
    )
    restart: bool = field(default=False, metadata=_help("discard an earlier run's state"))
    progress: bool = field(default=True, metadata=_help("progress bars on stderr"))
    # shared by normalize / exact_dedup / near_dedup
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    # near_dedup
    minhash: MinHashOptions = field(default_factory=MinHashOptions)
    # decontam: the benchmarks and the rules' settings (flags --decontam-ngram ...)
    benchmarks: list[str] = field(
        default_factory=list,
        metadata=_help(
            "decontam stage: benchmark files (also `benchmarks` of [decontam])",
            aliases=("--benchmark",),
            split=False,
        ),
    )
    decontam: DecontamOptions = field(
        default_factory=DecontamOptions, metadata={"prefix": "decontam_"}
    )
    # decontam's embedding model (flags --decontam-model, --decontam-embedding-backend)
    decontam_embedding_model: EmbeddingModel = field(
        default_factory=EmbeddingModel, metadata={"prefix": "decontam_"}
    )
    # decontam's LLM judge (flags --decontam-judge, --decontam-judge-model ...)
    decontam_llm_judge: JudgeOptions = field(
        default_factory=JudgeOptions, metadata={"prefix": "decontam_"}
    )
    # filters: the same names as `FilterOptions`, whose defaults they take
    min_words: int = FilterOptions.min_words
    max_words: int = FilterOptions.max_words
    min_tokens: int = FilterOptions.min_tokens
    max_tokens: int = FilterOptions.max_tokens
    repeat_max_period: int = FilterOptions.repeat_max_period
    repeat_min_repeats: int = FilterOptions.repeat_min_repeats
    repeat_min_span: int = FilterOptions.repeat_min_span
    frequent_ngram: int = FilterOptions.frequent_ngram
    frequent_min_count: int = FilterOptions.frequent_min_count
    languages: list[str] = field(default_factory=lambda: list(FilterOptions.languages))
    max_mixed_fraction: float = FilterOptions.max_mixed_fraction
    max_unusual_fraction: float = FilterOptions.max_unusual_fraction
    # tables of plug-in stages, from the TOML file only
    plugin_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, known in (("stages", STAGE_NAMES), ("filters", FILTER_NAMES)):
            unknown = [item for item in getattr(self, name) if item not in known]
            require(not unknown, name, unknown, "names from " + ", ".join(known))
        positive("shard_rows", self.shard_rows)
        positive("batch_rows", self.batch_rows)
        positive("num_threads", self.num_threads, optional=True)
        require(
            "decontam" not in self.stages
            or bool(self.benchmarks)
            or "decontam" in self.plugin_options,
            "benchmarks",
            self.benchmarks,
            "at least one benchmark file when the decontam stage runs",
        )
        for path in self.benchmarks:
            require(Path(path).is_file(), "benchmarks", path, "an existing file")
        confirm = self.decontam.judge_confirm
        require(
            not confirm or self.decontam_llm_judge.judge,
            "decontam_judge_confirm",
            confirm,
            "false unless --decontam-judge is on",
        )

    @property
    def normalize_options(self) -> NormalizeOptions:
        """The normalization settings."""
        return self.normalize

    @property
    def filter_options(self) -> FilterOptions:
        """The filter thresholds (every `FilterOptions` field from the key of the same name)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(FilterOptions)}
        return FilterOptions(**values | {"languages": tuple(self.languages)})

    @property
    def fields(self) -> FieldMap:
        """The field mapping of input rows."""
        return FieldMap(
            prompt=self.text_field,
            response=self.response_field,
            source=self.source_field,
            id=self.id_field,
            reference=self.reference_field,
            test_case=self.test_case_field,
        )

    @property
    def dropped_path(self) -> Path:
        """Where the ledger goes."""
        return Path(self.dropped) if self.dropped else Path(self.output) / "dropped.parquet"

    @property
    def work_path(self) -> Path:
        """Where resume state goes."""
        return Path(self.work_dir) if self.work_dir else Path(self.output) / "_work"

    def progress_bar(self, label: str, total: int | None = None, unit: str = " rows") -> tqdm[Any]:
        """A progress bar on stderr for one step (silent when `progress` is off)."""
        return tqdm(
            desc=f"{label:<16}",
            total=total,
            unit=unit,
            unit_scale=True,
            disable=None if self.progress else True,
            file=sys.stderr,
            leave=False,
        )

    def build_stages(self) -> list[Stage]:
        """The configured stages, in order.

        `semantic_dedup` and `decontam` come from their modules, imported only when listed;
        listed while absent, they are an error naming the missing module.

        Raises:
            InputError: An enabled stage is not available.
        """
        normalize = self.normalize_options
        stages: list[Stage] = []
        for name in self.stages:
            if name == "normalize":
                stages.append(NormalizeStage(normalize))
            elif name == "exact_dedup":
                stages.append(ExactDedupStage(normalize))
            elif name == "near_dedup":
                stages.append(NearDedupStage(normalize, self.minhash))
            elif name == "decontam" and name not in self.plugin_options:
                table = {
                    "benchmarks": list(self.benchmarks),
                    **self.decontam.as_kwargs(),
                    **dataclasses.asdict(self.decontam_llm_judge),
                    **dataclasses.asdict(self.decontam_embedding_model),
                }
                stages.append(plugin_stage(name, table))
            elif name in PLUGINS:
                stages.append(plugin_stage(name, self.plugin_options.get(name, {})))
            else:
                options = self.filter_options
                stages.extend(FilterStage(filter_name, options) for filter_name in self.filters)
        return stages


def read_clean_toml(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`(settings, plug-in tables)` of a clean TOML file, settings checked against the fields.

    `[decontam]` becomes settings (`benchmarks`, `decontam_<rule setting>`); the keys only
    `amfast decontam` uses (its input, output, fields and reports) are left to it.

    Raises:
        InputError: Unreadable TOML, an unknown key or a value of the wrong type.
    """
    path = Path(path)
    document = read_toml(path)
    plugins = {name: document[name] for name in PLUGINS if name in document and name != "decontam"}
    for name, table in plugins.items():
        if not isinstance(table, Mapping):
            raise InputError(f"{path}: [{name}] must be a table")
    table = dict(stage_table(document, "clean", str(path)))
    table.pop("plugin_options", None)
    # `[clean.decontam]` (as in recipes) or the `[decontam]` table `amfast decontam` reads.
    decontam = table.pop("decontam", None)
    if decontam is None and "decontam" in document:
        decontam = stage_table(document, "decontam", str(path))
    if decontam is not None and not isinstance(decontam, Mapping):
        raise InputError(f"{path}: [decontam] must be a table")
    values = check_values(CleanConfig, table, str(path))
    if decontam:
        rules = {key: value for key, value in decontam.items() if key in _DECONTAM_RULES}
        judge = {key: value for key, value in decontam.items() if key in _DECONTAM_JUDGE}
        model = {key: value for key, value in decontam.items() if key in _DECONTAM_MODEL}
        only_decontam = set(decontam) - set(rules) - set(judge) - set(model) - {"benchmarks"}
        unknown = sorted(key for key in only_decontam if key.replace("-", "_") not in _DECONTAM)
        if unknown:
            raise InputError(
                f"{path} [decontam]: unknown keys {unknown} (known: {sorted(_DECONTAM)})"
            )
        inner = check_values(DecontamOptions, rules, f"{path} [decontam]")
        values |= {f"decontam_{name}": value for name, value in inner.items()}
        for options, table in ((JudgeOptions, judge), (EmbeddingModel, model)):
            inner = check_values(options, table, f"{path} [decontam]")
            values |= {f"decontam_{name}": value for name, value in inner.items()}
        if "benchmarks" in decontam and "benchmarks" not in values:
            values |= check_values(
                CleanConfig, {"benchmarks": decontam["benchmarks"]}, f"{path} [decontam]"
            )
    return values, plugins


_DECONTAM_RULES = frozenset(settings_of(DecontamOptions))
_DECONTAM_JUDGE = frozenset(settings_of(JudgeOptions))
_DECONTAM_MODEL = frozenset(settings_of(EmbeddingModel))
_DECONTAM = frozenset(settings_of(DecontamConfig))
