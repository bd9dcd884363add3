"""What a benchmark result was measured on: CPU, cores, Python, package versions, git state."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import subprocess
import unicodedata
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    models = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(models, platform.processor())


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def amfast_extension() -> dict[str, Any] | None:
    """The compiled core in use: file, size and build time (benches need a release build)."""
    spec = importlib.util.find_spec("amfast._core")
    if spec is None or spec.origin is None:
        return None
    stat = Path(spec.origin).stat()
    built = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC)
    return {
        "file": spec.origin,
        "bytes": stat.st_size,
        "built": built.isoformat(timespec="seconds"),
    }


def machine_info(packages: Iterable[str]) -> dict[str, Any]:
    """CPU model, cores (and those this process may use), Python, versions, `git describe`."""
    git = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "unicodedata": unicodedata.unidata_version,
        "versions": {package: version(package) for package in packages},
        "amfast_extension": amfast_extension(),
        "git": subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip(),
    }
