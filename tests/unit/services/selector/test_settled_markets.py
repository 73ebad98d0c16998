"""The selector forgets a settled market: it leaves the next selection, and nothing of it stays."""

import time

from kmm.messages import MARKET_SETTLED, MarketInfo, Trade
from kmm_services.selector.service import SelectorService, SelectorSettings

NS = 1_000_000_000


def trade(market: str, ts: int) -> Trade:
    return Trade(market=market, trade_id=f"t-{market}", taker_side="yes", price=4900, count=100, ts_event=ts)


def info(market: str, status: str = "open") -> MarketInfo:
    return MarketInfo(market=market, status=status, close_ts=time.time_ns() + 48 * 3600 * NS, volume_24h=50_000,
                      yes_bid=4800, yes_ask=5100)


async def test_a_settled_market_leaves_the_selection_and_its_state_goes() -> None:
    s = SelectorService(SelectorSettings(min_trades_per_h=0, enter_score=0, exit_score=0, min_dwell_s=0))
    now = time.time_ns()
    await s.on_market_data("md:market", [info("A"), info("B")])
    await s.on_market_data("md:trade", [trade(m, now) for m in ("A", "B")])
    assert set(s.selector.update(s.stats(now), now).markets) == {"A", "B"}

    await s.on_market_data("md:market", [info("A", MARKET_SETTLED)])
    assert s.selector.update(s.stats(now), now).markets == ("B",)
    assert "A" not in s.infos and "A" not in s.vols and "A" not in s.rates


async def test_days_of_markets_listed_and_settled_leave_nothing_behind() -> None:
    s = SelectorService(SelectorSettings())
    for day in range(20):
        names = [f"KXDAY-{day}-T{i}" for i in range(50)]
        await s.on_market_data("md:market", [info(n) for n in names])
        await s.on_market_data("md:trade", [trade(n, time.time_ns()) for n in names])
        await s.on_market_data("md:market", [info(n, MARKET_SETTLED) for n in names])
    assert s.infos == {} and s.vols == {} and s.rates == {}
