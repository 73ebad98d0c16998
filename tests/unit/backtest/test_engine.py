"""Hand-computed backtests: fill models, queue position, latency, fees, settlement, no book impact."""

import numpy as np
import pytest

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.eventlog import ASK, BID, EventLogBuilder, MarketMeta
from kmm.backtest.synthetic import generate
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, NS_PER_S

from .stubs import StaticPolicy

T0 = 1_700_000_000 * NS_PER_S
MS = NS_PER_MS
C = COUNT_SCALE
TICK = "KXTEST-26JAN01-T50"


def cfg(model: str = "queue", cancel: str = "proportional", place_ms: int = 0, cancel_ms: int = 0) -> RunConfig:
    return RunConfig(fill=FillConfig(model=model, cancel_model=cancel, place_latency_ns=place_ms * MS,
                                     cancel_latency_ns=cancel_ms * MS), decision_interval_ns=NS_PER_S,
                     record_fills=True)


def builder(result: str = "", maker_fees: bool = False, close_s: int = 0) -> EventLogBuilder:
    b = EventLogBuilder("test")
    b.set_market(MarketMeta(ticker=TICK, result=result, maker_fees=maker_fees,
                            fee_type="quadratic_with_maker_fees" if maker_fees else "quadratic",
                            close_ts=T0 + close_s * NS_PER_S if close_s else 0))
    # book: bid 0.40 × 100, ask 0.45 × 100
    b.snapshot(T0, TICK, [(4000, 100 * C)], [(4500, 100 * C)])
    return b


def test_trade_through_our_bid_fills_us() -> None:
    b = builder()
    b.trade(T0 + 1 * MS, TICK, 4000, 5 * C, taker_yes=False)  # a seller prints at 0.40, below our 0.42 bid
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), cfg("trade_through"))
    assert r.fills == [(T0 + 1 * MS, 0, 0, BID, 4200, 5 * C, 0)]
    assert r.per_market["position"][0, 0] == 5 * C
    assert r.per_market["cash"][0, 0] == -4200 * 5 * C  # −$2.10
    assert r.per_market["cash"][0, 0] == -2_100_000


def test_trade_at_our_price_does_not_fill_in_trade_through_model() -> None:
    b = builder()
    b.trade(T0 + 1 * MS, TICK, 4000, 500 * C, taker_yes=False)
    r = run(b.build(), StaticPolicy(bid=4000, bid_n=10 * C), cfg("trade_through"))
    assert r.fills == []


def test_trade_at_our_price_fills_only_once_queue_ahead_is_gone() -> None:
    b = builder()
    # we join the 0.40 bid behind 100 contracts
    b.trade(T0 + 1 * MS, TICK, 4000, 60 * C, taker_yes=False)  # queue 100 → 40, no fill
    b.delta(T0 + 1 * MS, TICK, BID, 4000, -60 * C)  # the print's own book delta: must not count twice
    b.delta(T0 + 2 * MS, TICK, BID, 4000, -20 * C)  # a cancel of 20 of the 40 left: all ahead of us → 20
    b.trade(T0 + 3 * MS, TICK, 4000, 15 * C, taker_yes=False)  # queue 20 → 5, no fill
    b.delta(T0 + 3 * MS, TICK, BID, 4000, -15 * C)
    b.trade(T0 + 4 * MS, TICK, 4000, 8 * C, taker_yes=False)  # 5 ahead, 3 for us
    r = run(b.build(), StaticPolicy(bid=4000, bid_n=10 * C), cfg("queue"))
    assert [(f[0], f[5]) for f in r.fills] == [(T0 + 4 * MS, 3 * C)]


def test_cancel_model_none_never_advances_the_queue_on_cancels() -> None:
    b = builder()
    b.delta(T0 + 2 * MS, TICK, BID, 4000, -20 * C)  # 100 → 80: with "none" the queue is capped at 80
    b.trade(T0 + 3 * MS, TICK, 4000, 85 * C, taker_yes=False)
    r = run(b.build(), StaticPolicy(bid=4000, bid_n=10 * C), cfg("queue", cancel="none"))
    assert [f[5] for f in r.fills] == [5 * C]
    b2 = builder()
    b2.delta(T0 + 2 * MS, TICK, BID, 4000, -20 * C)  # proportional: all 100 were ahead → 80 ahead too
    b2.trade(T0 + 3 * MS, TICK, 4000, 85 * C, taker_yes=False)
    r2 = run(b2.build(), StaticPolicy(bid=4000, bid_n=10 * C), cfg("queue", cancel="proportional"))
    assert [f[5] for f in r2.fills] == [5 * C]


def test_place_latency_delays_when_the_order_can_fill() -> None:
    b = builder()
    b.trade(T0 + 10 * MS, TICK, 4000, 5 * C, taker_yes=False)  # before our order lands (30 ms)
    b.trade(T0 + 40 * MS, TICK, 4000, 5 * C, taker_yes=False)  # after
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), cfg("trade_through", place_ms=30))
    assert [f[0] for f in r.fills] == [T0 + 40 * MS]


