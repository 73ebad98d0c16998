"""The quoter forgets a settled market once it is out of the universe: on Kalshi markets are listed and
settled every day, and each would otherwise keep its model for good."""

import time
from typing import Any

from kmm.messages import (
    MARKET_SETTLED,
    BookUpdate,
    Fill,
    MarketInfo,
    PositionReport,
    QuoteIntent,
    Settlement,
    Universe,
)
from kmm_services.quoter.service import QuoterService, QuoterSettings

NS = 1_000_000_000


def quoter() -> tuple[QuoterService, list[QuoteIntent]]:
    q = QuoterService(QuoterSettings())
    sent: list[Any] = []
    q.publish_nowait = lambda stream, msg: sent.append(msg)  # type: ignore[method-assign]
    return q, sent


def info(market: str, status: str = "open") -> MarketInfo:
    return MarketInfo(market=market, status=status, close_ts=time.time_ns() + 3600 * NS)


async def test_days_of_markets_listed_and_settled_leave_no_model_behind() -> None:
    q, _ = quoter()
    for day in range(20):
        names = [f"KXDAY-{day}-T{i}" for i in range(50)]
        await q.on_reference("md:market", [info(n) for n in names])
        await q.on_reference("md:market", [info(n, MARKET_SETTLED) for n in names])
    assert q.models == {}


async def test_a_quoted_market_is_kept_until_it_leaves_the_universe_then_forgotten() -> None:
    q, sent = quoter()
    await q.on_reference("md:market", [info("M"), info("N")])
    await q.on_reference("sel:universe", [Universe(markets=("M", "N"))])
    await q.on_market_data("md:book", [BookUpdate(market="M", seq=1, bids=((4800, 10_000),),
                                                  asks=((5200, 10_000),), ts_init=time.time_ns())])
    assert sent and sent[-1].bid_count > 0
    await q.on_report(Fill(fill_id="f1", order_id="o", client_order_id="kmm-b-1", market="M", side="bid",
                           price=4800, count=100, seq=1), None)  # type: ignore[arg-type]
    await q.on_reference("md:market", [info("M", MARKET_SETTLED)])
    assert "M" in q.models  # still in the universe: the quoter is the one to pull its quotes
    await q.on_report(Settlement(market="M", result="yes", position=100, fill_seq=1), None)  # type: ignore[arg-type]
    await q.on_reference("sel:universe", [Universe(markets=("N",))])
    assert "M" not in q.models and "M" not in q.fill_seq and "M" not in q.recent_fills and "M" not in q.settled
    assert "N" in q.models


async def test_a_settlement_after_the_market_was_forgotten_does_not_bring_it_back() -> None:
    q, _ = quoter()
    await q.on_reference("md:market", [info("M"), info("M", MARKET_SETTLED)])
    await q.on_report(Settlement(market="M", result="no", position=0, fill_seq=0), None)  # type: ignore[arg-type]
    assert "M" not in q.models and "M" not in q.settled


async def test_the_flat_position_reports_after_a_market_ended_do_not_bring_it_back() -> None:
    q, _ = quoter()
    await q.on_reference("md:market", [info("M"), info("M", "closed")])
    await q.on_report(PositionReport(market="M", position=0, fill_seq=1), None)  # type: ignore[arg-type]
    assert "M" not in q.models
    await q.on_report(PositionReport(market="M", position=300, fill_seq=0), None)  # type: ignore[arg-type]
    assert q.models["M"].position == 300  # a real position is never ignored
