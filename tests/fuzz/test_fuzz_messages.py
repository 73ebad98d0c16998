"""Fuzz the bus decoder: whatever bytes arrive on a stream, ``kmm.messages.decode`` returns a message
whose every field has its declared type, or raises ``DecodeError`` — never anything else (the consumers
dead-letter exactly that)."""

import dataclasses
import typing
from typing import Any

import msgpack
from hypothesis import strategies as st

from kmm.messages import DecodeError, Message, decode, encode
from kmm.messages.codec import REGISTRY
from tests.fuzz.harness import fuzz

CLASSES = sorted(REGISTRY.values(), key=lambda c: c.TYPE)


def well_typed(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is float:
        return type(value) in (int, float)
    if hint in (int, str, bool, bytes):
        return type(value) is hint
    if origin is tuple:
        args = typing.get_args(hint)
        if type(value) is not tuple:
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(well_typed(x, args[0]) for x in value)
        return len(value) == len(args) and all(well_typed(x, a) for x, a in zip(value, args, strict=True))
    return True


def check_decoded(payload: bytes) -> None:
    try:
        msg = decode(payload)
    except DecodeError as exc:
        assert str(exc)  # a reason for the DLQ entry
        return
    assert isinstance(msg, Message)
    hints = typing.get_type_hints(type(msg))
    for f in dataclasses.fields(msg):
        assert well_typed(getattr(msg, f.name), hints[f.name]), (f.name, getattr(msg, f.name))
    assert decode(encode(msg)) == msg


def typed_value(hint: Any) -> st.SearchStrategy[Any]:
    """Values of the declared type (so decoding may succeed) or near it (so it must refuse)."""
    origin = typing.get_origin(hint)
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**64 - 1)
    if hint is float:
        return st.floats(allow_nan=True) | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if hint is str:
        return st.text(max_size=16)
    if hint is bool:
        return st.booleans()
    if hint is bytes:
        return st.binary(max_size=16)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(typed_value(args[0]) | msgpackable, max_size=4).map(tuple)
        return st.tuples(*(typed_value(a) | msgpackable for a in args)) | st.lists(msgpackable, max_size=4).map(tuple)
    return msgpackable


msgpackable = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def near_valid(draw: st.DrawFn) -> bytes:
    cls = draw(st.sampled_from(CLASSES))
    hints = typing.get_type_hints(cls)
    body: dict[str, Any] = {"t": draw(st.just(cls.TYPE) | st.text(max_size=6)),
                            "v": draw(st.just(cls.VERSION) | msgpackable)}
    for f in dataclasses.fields(cls):
        if draw(st.integers(0, 9)) == 0:
            continue  # absent: required fields then fail, optional ones default
        body[f.name] = draw(typed_value(hints[f.name]) if draw(st.integers(0, 5)) else msgpackable)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=8))] = draw(msgpackable)  # a field this version does not have
    return msgpack.packb(body, use_bin_type=True)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(near_valid()))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 2))
        i = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == 0 and raw:
            raw[i] = draw(st.integers(0, 255))
        elif op == 1:
            raw[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif raw:
            del raw[i:i + draw(st.integers(1, 4))]
    return bytes(raw)


@fuzz(st.binary(max_size=256))
def test_fuzz_decode_arbitrary_bytes(payload: bytes) -> None:
    check_decoded(payload)


@fuzz(near_valid(), examples=400)
def test_fuzz_decode_near_valid_messages(payload: bytes) -> None:
    check_decoded(payload)


@fuzz(mutated(), examples=300)
def test_fuzz_decode_mutated_messages(payload: bytes) -> None:
    check_decoded(payload)
