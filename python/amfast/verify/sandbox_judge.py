"""Assert-style tests judged outside the solution's process (standard library only).

For an `assert` program the supervisor starts two processes under different uids: the
*solution* process runs the prelude and the solution, then `serve_solution` answers requests
on a pipe; the *judge* process runs the test code (`run_tests`), where every top-level name the
solution defined is a `Remote` proxy: calling it, or reading an attribute of what it returned,
is a request through the pipe. Values cross the pipe as tagged JSON and the judge rebuilds them
as exact built-in types (`decode`), so what the tests compare is plain data the judge made
itself: `unittest.mock.ANY`, a float subclass whose `__sub__` returns 0, a lying `__eq__`, a
patched `ast`/`sys.settrace`/supervisor module or a frame walk inside the solution's process
cannot reach the comparison. Anything that is not plain data stays in the solution's process
and reaches the tests only as a `Remote`, which has no truth value, compares equal only to
itself and cannot be iterated. The solution process never sees the test code: the tests
travel in a memfd that only the judge reads.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

_MAX_DEPTH = 200
Json = Any  # what json.loads returns: dynamically typed by nature
# Module aliases the judge re-creates when the tests use a module the solution imported.
_MODULE_ALIASES = {"np": "numpy", "pd": "pandas"}
PASS_EXIT = 0


class Remote:
    """A value that lives in the solution's process: a top-level name or a returned object."""

    __slots__ = ("_link", "_target")

    def __init__(self, link: _Link, target: dict[str, Any]) -> None:
        self._link, self._target = link, target

    def __call__(self, *args: object, **kwargs: object) -> object:
        """Calls the object in the solution's process with plain-data arguments."""
        request = {"op": "call", **self._target, "args": [encode(a) for a in args]}
        request["kwargs"] = {str(key): encode(value) for key, value in kwargs.items()}
        return self._link.request(request)

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._link.request({"op": "getattr", **self._target, "attr": name})

    def __setattr__(self, name: str, value: object) -> None:
        if name in Remote.__slots__:
            object.__setattr__(self, name, value)
            return
        request = {"op": "setattr", **self._target, "attr": name, "value": encode(value)}
        self._link.request(request)

    def __bool__(self) -> bool:
        raise TypeError("a solution object has no truth value in the tests: return plain data")

    def __repr__(self) -> str:
        return f"<solution object {self._target}>"


def encode(
    value: object, reference: Callable[[object], object] | None = None, depth: int = 0
) -> Json:
    """Tagged JSON for plain data; anything else goes through `reference` (or is refused)."""
    if depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return {"$": "float", "v": repr(value)}
    if kind is list:
        return [encode(item, reference, depth + 1) for item in value]  # type: ignore[attr-defined]
    if kind in (tuple, set, frozenset):
        items = [encode(item, reference, depth + 1) for item in value]  # type: ignore[attr-defined]
        return {"$": kind.__name__, "v": items}
    if kind is dict:
        pairs = value.items()  # type: ignore[attr-defined]
        items = [
            [encode(k, reference, depth + 1), encode(v, reference, depth + 1)] for k, v in pairs
        ]
        return {"$": "dict", "v": items}
    if kind is complex:
        return {"$": "complex", "v": [repr(value.real), repr(value.imag)]}  # type: ignore[attr-defined]
    if kind is bytes:
        return {"$": "bytes", "v": value.hex()}  # type: ignore[attr-defined]
    if isinstance(value, Remote):
        return {"$": "ref", "v": value._target}
    if _is_builtin(value):
        return {"$": "builtin", "v": value.__name__}  # type: ignore[attr-defined]
    if reference is None:
        raise TypeError(f"only plain data can be passed to the solution, not {kind.__name__}")
    return reference(value)


def decode(data: Json, remote: Callable[[dict[str, Any]], object], depth: int = 0) -> Json:
    """Exact built-in types from `encode`'s output; references become `remote(target)`."""
    if depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if data is None or type(data) in (bool, int, str, float):
        return data
    if type(data) is list:
        return [decode(item, remote, depth + 1) for item in data]
    if type(data) is not dict:
        raise TypeError(f"not a plain value: {type(data).__name__}")
    tag, body = data.get("$"), data.get("v")
    if tag == "float" and type(body) is str:
        return float(body)
    if tag in ("tuple", "set", "frozenset", "iter") and type(body) is list:
        items = [decode(item, remote, depth + 1) for item in body]
        return (
            iter(items)
            if tag == "iter"
            else {"tuple": tuple, "set": set}.get(tag, frozenset)(items)
        )
    if tag == "dict" and type(body) is list:
        return {decode(k, remote, depth + 1): decode(v, remote, depth + 1) for k, v in body}
    if tag == "complex" and type(body) is list and len(body) == 2:
        return complex(float(body[0]), float(body[1]))
    if tag == "bytes" and type(body) is str:
        return bytes.fromhex(body)
    if tag == "ref" and type(body) is dict:
        return remote(body)
    if tag == "builtin" and type(body) is str and _is_builtin(getattr(builtins, body, None)):
        return getattr(builtins, body)
    raise TypeError(f"not a plain value: tag {tag!r}")


