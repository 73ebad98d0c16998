"""Fuzz the Kalshi edge: whatever JSON the exchange (or a man in the middle) sends, our readers turn it
into typed values or a clear error, never a crash.

- every ``kmm.kalshi.wire.parse_*``: returns, or raises ``WireError`` (a ``ValueError``) — the REST
  client and the WS state machine turn that into a ``ProtocolError`` / a resnapshot;
- the REST client (``KalshiRest``, every read and write method) over a stub transport answering any
  status with any body: returns, or raises a ``KalshiError`` — the only thing callers catch;
- the WebSocket reader (``KalshiWs._read``) over any sequence of frames: never raises (a bad frame is
  counted in ``parse_errors`` or resnapshots its book), and books it keeps stay sane.
"""

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
from hypothesis import strategies as st

from kmm.kalshi import errors as e
from kmm.kalshi import wire
from kmm.kalshi.rest import KalshiRest, NewOrder
from kmm.kalshi.ws import KalshiWs
from tests.fuzz.harness import fuzz, json_values, numberish, shaped
from tests.helpers import StubWsConn

WIRE_SOURCE = (Path(wire.__file__)).read_text()
# Every field name the wire module reads: the vocabulary a well-aimed garbage object uses.
FIELDS = sorted(set(re.findall(r'"([a-z][a-z0-9_]*)"', WIRE_SOURCE)))
PARSERS = {name: getattr(wire, name) for name in sorted(dir(wire)) if name.startswith("parse_")}
TOP_KEYS = ["markets", "market", "events", "event", "series", "trades", "orders", "order", "fills",
            "market_positions", "event_positions", "settlements", "orderbook", "orderbook_fp", "orderbooks",
            "candlesticks", "order_groups", "order_group_id", "cursor", "balance", "exchange_active",
            "trading_active", "orders_results", "order_id", "client_order_id", "queue_position",
            "queue_positions", "error", "code", "message", "read", "write", "usage_tier", "default_cost",
            "endpoint_costs", "yes", "no", "yes_dollars", "no_dollars"]

item = shaped(FIELDS)
level = st.lists(st.one_of(numberish(), st.text(max_size=6)), min_size=0, max_size=3)
book_obj = shaped(["yes", "no", "yes_dollars", "no_dollars", "yes_dollars_fp", "no_dollars_fp", "ticker"],
                  st.lists(level, max_size=4) | json_values)
field_value = st.one_of(st.lists(item, max_size=3), item, book_obj, numberish(), json_values)
body = st.one_of(json_values, shaped(TOP_KEYS, field_value))


@st.composite
def parser_call(draw: st.DrawFn) -> tuple[str, tuple[Any, ...]]:
    name = draw(st.sampled_from(sorted(PARSERS)))
    obj = draw(st.one_of(item, book_obj, json_values))
    if name == "parse_orderbook":
        return name, (draw(st.text(max_size=8)), obj)
    if name == "parse_levels":
        return name, (draw(st.lists(level, max_size=4) | json_values), draw(st.booleans()))
    if name == "parse_event":
        return name, (obj, draw(st.lists(item, max_size=2)))
    if name == "parse_order_group":
        return name, (obj, draw(st.text(max_size=6)))
    return name, (obj,)


@fuzz(parser_call(), examples=600)
def test_fuzz_every_wire_parser(call: tuple[str, tuple[Any, ...]]) -> None:
    name, args = call
    try:
        PARSERS[name](*args)
    except wire.WireError:
        pass


