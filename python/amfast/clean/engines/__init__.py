"""Engines run the stages of `amfast clean` over the ingest shards; the driver picks one by name.

Both take the same arguments and yield the same results (see `Engine`), and both persist each
stage's decisions under the same markers, so either engine resumes the other's run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

if TYPE_CHECKING:
    from amfast.clean.config import CleanConfig
    from amfast.stage import Stage

EngineName = Literal["local", "ray"]
StageResult = tuple["Stage", pa.Table, float, bool, str]
"""(stage, its decisions, seconds, reused from a marker, fingerprint of everything upstream)."""

Engine = Callable[
    ["list[Stage]", list[Path], "CleanConfig", str], tuple[pa.Table, Iterator[StageResult]]
]
"""`engine(stages, ingest shards, config, ingest fingerprint)` -> (read errors as decisions,
results of each stage in order)."""


def start_engine(name: EngineName) -> Engine:
    """The engine called `name`, checked usable now (Ray installed) so a job fails before work.

    Raises:
        InputError: The Ray engine without Ray Data installed.
    """
    if name == "ray":
        from amfast.clean.engines.ray import ray_stages, require_ray

        require_ray()
        return ray_stages
    from amfast.clean.engines.local import local_engine

    return local_engine
