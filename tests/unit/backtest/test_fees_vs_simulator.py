"""The backtest charges a maker exactly what the exchange simulator charges for the same fills:
Kalshi's fixed-point fee with the per-order rounding accumulator, on whole and fractional counts."""

import pytest

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.eventlog import EventLogBuilder, MarketMeta
from kmm.messages.units import NS_PER_MS, NS_PER_S
from kmm_services.exchange.engine import Exchange
from kmm_services.exchange.orders import ASK, BID, IOC, CreateOrder

from .stubs import StaticPolicy

T0 = 1_800_000_000 * NS_PER_S
TICK = "KXFEE-26DEC31-A"
USD = 1_000_000


@pytest.mark.parametrize("fee_type", ["quadratic_with_maker_fees", "quadratic"])
@pytest.mark.parametrize("prints", [[137, 200, 50, 613], [100] * 7, [1, 999], [333, 333, 334]])
def test_maker_fees_equal_the_simulators(fee_type: str, prints: list[int]) -> None:
    size = sum(prints)  # our bid: exactly what the prints fill (counts in 0.01 contract)
    b = EventLogBuilder("fees")
    b.set_market(MarketMeta(ticker=TICK, fee_type=fee_type))
    b.snapshot(T0, TICK, [(4000, 50_000)], [(4500, 50_000)])
    for k, count in enumerate(prints):
        b.trade(T0 + (k + 1) * NS_PER_MS, TICK, 4100, count, taker_yes=False)  # through our 0.42 bid
    cfg = RunConfig(fill=FillConfig(model="trade_through", place_latency_ns=0), record_fills=True)
    res = run(b.build(), StaticPolicy(bid=4200, bid_n=size), cfg)
    assert [f[5] for f in res.fills] == prints

    clock = [T0]
    ex = Exchange(lambda: clock[0])
    ex.create_market(TICK, "KXFEE-26DEC31", fee_type=fee_type)
    for u in ("mm", "taker"):
        ex.open_account(u, 1000 * USD)
    ex.create_order("mm", CreateOrder(TICK, BID, 4200, size))
    for count in prints:
        ex.create_order("taker", CreateOrder(TICK, ASK, 4200, count, time_in_force=IOC))
    sim_fees = ex.position("mm", TICK).fees_paid
    assert int(res.per_market["fees"][0, 0]) == sim_fees
    assert [f[6] for f in res.fills] == [f.trade_fee + f.rounding_fee - f.rebate
                                         for f in reversed(ex.fills("mm").items)]
