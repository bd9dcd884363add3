"""Supervised fine-tuning of a Qwen2.5-family causal LM with FSDP2: the whole recipe, in order.

`train(config)` runs on every rank (under `torchrun`, or alone as a world of one) and reads top to
bottom: setup (tokenized data, process group, model sharded with `fully_shard` per decoder
layer, optimizer), resume from the newest checkpoint, the loop, checkpoints, the final Hugging
Face export, cleanup. The defaults are the AM team's published recipe: lr 8e-5, 5% linear warmup,
cosine to 0, a global batch of 64 packed sequences of 32k tokens, 2 epochs.

Every optimizer step sees a global batch of packed sequences; each rank runs one sequence per
micro-step and the loss is the sum of token losses over the global batch divided by its number
of target tokens, so one process and many, packed and unpacked, give the same loss.

What step `s` trains on is a pure function of `s` (epoch `s // steps_per_epoch`, sequences in a
seeded per-epoch order), so a checkpoint needs only the step besides model, optimizer and RNG
state, and a resumed run continues the loss curve of an uninterrupted one exactly.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amfast.errors import AmfastError, InputError
from amfast.outputs import write_text_atomically
from amfast.train.config import AttnImplementation, SftConfig, TrainResult
from amfast.train.data import (
    IGNORE_INDEX,
    assemble_pack,
    load_tokenizer,
    plan_sequences,
    tokenize_dataset,
)
from amfast.train.flops import device_peak_tflops, training_flops
from amfast.train.loss import chunked_cross_entropy

if TYPE_CHECKING:
    import torch


def lr_at(step: int, total: int, config: SftConfig) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup, then cosine decay.

    Example:
        >>> config = SftConfig(model="m", data="d", output_dir="o", lr=1.0, warmup_ratio=0.1)
        >>> [round(lr_at(s, 10, config), 3) for s in (0, 1, 5, 9)]
        [1.0, 1.0, 0.5, 0.0]
    """
    warmup = max(1, math.ceil(config.warmup_ratio * total)) if config.warmup_ratio else 0
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - 1 - warmup)
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def attention_implementation(requested: AttnImplementation, device_type: str) -> str:
    """The attention kernel the recipe runs for `attn_implementation` on a device type.

    `auto` is varlen flash attention on CUDA when flash-attn is installed, else SDPA (which gets
    a block-diagonal mask for packed samples).
    """
    if requested != "auto":
        return requested
    return "flash_attention_2" if device_type == "cuda" and _has_module("flash_attn") else "sdpa"


