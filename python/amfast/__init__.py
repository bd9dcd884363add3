"""amfast: build reasoning SFT datasets fast.

The Rust core (`amfast._core`) does the row loops; this package adds types, defaults, I/O,
orchestration and the `amfast` command line.
"""

import amfast.deprecated  # noqa: F401 - keeps moved module paths importable
from amfast._core import __version__
from amfast.normalize import NormalizeOptions, normalize

__all__ = ["NormalizeOptions", "__version__", "normalize"]
