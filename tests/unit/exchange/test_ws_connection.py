"""WS connection logic without a socket: commands, per-sid seq, overflow (error 25)."""

import json
from typing import Any

from kmm.messages.units import COUNT_SCALE, NS_PER_S
from kmm_services.exchange import ws
from kmm_services.exchange.engine import Exchange
from kmm_services.exchange.faults import Faults
from kmm_services.exchange.orders import BID, CreateOrder

T0 = 1_795_000_000 * NS_PER_S


def setup() -> tuple[Exchange, ws.Connection, ws.Hub]:
    ex = Exchange(lambda: T0)
    ex.create_market("KXW-1", "KXW")
    ex.open_account("u", 10**12)
    hub = ws.Hub(ex, lambda: T0)
    ex.add_listener(hub)
    conn = ws.Connection(user="u", exchange=ex, faults=Faults(), clock_ns=lambda: T0)
    hub.connections.add(conn)
    return ex, conn, hub


def drain(conn: ws.Connection) -> list[dict[str, Any]]:
    out = []
    while not conn.queue.empty():
        out.append(conn.queue.get_nowait())
    return out


def test_repeated_subscribe_gets_a_new_sid_and_each_sid_its_own_stream() -> None:
    ex, conn, _ = setup()
    for i in (1, 2):
        conn.handle_text(json.dumps({"id": i, "cmd": "subscribe",
                                     "params": {"channels": ["orderbook_delta"], "market_ticker": "KXW-1"}}))
    msgs = drain(conn)
    assert [(m["type"], m.get("id"), m.get("sid", m.get("msg", {}).get("sid"))) for m in msgs] == [
        ("subscribed", 1, 1), ("orderbook_snapshot", None, 1), ("subscribed", 2, 2), ("orderbook_snapshot", None, 2)]
    ex.create_order("u", CreateOrder("KXW-1", BID, 4000, COUNT_SCALE))
    ex.create_order("u", CreateOrder("KXW-1", BID, 4100, COUNT_SCALE))
    deltas = drain(conn)
    # one frame per subscription and delta, never an error (code 6 is retired); seq counts per sid
    assert [(m["type"], m["sid"], m["seq"]) for m in deltas] == [
        ("orderbook_delta", 1, 2), ("orderbook_delta", 2, 2), ("orderbook_delta", 1, 3), ("orderbook_delta", 2, 3)]
    conn.handle_text(json.dumps({"id": 3, "cmd": "unsubscribe", "params": {"sids": [1]}}))
    assert drain(conn) == [{"id": 3, "sid": 1, "seq": 3, "type": "unsubscribed"}]
    ex.create_order("u", CreateOrder("KXW-1", BID, 4200, COUNT_SCALE))
    assert [(m["sid"], m["seq"]) for m in drain(conn)] == [(2, 4)]


def test_repeated_subscribe_to_an_unfiltered_channel_is_acked_not_refused() -> None:
    _, conn, _ = setup()
    for i in (1, 2):
        conn.handle_text(json.dumps({"id": i, "cmd": "subscribe", "params": {"channels": ["user_orders", "ticker"]}}))
    msgs = drain(conn)
    assert all(m["type"] == "subscribed" for m in msgs)
    assert [(m["id"], m["msg"]["channel"], m["msg"]["sid"]) for m in msgs] == [
        (1, "user_orders", 1), (1, "ticker", 2), (2, "user_orders", 3), (2, "ticker", 4)]


def test_overflow_sends_error_25_and_drops_subscriptions(monkeypatch: Any) -> None:
    ex, conn, _ = setup()
    monkeypatch.setattr(ws, "QUEUE_LIMIT", 3)
    conn.handle_text(json.dumps({"id": 1, "cmd": "subscribe",
                                 "params": {"channels": ["orderbook_delta"], "market_tickers": ["KXW-1"]}}))
    for i in range(5):
        ex.create_order("u", CreateOrder("KXW-1", BID, 1000 + 100 * i, COUNT_SCALE))
    msgs = drain(conn)
    assert any(m.get("type") == "error" and m["msg"]["code"] == ws.ERR_BUFFER_OVERFLOW for m in msgs)
    assert conn.subs == {}


def test_update_subscription_add_and_delete_markets() -> None:
    ex, conn, _ = setup()
    ex.create_market("KXW-2", "KXW")
    conn.handle_text(json.dumps({"id": 1, "cmd": "subscribe",
                                 "params": {"channels": ["orderbook_delta"], "market_tickers": ["KXW-1"]}}))
    conn.handle_text(json.dumps({"id": 2, "cmd": "update_subscription",
                                 "params": {"sid": 1, "action": "add_markets", "market_tickers": ["KXW-2"]}}))
    conn.handle_text(json.dumps({"id": 3, "cmd": "update_subscription",
                                 "params": {"sids": [1], "action": "delete_markets", "market_tickers": ["KXW-1"]}}))
    msgs = drain(conn)
    oks = [m for m in msgs if m.get("type") == "ok"]
    assert [o["msg"]["market_tickers"] for o in oks] == [["KXW-1", "KXW-2"], ["KXW-2"]]
    snaps = [m["msg"]["market_ticker"] for m in msgs if m.get("type") == "orderbook_snapshot"]
    assert snaps == ["KXW-1", "KXW-2"]
    conn.handle_text(json.dumps({"id": 4, "cmd": "update_subscription",
                                 "params": {"sids": [1, 2], "action": "get_snapshot", "market_tickers": ["KXW-2"]}}))
    assert drain(conn)[0]["msg"]["code"] == ws.ERR_ONE_SID
    conn.handle_text(json.dumps({"id": 5, "cmd": "subscribe", "params": {"channels": ["trade"],
                                                                          "market_tickers": ["NOPE"]}}))
    assert drain(conn)[0]["msg"] == {"code": ws.ERR_MARKET_NOT_FOUND, "msg": "Market not found", "market_ticker": "NOPE"}
