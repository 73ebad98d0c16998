"""The backtest's fees equal the simulator's to the cent on the same fills (one fee function,
``kmm.kalshi.fees.order_fill_fee``, with Kalshi's per-order rounding accumulator)."""

import pytest

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.eventlog import ASK, BID, EventLogBuilder, MarketMeta
from kmm.kalshi import fees
from kmm.messages.units import NS_PER_MS, NS_PER_S
from kmm_services.exchange.markets import DECI_CENT
from kmm_services.exchange.orders import CreateOrder

from ..exchange.engine_support import EVENT, TICKER, make_exchange
from .stubs import StaticPolicy

T0 = 1_800_000_000 * NS_PER_S

# (our bid, our ask) and the taker prints that fill them, in order: (side hit, count in 0.01 contract)
CASES = {
    "cents, split fills": ((4200, 4500), [(BID, 300), (BID, 700), (ASK, 400), (ASK, 400), (ASK, 200)]),
    "deci-cent, odd sizes": ((4230, 4570), [(BID, 100), (BID, 100), (BID, 100), (ASK, 700), (ASK, 300)]),
    "fractional contracts": ((1510, 8890), [(BID, 37), (BID, 263), (ASK, 150), (ASK, 1)]),
}


def simulator_fees(fee_type: str, bid: int, ask: int, prints: list[tuple[int, int]]) -> list[int]:
    ex, _ = make_exchange(users=("mm", "taker"), fee_type=fee_type, price_ranges=DECI_CENT)
    ex.create_order("mm", CreateOrder(TICKER, "bid", bid, 1000, post_only=True))
    ex.create_order("mm", CreateOrder(TICKER, "ask", ask, 1000, post_only=True))
    for side, count in prints:  # the taker sells into our bid or buys our ask
        taker_side, price = ("ask", bid) if side == BID else ("bid", ask)
        ex.create_order("taker", CreateOrder(TICKER, taker_side, price, count, time_in_force="immediate_or_cancel"))
    return [f.fee for f in ex._accounts["mm"].fills]


def backtest_fees(fee_type: str, bid: int, ask: int, prints: list[tuple[int, int]]) -> list[int]:
    b = EventLogBuilder("parity")
    b.set_market(MarketMeta(ticker=TICKER, event=EVENT, fee_type=fee_type))
    b.snapshot(T0, TICKER, [(bid - 500, 10_000)], [(ask + 500, 10_000)])
    for i, (side, count) in enumerate(prints):
        b.trade(T0 + (i + 1) * NS_PER_MS, TICKER, bid if side == BID else ask, count, taker_yes=side == ASK)
    cfg = RunConfig(fill=FillConfig(model="queue", place_latency_ns=0, cancel_latency_ns=0),
                    decision_interval_ns=NS_PER_S, record_fills=True)
    r = run(b.build(), StaticPolicy(bid=bid, bid_n=1000, ask=ask, ask_n=1000), cfg)
    assert [(f[3], f[5]) for f in r.fills] == prints  # the same fills, in the same order
    return [f[6] for f in r.fills]


@pytest.mark.parametrize("fee_type", ["quadratic_with_maker_fees", "quadratic_with_combo_maker_fees", "quadratic"])
@pytest.mark.parametrize("case", list(CASES))
def test_backtest_fees_equal_the_simulators_fill_by_fill(case: str, fee_type: str) -> None:
    (bid, ask), prints = CASES[case]
    sim = simulator_fees(fee_type, bid, ask, prints)
    bt = backtest_fees(fee_type, bid, ask, prints)
    assert bt == sim
    if fee_type == "quadratic" and case.startswith("cents"):
        assert sum(bt) == 0  # (sub-cent cash still pays Kalshi's rounding fee on a no-fee series)


def test_per_fill_cent_ceilings_overcharge_split_orders() -> None:
    # what the backtest charged before: each fill rounded up to the cent on its own
    prints = [(BID, 300), (BID, 700)]  # a 10-lot bid at 50c filled 3 then 7
    exact = backtest_fees("quadratic_with_maker_fees", 5000, 5500, prints)
    assert exact == simulator_fees("quadratic_with_maker_fees", 5000, 5500, prints) == [20_000, 30_000]
    per_fill = [fees.maker_fee(5000, n) for _, n in prints]
    assert sum(exact) == 50_000 and sum(per_fill) == 60_000  # $0.05 (one 10-lot's fee) against $0.06


@pytest.mark.parametrize(("fee_type", "ppm"), [("quadratic_with_combo_maker_fees", 500_000),
                                               ("quadratic_with_maker_fees", 1_250_000), ("", 1_000_000)])
def test_fee_multipliers_and_unknown_series_follow_the_one_fee_function(fee_type: str, ppm: int) -> None:
    # the simulator has no fee multiplier; the backtest charges kmm.kalshi.fees.order_fill_fee at the
    # series' rate × multiplier (unknown fee type: the standard maker rate), fill by fill with the
    # order's rounding accumulator
    (bid, ask), prints = CASES["deci-cent, odd sizes"]
    b = EventLogBuilder("parity")
    b.set_market(MarketMeta(ticker=TICKER, event=EVENT, fee_type=fee_type, fee_multiplier_ppm=ppm))
    b.snapshot(T0, TICKER, [(bid - 500, 10_000)], [(ask + 500, 10_000)])
    for i, (side, count) in enumerate(prints):
        b.trade(T0 + (i + 1) * NS_PER_MS, TICKER, bid if side == BID else ask, count, taker_yes=side == ASK)
    cfg = RunConfig(fill=FillConfig(model="queue", place_latency_ns=0, cancel_latency_ns=0),
                    decision_interval_ns=NS_PER_S, record_fills=True)
    r = run(b.build(), StaticPolicy(bid=bid, bid_n=1000, ask=ask, ask_n=1000), cfg)
    rate = fees.maker_rate(fee_type, ppm)
    acc = {BID: 0, ASK: 0}
    pos = 0
    want = []
    for side, count in prints:
        price = bid if side == BID else ask
        signed = count if side == BID else -count
        closing = min(abs(signed), abs(pos)) if pos * signed < 0 else 0
        revenue = ((10_000 - price) * closing - price * (count - closing)) if side == BID else \
            (price * closing - (10_000 - price) * (count - closing))
        ff = fees.order_fill_fee(rate, price, count, revenue, acc[side])
        acc[side] = ff.accumulator
        pos += signed
        want.append(ff.net_fee)
    assert [f[6] for f in r.fills] == want
    assert sum(want) > 0
