"""Acceptance: Kalshi's official SDK (kalshi-python-sync 3.34.0) drives the simulator with no
validation error: markets, orderbook, trades, create / amend / decrease / cancel, fills, positions,
balance, settlements, account limits and endpoint costs. The markets live on exchange index 1 (of
2), so cancels and decreases must carry ``market_ticker`` (Kalshi routes them to index 0 otherwise).

Install (Python 3.11 needs the flags; see kalshi-sdk-notes.md):
    pip install --no-deps --ignore-requires-python kalshi-python-sync==3.34.0
    pip install 'lazy-imports<2'   # its other dependencies are already ours
"""

import time
from collections.abc import Iterator

import pytest

from kmm.kalshi.auth import Signer, generate_private_pem
from kmm_services.exchange.harness import SimHandle, simulator

sdk = pytest.importorskip(
    "kalshi_python_sync",
    reason="kalshi-python-sync 3.34.0 not installed (pip install --no-deps --ignore-requires-python "
    "kalshi-python-sync==3.34.0 'lazy-imports<2')",
)
from kalshi_python_sync import Configuration, KalshiClient  # noqa: E402
from kalshi_python_sync.exceptions import ApiException, NotFoundException, UnauthorizedException  # noqa: E402


@pytest.fixture(scope="module")
def keys() -> dict[str, bytes]:
    return {"alice": generate_private_pem(), "bob": generate_private_pem()}


@pytest.fixture(scope="module")
def sim(keys: dict[str, bytes]) -> Iterator[SimHandle]:
    public = {k: Signer.from_pem(k, pem).public_pem() for k, pem in keys.items()}
    with simulator(keys=public, flow=False, n_markets=5, balance_dollars=1_000) as handle:
        yield handle


def client(sim: SimHandle, key_id: str | None = None, pem: bytes | None = None) -> KalshiClient:
    cfg = Configuration(host=sim.base_url)
    if key_id is not None and pem is not None:
        cfg.api_key_id = key_id
        cfg.private_key_pem = pem.decode()
    return KalshiClient(cfg)


def test_sdk_market_data_without_auth(sim: SimHandle) -> None:
    c = client(sim)
    status = c.get_exchange_status()
    assert status.trading_active is True
    assert [s.exchange_index for s in status.exchange_index_statuses] == [0, 1]
    c.get_exchange_schedule()
    markets = c.get_markets(limit=3, status="open")
    assert len(markets.markets) == 3 and markets.cursor
    page2 = c.get_markets(limit=3, status="open", cursor=markets.cursor)
    assert page2.cursor == "" and len(page2.markets) == 2
    m = c.get_market(ticker=markets.markets[0].ticker).market
    assert m.status == "active" and m.price_ranges[0].step == "0.0100"
    book = c.get_market_orderbook(ticker=m.ticker, depth=10)
    assert book.orderbook_fp.yes_dollars == [] and book.orderbook_fp.no_dollars == []
    c.get_market_orderbooks(tickers=[m.ticker])
    assert c.get_trades(ticker=m.ticker).trades == []
    events = c.get_events(with_nested_markets=True)
    assert events.events[0].mutually_exclusive is True
    ev = c.get_event(event_ticker=m.event_ticker)
    assert {x.ticker for x in ev.markets} >= {m.ticker}
    assert c.get_series(series_ticker=ev.event.series_ticker).series.ticker == ev.event.series_ticker
    c.get_series_list()
    with pytest.raises(NotFoundException):
        c.get_market(ticker="NOPE-1")


def test_sdk_private_call_without_key_is_401(sim: SimHandle) -> None:
    with pytest.raises(UnauthorizedException) as err:
        client(sim).get_balance()
    assert '"code":"authentication_error"' in (err.value.body or "").replace(" ", "")