def _call_plan(api: KalshiRest, which: int) -> Any:
    calls = [
        lambda: api.get_exchange_status(), lambda: api.get_exchange_schedule(), lambda: api.get_markets(),
        lambda: api.get_market("M"), lambda: api.get_orderbook("M", depth=5), lambda: api.get_orderbooks(["M"]),
        lambda: api.get_trades(), lambda: api.get_candlesticks("S", "M", start_ts=1, end_ts=2),
        lambda: api.get_events(), lambda: api.get_event("E", with_nested_markets=True),
        lambda: api.get_series("S"), lambda: api.list_series(), lambda: api.get_account_limits(),
        lambda: api.get_endpoint_costs(),
        lambda: api.create_order(NewOrder(ticker="M", side="bid", price=5000, count=100,
                                          client_order_id="kmm-x")),
        lambda: api.find_order("M", "kmm-x"),
        lambda: api.batch_create([NewOrder(ticker="M", side="ask", price=5100, count=100, client_order_id="kmm-y")]),
        lambda: api.cancel_order("o1", market_ticker="M"), lambda: api.batch_cancel([("o1", "M"), ("o2", "N")]),
        lambda: api.amend_order("o1", ticker="M", side="bid", price=4900, count=200, client_order_id="kmm-x",
                                updated_client_order_id="kmm-z"),
        lambda: api.decrease_order("o1", reduce_by=100, market_ticker="M"), lambda: api.cancel_all(),
        lambda: api.get_orders(), lambda: api.get_order("o1"), lambda: api.get_fills(),
        lambda: api.get_positions(), lambda: api.get_balance(), lambda: api.get_settlements(),
        lambda: api.get_queue_position("o1"), lambda: api.get_queue_positions(market_tickers=["M"]),
        lambda: api.create_order_group(100), lambda: api.get_order_group("g"), lambda: api.list_order_groups(),
        lambda: api.reset_order_group("g"), lambda: api.delete_order_group("g"),
        lambda: _drain(api.iter_fills()),
    ]
    return calls[which % len(calls)]()


async def _drain(it: Any) -> list[Any]:
    return [x async for x in it]


N_CALLS = 36


async def _no_sleep(_: float) -> None:
    return None
responses = st.lists(st.tuples(st.sampled_from([200, 200, 200, 201, 204, 400, 404, 409, 429, 500, 503]), body,
                               st.booleans()), min_size=1, max_size=4)


class Answers:
    """The stub exchange: answers each request with the next (status, body, as JSON) in the queue."""

    def __init__(self) -> None:
        self.queue: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        status, payload, as_json = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        content = wire.dumps(payload).encode() if as_json else str(payload).encode()
        return httpx.Response(status, content=content, headers={"Content-Type": "application/json"})


ANSWERS = Answers()
LOOP = asyncio.new_event_loop()  # one loop and one client for every example (building a client is slow)
API = KalshiRest("http://kalshi.test/trade-api/v2", transport=httpx.MockTransport(ANSWERS), sleep=_no_sleep,
                 max_retries=2)


@fuzz(st.tuples(st.integers(0, N_CALLS - 1), responses), examples=150)
def test_fuzz_rest_client_answers_or_raises_a_kalshi_error(case: tuple[int, list[Any]]) -> None:
    which, answers = case
    ANSWERS.queue = list(answers)

    async def go() -> None:
        try:
            await _call_plan(API, which)
        except e.KalshiError as err:
            assert str(err)

    LOOP.run_until_complete(go())


FRAME_TYPES = ["subscribed", "unsubscribed", "ok", "error", "orderbook_snapshot", "orderbook_delta", "ticker",
               "trade", "fill", "user_order", "market_position", "order_group_updates", "market_lifecycle_v2",
               "event_lifecycle", "nonsense"]
small_int = st.integers(min_value=-2, max_value=6)
frame = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(FRAME_TYPES)},
        optional={"sid": small_int | json_values, "seq": small_int | json_values, "id": small_int | json_values,
                  "msg": st.one_of(item, book_obj, json_values, shaped(["sid", "channel", "market_tickers", "code",
                                                                         "msg", "market_ticker"])),
                  "sending_ts_ms": numberish()},
    ),
    json_values,
)
raw_frame = st.one_of(frame.map(wire.dumps), st.text(max_size=30), st.sampled_from(["", "{", "[]", "null", "1e999"]))


@fuzz(st.lists(raw_frame, min_size=1, max_size=12), examples=500)
def test_fuzz_ws_reader_never_raises(frames: list[str]) -> None:
    async def go() -> None:
        ws = KalshiWs("ws://kalshi.test/trade-api/ws/v2")
        conn = StubWsConn(list(frames))
        ws._conn = conn  # type: ignore[assignment]  # the reader sends resubscribes on it
        await ws._read(conn)  # type: ignore[arg-type]
        for book in ws.state.books.values():
            if book.valid:
                update = book.to_book_update(seq=0, ts_event=0, ts_init=0)
                assert all(p > 0 and n > 0 for p, n in update.bids + update.asks)

    asyncio.run(go())
