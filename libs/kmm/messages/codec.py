"""msgpack envelope for bus messages: ``{"t": type, "v": major version, ...fields}``.

Decoding garbage, an unknown type, an unknown major version or a field of the wrong type raises
:class:`DecodeError` and nothing else, so consumers have one thing to catch and dead-letter.
"""

import dataclasses
import typing
from typing import Any

import msgpack

from .types import ALL_MESSAGES, Message

REGISTRY: dict[str, type[Message]] = {cls.TYPE: cls for cls in ALL_MESSAGES}


class DecodeError(ValueError):
    """A payload that is not a valid kmm message (the reason is the message)."""


def _field_checks(cls: type[Message]) -> dict[str, frozenset[type]]:
    """Exact types each field accepts (``type(v) in ...``: a bool is not an int here)."""
    hints = typing.get_type_hints(cls)
    checks: dict[str, frozenset[type]] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        origin = typing.get_origin(hint) or hint
        if origin is float:
            checks[f.name] = frozenset((int, float))
        elif origin in (int, str, bool, bytes, tuple):
            checks[f.name] = frozenset((origin,))
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
        want = checks.get(name)
        if want is not None and type(value) not in want:
            expected = "/".join(sorted(t.__name__ for t in want))
            raise DecodeError(f"{typ}.{name}: expected {expected}, got {type(value).__name__}")
    try:
        return cls(**body)
    except TypeError as exc:
        raise DecodeError(f"{typ}: {exc}") from None