def _is_builtin(value: object) -> bool:
    """A built-in type or function (`int`, `len`), passed by name."""
    name = getattr(value, "__name__", None)
    return isinstance(name, str) and getattr(builtins, name, None) is value and callable(value)


_PLAIN_TYPES = (bool, int, float, str, complex, bytes, tuple, list, set, frozenset, dict)


def _plain(value: object) -> object:
    """In the solution's process: subclasses of plain types become the base type."""
    if type(value) in _PLAIN_TYPES:
        return value
    for base in _PLAIN_TYPES:
        if isinstance(value, base):
            return cast("Callable[[object], object]", base)(value)
    return value


class _Link:
    """The judge's end of the pipe pair."""

    def __init__(self, requests: BinaryIO, replies: BinaryIO, reply_cap: int) -> None:
        self._requests, self._replies, self._cap = requests, replies, reply_cap

    def request(self, message: dict[str, Any]) -> object:
        """Sends one request and returns the decoded reply (or raises the solution's error)."""
        self._requests.write(json.dumps(message).encode() + b"\n")
        self._requests.flush()
        line = self._replies.readline(self._cap)
        if not line.endswith(b"\n"):
            raise RuntimeError("the solution's process ended or answered too much during a call")
        reply = json.loads(line)
        if type(reply) is not dict:
            raise TypeError("malformed reply from the solution's process")
        if "ok" in reply:
            return decode(reply["ok"], lambda target: Remote(self, target))
        name, text = str(reply.get("raise")), str(reply.get("message", ""))[:1000]
        error = getattr(builtins, name, None)
        safe = isinstance(error, type) and issubclass(error, Exception)
        raise error(text) if safe else RuntimeError(f"{name}: {text}")  # type: ignore[misc]


def serve_solution(
    namespace: dict[str, Any], before: dict[str, int], requests: int, replies: int
) -> None:
    """In the solution's process, after the solution ran: answer the judge until EOF.

    `before` maps the names the prelude bound to their objects' ids, so only what the solution
    defined or rebound is announced.
    """
    sys.set_int_max_str_digits(0)  # big integers are plain answers too
    handles: dict[int, object] = {}

    def reference(value: object) -> object:
        plain = _plain(value)
        if plain is not value:
            return encode(plain, reference)
        if isinstance(value, Iterator):
            return {"$": "iter", "v": [encode(_plain(item), reference) for item in value]}
        handles[id(value)] = value
        return {"$": "ref", "v": {"ref": id(value)}}

    def resolve(target: dict[str, Any]) -> object:
        if "ref" in target:
            return handles[int(target["ref"])]
        return namespace[str(target["name"])]

    names, modules = [], {}
    for name, value in namespace.items():
        if name.startswith("__") or before.get(name) == id(value):
            continue
        if type(value).__name__ == "module":
            modules[name] = str(getattr(value, "__name__", ""))
        else:
            names.append(name)
    output = os.fdopen(replies, "wb")
    output.write(json.dumps({"names": names, "modules": modules}).encode() + b"\n")
    output.flush()
    for line in os.fdopen(requests, "rb"):
        try:
            message = json.loads(line)
            target = resolve(message)
            if message["op"] == "call":
                args = [decode(a, resolve) for a in message["args"]]
                kwargs = {k: decode(v, resolve) for k, v in message["kwargs"].items()}
                result = target(*args, **kwargs)  # type: ignore[operator]
            elif message["op"] == "setattr":
                setattr(target, str(message["attr"]), decode(message["value"], resolve))
                result = None
            else:
                result = getattr(target, str(message["attr"]))
            reply: dict[str, Any] = {"ok": encode(_plain(result), reference)}
        except Exception as error:  # the solution's exception, told to the tests by name
            reply = {"raise": type(error).__name__, "message": str(error)[:1000]}
        output.write(json.dumps(reply).encode() + b"\n")
        output.flush()


def run_tests(test_source: str, prelude: str, requests: int, replies: int, reply_cap: int) -> None:
    """In the judge's process: the tests, with the solution's names as `Remote`s.

    Raises:
        RuntimeError: the solution failed before the tests started.
        Exception: whatever the tests raised (a failed assert is an `AssertionError`).
    """
    sys.set_int_max_str_digits(0)
    link = _Link(os.fdopen(requests, "wb"), os.fdopen(replies, "rb"), reply_cap)
    line = link._replies.readline(reply_cap)
    announced = json.loads(line) if line.endswith(b"\n") else None
    if type(announced) is not dict:
        raise RuntimeError("the solution failed before the tests started")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    if prelude:
        exec(compile(prelude, "<prelude>", "exec"), namespace)
    for name, module in dict(announced.get("modules", {})).items():
        if str(module).rsplit(".", 1)[-1] == name or _MODULE_ALIASES.get(name) == module:
            # The solution's process may have a module the judge cannot import: the tests then
            # fail on the name.
            with contextlib.suppress(ImportError):
                namespace[name] = importlib.import_module(str(module))
    for name in announced.get("names", []):
        namespace[str(name)] = Remote(link, {"name": str(name)})
    exec(compile(test_source, "<tests>", "exec"), namespace)
