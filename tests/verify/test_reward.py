"""Reward-model scoring with a tiny random-weight Llama classifier built in the test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from amfast.errors import InputError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from amfast.verify.reward import RewardModel  # noqa: E402
from tiny_models import build_tiny_classifier  # noqa: E402


@pytest.fixture(scope="module")
def tiny_reward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("reward"), num_labels=1)


PROMPTS = ["write a poem of the sea", "what is the sum of two and three", "write the moon"]
ANSWERS = ["the sea is a sea", "five", "the moon is the moon and the sea"]


def test_batched_scores_equal_one_at_a_time_scores(tiny_reward_model: Path) -> None:
    batched = RewardModel(tiny_reward_model, batch_size=3).score(PROMPTS, ANSWERS)
    single = RewardModel(tiny_reward_model, batch_size=1).score(PROMPTS, ANSWERS)
    assert len(batched) == 3
    assert batched == pytest.approx(single, abs=1e-4)
    assert len(set(batched)) == 3  # random weights still tell the texts apart


def test_score_is_the_models_logit_for_the_pair(tiny_reward_model: Path) -> None:
    scorer = RewardModel(tiny_reward_model)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_reward_model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_reward_model)
    encoded = tokenizer(f"{PROMPTS[1]}\n\n{ANSWERS[1]}", return_tensors="pt")
    with torch.inference_mode():
        expected = float(model(**encoded).logits[0, 0])
    assert scorer.score(PROMPTS[1:2], ANSWERS[1:2])[0] == pytest.approx(expected, abs=1e-5)


def test_verdicts_pass_at_the_threshold_and_grade_only_the_answer_part(
    tiny_reward_model: Path,
) -> None:
    scores = RewardModel(tiny_reward_model).score(PROMPTS, ANSWERS)
    middle = sorted(scores)[1]
    scorer = RewardModel(tiny_reward_model, threshold=middle)
    responses = [f"<think>lots of thinking</think>\n<answer>{a}</answer>" for a in ANSWERS]
    verdicts = scorer.verify_batch(PROMPTS, responses)
    assert [v.passed for v in verdicts] == [s >= middle for s in scores]
    assert [v.score for v in verdicts] == pytest.approx(scores, abs=1e-5)
    assert {v.reason for v in verdicts} == {"correct", "wrong"}


def test_truncated_and_empty_answers_fail_without_scoring(tiny_reward_model: Path) -> None:
    scorer = RewardModel(tiny_reward_model, threshold=-math.inf)
    verdicts = scorer.verify_batch(
        PROMPTS,
        ["<think>still going", "<think>done</think>", "<think>x</think><answer>five</answer>"],
        finish_reasons=[None, None, "length"],
    )
    assert [v.reason for v in verdicts] == ["truncated", "no_answer", "truncated"]
    assert not any(v.passed for v in verdicts)


def test_two_label_head_scores_the_probability_of_the_good_label(tmp_path: Path) -> None:
    scorer = RewardModel(build_tiny_classifier(tmp_path, num_labels=2), threshold=0.5)
    scores = scorer.score(PROMPTS, ANSWERS)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_missing_or_wrong_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no config\.json"):
        RewardModel(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    with pytest.raises(InputError, match="cannot load"):
        RewardModel(tmp_path)
