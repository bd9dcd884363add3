"""`run_distill`: the resumable job that turns prompts into AM-schema samples.

Every (prompt id, sample index) is a key (`<prompt id>:<i>`); each key ends as one sample row
or one outcome (`truncated`, `rejected`; `failed` ones are tried again by the next run). Keys
that a finished run settled are skipped, so rerunning the same command after a kill, a crash or
a partial failure finishes the job without duplicating a sample (see `amfast.distill.store`).

Per key, in this run:

- The first generation uses a seed derived from (seed, key, attempt); every regeneration gets a
  new one, so reruns ask exactly what the first run asked.
- A reply cut at the budget (`finish_reason == "length"`) follows `truncation`: keep it, drop
  the key, resample with a new seed, or extend the budget (doubling, up to
  `max_tokens_limit`), for at most `truncation_retries` extra tries; then it is dropped.
- With `verify`, each sample goes through `amfast.verify`; a failing one is regenerated until
  `k` samples of its prompt pass or the key has had `max_attempts` generations (then it is
  `rejected`). Samples that cannot be graded (no reference answer) are kept unverified.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from amfast.distill.inputs import read_prompts
from amfast.distill.prompting import PromptSpec, SampleFacts, am_sample, messages_for
from amfast.distill.settings import DistillConfig
from amfast.distill.store import SampleStore, sample_key, shard_tag
from amfast.distill.summary import DistillSummary, check_integrity
from amfast.errors import InputError
from amfast.generate import create_backend
from amfast.generate.backend import Backend, GenerationRequest, GenerationResult
from amfast.outputs import AtomicWriter

_VERIFY_BATCH = 64


def sample_seed(base_seed: int, key: str, attempt: int) -> int:
    """A stable 31-bit seed per (base seed, key, attempt).

    Example:
        >>> sample_seed(0, "p:0", 1) == sample_seed(0, "p:0", 1) != sample_seed(0, "p:0", 2)
        True
    """
    digest = hashlib.sha256(f"{base_seed}:{key}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFF_FFFF


def in_shard(prompt_id: str, index: int, count: int) -> bool:
    """Whether a prompt belongs to shard `index` of `count` (by a hash of its id, not its row)."""
    digest = hashlib.sha256(prompt_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % count == index


@dataclass
class _KeyState:
    """One key's progress in this run."""

    spec: PromptSpec
    sample_index: int
    attempts: int  # generations so far, counting earlier runs' failed ones
    truncations: int = 0
    max_tokens: int = 0


