"""`amfast run recipe.toml`: the AM recipe from one file, stages wired by a run folder.

A recipe names its sources (`[[source]]` tables) and one table per stage, each holding that
stage's own config keys (`[clean]` takes `CleanConfig`'s, `[distill]` `DistillConfig`'s, ...);
the recipe fills in every input and output path, so no path is written twice. Stages, in order:

1. `sources`: every source's rows mapped onto the flat row schema (`id`, `source`, `prompt`,
   `reference_answer`, `test_case`, and `candidate_response` / `response_source` for a response
   that came with the row) in one corpus with stable ids (`<source name>/<row>` unless the
   source names an id field);
2. `clean`: normalize, dedup, decontaminate and filter the prompts (`amfast clean`);
   `label` (category, difficulty, language, length) and `select` (reproducible downsampling
   per label) follow when the recipe has their tables;
3. `verify_existing`: rows that arrived with a response are verified first; the prompts whose
   response passed are done, the rest go to distill;
4. `distill`: responses from the teacher for the remaining prompts (`amfast distill`);
5. `verify`: every distilled response graded (`amfast verify`);
6. `collect`: the passing responses of both, as AM-schema conversations, each tagged with its
   `response_kind` (`existing` or `distilled`);
7. `filter_responses`: the rule filters on those final responses (`<think>`/`<answer>` form on
   distilled ones, repeated n-grams, optionally language mix, length and a reward-model cut at
   a quantile of the scores), with a ledger of what each rule dropped
   (`amfast.response_filters`); its `train.jsonl` is the training set;
8. `export`: the release (`am_*.jsonl.zst`, Parquet, a `datasets` folder) and its dataset card;
9. `train`: SFT on the training set (`amfast train`);
10. `eval`: the trained model on the eval tasks (`amfast eval`).

At the end `RUN/report.html` shows every stage on one offline page (`amfast.report`).

Each stage writes `RUN/NN-<stage>/` (numbered in the recipe's order) and, when it finishes,
`recipe-stage.json` there with the fingerprint of its settings and of everything upstream. A
rerun reuses a finished stage whose fingerprint still matches, resumes an unfinished one (the
stages are resumable themselves), and reruns a stage whose settings changed together with every
stage after it.
"""

from amfast.recipe.config import OPTIONAL_STAGES, STAGES, Recipe, Source, read_recipe
from amfast.recipe.runner import StageOutcome, print_outcome, run_recipe
from amfast.recipe.stages import STAGE_RUNNERS, am_conversation, last_boxed_content

__all__ = [
    "OPTIONAL_STAGES",
    "STAGES",
    "STAGE_RUNNERS",
    "Recipe",
    "Source",
    "StageOutcome",
    "am_conversation",
    "last_boxed_content",
    "print_outcome",
    "read_recipe",
    "run_recipe",
]