def test_sdk_trading_round_trip(sim: SimHandle, keys: dict[str, bytes]) -> None:
    alice = client(sim, "alice", keys["alice"])
    bob = client(sim, "bob", keys["bob"])
    market = alice.get_markets(limit=1, status="open").markets[0]
    ticker = market.ticker
    assert market.exchange_index == 1
    balance = alice.get_balance()
    assert balance.balance == 100_000
    assert [(b.exchange_index, b.balance) for b in balance.balance_breakdown] == [(0, "1000.0000"), (1, "0.0000")]
    limits = alice.get_account_api_limits()
    assert (limits.write.refill_rate, limits.write.bucket_capacity) == (8000, 16000)
    costs = alice.get_account_endpoint_costs()
    assert costs.default_cost == 10 and {(c.method, c.path) for c in costs.endpoint_costs} >= {
        ("DELETE", "/portfolio/events/orders"), ("DELETE", "/portfolio/events/orders/batched")}

    # Alice rests an ask (sell YES) at 0.60 for 10, amends it to 0.58 x 12, decreases by 2.
    ack = alice.create_order_v2(ticker=ticker, side="ask", count="10", price="0.6000",
                                time_in_force="good_till_canceled", self_trade_prevention_type="taker_at_cross",
                                client_order_id="a-1", post_only=True)
    assert ack.remaining_count == "10.00" and ack.fill_count == "0.00"
    amended = alice.amend_order_v2(order_id=ack.order_id, ticker=ticker, side="ask", price="0.5800", count="12")
    with pytest.raises(NotFoundException):  # no market_ticker: routed to exchange index 0
        alice.decrease_order_v2(order_id=amended.order_id, reduce_by="2")
    dec = alice.decrease_order_v2(order_id=amended.order_id, reduce_by="2", market_ticker=ticker)
    assert dec.remaining_count == "10.00"
    assert alice.get_order_queue_position(order_id=amended.order_id).queue_position_fp == "0.00"
    book = alice.get_market_orderbook(ticker=ticker).orderbook_fp
    assert book.no_dollars == [["0.4200", "10.00"]]

    # Bob lifts 4 with an IOC bid; a trade, fills on both sides, positions +4 / -4.
    take = bob.create_order_v2(ticker=ticker, side="bid", count="4", price="0.6000",
                               time_in_force="immediate_or_cancel", self_trade_prevention_type="taker_at_cross")
    assert take.fill_count == "4.00" and take.average_fill_price == "0.5800"
    trades = bob.get_trades(ticker=ticker).trades
    assert [(t.count_fp, t.yes_price_dollars, t.taker_book_side) for t in trades] == [("4.00", "0.5800", "bid")]
    assert [f.count_fp for f in bob.get_fills(ticker=ticker).fills] == ["4.00"]
    alice_fills = alice.get_fills().fills
    assert alice_fills[0].is_taker is False and alice_fills[0].book_side == "ask"
    pos = bob.get_positions()
    assert [(p.ticker, p.position_fp) for p in pos.market_positions] == [(ticker, "4.00")]
    assert alice.get_positions(ticker=ticker).market_positions[0].position_fp == "-4.00"
    assert bob.get_balance().balance < 100_000
    now = int(time.time())
    series = alice.get_market(ticker=ticker).market.event_ticker.split("-")[0]
    candles = bob.get_market_candlesticks(series_ticker=series, ticker=ticker, start_ts=now - 600,
                                          end_ts=now + 600, period_interval=1).candlesticks
    assert sum(float(c.volume_fp) for c in candles) == 4 and candles[-1].price.close_dollars == "0.5800"
    batch = bob.batch_get_market_candlesticks(market_tickers=ticker, start_ts=now - 600, end_ts=now + 600,
                                              period_interval=60)
    assert batch.markets[0].market_ticker == ticker and batch.markets[0].candlesticks

    orders = alice.get_orders(ticker=ticker, status="resting")
    assert [(o.order_id, o.remaining_count_fp, o.fill_count_fp) for o in orders.orders] == [
        (amended.order_id, "6.00", "4.00")
    ]
    assert alice.get_order(order_id=amended.order_id).order.client_order_id == "a-1"
    cancel = alice.cancel_order_v2(order_id=amended.order_id, market_ticker=ticker)
    assert cancel.reduced_by == "6.00"
    assert alice.get_order(order_id=amended.order_id).order.status == "canceled"

    # Batch create and batch cancel; then cancel-all.
    from kalshi_python_sync.models import BatchCancelOrdersV2RequestOrdersInner, CreateOrderV2Request

    reqs = [CreateOrderV2Request(ticker=ticker, side="bid", count="1", price=p, time_in_force="good_till_canceled",
                                 self_trade_prevention_type="maker") for p in ("0.1000", "0.1100")]
    batch = alice.batch_create_orders_v2(orders=reqs)
    ids = [o.order_id for o in batch.orders]
    assert all(ids)
    unrouted = alice.batch_cancel_orders_v2(orders=[BatchCancelOrdersV2RequestOrdersInner(order_id=i) for i in ids])
    assert [o.error.code for o in unrouted.orders] == ["not_found", "not_found"]
    assert len(alice.get_orders(ticker=ticker, status="resting").orders) == 2
    cancelled = alice.batch_cancel_orders_v2(orders=[
        BatchCancelOrdersV2RequestOrdersInner(order_id=i, market_ticker=ticker) for i in ids])
    assert [o.reduced_by for o in cancelled.orders] == ["1.00", "1.00"]
    alice.create_order_v2(ticker=ticker, side="bid", count="1", price="0.1000", time_in_force="good_till_canceled",
                          self_trade_prevention_type="maker")
    alice.cancel_all_orders()
    assert alice.get_orders(status="resting").orders == []

    # Settle YES through the admin API: Bob (long 4) gets $4, settlements readable by the SDK.
    import httpx

    r = httpx.post(f"{sim.admin_url}/markets/{ticker}/settle", json={"result": "yes"})
    assert r.status_code == 200, r.text
    settlements = bob.get_settlements().settlements
    assert [(s.ticker, s.market_result, s.revenue) for s in settlements] == [(ticker, "yes", 400)]
    assert alice.get_market(ticker=ticker).market.status == "finalized"
    assert bob.get_positions(settlement_status="all").market_positions is not None


def test_sdk_errors_are_api_exceptions(sim: SimHandle, keys: dict[str, bytes]) -> None:
    alice = client(sim, "alice", keys["alice"])
    ticker = alice.get_markets(limit=2, status="open").markets[1].ticker
    with pytest.raises(ApiException) as err:
        alice.create_order_v2(ticker=ticker, side="bid", count="1", price="0.4250",
                              time_in_force="good_till_canceled", self_trade_prevention_type="maker")
    assert err.value.status == 400 and "invalid_price" in err.value.body
    with pytest.raises(NotFoundException):
        alice.cancel_order_v2(order_id="00000000-0000-0000-0000-000000000000")

