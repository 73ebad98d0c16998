"""The fidelity comparison: live fills vs the backtest of the same session, per market."""

from kmm.backtest.engine import FillConfig, RunConfig
from kmm.backtest.eventlog import EventLogBuilder, MarketMeta
from kmm.backtest.fidelity import MarketFigures, compare, figures_from_fills
from kmm.messages import ASK, BID, Fill
from kmm.messages.units import COUNT_SCALE, NS_PER_MS, NS_PER_S

from .stubs import StaticPolicy

T0 = 1_700_000_000 * NS_PER_S
C = COUNT_SCALE


def session():  # type: ignore[no-untyped-def]
    b = EventLogBuilder("rec")
    b.set_market(MarketMeta(ticker="KXF-A", result="yes", fee_type="quadratic"))  # no maker fee (unknown pays it)
    b.set_market(MarketMeta(ticker="KXF-B", fee_type="quadratic"))
    b.snapshot(T0, "KXF-A", [(4000, 100 * C)], [(4500, 100 * C)])
    b.snapshot(T0, "KXF-B", [(6000, 100 * C)], [(6500, 100 * C)])
    b.trade(T0 + NS_PER_MS, "KXF-A", 4000, 10 * C, taker_yes=False)
    return b.build()


def test_matching_live_fills_give_zero_differences() -> None:
    log = session()
    live = [Fill(fill_id="1", order_id="o", client_order_id="c", market="KXF-A", side=BID, price=4200,
                 count=10 * C)]
    rows = compare(log, StaticPolicy(bid=4200, bid_n=10 * C),
                   live, RunConfig(fill=FillConfig(model="trade_through", place_latency_ns=0)))
    by = {r["market"]: r for r in rows}
    assert by["KXF-A"]["fills_diff"] == 0 and by["KXF-A"]["pnl_diff"] == 0
    assert by["KXF-A"]["pnl_live"] == 10 * C * (10_000 - 4200)  # settled YES: $5.80
    assert by["KXF-B"]["fills_backtest"] == 0 and by["KXF-B"]["fills_diff"] == 0


def test_differences_are_reported_per_market() -> None:
    log = session()
    live = [Fill(fill_id="1", order_id="o", client_order_id="c", market="KXF-B", side=ASK, price=6500, count=2 * C,
                 fee=10_000)]
    rows = compare(log, StaticPolicy(bid=4200, bid_n=10 * C), live,
                   RunConfig(fill=FillConfig(model="trade_through", place_latency_ns=0)))
    by = {r["market"]: r for r in rows}
    assert by["KXF-A"]["fills_diff"] == 1 and by["KXF-A"]["bought_diff"] == 10 * C
    assert by["KXF-B"]["fills_diff"] == -1 and by["KXF-B"]["fees_live"] == 10_000
    # B is unsettled: marked at the last mid 0.625; short 2 at 0.65 → +$0.05 − $0.01 fee
    assert by["KXF-B"]["pnl_live"] == 2 * C * (6500 - 6250) - 10_000


def test_figures_from_fills_nets_buys_and_sells() -> None:
    fills = [Fill(fill_id=str(i), order_id="o", client_order_id="c", market="M", side=s, price=p, count=n)
             for i, (s, p, n) in enumerate([(BID, 4000, 300), (ASK, 4100, 100)])]
    f = figures_from_fills(fills, {"M": (10_000, True)})
    assert f["M"] == MarketFigures(fills=2, bought=300, sold=100, position=200, fees=0,
                                   pnl=-4000 * 300 + 4100 * 100 + 200 * 10_000)
