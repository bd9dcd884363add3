"""Prints pyproject.toml's dependencies plus the named extras, one per line for `xargs pip install`.

One list of dependencies (pyproject.toml) instead of a second copy in the Makefile.
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += project["optional-dependencies"][extra]
print("\n".join(requirements))