def train(config: SftConfig) -> TrainResult:
    """Runs the SFT recipe on this rank; see the module docstring for the structure.

    Raises:
        InputError: bad data, template or settings (the message says which).
    """
    try:
        import torch
        import torch.distributed as dist
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_state_dict,
            set_model_state_dict,
            set_state_dict,
        )
        from torch.distributed.checkpoint.state_dict_loader import load as load_checkpoint
        from torch.distributed.checkpoint.state_dict_saver import save as save_checkpoint
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import (
            CPUOffloadPolicy,
            MixedPrecisionPolicy,
            fully_shard,
            register_fsdp_forward_method,
        )
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as error:
        raise InputError(f"training needs `pip install amfast[train]` ({error.name})") from error

    # ------------------------------------------------------------------ setup: data
    # Before the process group exists, so no collective times out while it runs: local rank 0
    # of each node tokenizes (in num_proc processes) into the cache, the other ranks wait for
    # it. Nodes sharing a file system may race to write it: the rename makes that harmless.
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    dataset = tokenize_dataset(
        config.data,
        config.tokenizer or config.model,
        config.tokenize_options(),
        cache_dir=config.cache_dir or output / "tokenized",
        chat_template=config.chat_template,
        num_proc=config.num_proc,
        wait=int(os.environ.get("LOCAL_RANK", "0")) != 0,
    )

    # ------------------------------------------------------------------ setup: processes
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no CUDA device")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    backend = "cpu:gloo,cuda:nccl" if use_cuda else "gloo"
    if "RANK" in os.environ:
        _die_with_the_launcher()
        dist.init_process_group(backend, device_id=device if use_cuda else None)
    else:  # a world of one, without torchrun
        store = dist.HashStore()  # type: ignore[attr-defined]  # public, but not in __all__
        dist.init_process_group(backend, store=store, rank=0, world_size=1)
    rank, world = dist.get_rank(), dist.get_world_size()
    is_main = rank == 0
    try:
        _seed_everything(config.seed)
        sequences = plan_sequences(dataset, config.max_seq_len, config.packing)
        per_step = config.global_batch_size
        if config.global_batch_tokens is not None:
            per_step = max(world, round(config.global_batch_tokens / config.max_seq_len))
        if per_step % world:
            raise InputError(
                f"global batch of {per_step} sequences does not split over {world} ranks"
            )
        steps_per_epoch = len(sequences) // per_step
        if steps_per_epoch == 0:
            raise InputError(
                f"{len(sequences)} sequences make no global batch of {per_step}; "
                "lower --global-batch-size"
            )
        total_steps = config.max_steps or steps_per_epoch * config.epochs
        if is_main:
            print(
                f"amfast: {len(dataset)} samples ({int(dataset.lengths.sum())} tokens) in "
                f"{len(sequences)} sequences, {per_step} per step, {total_steps} steps; "
                f"dropped rows: {dataset.drops or 'none'}",
                file=sys.stderr,
            )

        def sequences_of_step(step: int) -> list[list[int]]:
            """This rank's sequences for optimizer step `step` (a pure function of the step)."""
            epoch, index = divmod(step, steps_per_epoch)
            order = np.random.default_rng([config.seed, epoch]).permutation(len(sequences))
            batch = order[index * per_step : (index + 1) * per_step]
            return [sequences[i] for i in batch[rank::world]]

        # ------------------------------------------------------------------ setup: model
        use_cuda = device.type == "cuda"
        dtype_name = config.param_dtype
        if dtype_name == "auto":
            dtype_name = "bfloat16" if use_cuda else "float32"
        param_dtype = getattr(torch, dtype_name)
        attn = attention_implementation(config.attn_implementation, device.type)
        # Every rank builds the model on the meta device and shards it; only rank 0 reads the
        # weights (in fp32: FSDP keeps fp32 master shards and computes in param_dtype) and
        # broadcasts them shard by shard, so host memory holds one copy per job, not per rank.
        model_config = AutoConfig.from_pretrained(config.model)
        with torch.device("meta"):
            model: Any = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
                model_config, dtype=torch.float32, attn_implementation=attn
            )
        model.config.use_cache = False
        if config.activation_checkpointing:
            # transformers >= 5.x names it `activation_checkpointing_enable`; older, `gradient_...`.
            enable = getattr(model, "activation_checkpointing_enable", None)
            if enable is not None:
                enable()
            else:
                model.gradient_checkpointing_enable({"use_reentrant": False})
        mesh = init_device_mesh(device.type, (world,))
        shard_options: dict[str, Any] = {
            "mesh": mesh,
            "mp_policy": MixedPrecisionPolicy(
                param_dtype=param_dtype, reduce_dtype=getattr(torch, config.reduce_dtype)
            ),
        }
        if config.cpu_offload:
            shard_options["offload_policy"] = CPUOffloadPolicy()
        for layer in model.model.layers:
            fully_shard(layer, **shard_options)
        fully_shard(model, **shard_options)
        if config.loss_chunk_tokens:

            def chunked_loss(
                input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor
            ) -> torch.Tensor:
                """Summed token losses of one sequence, the output layer run chunk by chunk."""
                hidden = model.model(
                    input_ids=input_ids, position_ids=position_ids, use_cache=False
                ).last_hidden_state
                output_layer = model.get_output_embeddings()
                return chunked_cross_entropy(hidden, labels, output_layer, config.loss_chunk_tokens)

            # Registered as a forward of the root FSDP module, so its parameters (embeddings,
            # final norm, output layer) are gathered around the call as they are around forward.
            model.chunked_loss = chunked_loss
            register_fsdp_forward_method(model, "chunked_loss")
        model.to_empty(device="cpu" if config.cpu_offload else device)
        _init_rotary_buffers(model)
        full_weights: dict[str, Any] = {}
        if is_main:
            pretrained = AutoModelForCausalLM.from_pretrained(config.model, dtype=torch.float32)
            full_weights = pretrained.state_dict()
            del pretrained
        set_model_state_dict(
            model,
            full_weights,
            options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True),
        )
        del full_weights
        embeddings = {id(model.get_input_embeddings().weight)}
        embeddings.add(id(model.get_output_embeddings().weight))
        non_embedding_params = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        groups: list[dict[str, Any]] = [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay},
        ]
        optimizer = torch.optim.AdamW(
            groups,
            lr=config.lr,
            betas=(config.adam_beta1, config.adam_beta2),
            weight_decay=0.0,
        )

        # ------------------------------------------------------------------ setup: resume
        checkpoints = output / "checkpoints"
        start_step = 0
        latest = _latest_checkpoint(checkpoints) if config.resume else None
        if latest is not None:
            state = json.loads((latest / "trainer_state.json").read_text())
            saved = (state["data_fingerprint"], state["sequences"], state["sequences_per_step"])
            if saved != (dataset.fingerprint, len(sequences), per_step):
                raise InputError(
                    f"{latest}: saved for other data or batch settings; use a new output_dir"
                )
            model_state, optim_state = get_state_dict(model, optimizer)
            loaded: dict[str, Any] = {"model": model_state, "optim": optim_state}
            load_checkpoint(loaded, checkpoint_id=str(latest))
            set_state_dict(
                model, optimizer, model_state_dict=loaded["model"], optim_state_dict=loaded["optim"]
            )
            _set_rng_state(torch.load(latest / f"rng-{rank}.pt", weights_only=False))
            start_step = int(state["step"])
            if is_main:
                print(f"amfast: resuming from {latest} (step {start_step})", file=sys.stderr)
        metrics_path = output / "metrics.jsonl"
        if is_main:
            # A killed run may have left a half-written checkpoint and logged steps past its
            # last complete one: both are dropped, and those steps are redone.
            for partial in checkpoints.glob("*.partial"):
                shutil.rmtree(partial, ignore_errors=True)
            kept = []
            if start_step and metrics_path.exists():
                lines = metrics_path.read_text().splitlines()
                kept = [line for line in lines if json.loads(line)["step"] <= start_step]
            # Rewritten whole: a crash here must not lose the metrics of the kept steps.
            write_text_atomically(metrics_path, "".join(line + "\n" for line in kept))
            write_text_atomically(output / "config.json", json.dumps(asdict(config), indent=2))
        writer = _tensorboard(output) if config.tensorboard and is_main else None
        peak_tflops = config.peak_tflops
        if peak_tflops is None and use_cuda:
            peak_tflops = device_peak_tflops(torch.cuda.get_device_name(device))
        progress = _progress(is_main, start_step, total_steps)

        # ------------------------------------------------------------------ the loop
        losses: list[float] = []
        model.train()
        for step in range(start_step, total_steps):
            started = time.perf_counter()
            lr = lr_at(step, total_steps, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            packs = [assemble_pack(dataset, samples) for samples in sequences_of_step(step)]
            # The loss is normalised by the targets of the whole global batch, over all ranks.
            counts = torch.tensor(
                [sum(p.num_targets for p in packs), sum(len(p.input_ids) for p in packs)]
            )
            dist.all_reduce(counts)
            targets, tokens = int(counts[0]), int(counts[1])
            loss_sum = torch.zeros((), dtype=torch.float64)
            squared_lengths = 0.0
            for pack in packs:
                input_ids = torch.from_numpy(pack.input_ids)[None].to(device)
                labels = torch.from_numpy(pack.labels)[None].to(device)
                positions = torch.from_numpy(pack.position_ids)[None].to(device)
                # No attention mask and no KV cache: then transformers reads the sample boundaries
                # off the restarting position ids (a block-diagonal mask for sdpa/eager/flex,
                # varlen for flash attention). With a cache it would silently attend across.
                if config.loss_chunk_tokens:
                    token_loss = model.chunked_loss(input_ids, positions, labels)
                else:
                    logits = model(
                        input_ids=input_ids, position_ids=positions, use_cache=False
                    ).logits
                    token_loss = torch.nn.functional.cross_entropy(
                        logits.flatten(0, 1).float(),
                        labels.flatten(),
                        ignore_index=IGNORE_INDEX,
                        reduction="sum",
                    )
                # FSDP averages gradients over ranks; `* world` turns that into the global sum.
                torch.autograd.backward(token_loss * world / max(targets, 1))
                loss_sum += token_loss.detach().double().cpu()
                starts = np.flatnonzero(pack.position_ids == 0)
                squared_lengths += float(
                    np.square(np.diff(np.append(starts, len(pack.input_ids)))).sum()
                )
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), config.max_grad_norm or float("inf")
            )
            grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            totals = torch.tensor([float(loss_sum), squared_lengths], dtype=torch.float64)
            dist.all_reduce(totals)
            loss = float(totals[0]) / max(targets, 1)
            losses.append(loss)
            if use_cuda:  # the optimizer step is still queued on the GPU: it is this step's time
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - started
            flops = training_flops(model.config, non_embedding_params, tokens, float(totals[1]))
            record = {
                "step": step + 1,
                "epoch": (step + 1) / steps_per_epoch,
                "loss": loss,
                "lr": lr,
                "grad_norm": float(grad_norm),
                "tokens": tokens,
                "target_tokens": targets,
                "tokens_per_s": tokens / seconds,
                "flops": flops,
                "mfu": flops / seconds / (peak_tflops * 1e12 * world) if peak_tflops else None,
                "peak_memory_gb": _peak_memory_gb(device),
                "seconds": seconds,
            }
            if is_main and ((step + 1) % config.log_every == 0 or step + 1 == total_steps):
                with metrics_path.open("a") as log:
                    log.write(json.dumps(record) + "\n")
                if writer is not None:
                    for key, value in record.items():
                        if key != "step" and value is not None:
                            writer.add_scalar(f"train/{key}", value, step + 1)
            progress.update(1)
            progress.set_postfix(
                loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens / seconds:.0f}"
            )

            # -------------------------------------------------------------- checkpoint
            done = step + 1 == total_steps
            if (config.save_every and (step + 1) % config.save_every == 0) or done:
                model_state, optim_state = get_state_dict(model, optimizer)
                final = checkpoints / f"step-{step + 1:08d}"
                partial = checkpoints / f"{final.name}.partial"
                if is_main:
                    shutil.rmtree(partial, ignore_errors=True)
                    partial.mkdir(parents=True)
                dist.barrier()
                save_checkpoint(
                    {"model": model_state, "optim": optim_state}, checkpoint_id=str(partial)
                )
                torch.save(_rng_state(), partial / f"rng-{rank}.pt")
                dist.barrier()
                if is_main:
                    trainer_state = {
                        "step": step + 1,
                        "total_steps": total_steps,
                        "data_fingerprint": dataset.fingerprint,
                        "sequences": len(sequences),
                        "sequences_per_step": per_step,
                        "world_size": world,
                    }
                    (partial / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
                    # The rename marks the checkpoint complete; older ones beyond keep_last go.
                    shutil.rmtree(final, ignore_errors=True)
                    partial.rename(final)
                    for old in _complete_checkpoints(checkpoints)[: -max(1, config.keep_last)]:
                        shutil.rmtree(old, ignore_errors=True)
                dist.barrier()
        progress.close()
        if writer is not None:
            writer.close()

        # ------------------------------------------------------------------ export
        export_dir = output / "final" if config.export else None
        if export_dir is not None:
            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            full_state = get_model_state_dict(model, options=options)
            if is_main:
                _export(model.config, full_state, param_dtype, export_dir, config)
            dist.barrier()
        return TrainResult(total_steps, losses, metrics_path, export_dir, dict(dataset.drops))
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------- helpers


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _init_rotary_buffers(model: Any) -> None:  # noqa: ANN401 - a transformers model
    """Recomputes the rotary embeddings' frequency buffers, which a meta-device model lacks.

    They are not in the checkpoint (non-persistent); a fresh module computes them from the
    config, on the CPU, exactly as `from_pretrained` does.
    """
    import torch

    for module in model.modules():
        if "RotaryEmbedding" in type(module).__name__ and hasattr(module, "inv_freq"):
            fresh = type(module)(config=module.config)
            with torch.no_grad():
                for name, buffer in fresh.named_buffers(recurse=False):
                    getattr(module, name).copy_(buffer)


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _complete_checkpoints(directory: Path) -> list[Path]:
    """Finished checkpoints (`step-N`, renamed from `.partial` once written), oldest first."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.glob("step-*")
        if not path.name.endswith(".partial") and (path / "trainer_state.json").exists()
    )


def _latest_checkpoint(directory: Path) -> Path | None:
    found = _complete_checkpoints(directory)
    return found[-1] if found else None


def _peak_memory_gb(device: torch.device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    # ru_maxrss is in KiB on Linux (the process's peak resident memory).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _tensorboard(output: Path) -> Any:  # noqa: ANN401 - SummaryWriter
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise InputError("--tensorboard needs `pip install amfast[train]` (tensorboard)") from error
    return SummaryWriter(str(output / "tensorboard"))


class _NoProgress:
    def update(self, count: int) -> None:
        del count

    def set_postfix(self, **values: str) -> None:
        del values

    def close(self) -> None:
        pass


def _progress(show: bool, start: int, total: int) -> Any:  # noqa: ANN401 - tqdm or a stand-in
    if not show:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="sft", unit="step", file=sys.stderr)


def _export(
    model_config: Any,  # noqa: ANN401 - a transformers PretrainedConfig
    state: dict[str, Any],
    dtype: torch.dtype,
    directory: Path,
    config: SftConfig,
) -> None:
    """Writes a Hugging Face checkpoint (safetensors, config, tokenizer) loadable by vLLM.

    The end-of-turn token the model was trained to emit is added to the generation config's
    eos ids: a base model's config (Qwen2.5 base: `<|endoftext|>`) would not stop on it.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    with torch.device("meta"):
        model: Any = AutoModelForCausalLM.from_config(model_config, dtype=dtype)  # type: ignore[no-untyped-call]
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, assign=True)
    model.tie_weights()
    model.config.use_cache = True
    tokenizer = load_tokenizer(config.tokenizer or config.model, config.chat_template)
    try:
        generation = GenerationConfig.from_pretrained(config.model)
    except OSError:
        generation = GenerationConfig.from_model_config(model.config)
    end_token = config.end_token or _trained_end_token(tokenizer, config)
    eos = generation.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    end_id = tokenizer.convert_tokens_to_ids(end_token) if end_token else None
    if end_id is not None and end_id not in eos_ids:
        generation.eos_token_id = [*eos_ids, end_id]
    model.generation_config = generation
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)


def _trained_end_token(tokenizer: Any, config: SftConfig) -> str | None:  # noqa: ANN401
    """The end-of-turn token of a sample rendered with the training settings."""
    from amfast.train.data import DroppedSample, encode_conversation

    messages = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    try:
        encoded = encode_conversation(tokenizer, messages, config.tokenize_options())
    except (DroppedSample, InputError):
        return None
    return str(tokenizer.convert_ids_to_tokens(int(encoded.input_ids[-1])))


def _die_with_the_launcher() -> None:
    """Ends this rank when the process that started it (torchrun's agent) dies.

    torchrun starts each rank in a session of its own, so killing the launcher's process group
    (kill -9, the OOM killer, a preempted job) would leave the ranks training and writing
    checkpoints next to the run that resumes them. Linux only (`PR_SET_PDEATHSIG`).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the launcher died before the signal was armed
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """`python -m amfast.train.sft CONFIG.json`: the recipe as `torchrun` starts it."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m amfast.train.sft CONFIG.json", file=sys.stderr)
        return 2
    values = json.loads(Path(arguments[0]).read_text(encoding="utf-8"))
    try:
        train(SftConfig(**values))
    except AmfastError as error:
        print(f"amfast: error (rank {os.environ.get('RANK', '0')}): {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
