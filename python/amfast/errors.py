"""Exceptions raised by amfast.

The classes are declared in the Rust core and re-exported here, so errors raised by Rust and by
Python are the same classes:

- `InvalidRowError` (a `ValueError`): an input row is unusable; `.row` is its index and the
  message starts with `row N:`.
- `AmfastInternalError` (a `RuntimeError`): a bug, i.e. a Rust panic that was caught.
- `AmfastError`: base of the remaining amfast errors, such as `InputError`.
"""

from amfast._core import AmfastError, AmfastInternalError, InvalidRowError


class InputError(AmfastError, ValueError):
    """A file or field cannot be read as asked; the message names the file, line and field."""


__all__ = ["AmfastError", "AmfastInternalError", "InputError", "InvalidRowError"]
