"""The private WS channels over a real connection, field by field (kalshi-api.md §8.4): a frame for
every change of an order (placed, amended, decreased, filled, cancelled by us, by a pause, by an
order group, by settlement), fills, positions, order-group updates, and ``sending_ts_ms`` on the
wall clock while event times run on the virtual clock."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from kmm.kalshi.auth import WS_SIGN_PATH, Signer, generate_private_pem
from kmm_services.exchange.harness import SimHandle, running_simulator

API = "/trade-api/v2"
FILL_FIELDS = {"trade_id", "order_id", "client_order_id", "market_ticker", "exchange_index", "is_taker", "side",
               "outcome_side", "book_side", "action", "yes_price_dollars", "count_fp", "fee_cost",
               "post_position_fp", "ts", "ts_ms", "subaccount"}
USER_ORDER_FIELDS = {"order_id", "client_order_id", "ticker", "status", "book_side", "yes_price_dollars",
                     "fill_count_fp", "remaining_count_fp", "initial_count_fp", "taker_fees_dollars",
                     "maker_fees_dollars", "order_group_id", "created_ts_ms", "last_updated_ts_ms"}
POSITION_FIELDS = {"user_id", "market_ticker", "position_fp", "position_cost_dollars", "realized_pnl_dollars",
                   "fees_paid_dollars", "position_fee_cost_dollars", "volume_fp"}
GROUP_FIELDS = {"event_type", "order_group_id", "contracts_limit_fp", "ts_ms"}
HOUR_MS = 3_600_000


@pytest.fixture()
def bob() -> Signer:
    return Signer.from_pem("bob", generate_private_pem())


@pytest.fixture()
async def sim(signer: Signer, bob: Signer) -> AsyncIterator[SimHandle]:
    keys = {signer.key_id: signer.public_pem(), bob.key_id: bob.public_pem()}
    async with running_simulator(keys=keys, flow=False, n_markets=3) as handle:
        yield handle


async def rest(sim: SimHandle, who: Signer, method: str, path: str, body: Any = None,
               params: dict[str, str] | None = None, expect: int = 200) -> Any:
    async with httpx.AsyncClient() as client:
        r = await client.request(method, sim.root_url + API + path, json=body, params=params,
                                 headers=who.headers(method, API + path))
    assert r.status_code == expect, r.text
    return r.json() if r.content else None


async def admin(sim: SimHandle, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient() as client:
        r = await client.post(sim.admin_url + path, json=body or {})
    assert r.status_code == 200, r.text
    return r.json()


def order_body(ticker: str, side: str, price: str, count: str, **extra: Any) -> dict[str, Any]:
    return {"ticker": ticker, "side": side, "price": price, "count": count, "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "maker", **extra}


class Frames:
    """Reads data frames and checks the envelope of each (sid, msg, wall-clock sending_ts_ms)."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.sent_ms: list[int] = []

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        if frame["type"] not in ("subscribed", "ok", "error", "unsubscribed"):
            assert isinstance(frame["sid"], int) and isinstance(frame["msg"], dict)
            assert isinstance(frame["sending_ts_ms"], int), frame
            self.sent_ms.append(frame["sending_ts_ms"])
        return frame

    async def expect(self, *types: str) -> list[dict[str, Any]]:
        """The next frames, which must have exactly these types in this order."""
        frames = [await self.next() for _ in types]
        assert [f["type"] for f in frames] == list(types), [(f["type"], f["msg"]) for f in frames]
        return frames


def check_user_order(msg: dict[str, Any], **want: Any) -> None:
    assert USER_ORDER_FIELDS <= set(msg), USER_ORDER_FIELDS - set(msg)
    assert isinstance(msg["created_ts_ms"], int) and isinstance(msg["last_updated_ts_ms"], int)
    for key, value in want.items():
        assert msg[key] == value, (key, msg[key], value)


