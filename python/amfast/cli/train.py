"""`amfast train --config sft.toml`: supervised fine-tuning with FSDP2, under `torchrun`.

With `--nproc-per-node N` (or `--nnodes`), amfast starts `torchrun` itself and every rank runs
the recipe; started by a `torchrun` of your own (`torchrun ... -m amfast.cli.main train ...`),
it runs the recipe directly. `--check-template` renders a few samples, shows which tokens carry
loss, and exits 1 when the template or the mask is wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from amfast.config import add_config_flags, resolve_config
from amfast.errors import InputError
from amfast.train.config import SftConfig


def register(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers type is private
    """Adds the `train` subcommand (one flag per `SftConfig` field)."""
    parser = commands.add_parser(
        "train",
        help="supervised fine-tuning (FSDP2, packed, assistant-only loss, resumable)",
        description="Fine-tune a causal LM on AM-schema conversations. Every flag is also a key "
        "of --config (TOML; top level or a [train] table); flags override the file. Rerun the "
        "same command after an interruption: it resumes from the newest checkpoint.",
    )
    parser.add_argument("--config", help="TOML file with any of the settings below")
    add_config_flags(parser, SftConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs `amfast train`: the template check, the recipe, or torchrun around the recipe."""
    config = resolve_config(SftConfig, args, config_path=args.config, section="train")
    if config.check_template:
        return check_template(config)
    if importlib.util.find_spec("torch") is None:
        raise InputError("amfast train needs `pip install amfast[train]` (torch, transformers)")
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ
    if under_torchrun or (config.nproc_per_node == 1 and config.nnodes == 1):
        from amfast.train.sft import train

        result = train(config)
        if int(os.environ.get("RANK", "0")) == 0:
            last = f"{result.losses[-1]:.4f}" if result.losses else "n/a (already done)"
            print(f"steps: {result.steps}  final loss: {last}  dropped rows: {result.drops}")
            print(f"metrics: {result.metrics_path}")
            if result.export_dir is not None:
                print(f"model: {result.export_dir}")
        return 0
    return launch_torchrun(config)


def launch_torchrun(config: SftConfig) -> int:
    """Runs the recipe on `nproc_per_node` processes of this node via `torchrun`."""
    launch = Path(config.output_dir) / "launch"
    launch.mkdir(parents=True, exist_ok=True)
    config_file = launch / f"config-node{config.node_rank}.json"
    config_file.write_text(json.dumps(dataclasses.asdict(config), indent=2))
    command = [
        sys.executable, "-m", "torch.distributed.run",
        f"--nproc-per-node={config.nproc_per_node}",
        f"--nnodes={config.nnodes}",
        f"--node-rank={config.node_rank}",
        f"--master-addr={config.master_addr}",
        f"--master-port={config.master_port}",
        "-m", "amfast.train.sft", str(config_file),
    ]  # fmt: skip
    print("amfast: running " + " ".join(command), file=sys.stderr)
    return 0 if subprocess.run(command, check=False).returncode == 0 else 1


def check_template(config: SftConfig, samples: int = 3) -> int:
    """Prints a few rendered samples with their loss mask; 1 when something is wrong."""
    from amfast.train.data import check_template as check
    from amfast.train.data import load_tokenizer, read_conversations

    tokenizer = load_tokenizer(config.tokenizer or config.model, config.chat_template)
    options = config.tokenize_options()
    rows = islice(read_conversations(config.data, options), 200)
    result = check(tokenizer, rows, options, samples=samples, eos_token_ids=_eos_ids(config))
    print(result.report())
    return 1 if result.problems else 0


def _eos_ids(config: SftConfig) -> list[int]:
    """The token ids the model stops at, from its generation config (or config)."""
    for name in ("generation_config.json", "config.json"):
        path = Path(config.model) / name
        if path.is_file():
            eos = json.loads(path.read_text()).get("eos_token_id")
            if eos is not None:
                return [eos] if isinstance(eos, int) else list(eos)
    return []
