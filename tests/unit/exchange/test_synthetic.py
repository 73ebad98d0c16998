"""Synthetic markets: bracket probabilities, size distributions, determinism, and the report checks."""

import random
import statistics

import pytest

from kmm.messages.units import COUNT_SCALE, NS_PER_S
from kmm_services.exchange.orders import BID, GTC, CreateOrder
from kmm_services.exchange.report import evaluate, format_report, run_session
from kmm_services.exchange.sim import SimClock, Simulator
from kmm_services.exchange.synthetic import (
    HOUR_NS,
    TICK,
    Bracket,
    SyntheticEvent,
    draw_lot,
    draw_trade_size,
)


def _event(x: float, close_in_h: float) -> SyntheticEvent:
    edges = [-1.5, -0.5, 0.5, 1.5]
    brackets = [Bracket("T0", None, edges[0])] + [
        Bracket(f"B{i}", edges[i - 1], edges[i]) for i in range(1, len(edges))
    ] + [Bracket("T4", edges[-1], None)]
    return SyntheticEvent("E", 0, int(close_in_h * HOUR_NS), brackets, x=x)


@pytest.mark.parametrize("x", [-2.0, -0.3, 0.0, 0.7, 3.0])
def test_bracket_prices_sum_to_one(x: float) -> None:
    ev = _event(x, 6.5)
    total = sum(ev.fair(b.ticker, 0, 0.55) for b in ev.brackets)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_prices_converge_to_the_containing_bracket_at_close() -> None:
    ev = _event(0.2, 6.5)
    at_close = {b.ticker: ev.fair(b.ticker, ev.close_ns, 0.55) for b in ev.brackets}
    assert at_close["B2"] > 0.99
    assert sum(v for k, v in at_close.items() if k != "B2") < 0.01
    assert [b.ticker for b in ev.brackets if b.contains(0.2)] == ["B2"]


def test_trade_size_distribution_matches_the_tape() -> None:
    rng = random.Random(7)
    sizes = sorted(draw_trade_size(rng) for _ in range(20_000))
    assert 12 <= statistics.median(sizes) <= 25  # STATS.md: median 17-23
    assert 1_000 <= sizes[int(0.99 * len(sizes))] <= 4_000  # p99 2,000-2,500
    assert min(sizes) == 1
    lots = [draw_lot(rng) for _ in range(5_000)]
    assert statistics.median(lots) == 200  # delta median 200


def _fingerprint(seed: int) -> list[tuple[str, int, int, int]]:
    collector, scenario = run_session(seed=seed, hours=0.05, n_markets=3)
    trades = scenario.venue.exchange.trades(limit=1000).items  # type: ignore[attr-defined]
    return [(t.ticker, t.price, t.count, t.ts_ns) for t in trades]


def test_same_seed_same_session_and_other_seed_differs() -> None:
    a = _fingerprint(5)
    assert a, "the session should trade"
    assert a == _fingerprint(5)
    assert a != _fingerprint(6)


def test_report_statistics_within_documented_tolerances() -> None:
    hours = 0.5
    collector, scenario = run_session(seed=1, hours=hours, n_markets=5)
    checks = evaluate(collector, hours)
    failed = [c for c in checks if not c.ok]
    assert not failed, format_report(checks, hours, 1, len(collector.trade_sizes))
    assert scenario.now_ns >= scenario.cfg.start_ns + int(hours * HOUR_NS) + 60 * NS_PER_S


def test_the_simulator_forgets_its_participants_closed_orders_and_keeps_ours() -> None:
    """Synthetic makers cancel and repost all day: keeping their closed orders grew the simulator by
    ~2.4 GB an hour at 200 markets. Only our accounts keep a history (``get_order`` of a closed order)."""
    clock = SimClock(speed=0.0)  # virtual time moves only when the test advances it
    sim = Simulator(seed=3, n_markets=4, clock=clock, rate_limit=False)
    ex = sim.exchange
    ex.open_account("us", 10**12)
    ticker = next(iter(sim.strikes))
    ours = ex.create_order("us", CreateOrder(ticker=ticker, side=BID, price=TICK, count=COUNT_SCALE, time_in_force=GTC))
    ex.cancel_order("us", ours.order_id)
    for _ in range(600):  # ten virtual minutes of synthetic flow
        clock.advance(NS_PER_S)
        sim.step()
    participants = sim.scenario.accounts()
    assert ex.trades(limit=1).items, "the flow should trade"
    assert sum(len(ex.open_orders(a)) for a in participants) > 0
    for account in participants:
        assert len(ex.order_history(account)) == len(ex.open_orders(account)), account
    assert [o.order_id for o in ex.order_history("us")] == [ours.order_id]
