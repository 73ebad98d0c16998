"""The Kalshi client library against the loopback simulator (kmm_services.exchange.harness).

Covers every REST endpoint the client offers, pagination, auth failures, duplicate client_order_id,
429 backoff, 5xx/timeout classification (admin fault injection), and the WS client: snapshot + deltas
rebuilding the same book as REST, seq gap → resnapshot, reconnect after a server drop.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kmm import messages as m
from kmm.kalshi import auth, wire
from kmm.kalshi import constants as c
from kmm.kalshi import errors as e
from kmm.kalshi.rest import IOC, KalshiRest, NewOrder
from kmm.kalshi.ws import Connected, Disconnected, KalshiWs, Resnapshot
from tests.helpers import aeventually

harness = pytest.importorskip("kmm_services.exchange.harness", reason="simulator harness not available yet")

TRADER, MAKER = "trader-key", "maker-key"


@dataclass
class Env:
    sim: Any
    trader: KalshiRest
    maker: KalshiRest
    signer: auth.Signer
    maker_signer: auth.Signer
    admin: httpx.AsyncClient
    sleeps: list[float]
    statuses: list[tuple[str, int]]


@pytest.fixture(scope="module")
def keys() -> dict[str, bytes]:
    return {TRADER: auth.generate_private_pem(), MAKER: auth.generate_private_pem(pkcs8=True)}


@pytest.fixture
async def env(keys) -> AsyncIterator[Env]:
    signers = {k: auth.Signer.from_pem(k, pem) for k, pem in keys.items()}
    async with harness.running_simulator(keys={k: s.public_pem() for k, s in signers.items()}, flow=False) as sim:
        sleeps: list[float] = []
        statuses: list[tuple[str, int]] = []

        async def fast_sleep(s: float) -> None:
            sleeps.append(s)
            await asyncio.sleep(min(s, 0.01))

        trader = KalshiRest(sim.base_url, signer=signers[TRADER], sleep=fast_sleep, backoff_base=0.01,
                            on_request=lambda t, meth, sec, st: statuses.append((t, st)))
        maker = KalshiRest(sim.base_url, signer=signers[MAKER])
        async with httpx.AsyncClient(base_url=sim.admin_url) as admin:
            yield Env(sim, trader, maker, signers[TRADER], signers[MAKER], admin, sleeps, statuses)
        await trader.aclose()
        await maker.aclose()


async def faults(env: Env, **changes: Any) -> None:
    resp = await env.admin.post("/faults", json=changes)
    assert resp.status_code < 300, resp.text


async def open_market(api: KalshiRest) -> wire.Market:
    page = await api.get_markets(status="open", limit=1000)
    assert page.items, "the simulator lists no open market"
    return page.items[0]


async def test_market_data_endpoints_and_pagination(env: Env):
    status = await env.trader.get_exchange_status()
    assert status.exchange_active and status.trading_active
    everything = (await env.trader.get_markets(limit=1000)).items
    assert len(everything) >= 3
    paged = [mk.ticker async for mk in env.trader.iter_markets(limit=2)]
    assert paged == [mk.ticker for mk in everything]
    pages_fetched = sum(1 for t, st in env.statuses if t == c.MARKETS and st == 200)
    assert pages_fetched >= 3  # 1 big page + at least 2 small ones
    mk = await open_market(env.trader)
    one = await env.trader.get_market(mk.ticker)
    assert one.ticker == mk.ticker and one.tick_ranges and one.close_ts > 0
    assert one.to_market_info().status == "open"
    book = await env.trader.get_orderbook(mk.ticker)
    assert isinstance(book, wire.OrderBook)
    books = await env.trader.get_orderbooks([mk.ticker])
    assert books[mk.ticker] == book
    event = await env.trader.get_event(mk.event_ticker)
    assert event.event_ticker == mk.event_ticker and mk.ticker in {x.ticker for x in event.markets}
    events = [ev.event_ticker async for ev in env.trader.iter_events(limit=1)]
    assert mk.event_ticker in events
    series = await env.trader.get_series(mk.series)
    assert series.ticker == mk.series
    assert mk.series in {s.ticker for s in await env.trader.list_series()}
    with pytest.raises(e.NotFound):
        await env.trader.get_market("NO-SUCH-MARKET")


async def test_candlesticks(env: Env):
    mk = await open_market(env.trader)
    await env.maker.create_order(ticker=mk.ticker, side="ask", price=6000, count=100)
    await env.trader.create_order(ticker=mk.ticker, side="bid", price=6000, count=100, time_in_force=IOC)
    now = int(time.time())
    try:
        candles = await env.trader.get_candlesticks(mk.series, mk.ticker, start_ts=now - 3600, end_ts=now + 60,
                                                    period_interval=1)
    except e.NotFound as exc:
        pytest.skip(f"the simulator does not serve candlesticks ({exc})")
    assert candles and candles[-1].close == 6000 and sum(x.volume for x in candles) == 100


async def test_order_lifecycle_and_portfolio(env: Env):
    mk = await open_market(env.trader)
    t = mk.ticker
    ack = await env.trader.create_order(ticker=t, side="bid", price=1000, count=500, client_order_id="life-1")
    assert ack.order_id and ack.remaining_count == 500 and ack.client_order_id == "life-1"
    order = await env.trader.get_order(ack.order_id)
    assert (order.side, order.price, order.remaining_count, order.status) == ("bid", 1000, 500, "resting")
    for i in range(2):
        await env.trader.create_order(ticker=t, side="bid", price=1100 + 100 * i, count=100)
    listed = [o.order_id async for o in env.trader.iter_orders(ticker=t, status="resting", limit=2)]
    assert len(listed) == 3 and ack.order_id in listed
    assert await env.trader.get_queue_position(ack.order_id) == 0
    assert ack.order_id in await env.trader.get_queue_positions(market_tickers=[t])
    amended = await env.trader.amend_order(ack.order_id, ticker=t, side="bid", price=1200, count=400)
    assert amended.order_id
    decreased = await env.trader.decrease_order(amended.order_id, reduce_by=100, market_ticker=t)
    assert decreased.remaining_count == 300
    canceled = await env.trader.cancel_order(decreased.order_id, market_ticker=t)
    assert canceled.reduced_by == 300
    batch = await env.trader.batch_create([NewOrder(t, "bid", 900, 100), NewOrder(t, "bid", 12345, 100)])
    assert batch[0].order_id and batch[0].error is None
    assert isinstance(batch[1].error, e.Rejected)
    cancels = await env.trader.batch_cancel([(batch[0].order_id, t), ("no-such-order", t)])
    assert cancels[0].reduced_by == 100 and cancels[1].error is not None
    await env.trader.cancel_all()
    assert [o async for o in env.trader.iter_orders(ticker=t, status="resting")] == []

    # a cross between two accounts: fills, positions, trades, balance
    before = await env.trader.get_balance()
    await env.maker.create_order(ticker=t, side="ask", price=6000, count=300)
    taker = await env.trader.create_order(ticker=t, side="bid", price=6000, count=300, time_in_force=IOC)
    assert taker.fill_count == 300
    fills = [f async for f in env.trader.iter_fills(ticker=t, limit=1)]
    assert sum(f.count for f in fills) == 300 and all(f.price == 6000 and f.side == "bid" for f in fills)
    positions = {p.ticker: p async for p in env.trader.iter_positions()}
    assert positions[t].position == 300
    trades = [tr async for tr in env.trader.iter_trades(ticker=t)]
    assert sum(tr.count for tr in trades) == 300 and trades[0].taker_side == "yes"
    after = await env.trader.get_balance()
    assert after.balance <= before.balance - 300 * 6000  # cost plus any fee
    assert isinstance([s async for s in env.trader.iter_settlements()], list)


async def test_order_groups(env: Env):
    group = await env.trader.create_order_group(contracts_limit=1000)
    assert group.order_group_id
    got = await env.trader.get_order_group(group.order_group_id)
    assert got.order_group_id == group.order_group_id
    assert group.order_group_id in {g.order_group_id for g in await env.trader.list_order_groups()}
    await env.trader.set_order_group_limit(group.order_group_id, 2000)
    await env.trader.trigger_order_group(group.order_group_id)
    await env.trader.reset_order_group(group.order_group_id)
    await env.trader.delete_order_group(group.order_group_id)
    with pytest.raises(e.NotFound):
        await env.trader.get_order_group(group.order_group_id)


class ShiftedSigner:
    """Signs correctly but with a timestamp ``shift_ms`` away from now."""

    def __init__(self, signer: auth.Signer, shift_ms: int) -> None:
        self.signer, self.shift_ms = signer, shift_ms

    def headers(self, method: str, path: str) -> dict[str, str]:
        return self.signer.headers(method, path, now_ms=int(time.time() * 1000) + self.shift_ms)


async def test_auth_failures_are_rejected_401(env: Env, keys):
    wrong_key = auth.Signer.from_pem(TRADER, auth.generate_private_pem())
    unknown = auth.Signer.from_pem("nobody", keys[TRADER])
    stale = ShiftedSigner(env.signer, -120_000)
    for signer, code in ((wrong_key, "authentication_error"), (unknown, "authentication_error"),
                         (stale, "header_timestamp_expired")):
        async with KalshiRest(env.sim.base_url, signer=signer) as api:  # type: ignore[arg-type]
            with pytest.raises(e.Unauthorized) as exc:
                await api.get_balance()
            assert isinstance(exc.value, e.Rejected) and exc.value.status == 401 and exc.value.code == code
    async with KalshiRest(env.sim.base_url) as anonymous:
        with pytest.raises(e.Rejected):
            await anonymous.get_balance()
        assert (await anonymous.get_exchange_status()).exchange_active  # public needs no key


async def test_duplicate_client_order_id_is_409(env: Env):
    mk = await open_market(env.trader)
    await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100, client_order_id="dup-1")
    with pytest.raises(e.DuplicateOrder) as exc:
        await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100, client_order_id="dup-1")
    assert exc.value.status == 409


async def test_backoff_on_429(env: Env):
    await faults(env, rate_limit_next=2)
    env.statuses.clear()
    status = await env.trader.get_exchange_status()
    assert status.exchange_active
    assert [st for t, st in env.statuses] == [429, 429, 200]
    assert len(env.sleeps) == 2 and all(s > 0 for s in env.sleeps)
    await faults(env, rate_limit_next=10)
    async with KalshiRest(env.sim.base_url, max_retries=1, sleep=_nosleep) as api:
        with pytest.raises(e.RateLimited):
            await api.get_exchange_status()
    await faults(env, rate_limit_next=0)


async def _nosleep(_s: float) -> None:
    return None


async def test_5xx_classification(env: Env):
    mk = await open_market(env.trader)
    await faults(env, error_next=1, error_status=503)
    assert (await env.trader.get_market(mk.ticker)).ticker == mk.ticker  # GET retried
    ack = await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100)
    await faults(env, error_next=1, error_status=500)
    with pytest.raises(e.Ambiguous):
        await env.trader.cancel_order(ack.order_id)  # a write is never blindly retried
    # a create's unknown outcome is the caller's to resolve (never re-sent unless asked) ...
    await faults(env, error_next=1, error_status=502)
    with pytest.raises(e.Ambiguous):
        await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100)
    # ... and when asked it is re-sent with the same client_order_id and lands exactly once
    await faults(env, error_next=1, error_status=502)
    placed = await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100,
                                           client_order_id="retry-5xx", retry_unknown=True)
    assert placed.order_id
    same = [o async for o in env.trader.iter_orders(ticker=mk.ticker) if o.client_order_id == "retry-5xx"]
    assert len(same) == 1


async def test_timeouts_are_ambiguous_on_writes(env: Env):
    mk = await open_market(env.trader)
    ack = await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100)
    await faults(env, latency_ms=1000)
    try:
        async with KalshiRest(env.sim.base_url, signer=env.signer, timeout=0.2, max_retries=0) as slow:
            with pytest.raises(e.Ambiguous):
                await slow.cancel_order(ack.order_id)
            with pytest.raises(e.Retryable):
                await slow.get_exchange_status()
    finally:
        await faults(env, latency_ms=0)


# --- WebSocket ---------------------------------------------------------------------------------


async def rest_book(api: KalshiRest, ticker: str) -> wire.OrderBook:
    return await api.get_orderbook(ticker)


async def books_agree(ws: KalshiWs, api: KalshiRest, ticker: str) -> bool:
    local = ws.book(ticker)
    if local is None or not local.valid:
        return False
    rest = await rest_book(api, ticker)
    return local.bids() == rest.bids and local.asks() == rest.asks


async def seed(api: KalshiRest, ticker: str, n: int = 3, base: int = 2000) -> None:
    for i in range(n):
        await api.create_order(ticker=ticker, side="bid", price=base + 100 * i, count=100 + i)
        await api.create_order(ticker=ticker, side="ask", price=8000 - 100 * i, count=200 + i)


async def test_ws_snapshot_and_deltas_match_rest(env: Env):
    mk = await open_market(env.trader)
    await seed(env.maker, mk.ticker)
    seen: list[Any] = []
    async with KalshiWs(env.sim.ws_url, signer=env.signer, on_event=seen.append) as ws:
        await ws.subscribe([c.CH_ORDERBOOK], [mk.ticker])
        await ws.subscribe([c.CH_FILL, c.CH_USER_ORDERS, c.CH_POSITIONS])
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)
        await seed(env.maker, mk.ticker, base=2500)
        await env.trader.create_order(ticker=mk.ticker, side="bid", price=8000, count=150, time_in_force=IOC)
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)
        assert any(isinstance(x, m.BookUpdate) and not x.snapshot for x in seen)
        await aeventually(lambda: _true(any(isinstance(x, wire.Fill) for x in seen)), timeout=10)
        await aeventually(lambda: _true(any(isinstance(x, wire.Order) for x in seen)), timeout=10)
        await aeventually(lambda: _true(any(isinstance(x, wire.Position) for x in seen)), timeout=10)
        subs = await ws.list_subscriptions()
        assert {s["channel"] for s in subs} >= {c.CH_ORDERBOOK, c.CH_FILL}


async def test_ws_private_events_are_typed_and_carry_sending_ts_ms(env: Env):
    mk = await open_market(env.trader)
    seen: list[Any] = []
    async with KalshiWs(env.sim.ws_url, signer=env.signer, on_event=seen.append) as ws:
        await ws.subscribe([c.CH_FILL, c.CH_USER_ORDERS, c.CH_POSITIONS, c.CH_ORDER_GROUPS])
        group = await env.trader.create_order_group(5000)
        ack = await env.trader.create_order(ticker=mk.ticker, side="ask", price=6000, count=300,
                                            client_order_id="ws-1", order_group_id=group.order_group_id)
        await env.maker.create_order(ticker=mk.ticker, side="bid", price=6000, count=100, time_in_force=IOC)

        def private() -> list[Any]:
            return [x for x in seen if isinstance(x, wire.Fill | wire.Order | wire.Position | wire.OrderGroupUpdate)]

        await aeventually(lambda: _true(len(private()) >= 5), timeout=10, what="group, order, fill, position, order")
        kinds = [type(x).__name__ for x in private()]
        assert kinds[:5] == ["OrderGroupUpdate", "Order", "Fill", "Position", "Order"]
        g, placed, fill, pos, partly = private()[:5]
        assert (g.event_type, g.order_group_id, g.contracts_limit) == ("created", group.order_group_id, 5000)
        assert (placed.order_id, placed.client_order_id, placed.status, placed.remaining_count) == (
            ack.order_id, "ws-1", "resting", 300)
        assert (fill.order_id, fill.count, fill.post_position, fill.exchange_index) == (
            ack.order_id, 100, -100, mk.raw["exchange_index"])
        assert pos.position == -100 and (partly.fill_count, partly.remaining_count) == (100, 200)
        assert all(x.sending_ts_ms > 0 for x in private())


async def test_ws_public_without_auth(env: Env):
    mk = await open_market(env.trader)
    await seed(env.maker, mk.ticker)
    seen: list[Any] = []
    async with KalshiWs(env.sim.ws_url, on_event=seen.append, backoff_base=1.0) as ws:
        first = await aeventually(lambda: _first(seen, (Connected, Disconnected)), timeout=10)
        if isinstance(first, Disconnected) and "401" in first.reason:
            pytest.skip("the simulator requires auth on every WS connection (as current Kalshi docs say)")
        await ws.subscribe([c.CH_ORDERBOOK], [mk.ticker])
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)


async def _first(events: list[Any], kinds: tuple[type, ...]) -> Any:
    return next((x for x in events if isinstance(x, kinds)), None)


async def test_ws_seq_gap_triggers_resnapshot(env: Env):
    mk = await open_market(env.trader)
    await seed(env.maker, mk.ticker)
    seen: list[Any] = []
    async with KalshiWs(env.sim.ws_url, signer=env.signer, on_event=seen.append) as ws:
        await ws.subscribe([c.CH_ORDERBOOK], [mk.ticker])
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)
        await faults(env, ws_seq_gaps=1)
        await seed(env.maker, mk.ticker, n=2, base=3000)
        await aeventually(lambda: _true(any(isinstance(x, Resnapshot) for x in seen)), timeout=10)
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)


async def test_ws_reconnects_after_server_drop(env: Env):
    mk = await open_market(env.trader)
    await seed(env.maker, mk.ticker)
    seen: list[Any] = []
    async with KalshiWs(env.sim.ws_url, signer=env.signer, on_event=seen.append, backoff_base=0.05) as ws:
        await ws.subscribe([c.CH_ORDERBOOK], [mk.ticker])
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)
        await faults(env, drop_ws=True)
        await aeventually(lambda: _true(any(isinstance(x, Connected) and x.reconnects >= 1 for x in seen)),
                          timeout=10)
        assert any(isinstance(x, Disconnected) for x in seen)
        await seed(env.maker, mk.ticker, n=2, base=3500)
        await aeventually(lambda: books_agree(ws, env.trader, mk.ticker), timeout=10)


async def _true(value: bool) -> bool:
    return value


async def test_update_subscription_adds_markets_to_a_book_subscription(env: Env):
    """add_markets on an orderbook sid is acked (the ack takes a seq number) and the new books arrive."""
    tickers = [mk.ticker async for mk in env.trader.iter_markets(status="open")][:3]
    await env.maker.create_order(NewOrder(ticker=tickers[2], side="bid", price=3000, count=500))
    ws = KalshiWs(env.sim.ws_url, signer=env.signer)
    ws.start()
    try:
        await ws.wait_connected()
        sub = await ws.subscribe([c.CH_ORDERBOOK, c.CH_TICKER], tickers[:1])
        for ch in sub.channels:
            reply = await ws.update_subscription(sub, "add_markets", tickers[1:], channel=ch, timeout=5)
            assert sorted(reply["market_tickers"]) == sorted(tickers)
        book = await aeventually(lambda: _book_with_bid(ws, tickers[2]), timeout=10, what="book of an added market")
        assert book.bids[0] == (3000, 500)
        assert not [ev for ev in _drain(ws) if isinstance(ev, Resnapshot)]
    finally:
        await ws.close()


async def _book_with_bid(ws: KalshiWs, ticker: str) -> m.BookUpdate | None:
    book = ws.book(ticker)
    return book.to_book_update() if book is not None and book.bids() else None


def _drain(ws: KalshiWs) -> list[Any]:
    out = []
    while not ws._queue.empty():
        out.append(ws._queue.get_nowait())
    return out



async def test_a_cancel_refused_for_a_stale_timestamp_is_signed_anew_and_the_order_is_gone(env: Env):
    """The simulator refuses the first cancel's timestamp (its clock 15 s ahead, as after a step of ours);
    the client signs the retry anew and the simulator's own book no longer holds the order."""
    mk = await open_market(env.trader)
    ack = await env.trader.create_order(ticker=mk.ticker, side="bid", price=1000, count=100)
    refused: list[str] = []

    async def clock_caught_up(s: float) -> None:  # the backoff before the retry: the step is over
        await faults(env, clock_skew_ms=0)

    api = KalshiRest(env.sim.base_url, signer=env.signer, sleep=clock_caught_up,
                     on_error=lambda template, err: refused.append(err.code))
    await faults(env, clock_skew_ms=15_000)
    try:
        await api.cancel_order(ack.order_id, market_ticker=mk.ticker)
    finally:
        await faults(env, clock_skew_ms=0)
        await api.aclose()
    assert refused == [e.STALE_TIMESTAMP]
    resting = (await env.admin.get("/orders", params={"user": TRADER, "status": "resting"})).json()["orders"]
    assert ack.order_id not in {o["order_id"] for o in resting}