async def test_every_order_change_reaches_the_private_channels(sim: SimHandle, signer: Signer, bob: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
    shard = sim.call(lambda: sim.exchange.market(ticker).exchange_index)
    await admin(sim, "/clock/advance", {"seconds": 3600})  # event times run an hour ahead of the wall clock
    wall_before = time.time_ns() // 1_000_000
    async with await connect(sim.ws_url, additional_headers=signer.headers("GET", WS_SIGN_PATH)) as conn:
        frames = Frames(conn)
        await conn.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["fill", "user_orders", "market_positions", "order_group_updates"]}}))
        await frames.expect("subscribed", "subscribed", "subscribed", "subscribed")

        group = await rest(sim, signer, "POST", "/portfolio/order_groups/create", {"contracts_limit_fp": "100"},
                           expect=201)
        gid = group["order_group_id"]
        (created,) = await frames.expect("order_group_updates")
        assert set(created["msg"]) >= GROUP_FIELDS and created["seq"] == 1
        assert (created["msg"]["event_type"], created["msg"]["order_group_id"],
                created["msg"]["contracts_limit_fp"]) == ("created", gid, "100.00")
        assert created["msg"]["ts_ms"] >= wall_before + HOUR_MS  # virtual clock

        # placed, amended, decreased
        ack = await rest(sim, signer, "POST", "/portfolio/events/orders",
                         order_body(ticker, "ask", "0.5500", "10", client_order_id="p-1", order_group_id=gid),
                         expect=201)
        oid = ack["order_id"]
        (placed,) = await frames.expect("user_order")
        check_user_order(placed["msg"], order_id=oid, client_order_id="p-1", ticker=ticker, status="resting",
                         book_side="ask", yes_price_dollars="0.5500", fill_count_fp="0.00",
                         remaining_count_fp="10.00", initial_count_fp="10.00", order_group_id=gid)
        assert placed["msg"]["created_ts_ms"] >= wall_before + HOUR_MS
        await rest(sim, signer, "POST", f"/portfolio/events/orders/{oid}/amend",
                   {"ticker": ticker, "side": "ask", "price": "0.5600", "count": "12"})
        (amended,) = await frames.expect("user_order")
        check_user_order(amended["msg"], status="resting", yes_price_dollars="0.5600", initial_count_fp="12.00",
                         remaining_count_fp="12.00")
        await rest(sim, signer, "POST", f"/portfolio/events/orders/{oid}/decrease",
                   {"reduce_by": "2", "market_ticker": ticker})
        (decreased,) = await frames.expect("user_order")
        check_user_order(decreased["msg"], remaining_count_fp="10.00", initial_count_fp="12.00")

        # filled by bob: fill, position, order update
        await rest(sim, bob, "POST", "/portfolio/events/orders",
                   order_body(ticker, "bid", "0.5600", "4", time_in_force="immediate_or_cancel"), expect=201)
        fill, position, partly = await frames.expect("fill", "market_position", "user_order")
        assert FILL_FIELDS <= set(fill["msg"]), FILL_FIELDS - set(fill["msg"])
        f = fill["msg"]
        assert (f["order_id"], f["client_order_id"], f["market_ticker"], f["exchange_index"]) == (oid, "p-1", ticker,
                                                                                                   shard)
        assert (f["is_taker"], f["book_side"], f["side"], f["outcome_side"], f["action"]) == (
            False, "ask", "no", "no", "buy")
        assert (f["yes_price_dollars"], f["count_fp"], f["post_position_fp"], f["subaccount"]) == (
            "0.5600", "4.00", "-4.00", 0)
        assert f["ts_ms"] >= wall_before + HOUR_MS and f["ts"] == f["ts_ms"] // 1000
        assert POSITION_FIELDS <= set(position["msg"])
        assert (position["msg"]["market_ticker"], position["msg"]["position_fp"],
                position["msg"]["position_cost_dollars"]) == (ticker, "-4.00", "1.7600")
        check_user_order(partly["msg"], status="resting", fill_count_fp="4.00", remaining_count_fp="6.00")

        # cancelled by us
        await rest(sim, signer, "DELETE", f"/portfolio/events/orders/{oid}", params={"market_ticker": ticker})
        (canceled,) = await frames.expect("user_order")
        check_user_order(canceled["msg"], status="canceled", remaining_count_fp="0.00", fill_count_fp="4.00")

        # cancelled by the exchange: a pause (cancel_order_on_pause)
        paused = await rest(sim, signer, "POST", "/portfolio/events/orders",
                            order_body(ticker, "bid", "0.3000", "5", cancel_order_on_pause=True), expect=201)
        await frames.expect("user_order")
        await admin(sim, "/pause")
        (by_pause,) = await frames.expect("user_order")
        check_user_order(by_pause["msg"], order_id=paused["order_id"], status="canceled")
        await admin(sim, "/resume")

        # cancelled by the exchange: the order group is triggered; then reset, limit, delete
        grouped = await rest(sim, signer, "POST", "/portfolio/events/orders",
                             order_body(ticker, "bid", "0.3100", "5", order_group_id=gid), expect=201)
        await frames.expect("user_order")
        await rest(sim, signer, "PUT", f"/portfolio/order_groups/{gid}/trigger", {})
        by_group, triggered = await frames.expect("user_order", "order_group_updates")
        check_user_order(by_group["msg"], order_id=grouped["order_id"], status="canceled", order_group_id=gid)
        assert triggered["msg"]["event_type"] == "triggered" and triggered["seq"] == 2
        await rest(sim, signer, "PUT", f"/portfolio/order_groups/{gid}/reset", {})
        await rest(sim, signer, "PUT", f"/portfolio/order_groups/{gid}/limit", {"contracts_limit_fp": "50"})
        await rest(sim, signer, "DELETE", f"/portfolio/order_groups/{gid}")
        later = await frames.expect("order_group_updates", "order_group_updates", "order_group_updates")
        assert [(g["msg"]["event_type"], g["msg"]["contracts_limit_fp"], g["seq"]) for g in later] == [
            ("reset", "100.00", 3), ("limit_updated", "50.00", 4), ("deleted", "50.00", 5)]

        # cancelled by settlement; positions zeroed
        last = await rest(sim, signer, "POST", "/portfolio/events/orders", order_body(ticker, "bid", "0.2000", "5"),
                          expect=201)
        await frames.expect("user_order")
        await admin(sim, f"/markets/{ticker}/settle", {"result": "no"})
        by_settlement, settled_position = await frames.expect("user_order", "market_position")
        check_user_order(by_settlement["msg"], order_id=last["order_id"], status="canceled")
        assert settled_position["msg"]["position_fp"] == "0.00"
        assert settled_position["msg"]["realized_pnl_dollars"] == "2.2400"  # long 4 NO at .44, NO won: 4 - 1.76
    wall_after = time.time_ns() // 1_000_000
    assert frames.sent_ms and all(wall_before <= t <= wall_after for t in frames.sent_ms)  # the wall clock