class _Job:
    """The scheduling loop of one run (see the module docstring)."""

    def __init__(
        self,
        config: DistillConfig,
        backend: Backend,
        store: SampleStore,
        specs: list[PromptSpec],
        summary: DistillSummary,
    ) -> None:
        self.config = config
        self.backend = backend
        self.store = store
        self.summary = summary
        self.prompt_options = config.prompt_options
        self.retries: collections.deque[GenerationRequest] = collections.deque()
        self.fresh = self._fresh_requests(specs)
        self.states: dict[str, _KeyState] = {}
        self.to_verify: list[tuple[_KeyState, GenerationResult]] = []
        self.open_keys = collections.Counter[str]()  # prompt id -> keys not settled yet
        self.todo = 0
        for spec in specs:
            for i in range(config.samples):
                if not store.index.settled(sample_key(spec.prompt_id, i)):
                    self.open_keys[spec.prompt_id] += 1
                    self.todo += 1
        self.started = time.monotonic()
        self.prompts_done = 0
        self.bar = tqdm(
            total=self.todo, unit="sample", disable=not config.progress, dynamic_ncols=True
        )

    def _request(self, state: _KeyState) -> GenerationRequest:
        key = sample_key(state.spec.prompt_id, state.sample_index)
        return GenerationRequest(
            key=key,
            messages=messages_for(state.spec, self.prompt_options),
            reply_prefix=self.config.reply_prefix,
            seed=sample_seed(self.config.seed, key, state.attempts),
            max_tokens=state.max_tokens,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
        )

    def _fresh_requests(self, specs: list[PromptSpec]) -> Iterator[GenerationRequest]:
        for spec in specs:
            for i in range(self.config.samples):
                key = sample_key(spec.prompt_id, i)
                if self.store.index.settled(key):
                    continue
                earlier = self.store.index.outcomes.get(key, {}).get("attempts", 0)
                state = _KeyState(spec, i, earlier + 1, max_tokens=self.config.max_tokens)
                self.states[key] = state
                yield self._request(state)

    def _next_batch(self) -> list[GenerationRequest]:
        batch: list[GenerationRequest] = []
        while len(batch) < self.backend.max_batch_size:
            if self.retries:
                batch.append(self.retries.popleft())
                continue
            request = next(self.fresh, None)
            if request is None:
                break
            batch.append(request)
        return batch

    async def run(self) -> None:
        generating: dict[asyncio.Task[list[GenerationResult]], list[GenerationRequest]] = {}
        verifying: asyncio.Task[list[Any]] | None = None
        verifying_items: list[tuple[_KeyState, GenerationResult]] = []
        try:
            while True:
                while len(generating) < self.backend.max_concurrency:
                    batch = self._next_batch()
                    if not batch:
                        break
                    generating[asyncio.create_task(self.backend.generate(batch))] = batch
                idle = not generating
                if (
                    verifying is None
                    and self.to_verify
                    and (idle or len(self.to_verify) >= _VERIFY_BATCH)
                ):
                    verifying_items, self.to_verify = self.to_verify, []
                    verifying = asyncio.create_task(self._verify(verifying_items))
                waiting: set[asyncio.Task[Any]] = set(generating)
                if verifying is not None:
                    waiting.add(verifying)
                if not waiting:
                    return
                finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    if task is verifying:
                        self._on_verdicts(verifying_items, task.result())
                        verifying = None
                        continue
                    batch = generating.pop(task)
                    for result in self._results_of(task, batch):
                        self._on_result(result)
        finally:
            for task in [*generating, *([verifying] if verifying else [])]:
                task.cancel()
            self.bar.close()

    @staticmethod
    def _results_of(
        task: asyncio.Task[list[GenerationResult]], batch: list[GenerationRequest]
    ) -> list[GenerationResult]:
        error = task.exception()
        if error is None:
            return task.result()
        # A backend that raises (an engine crash) fails its batch; the job goes on.
        detail = f"backend error: {type(error).__name__}: {error}"
        return [GenerationResult.failed(request.key, detail) for request in batch]

    def _on_result(self, result: GenerationResult) -> None:
        state = self.states[result.key]
        self.summary.prompt_tokens += result.prompt_tokens or 0
        self.summary.completion_tokens += result.completion_tokens or 0
        if result.error is not None:
            self.summary.failed += 1
            self._settle(state, "failed", result.error)
            return
        if result.finish_reason == "length":
            self.summary.truncated += 1
            if self.config.truncation != "keep":
                self._on_truncated(state)
                return
        if self.config.verify:
            self.to_verify.append((state, result))
        else:
            self._write_sample(state, result, None)

    def _on_truncated(self, state: _KeyState) -> None:
        policy, limit = self.config.truncation, self.config.max_tokens_limit
        limit = limit or 4 * self.config.max_tokens
        can_retry = policy in ("resample", "extend") and state.truncations < (
            self.config.truncation_retries
        )
        if policy == "extend" and state.max_tokens >= limit:
            can_retry = False
        if not can_retry:
            self.summary.truncated_dropped += 1
            detail = f"finish_reason=length at max_tokens={state.max_tokens}"
            self._settle(state, "truncated", detail)
            return
        state.truncations += 1
        if policy == "extend":
            state.max_tokens = min(limit, 2 * state.max_tokens)
        self._regenerate(state)

    def _regenerate(self, state: _KeyState) -> None:
        self.summary.regenerated += 1
        state.attempts += 1
        self.retries.append(self._request(state))

    async def _verify(self, items: list[tuple[_KeyState, GenerationResult]]) -> list[Any]:
        from amfast.verify.dispatch import VerifyOptions, task_of, verify_tasks

        options = VerifyOptions(
            num_workers=self.config.verify_workers, math_timeout=self.config.math_timeout
        )
        tasks = [task_of(self._row(state, result)) for state, result in items]
        verdicts, _ = await asyncio.to_thread(verify_tasks, tasks, options)
        return verdicts

    def _on_verdicts(
        self, items: list[tuple[_KeyState, GenerationResult]], verdicts: list[Any]
    ) -> None:
        for (state, result), verdict in zip(items, verdicts, strict=True):
            passes = self.store.index.samples_per_prompt[state.spec.prompt_id]
            if verdict.passed or not verdict.graded:
                self.summary.verified_passed += int(verdict.passed)
                self._write_sample(state, result, verdict)
            elif passes < self.config.passes_wanted and state.attempts < self.config.max_attempts:
                self._regenerate(state)
            else:
                self.summary.rejected += 1
                why = f"verification failed ({verdict.reason})"
                if passes >= self.config.passes_wanted:
                    why += f"; the prompt already has {passes} passing samples"
                self._settle(state, "rejected", why)

    def _row(self, state: _KeyState, result: GenerationResult) -> dict[str, Any]:
        facts = SampleFacts(
            sample_index=state.sample_index,
            seed=sample_seed(self.config.seed, result.key, state.attempts),
            attempts=state.attempts,
            backend=self.backend.name,
            model=self.backend.model,
            teacher=self.config.teacher or self.config.model,
        )
        return am_sample(state.spec, result, facts, self.config.reply_prefix)

    def _write_sample(self, state: _KeyState, result: GenerationResult, verdict: Any) -> None:  # noqa: ANN401 - a Verdict, imported lazily
        row = self._row(state, result)
        if verdict is not None:
            info = row["messages"][1]["info"]
            info["verify_score"] = verdict.to_dict()["score"]
            info["verify_reason"] = verdict.reason
        self.store.append({"kind": "sample", "row": row})
        self.summary.generated += 1
        self._close_key(state)

    def _settle(self, state: _KeyState, status: str, detail: str) -> None:
        record = {
            "kind": "outcome",
            "key": sample_key(state.spec.prompt_id, state.sample_index),
            "prompt_id": state.spec.prompt_id,
            "sample_index": state.sample_index,
            "status": status,
            "attempts": state.attempts,
            "detail": detail[:1000],
        }
        self.store.append(record)
        self._close_key(state)

    def _close_key(self, state: _KeyState) -> None:
        del self.states[sample_key(state.spec.prompt_id, state.sample_index)]
        self.open_keys[state.spec.prompt_id] -= 1
        if self.open_keys[state.spec.prompt_id] == 0:
            self.prompts_done += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.bar.set_postfix(
            prompts_s=f"{self.prompts_done / elapsed:.2f}",
            tokens_s=f"{self.summary.completion_tokens / elapsed:,.0f}",
            refresh=False,
        )
        self.bar.update(1)


