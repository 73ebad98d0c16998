"""A post-only order that would cross, over HTTP and WS, in both simulator modes (kalshi-api.md §6.3,
§12 item 1): ``cancel`` (default) acks the create 201 / the amend 200 with the order canceled
(``last_update_reason`` ``post_only_cross_cancel``) and sends the ``user_order`` frame; ``reject``
answers 400 ``post_only_rejected`` and leaves an amended order as it was."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from kmm.kalshi.auth import WS_SIGN_PATH, Signer, generate_private_pem
from kmm_services.exchange.harness import SimHandle, running_simulator

API = "/trade-api/v2"
ORDERS = "/portfolio/events/orders"


@pytest.fixture()
def bob() -> Signer:
    return Signer.from_pem("bob", generate_private_pem())


def keys(*signers: Signer) -> dict[str, bytes]:
    return {s.key_id: s.public_pem() for s in signers}


async def rest(sim: SimHandle, who: Signer, method: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, sim.root_url + API + path, json=body,
                                    headers=who.headers(method, API + path))


def order_body(ticker: str, side: str, price: str, count: str, **extra: Any) -> dict[str, Any]:
    return {"ticker": ticker, "side": side, "price": price, "count": count, "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross", **extra}


async def user_order(conn: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next ``user_order`` frame's msg (other frames are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(conn.recv(), max(deadline - loop.time(), 0.01)))
        if frame["type"] == "user_order":
            return frame["msg"]


async def subscribed(sim: SimHandle, who: Signer) -> ClientConnection:
    conn = await connect(sim.ws_url, additional_headers=who.headers("GET", WS_SIGN_PATH))
    await conn.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["user_orders"]}}))
    assert json.loads(await asyncio.wait_for(conn.recv(), 5))["type"] == "subscribed"
    return conn


@pytest.fixture()
async def sim(signer: Signer, bob: Signer) -> AsyncIterator[SimHandle]:
    async with running_simulator(keys=keys(signer, bob), flow=False, n_markets=1) as handle:
        yield handle


async def test_crossing_post_only_create_is_acked_201_and_canceled(sim: SimHandle, signer: Signer,
                                                                    bob: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
    async with httpx.AsyncClient() as client:
        assert (await client.get(sim.admin_url + "/state")).json()["post_only_cross"] == "cancel"
    assert (await rest(sim, bob, "POST", ORDERS, order_body(ticker, "ask", "0.5000", "3"))).status_code == 201
    async with await subscribed(sim, signer) as conn:
        r = await rest(sim, signer, "POST", ORDERS,
                       order_body(ticker, "bid", "0.5000", "2", client_order_id="po-1", post_only=True))
        assert r.status_code == 201, r.text
        ack = r.json()
        assert (ack["client_order_id"], ack["fill_count"], ack["remaining_count"]) == ("po-1", "0.00", "0.00")
        frame = await user_order(conn)
    assert (frame["order_id"], frame["status"], frame["remaining_count_fp"], frame["fill_count_fp"]) == (
        ack["order_id"], "canceled", "0.00", "0.00")
    assert frame["last_update_reason"] == "post_only_cross_cancel"
    order = (await rest(sim, signer, "GET", f"/portfolio/orders/{ack['order_id']}")).json()["order"]
    assert (order["status"], order["remaining_count_fp"], order["last_update_reason"]) == (
        "canceled", "0.00", "post_only_cross_cancel")
    book = (await rest(sim, signer, "GET", f"/markets/{ticker}/orderbook")).json()["orderbook_fp"]
    assert book["yes_dollars"] == [] and book["no_dollars"] == [["0.5000", "3.00"]]


async def test_crossing_post_only_amend_cancels_the_order(sim: SimHandle, signer: Signer, bob: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
    assert (await rest(sim, bob, "POST", ORDERS, order_body(ticker, "ask", "0.5000", "3"))).status_code == 201
    mine = (await rest(sim, signer, "POST", ORDERS,
                       order_body(ticker, "bid", "0.4500", "2", client_order_id="po-2", post_only=True))).json()
    async with await subscribed(sim, signer) as conn:
        r = await rest(sim, signer, "POST", f"{ORDERS}/{mine['order_id']}/amend",
                       {"ticker": ticker, "side": "bid", "price": "0.5000", "count": "2",
                        "updated_client_order_id": "po-2b"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["order_id"], body["client_order_id"], body["fill_count"], body["remaining_count"]) == (
            mine["order_id"], "po-2b", "0.00", "0.00")
        frame = await user_order(conn)
    assert (frame["status"], frame["remaining_count_fp"], frame["last_update_reason"]) == (
        "canceled", "0.00", "post_only_cross_cancel")
    order = (await rest(sim, signer, "GET", f"/portfolio/orders/{mine['order_id']}")).json()["order"]
    assert (order["status"], order["client_order_id"], order["remaining_count_fp"]) == ("canceled", "po-2b", "0.00")
    book = (await rest(sim, signer, "GET", f"/markets/{ticker}/orderbook")).json()["orderbook_fp"]
    assert book["yes_dollars"] == []


async def test_legacy_v1_crossing_post_only_create_answers_the_canceled_order(sim: SimHandle, signer: Signer,
                                                                              bob: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
    assert (await rest(sim, bob, "POST", ORDERS, order_body(ticker, "ask", "0.5000", "3"))).status_code == 201
    r = await rest(sim, signer, "POST", "/portfolio/orders",
                   {"ticker": ticker, "side": "yes", "action": "buy", "count": 1, "yes_price": 50, "post_only": True})
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert (order["status"], order["remaining_count_fp"], order["last_update_reason"]) == (
        "canceled", "0.00", "post_only_cross_cancel")


async def test_reject_mode_answers_400_and_leaves_an_amended_order_resting(signer: Signer, bob: Signer) -> None:
    async with running_simulator(keys=keys(signer, bob), flow=False, n_markets=1,
                                 post_only_cross="reject") as sim:
        ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
        assert (await rest(sim, bob, "POST", ORDERS, order_body(ticker, "ask", "0.5000", "3"))).status_code == 201
        r = await rest(sim, signer, "POST", ORDERS, order_body(ticker, "bid", "0.5000", "2", post_only=True))
        assert r.status_code == 400 and r.json()["error"]["code"] == "post_only_rejected"
        mine = (await rest(sim, signer, "POST", ORDERS, order_body(ticker, "bid", "0.4500", "2",
                                                                   post_only=True))).json()
        r = await rest(sim, signer, "POST", f"{ORDERS}/{mine['order_id']}/amend",
                       {"ticker": ticker, "side": "bid", "price": "0.5000", "count": "2"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "post_only_rejected"
        order = (await rest(sim, signer, "GET", f"/portfolio/orders/{mine['order_id']}")).json()["order"]
        assert (order["status"], order["yes_price_dollars"], order["remaining_count_fp"]) == (
            "resting", "0.4500", "2.00")
