"""Codec round trips and the one error type for bad payloads."""

import dataclasses

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmm.messages import ALL_MESSAGES, BookUpdate, DecodeError, Fill, QuoteIntent, decode, encode


def _sample(cls: type) -> object:
    values = {"int": 7, "str": "x", "bool": True, "bytes": b"\x00\x01", "float": 1.5}
    kwargs = {}
    for f in dataclasses.fields(cls):
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if t in values:
            kwargs[f.name] = values[t]
    return cls(**kwargs)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.TYPE)
def test_every_message_round_trips(cls: type) -> None:
    msg = _sample(cls)
    assert decode(encode(msg)) == msg


def test_book_levels_come_back_as_tuples() -> None:
    msg = BookUpdate(market="M", bids=((4200, 1000), (4100, 50)), asks=((4400, 300),), msg_id="a")
    out = decode(encode(msg))
    assert out == msg and isinstance(out.bids[0], tuple)


@given(price=st.integers(0, 10_000), count=st.integers(0, 10**9), fee=st.integers(0, 10**12))
def test_fill_ints_survive_exactly(price: int, count: int, fee: int) -> None:
    msg = Fill(fill_id="f", order_id="o", client_order_id="c", market="M", side="bid",
               price=price, count=count, fee=fee)
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xc1garbage", "undecodable"),
        (msgpack.packb([1, 2, 3]), "not a map"),
        (msgpack.packb({"t": "nope", "v": 1}), "unknown message type"),
        (msgpack.packb({"t": "book", "v": 2, "market": "M"}), "unsupported schema version"),
        (msgpack.packb({"t": "book", "v": 1}), "market"),
        (msgpack.packb({"t": "book", "v": 1, "market": "M", "seq": "3"}), "seq"),
        (msgpack.packb({"t": "intent", "v": 1, "intent_id": "i", "market": "M", "bid_price": 0.42}),
         "bid_price"),
        (msgpack.packb({"t": "book", "v": 1, "market": "M", "extra": 1}), "extra"),
    ],
)
def test_bad_payloads_raise_decode_error(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(payload)


def test_bool_is_not_an_int_price() -> None:
    with pytest.raises(DecodeError):
        decode(msgpack.packb({"t": "intent", "v": 1, "intent_id": "i", "market": "M", "bid_price": True}))


def test_intent_keeps_correlation_and_origin() -> None:
    msg = QuoteIntent(intent_id="i", market="M", corr_id="c1", origin_ts=123, ts_event=100, ts_init=200)
    out = decode(encode(msg))
    assert (out.corr_id, out.origin_ts, out.ts_event, out.ts_init) == ("c1", 123, 100, 200)


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"t": "book", "v": 1, "market": "M", "bids": [[5000, "100"]]}, r"book\.bids\[0\]\[1\]: expected int, got str"),
        ({"t": "book", "v": 1, "market": "M", "asks": [[5000, 100], [5100]]}, r"book\.asks\[1\]: expected an array of 2"),
        ({"t": "book", "v": 1, "market": "M", "bids": [[5000, True]]}, r"book\.bids\[0\]\[1\]: expected int, got bool"),
        ({"t": "book", "v": 1, "market": "M", "bids": [5000, 100]}, r"book\.bids\[0\]: expected an array, got int"),
        ({"t": "book", "v": 1, "market": "M", "bids": [[50.5, 100]]}, r"book\.bids\[0\]\[0\]: expected int, got float"),
        ({"t": "market", "v": 1, "market": "M", "tick_ranges": [[0, 10_000]]}, r"tick_ranges\[0\]: expected an array of 3"),
        ({"t": "market", "v": 1, "market": "M", "tick_ranges": [[0, 10_000, "1"]]}, r"tick_ranges\[0\]\[2\]"),
        ({"t": "universe", "v": 1, "markets": ["A", 7]}, r"universe\.markets\[1\]: expected str, got int"),
        ({"t": "universe", "v": 1, "scores": [1.5, "x"]}, r"universe\.scores\[1\]: expected float/int, got str"),
    ],
)
def test_nested_fields_are_checked_all_the_way_down(body: dict, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(msgpack.packb(body))


def test_well_formed_nested_fields_pass() -> None:
    from kmm.messages import MarketInfo, Universe

    for msg in (BookUpdate(market="M", bids=(), asks=((1, 2), (3, 4))),
                MarketInfo(market="M", tick_ranges=((0, 1000, 1), (1000, 10_000, 100))),
                Universe(markets=("A", "B"), scores=(1, 2.5))):
        assert decode(encode(msg)) == msg


def test_market_info_without_fee_fields_still_decodes() -> None:
    from kmm.messages import MarketInfo

    old = msgpack.packb({"t": "market", "v": 1, "market": "M", "maker_fees": True}, use_bin_type=True)
    info = decode(old)
    assert isinstance(info, MarketInfo)
    assert (info.fee_type, info.fee_multiplier_ppm, info.maker_fees) == ("", 1_000_000, True)
