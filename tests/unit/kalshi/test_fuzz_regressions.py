"""What the Kalshi-edge fuzzers (tests/fuzz/test_fuzz_kalshi.py) found, pinned as plain examples.

A malformed value from the exchange is a clear error (``WireError``, ``ProtocolError``) or a counted
parse error on the WebSocket — never an ``AttributeError`` that ends the feed or a poll.
"""

import asyncio
from typing import Any

import httpx
import pytest

from kmm.kalshi import errors as e
from kmm.kalshi import wire
from kmm.kalshi.rest import KalshiRest
from kmm.kalshi.ws import FeedState, KalshiWs, WsProtocolError
from tests.helpers import StubWsConn


@pytest.mark.parametrize("parse, obj", [
    (wire.parse_fill, None),
    (wire.parse_lifecycle, None),
    (wire.parse_exchange_status, []),
    (wire.parse_fill, {"yes_price_dollars": "0.5000", "count_fp": "1.00", "side": "yes", "action": "buy",
                       "exchange_index": "zero"}),
    (wire.parse_market, {"ticker": "M", "volume_fp": "1e999999999"}),
])
def test_every_parser_raises_wire_error_on_a_wrong_shape(parse: Any, obj: Any) -> None:
    with pytest.raises(wire.WireError, match=parse.__name__):
        parse(obj)


def test_a_frame_with_a_null_msg_or_a_non_integer_sid_is_a_counted_parse_error() -> None:
    st = FeedState()
    assert st.handle({"type": "fill", "sid": 3, "seq": 1, "msg": None}) == []
    assert st.parse_errors == 1
    assert st.handle({"type": "error", "sid": 0, "msg": {"code": float("inf")}}) == []  # found by `make fuzz`
    assert st.parse_errors == 2
    for bad in ({"type": "ok", "sid": [1]}, {"type": "ok", "id": "7"}, {"type": "orderbook_delta", "seq": "2"}):
        with pytest.raises(WsProtocolError):
            st.handle(bad)


def test_the_reader_survives_frames_that_used_to_end_the_feed() -> None:
    ws = KalshiWs("ws://kalshi.test/trade-api/ws/v2")
    frames = ['{"type":"ok","sid":[1],"seq":1}', '{"type":"subscribed","id":"x","msg":{"sid":1}}',
              '{"type":"user_order","sid":2,"msg":null}', '{"type":"error","msg":{"code":"x"}}']
    asyncio.run(ws._read(StubWsConn(frames)))  # type: ignore[arg-type]
    assert ws.state.parse_errors == 4


@pytest.mark.parametrize("body", [b"{}", b"[]", b"null", b'{"market": []}', b'{"orderbooks": {"a": 1}}'])
def test_rest_reads_of_a_wrong_shape_are_protocol_errors(body: bytes) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=body))

    async def go() -> list[str]:
        failures = []
        async with KalshiRest("http://kalshi.test/trade-api/v2", transport=transport) as api:
            for call in (lambda: api.get_market("M"), lambda: api.get_balance(), lambda: api.get_order("o"),
                         lambda: api.get_orderbooks(["M"]), lambda: api.get_exchange_status()):
                try:
                    await call()
                except e.ProtocolError as exc:
                    failures.append(str(exc))
        return failures

    assert asyncio.run(go())  # at least one read refused, and nothing but ProtocolError escaped