async def test_settlement_over_rest_and_lifecycle_frames(sim: SimHandle, signer: Signer, bob: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
    await rest(sim, signer, "POST", "/portfolio/events/orders", order_body(ticker, "ask", "0.7000", "10"), expect=201)
    await rest(sim, bob, "POST", "/portfolio/events/orders",
               order_body(ticker, "bid", "0.7000", "10", time_in_force="immediate_or_cancel"), expect=201)
    resting = await rest(sim, bob, "POST", "/portfolio/events/orders", order_body(ticker, "bid", "0.6000", "3"),
                         expect=201)
    before = await rest(sim, bob, "GET", "/portfolio/balance")
    async with await connect(sim.ws_url, additional_headers=bob.headers("GET", WS_SIGN_PATH)) as conn:
        frames = Frames(conn)
        await conn.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}}))
        await frames.expect("subscribed")
        await admin(sim, f"/markets/{ticker}/settle", {"result": "yes"})
        lifecycle = await frames.expect("market_lifecycle_v2", "market_lifecycle_v2", "market_lifecycle_v2")
    events = [(m["msg"]["market_ticker"], m["msg"]["event_type"], m["msg"].get("result")) for m in lifecycle]
    # settled before its close time: the close time moves to now; the close itself has no event (as Kalshi)
    assert events == [(ticker, "close_date_updated", None), (ticker, "determined", "yes"), (ticker, "settled", "yes")]
    assert lifecycle[0]["msg"]["close_ts"] <= time.time()
    (row,) = (await rest(sim, bob, "GET", "/portfolio/settlements"))["settlements"]
    assert (row["ticker"], row["market_result"], row["revenue"], row["value"]) == (ticker, "yes", 1000, 100)
    assert (row["yes_count_fp"], row["yes_total_cost_dollars"], row["no_count_fp"]) == ("10.00", "7.0000", "0.00")
    after = await rest(sim, bob, "GET", "/portfolio/balance")
    # +$10 payout; the resting bid's reservation ($1.80 + fee) is released by its cancellation
    assert after["balance"] - before["balance"] >= 1000
    order = (await rest(sim, bob, "GET", f"/portfolio/orders/{resting['order_id']}"))["order"]
    assert order["status"] == "canceled"
    assert (await rest(sim, bob, "GET", "/portfolio/positions"))["market_positions"] == []
    for status in ("settled", "all"):  # flat once settled, listed without count_filter=total_traded
        rows = (await rest(sim, bob, "GET", "/portfolio/positions", params={"settlement_status": status}))
        assert [(p["ticker"], p["position_fp"]) for p in rows["market_positions"]] == [(ticker, "0.00")], status
    (alice_row,) = (await rest(sim, signer, "GET", "/portfolio/settlements"))["settlements"]
    assert (alice_row["no_count_fp"], alice_row["no_total_cost_dollars"], alice_row["revenue"]) == (
        "10.00", "3.0000", 0)
