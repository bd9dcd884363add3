"""Reward-model scoring for answers without a reference (chat, writing).

A local `transformers` sequence-classification model, given by path (the paper used a
Llama-3.1-8B reward model), scores the (prompt, answer part) pair. A one-label head's logit is
the score; a multi-label head's score is the probability of its last label ("good"). The
verdict passes when the score reaches the threshold. torch and transformers are imported when a
model is loaded, so `amfast.verify` works without them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from amfast.errors import InputError
from amfast.verify.answer import split_response
from amfast.verify.verdict import Verdict

if TYPE_CHECKING:
    import torch


def _import_torch_stack() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as error:
        raise InputError(
            "reward-model scoring needs torch and transformers: pip install 'amfast[reward]'"
        ) from error
    return torch, transformers


class RewardModel:
    """A local sequence-classification reward model.

    Args:
        path: a directory saved by `save_pretrained` (config, weights, tokenizer).
        device: "cuda", "cpu", ...; default: CUDA when available.
        batch_size: pairs scored per forward pass (sorted by length to limit padding).
        max_length: tokens per pair; longer pairs lose the start of the prompt, never the answer.
        threshold: the score an answer needs to pass.

    Raises:
        InputError: the path is missing or is not a sequence-classification model.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        device: str | None = None,
        batch_size: int = 8,
        max_length: int = 4096,
        threshold: float = 0.0,
    ) -> None:
        torch, transformers = _import_torch_stack()
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise InputError(f"{self.path}: not a model directory (no config.json)")
        if batch_size < 1 or max_length < 2:
            raise InputError("batch_size must be >= 1 and max_length >= 2")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.max_length = max_length
        self.threshold = threshold
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
                self.path, dtype=dtype
            )
        except (OSError, ValueError, KeyError) as error:
            raise InputError(
                f"{self.path}: cannot load a sequence-classification model: {error}"
            ) from error
        self.model.to(self.device).eval()
        # Keep the answer when a pair is too long: the answer is what is being judged.
        self.tokenizer.truncation_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

    def _pair_text(self, prompt: str, answer: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": answer},
            ]
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False))
        return f"{prompt}\n\n{answer}"

    def _scores_of(self, logits: torch.Tensor) -> list[float]:
        if logits.shape[-1] == 1:
            return [float(value) for value in logits[:, 0].float().cpu()]
        probabilities = logits.float().softmax(dim=-1)[:, -1]
        return [float(value) for value in probabilities.cpu()]

    def score(
        self, prompts: Sequence[str], answers: Sequence[str], *, progress: bool = False
    ) -> list[float]:
        """Scores each (prompt, answer) pair; the order of the inputs is kept.

        Raises:
            InputError: the two sequences differ in length.
        """
        if len(prompts) != len(answers):
            raise InputError(f"{len(prompts)} prompts but {len(answers)} answers")
        torch, _ = _import_torch_stack()
        texts = [self._pair_text(p, a) for p, a in zip(prompts, answers, strict=True)]
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        scores = [0.0] * len(texts)
        batches = range(0, len(order), self.batch_size)
        for start in tqdm(batches, desc="reward model", unit="batch", disable=not progress):
            rows = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [texts[row] for row in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**encoded).logits
            for row, value in zip(rows, self._scores_of(logits), strict=True):
                scores[row] = value
        return scores

    def verify_batch(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        *,
        finish_reasons: Sequence[str | None] | None = None,
        progress: bool = False,
    ) -> list[Verdict]:
        """Scores the answer part of each response; passes at `score >= threshold`.

        Truncated responses fail (`truncated`) and empty answers fail (`no_answer`) without
        being scored.
        """
        if len(prompts) != len(responses):
            raise InputError(f"{len(prompts)} prompts but {len(responses)} responses")
        reasons = finish_reasons if finish_reasons is not None else [None] * len(responses)
        verdicts: list[Verdict | None] = []
        to_score: list[int] = []
        answers: list[str] = []
        for index, (response, finish) in enumerate(zip(responses, reasons, strict=True)):
            parts = split_response(response, finish)
            if parts.truncated:
                verdicts.append(Verdict.failed("truncated"))
            elif not parts.answer:
                verdicts.append(Verdict.failed("no_answer"))
            else:
                verdicts.append(None)
                to_score.append(index)
                answers.append(parts.answer)
        scores = self.score([prompts[i] for i in to_score], answers, progress=progress)
        for index, value in zip(to_score, scores, strict=True):
            detail = f"score {value:.4f}, threshold {self.threshold:g}"
            verdicts[index] = (
                Verdict.correct(None, score=value, detail=detail)
                if value >= self.threshold
                else Verdict.failed("wrong", score=value, detail=detail)
            )
        return [verdict for verdict in verdicts if verdict is not None]
