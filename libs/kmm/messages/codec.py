"""msgpack envelope for bus messages: ``{"t": type, "v": major version, ...fields}``.

Decoding garbage, an unknown type, an unknown major version or a field of the wrong type raises
:class:`DecodeError` and nothing else, so consumers have one thing to catch and dead-letter. Types
are checked all the way down: book ``Levels`` must be (int, int) pairs, ``tick_ranges`` 3-int
triples, ``tuple[str, ...]`` strings and ``tuple[float, ...]`` numbers, so a malformed message
is refused here instead of raising later inside a handler.
"""

import dataclasses
import typing
from typing import Any

import msgpack

from .types import ALL_MESSAGES, Message

REGISTRY: dict[str, type[Message]] = {cls.TYPE: cls for cls in ALL_MESSAGES}


class DecodeError(ValueError):
    """A payload that is not a valid kmm message (the reason is the message)."""


Describe = typing.Callable[[Any], str | None]  # None when the value fits, else what is wrong with it


def _at(where: str, bad: str) -> str:
    """``where`` joined to a nested problem: ``[0]`` + ``[1]: expected int`` → ``[0][1]: expected int``."""
    return where + (bad if bad.startswith("[") else f": {bad}")


def _accepted(hint: Any) -> tuple[type, ...] | None:
    """Exact top-level types a field accepts (``type(v) in ...``: a bool is not an int here)."""
    if hint is float:
        return (int, float)
    if hint in (int, str, bool, bytes, tuple) or typing.get_origin(hint) is tuple:
        return (typing.get_origin(hint) or hint,)
    return None


def _describer(hint: Any) -> Describe:
    """Says what is wrong with a value for ``hint``, nested tuples included (the slow path, on failure)."""
    accepted = _accepted(hint) or (object,)
    args = typing.get_args(hint) if typing.get_origin(hint) is tuple else ()
    name = "/".join(sorted(t.__name__ for t in accepted)) if args == () else "an array"

    def describe(v: Any) -> str | None:
        if type(v) not in accepted and accepted != (object,):
            return f"expected {name}, got {type(v).__name__}"
        if len(args) == 2 and args[1] is Ellipsis:
            item = _describer(args[0])
            for i, x in enumerate(v):
                bad = item(x)
                if bad is not None:
                    return _at(f"[{i}]", bad)
        elif args:
            if len(v) != len(args):
                return f"expected an array of {len(args)}, got an array of {len(v)}"
            for i, (a, x) in enumerate(zip(args, v, strict=True)):
                bad = _describer(a)(x)
                if bad is not None:
                    return _at(f"[{i}]", bad)
        return None

    return describe


def _deep_check(hint: Any) -> typing.Callable[[Any], bool] | None:
    """A fast True/False check of a tuple field's elements (None for scalars: their type is enough).

    Generated as straight-line loops (like :mod:`dataclasses` does): a 10-level book side costs
    about a microsecond this way, several times less than nested closures.
    """
    if typing.get_origin(hint) is not tuple or not typing.get_args(hint):
        return None
    lines: list[str] = []
    names: dict[str, Any] = {}

    def emit(h: Any, var: str, ind: str, depth: int) -> None:
        acc = _accepted(h)
        if acc is None:
            return
        if len(acc) == 1:
            lines.append(f"{ind}if type({var}) is not {acc[0].__name__}: return False")
        else:
            names[f"acc{depth}"] = acc
            lines.append(f"{ind}if type({var}) not in acc{depth}: return False")
        args = typing.get_args(h) if typing.get_origin(h) is tuple else ()
        if len(args) == 2 and args[1] is Ellipsis:
            lines.append(f"{ind}for x{depth} in {var}:")
            before = len(lines)
            emit(args[0], f"x{depth}", ind + " ", depth + 1)
            if len(lines) == before:
                lines.append(f"{ind} pass")
        elif args:
            items = [f"x{depth}_{i}" for i in range(len(args))]
            lines.append(f"{ind}if len({var}) != {len(args)}: return False")
            lines.append(f"{ind}{', '.join(items)}, = {var}")
            for a, item in zip(args, items, strict=True):
                emit(a, item, ind, depth + 1)

    emit(hint, "v", " ", 0)
    namespace = dict(names)
    exec("def check(v):\n" + "\n".join(lines) + "\n return True\n", namespace)  # noqa: S102 - our own code
    return namespace["check"]


_FieldCheck = tuple[frozenset[type], typing.Callable[[Any], bool] | None, Describe]


def _field_checks(cls: type[Message]) -> dict[str, _FieldCheck]:
    hints = typing.get_type_hints(cls)
    checks: dict[str, _FieldCheck] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        accepted = _accepted(hint)
        if accepted is not None:
            checks[f.name] = (frozenset(accepted), _deep_check(hint), _describer(hint))
    return checks


_CHECKS = {name: _field_checks(cls) for name, cls in REGISTRY.items()}


def encode(msg: Message) -> bytes:
    body: dict[str, Any] = {"t": msg.TYPE, "v": msg.VERSION}
    for f in dataclasses.fields(msg):
        body[f.name] = getattr(msg, f.name)
    return msgpack.packb(body, use_bin_type=True)


def decode(data: bytes) -> Message:
    try:
        body = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise DecodeError(f"undecodable payload: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise DecodeError("payload is not a map")
    typ = body.pop("t", None)
    ver = body.pop("v", None)
    cls = REGISTRY.get(typ) if isinstance(typ, str) else None
    if cls is None:
        raise DecodeError(f"unknown message type {typ!r}")
    if not isinstance(ver, int) or ver != cls.VERSION:
        raise DecodeError(f"{typ}: unsupported schema version {ver!r} (expected {cls.VERSION})")
    checks = _CHECKS[typ]
    for name, value in body.items():
        check = checks.get(name)
        if check is not None:
            accepted, deep, describe = check
            if type(value) not in accepted or (deep is not None and not deep(value)):
                raise DecodeError(_at(f"{typ}.{name}", describe(value) or "invalid value"))
    try:
        return cls(**body)
    except TypeError as exc:
        raise DecodeError(f"{typ}: {exc}") from None
