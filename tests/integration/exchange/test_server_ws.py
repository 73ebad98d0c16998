"""The simulator's WebSocket API: auth on the handshake, commands, channels, seq, injected faults."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kmm.kalshi.auth import WS_SIGN_PATH, Signer
from kmm_services.exchange.harness import SimHandle, running_simulator

ORDERS = "/trade-api/v2/portfolio/events/orders"


@pytest.fixture()
async def sim(signer: Signer) -> AsyncIterator[SimHandle]:
    async with running_simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=3) as handle:
        yield handle


async def ws(sim: SimHandle, signer: Signer) -> ClientConnection:
    return await connect(sim.ws_url, additional_headers=signer.headers("GET", WS_SIGN_PATH))


async def recv(conn: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    import asyncio

    return json.loads(await asyncio.wait_for(conn.recv(), timeout))


async def place(sim: SimHandle, signer: Signer, ticker: str, side: str, price: str, count: str,
                tif: str = "good_till_canceled", coid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ticker": ticker, "side": side, "count": count, "price": price, "time_in_force": tif,
                            "self_trade_prevention_type": "maker"}
    if coid:
        body["client_order_id"] = coid
    async with httpx.AsyncClient() as client:
        r = await client.post(sim.root_url + ORDERS, json=body, headers=signer.headers("POST", ORDERS))
    assert r.status_code == 201, r.text
    return r.json()


def first_ticker(sim: SimHandle) -> str:
    return sim.call(lambda: sim.exchange.markets()[0].ticker)


async def test_handshake_needs_a_signature(sim: SimHandle) -> None:
    with pytest.raises(InvalidStatus) as err:
        await connect(sim.ws_url)
    assert err.value.response.status_code == 401


async def test_orderbook_snapshot_then_deltas_with_per_sid_seq(sim: SimHandle, signer: Signer) -> None:
    ticker = first_ticker(sim)
    await place(sim, signer, ticker, "bid", "0.4000", "10")
    async with await ws(sim, signer) as conn:
        await conn.send(json.dumps({"id": 1, "cmd": "subscribe",
                                    "params": {"channels": ["orderbook_delta"], "market_tickers": [ticker]}}))
        sub = await recv(conn)
        assert sub == {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
        snap = await recv(conn)
        assert snap["type"] == "orderbook_snapshot" and snap["seq"] == 1 and snap["sid"] == 1
        assert snap["msg"]["yes_dollars_fp"] == [["0.4000", "10.00"]] and "no_dollars_fp" not in snap["msg"]
        await place(sim, signer, ticker, "ask", "0.6000", "3", coid="mine-1")
        delta = await recv(conn)
        assert delta["type"] == "orderbook_delta" and delta["seq"] == 2
        assert delta["msg"]["price_dollars"] == "0.4000" and delta["msg"]["side"] == "no"
        assert delta["msg"]["delta_fp"] == "3.00" and delta["msg"]["client_order_id"] == "mine-1"

        # injected seq gap: the next delta skips one
        async with httpx.AsyncClient() as client:
            await client.post(sim.admin_url + "/faults", json={"ws_seq_gaps": 1})
        await place(sim, signer, ticker, "bid", "0.3900", "1")
        assert (await recv(conn))["seq"] == 4

        await conn.send(json.dumps({"id": 2, "cmd": "update_subscription",
                                    "params": {"sids": [1], "action": "get_snapshot", "market_tickers": [ticker]}}))
        resnap = await recv(conn)
        assert resnap["type"] == "orderbook_snapshot" and resnap["seq"] == 5
        assert (await recv(conn))["type"] == "ok"


async def test_private_channels_and_trades(sim: SimHandle, signer: Signer) -> None:
    ticker = first_ticker(sim)
    async with await ws(sim, signer) as conn:
        await conn.send(json.dumps({"id": 1, "cmd": "subscribe",
                                    "params": {"channels": ["fill", "user_orders", "market_positions", "trade"]}}))
        acks = [await recv(conn) for _ in range(4)]
        assert [a["msg"]["sid"] for a in acks] == [1, 2, 3, 4]
        await place(sim, signer, ticker, "ask", "0.5500", "5", coid="rest")
        order_msg = await recv(conn)
        assert order_msg["type"] == "user_order" and order_msg["msg"]["status"] == "resting"
        # a second key-less participant is needed to trade against: use the engine directly
        from kmm.messages.units import COUNT_SCALE
        from kmm_services.exchange.orders import BID, IOC, CreateOrder

        def take() -> None:
            sim.exchange.open_account("taker", 10**12)
            sim.exchange.create_order("taker", CreateOrder(ticker, BID, 5500, 2 * COUNT_SCALE, time_in_force=IOC))

        sim.call(take)
        seen: dict[str, dict[str, Any]] = {}
        while {"fill", "trade", "market_position"} - set(seen):
            m = await recv(conn)
            seen[m["type"]] = m["msg"]
        assert seen["fill"]["count_fp"] == "2.00" and seen["fill"]["is_taker"] is False
        assert seen["fill"]["post_position_fp"] == "-2.00"
        assert seen["trade"]["taker_book_side"] == "bid" and seen["trade"]["yes_price_dollars"] == "0.5500"
        assert seen["market_position"]["position_fp"] == "-2.00"


async def test_command_errors_and_list(sim: SimHandle, signer: Signer) -> None:
    async with await ws(sim, signer) as conn:
        await conn.send(json.dumps({"id": 1, "cmd": "bogus", "params": {}}))
        assert (await recv(conn))["msg"]["code"] == 5
        await conn.send(json.dumps({"id": 2, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}))
        assert (await recv(conn))["msg"]["code"] == 14
        await conn.send(json.dumps({"id": 3, "cmd": "subscribe", "params": {"channels": ["nope"]}}))
        assert (await recv(conn))["msg"]["code"] == 8
        await conn.send(json.dumps({"id": 4, "cmd": "unsubscribe", "params": {"sids": [99]}}))
        assert (await recv(conn))["msg"]["code"] == 7
        await conn.send(json.dumps({"id": 5, "cmd": "subscribe", "params": {"channels": ["ticker"]}}))
        assert (await recv(conn))["type"] == "subscribed"
        await conn.send(json.dumps({"id": 6, "cmd": "subscribe", "params": {"channels": ["ticker"]}}))
        assert (await recv(conn)) == {"id": 6, "type": "subscribed", "msg": {"channel": "ticker", "sid": 2}}  # no 6
        await conn.send(json.dumps({"id": 7, "cmd": "list_subscriptions"}))
        assert (await recv(conn)) == {"id": 7, "type": "ok", "msg": [{"channel": "ticker", "sid": 1},
                                                                     {"channel": "ticker", "sid": 2}]}
        await conn.send(json.dumps({"id": 8, "cmd": "unsubscribe", "params": {"sids": [1, 2]}}))
        assert (await recv(conn)) == {"id": 8, "sid": 1, "seq": 0, "type": "unsubscribed"}
        assert (await recv(conn)) == {"id": 8, "sid": 2, "seq": 0, "type": "unsubscribed"}
        await conn.send("not json")
        assert (await recv(conn))["msg"]["code"] == 1


async def test_admin_drop_closes_connections(sim: SimHandle, signer: Signer) -> None:
    async with await ws(sim, signer) as conn:
        await conn.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
        await recv(conn)
        async with httpx.AsyncClient() as client:
            r = await client.post(sim.admin_url + "/ws/drop")
        assert r.json() == {"dropped": 1}
        with pytest.raises(ConnectionClosed):
            await recv(conn)


async def test_ticker_initial_snapshot_and_updates_on_change(sim: SimHandle, signer: Signer) -> None:
    ticker = first_ticker(sim)
    async with await ws(sim, signer) as conn:
        await conn.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["ticker"], "market_ticker": ticker, "send_initial_snapshot": True}}))
        assert (await recv(conn))["type"] == "subscribed"
        first = await recv(conn)
        assert first["type"] == "ticker" and first["msg"]["yes_bid_dollars"] == "0.0000"
        await place(sim, signer, ticker, "bid", "0.3300", "7")
        update = await recv(conn)
        assert update["type"] == "ticker" and update["msg"]["market_ticker"] == ticker
        assert update["msg"]["yes_bid_dollars"] == "0.3300" and update["msg"]["yes_bid_size_fp"] == "7.00"