def _check_settings(directory: Path, config: DistillConfig) -> None:
    marker = directory / "run.json"
    settings = config.fingerprint()
    if marker.exists():
        earlier = json.loads(marker.read_text(encoding="utf-8"))
        changed = sorted(
            k for k in settings.keys() | earlier.keys() if settings.get(k) != earlier.get(k)
        )
        if changed and not config.force:
            raise InputError(
                f"{directory} holds a job with other settings ({', '.join(changed)}); "
                "use another output directory, or --force to continue it anyway"
            )
        if not changed:
            return
    directory.mkdir(parents=True, exist_ok=True)
    with AtomicWriter(marker) as temporary:
        temporary.write_text(json.dumps(settings, indent=2, sort_keys=True), encoding="utf-8")


def select_prompts(specs: list[PromptSpec], config: DistillConfig) -> list[PromptSpec]:
    """The prompts of this job's shard: the first `max_prompts`, then this machine's part."""
    chosen = specs[: config.max_prompts] if config.max_prompts is not None else specs
    return [s for s in chosen if in_shard(s.prompt_id, config.shard_index, config.shard_count)]


async def distill_async(config: DistillConfig, backend: Backend | None = None) -> DistillSummary:
    """`run_distill` inside a running event loop; `backend` overrides `config.backend`."""
    started = time.monotonic()
    prompts = read_prompts(config.input, fields=config.fields)
    specs = select_prompts(prompts.specs, config)
    directory = Path(config.output)
    _check_settings(directory, config)
    summary = DistillSummary(bad_rows=prompts.bad_rows)
    tag = shard_tag(config.shard_index, config.shard_count)
    store = SampleStore(
        directory, tag, output_format=config.output_format, shard_rows=config.shard_rows
    )
    with store:
        owned = backend is None
        backend = backend or await create_backend(config)
        try:
            await _Job(config, backend, store, specs, summary).run()
        finally:
            if owned:
                await backend.aclose()
    summary.seconds = time.monotonic() - started
    check_integrity(
        summary,
        specs,
        store.index,
        samples_per_prompt=config.samples,
        wanted_per_prompt=config.passes_wanted,
    )
    with AtomicWriter(directory / f"summary-{tag}.json") as temporary:
        temporary.write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")
    return summary


def run_distill(config: DistillConfig, backend: Backend | None = None) -> DistillSummary:
    """Runs (or resumes) a distillation job and returns its summary.

    Args:
        config: the job's settings.
        backend: a ready backend to use instead of building `config.backend` (tests, custom
            teachers); it is not closed.

    Raises:
        InputError: The input cannot be read, the output holds another job, or the backend
            cannot be built.
    """
    return asyncio.run(distill_async(config, backend))
