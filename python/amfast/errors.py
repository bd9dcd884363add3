"""Exceptions raised by amfast.

The classes are declared in the Rust core and re-exported here, so errors raised by Rust and by
Python are the same classes:

- `AmfastError`: the base of all of them.
- `InvalidRowError` (also a `ValueError`): an input row is unusable; `.row` is its index and the
  message starts with `row N:`.
- `InputError` (also a `ValueError`): a file or field cannot be read as asked.
- `AmfastInternalError` (also a `RuntimeError`): a bug, i.e. a Rust panic that was caught.
"""

from amfast._core import AmfastError, AmfastInternalError, InvalidRowError


class InputError(AmfastError, ValueError):
    """A file or field cannot be read as asked; the message names the file, line and field."""


__all__ = ["AmfastError", "AmfastInternalError", "InputError", "InvalidRowError"]
