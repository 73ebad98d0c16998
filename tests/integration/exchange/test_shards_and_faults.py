"""Over HTTP with our own client: shard routing of batch cancels (asserted from the simulator's own
records), the ambiguous-outcome faults (processed-then-5xx, latency past the client's timeout), the
admin order/position records and per-key tiers."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kmm.kalshi import errors as e
from kmm.kalshi.auth import Signer, generate_private_pem
from kmm.kalshi.ratelimit import RateLimiter
from kmm.kalshi.rest import CancelItem, KalshiRest, NewOrder
from kmm.messages.units import fp_to_count
from kmm_services.exchange.harness import SimHandle, running_simulator
from kmm_services.exchange.markets import shard_for
from tests.helpers import aeventually

C = 100  # one contract in count units


def event_on(shard: int) -> str:
    return next(e for e in (f"KXR-E{k}" for k in range(100)) if shard_for(e, 2) == shard)


@pytest.fixture()
async def sim(signer: Signer) -> AsyncIterator[SimHandle]:
    async with running_simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=0) as handle:
        async with httpx.AsyncClient() as client:
            for shard in (0, 1):
                ev = event_on(shard)
                r = await client.post(handle.admin_url + "/markets", json={"ticker": f"{ev}-A", "event_ticker": ev})
                assert r.status_code == 201, r.text
        yield handle


async def faults(sim: SimHandle, **body: Any) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.post(sim.admin_url + "/faults", json=body)
    assert r.status_code == 200, r.text


async def admin_get(sim: SimHandle, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(sim.admin_url + path, params=params)


def status_of(sim: SimHandle, user: str, order_id: str) -> str:
    return sim.call(lambda: sim.exchange.get_order(user, order_id).status)


async def test_batch_cancel_without_tickers_misses_the_other_shard(sim: SimHandle, signer: Signer) -> None:
    t0, t1 = f"{event_on(0)}-A", f"{event_on(1)}-A"
    async with KalshiRest(sim.base_url, signer=signer) as api:
        markets = {m.ticker: m for m in (await api.get_markets()).items}
        assert [markets[t].raw["exchange_index"] for t in (t0, t1)] == [0, 1]
        acks = await api.batch_create([NewOrder(t, "bid", 1000 + 100 * i, C) for t in (t0, t1) for i in range(2)])
        ids = [a.order_id for a in acks]
        unrouted = await api.batch_cancel(ids)  # bare ids: Kalshi sends them all to exchange index 0
        assert [a.error is None for a in unrouted] == [True, True, False, False]
        assert {a.error.code for a in unrouted[2:] if a.error is not None} == {"not_found"}
        assert [status_of(sim, signer.key_id, i) for i in ids] == ["canceled", "canceled", "resting", "resting"]
        routed = await api.batch_cancel([(ids[2], t1), CancelItem(ids[3], market_ticker=t1)])
        assert [a.reduced_by for a in routed] == [C, C] and all(a.error is None for a in routed)
        assert [status_of(sim, signer.key_id, i) for i in ids[2:]] == ["canceled", "canceled"]
        # single cancel and decrease route the same way; cancel-all covers both shards
        one = await api.create_order(ticker=t1, side="ask", price=9000, count=3 * C)
        with pytest.raises(e.NotFound):
            await api.decrease_order(one.order_id, reduce_by=C)
        assert (await api.decrease_order(one.order_id, reduce_by=C, market_ticker=t1)).remaining_count == 2 * C
        with pytest.raises(e.NotFound):
            await api.cancel_order(one.order_id)
        await api.create_order(ticker=t0, side="ask", price=9000, count=C)
        await api.cancel_all()
        assert sim.call(lambda: sim.exchange.open_orders(signer.key_id)) == []


async def test_processed_then_5xx_lands_exactly_once(sim: SimHandle, signer: Signer) -> None:
    ticker = f"{event_on(1)}-A"
    await faults(sim, error_after_next=1, error_status=502, paths=["/portfolio/events/orders"])
    async with KalshiRest(sim.base_url, signer=signer, max_retries=0) as api:
        with pytest.raises(e.Ambiguous):
            await api.create_order(ticker=ticker, side="bid", price=4000, count=C, client_order_id="amb-1")
    orders = sim.call(lambda: [(o.client_order_id, o.status) for o in sim.exchange.order_history(signer.key_id)])
    assert orders == [("amb-1", "resting")]  # the client saw a 502, the order rests
    # asked to re-send, the client re-sends the same client_order_id, gets 409, and reads the order back
    await faults(sim, error_after_next=1, error_status=500, paths=["/portfolio/events/orders"])
    async with KalshiRest(sim.base_url, signer=signer) as api:
        ack = await api.create_order(ticker=ticker, side="bid", price=3900, count=C, client_order_id="amb-2",
                                     retry_unknown=True)
    history = sim.call(lambda: [o.client_order_id for o in sim.exchange.order_history(signer.key_id)])
    assert history == ["amb-1", "amb-2"] and ack.client_order_id == "amb-2"


async def test_latency_past_the_client_timeout_lands_late(sim: SimHandle, signer: Signer) -> None:
    ticker = f"{event_on(0)}-A"
    await faults(sim, latency_ms=1500, latency_paths=["/portfolio/events/orders"])
    async with KalshiRest(sim.base_url, signer=signer, timeout=0.3, max_retries=0) as api:
        assert (await api.get_market(ticker)).ticker == ticker  # other paths are not delayed
        with pytest.raises(e.Ambiguous):
            await api.create_order(ticker=ticker, side="bid", price=4000, count=C, client_order_id="late-1")
    assert sim.call(lambda: sim.exchange.order_history(signer.key_id)) == []  # not yet: it is in flight

    async def landed() -> bool:
        r = await admin_get(sim, "/orders", user=signer.key_id)
        return [(o["client_order_id"], o["status"]) for o in r.json()["orders"]] == [("late-1", "resting")]

    await aeventually(landed, timeout=10, what="the late order rests although its client gave up")


async def test_admin_orders_and_positions_are_the_exchanges_records(sim: SimHandle, signer: Signer) -> None:
    ticker = f"{event_on(1)}-A"
    sim.call(lambda: sim.exchange.open_account("mm", 10**12))
    from kmm_services.exchange.orders import ASK, BID, IOC, CreateOrder

    async with KalshiRest(sim.base_url, signer=signer) as api:
        first = await api.create_order(ticker=ticker, side="bid", price=5000, count=10 * C, client_order_id="k-1")
        sim.call(lambda: sim.exchange.create_order("mm", CreateOrder(ticker, ASK, 5000, 10 * C, time_in_force=IOC)))
        await api.create_order(ticker=ticker, side="ask", price=4000, count=4 * C, client_order_id="k-2")
        sim.call(lambda: sim.exchange.create_order("mm", CreateOrder(ticker, BID, 4000, 4 * C, time_in_force=IOC)))
    r = await admin_get(sim, "/orders", user=signer.key_id)
    orders = r.json()["orders"]
    assert [(o["client_order_id"], o["status"], o["fill_count_fp"], o["remaining_count_fp"]) for o in orders] == [
        ("k-1", "executed", "10.00", "0.00"), ("k-2", "executed", "4.00", "0.00")]
    o = orders[0]
    assert (o["order_id"], o["ticker"], o["exchange_index"], o["side"], o["yes_price_dollars"],
            o["initial_count_fp"]) == (first.order_id, ticker, 1, "bid", "0.5000", "10.00")
    assert isinstance(o["created_ts_ms"], int)
    (pos,) = (await admin_get(sim, "/positions", user=signer.key_id)).json()["positions"]
    assert (pos["ticker"], pos["position_fp"], pos["max_abs_position_fp"], pos["exchange_index"]) == (
        ticker, "6.00", "10.00", 1)
    assert fp_to_count(pos["max_abs_position_fp"]) == 10 * C
    assert (await admin_get(sim, "/orders")).status_code == 400
    assert (await admin_get(sim, "/orders", user=signer.key_id, status="resting")).json()["orders"] == []
    assert len((await admin_get(sim, "/orders", user=signer.key_id, status="executed")).json()["orders"]) == 2
    assert (await admin_get(sim, "/positions", user="nobody")).status_code == 404


async def test_each_key_has_its_tier_and_the_client_builds_the_same_buckets(sim: SimHandle) -> None:
    small = Signer.from_pem("small", generate_private_pem())
    async with httpx.AsyncClient() as client:
        r = await client.post(sim.admin_url + "/accounts", json={
            "key_id": small.key_id, "public_key_pem": small.public_pem().decode(), "tier": "basic"})
        assert r.status_code == 201 and r.json()["tier"] == "basic"
        bad = await client.post(sim.admin_url + "/accounts", json={
            "key_id": "x", "public_key_pem": small.public_pem().decode(), "tier": "platinum"})
        assert bad.status_code == 400
    async with KalshiRest(sim.base_url, signer=small) as api:
        limits = await api.get_account_limits()
        lim = RateLimiter.from_account_limits(limits, await api.get_endpoint_costs())
    assert limits["usage_tier"] == "basic"
    assert (lim.write.rate, lim.write.capacity, lim.read.capacity, lim.max_batch) == (100, 200, 200, 20)
    assert lim.cost("DELETE", "/portfolio/events/orders") == 40
    assert sim.sim.limiter.tier_of("test-key") == "prestige"


async def test_the_signature_is_checked_on_arrival_not_after_the_latency(sim: SimHandle, signer: Signer) -> None:
    """A long latency spike must not turn a valid request into a 401: the exchange received it in time."""
    import time

    from kmm_services.exchange.auth import PAST_TOLERANCE_MS

    path = "/trade-api/v2/portfolio/events/orders"
    body = {"ticker": f"{event_on(0)}-A", "side": "bid", "count": "1", "price": "0.4000",
            "time_in_force": "good_till_canceled", "self_trade_prevention_type": "maker"}
    await faults(sim, latency_ms=2500, latency_paths=["/portfolio/events/orders"])
    signed_at = int(time.time() * 1000) - PAST_TOLERANCE_MS + 1500  # valid on arrival, stale 2.5 s later
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(sim.root_url + path, json=body, headers=signer.headers("POST", path, now_ms=signed_at))
    assert r.status_code == 201, r.text