def test_a_fill_is_capped_by_the_print_and_by_our_size() -> None:
    b = builder()
    b.trade(T0 + 1 * MS, TICK, 3900, 4 * C, taker_yes=False)
    b.trade(T0 + 2 * MS, TICK, 3900, 50 * C, taker_yes=False)
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), cfg("trade_through"))
    assert [f[5] for f in r.fills] == [4 * C, 6 * C]


def test_ask_side_and_incoming_crossing_liquidity() -> None:
    b = builder()
    b.trade(T0 + 1 * MS, TICK, 4500, 3 * C, taker_yes=True)  # buyer lifts 0.45, through our 0.44 ask
    b.delta(T0 + 2 * MS, TICK, BID, 4400, 2 * C)  # a new 0.44 bid arrives: it would have matched our ask
    r = run(b.build(), StaticPolicy(ask=4400, ask_n=10 * C), cfg("queue"))
    assert [(f[3], f[4], f[5]) for f in r.fills] == [(ASK, 4400, 3 * C), (ASK, 4400, 2 * C)]
    assert r.per_market["position"][0, 0] == -5 * C


@pytest.mark.parametrize("result, expected_usd", [("yes", "5.75"), ("no", "-4.25")])
def test_fees_and_settlement_exact_to_the_cent(result: str, expected_usd: str) -> None:
    b = builder(result=result, maker_fees=True, close_s=60)
    b.trade(T0 + 1 * MS, TICK, 4000, 10 * C, taker_yes=False)
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), cfg("trade_through"))
    # maker fee: ceil(0.0175 × 10 × 0.42 × 0.58 = $0.04263) = $0.05
    assert r.per_market["fees"][0, 0] == 50_000
    from decimal import Decimal
    assert r.per_market["pnl_settled"][0, 0] == int(Decimal(expected_usd) * MONEY_SCALE)
    assert bool(r.settled_known[0])


def test_unknown_result_is_marked_at_last_mid_and_flagged() -> None:
    b = builder()
    b.trade(T0 + 1 * MS, TICK, 4000, 10 * C, taker_yes=False)
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), cfg("trade_through"))
    assert not bool(r.settled_known[0])
    # mid = (0.40 + 0.45)/2 = 0.425: 10 × (0.425 − 0.42) = $0.05
    assert r.per_market["pnl_settled"][0, 0] == 50_000


def test_no_quotes_after_close() -> None:
    b = builder(close_s=1)
    b.trade(T0 + 2 * NS_PER_S, TICK, 4000, 10 * C, taker_yes=False)
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), cfg("trade_through"))
    assert r.fills == []


def test_our_quotes_never_move_the_replayed_book() -> None:
    """A huge order and a one-lot at the same prices fill at the same moments: our size takes
    nothing out of the replayed book, so the prints that reach us are the same."""
    log = generate(seed=3, n_markets=2, events_per_market=3000, duration_s=600)
    before = log.events.copy()
    cfg = RunConfig(decision_interval_ns=50 * MS, record_fills=True)
    big = run(log, StaticPolicy(bid=5000, bid_n=100_000 * C, ask=5100, ask_n=100_000 * C), cfg)
    small = run(log, StaticPolicy(bid=5000, bid_n=C, ask=5100, ask_n=C), cfg)
    assert np.array_equal(log.events, before)
    assert big.fills and small.fills
    assert small.fills[0][:5] == big.fills[0][:5]  # first fill: same time, market, side, price
    assert big.events == len(log)


def test_two_sided_uptime_and_inventory_metrics_are_sane() -> None:
    log = generate(seed=5, n_markets=1, events_per_market=3000, duration_s=600)
    r = run(log, StaticPolicy(bid=100, bid_n=C, ask=9900, ask_n=C), RunConfig())
    assert 0.9 < r.per_market["quote_uptime"][0, 0] <= 1.0
    assert r.per_market["fills"][0, 0] == 0


def test_an_amend_that_would_cross_cancels_the_order() -> None:
    """Kalshi (and the simulator, kalshi-api.md §12) cancel a post-only order whose amend would cross;
    the order must not stand and fill later."""
    b = builder()  # bid 0.40 × 100, ask 0.45 × 100; we bid 0.42 × 10
    b.delta(T0 + 1 * MS, TICK, ASK, 4200, 2 * C)  # a 0.42 ask arrives: fills 2 of our 10, then rests
    b.trade(T0 + 50 * MS, TICK, 4000, 5 * C, taker_yes=False)  # a seller through our bid, after the top-up
    config = RunConfig(fill=FillConfig(model="queue", place_latency_ns=0, cancel_latency_ns=0,
                                       report_latency_ns=5 * MS), decision_interval_ns=NS_PER_S, record_fills=True)
    r = run(b.build(), StaticPolicy(bid=4200, bid_n=10 * C), config)
    # the fill report wakes the quoter, whose top-up to 10 at 0.42 would cross the 0.42 ask: cancelled
    assert [(f[0], f[5]) for f in r.fills] == [(T0 + 1 * MS, 2 * C)]
    assert r.per_market["position"][0, 0] == 2 * C
    assert r.per_market["orders_rejected"][0, 0] >= 1
