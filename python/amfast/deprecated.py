"""Module paths that moved, kept importable under their old names with a DeprecationWarning.

`import amfast.pipeline` (say) still works: a finder on `sys.meta_path` answers for the old name
with a module holding the new module's public names. Code should import the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

MOVED_MODULES = {
    "amfast.pipeline": "amfast.stage",
    "amfast.clean_config": "amfast.clean.config",
    "amfast.clean_ray": "amfast.clean.engines.ray",
    "amfast.ledger": "amfast.clean.ledger",
    "amfast.sources": "amfast.clean.ingest",
    "amfast.distill.backend": "amfast.generate.backend",
    "amfast.distill.openai_http": "amfast.generate.openai_http",
    "amfast.distill.local_transformers": "amfast.generate.local_transformers",
    "amfast.distill.vllm_offline": "amfast.generate.vllm_offline",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new_name: str) -> None:
        self.new_name = new_name

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} moved to {self.new_name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        target = importlib.import_module(self.new_name)
        public = {name: value for name, value in vars(target).items() if not name.startswith("__")}
        module.__dict__.update(public)


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new_name = MOVED_MODULES.get(fullname)
        if new_name is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new_name))


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
