"""The risk service exports per-market series only for the markets it has been in, and forgets a settled
market it never traded: on Kalshi markets are listed and settled every day."""

import time
from typing import Any

from prometheus_client import REGISTRY

from kmm.messages import BID, MARKET_SETTLED, Fill, MarketInfo, QuoteIntent
from kmm_services.risk.service import RiskService, RiskSettings

NS = 1_000_000_000


def risk() -> RiskService:
    r = RiskService(RiskSettings())

    async def save(market: str | None = None) -> None:
        pass

    r.save = save  # type: ignore[method-assign]
    r.publish_nowait = lambda stream, msg: None  # type: ignore[method-assign]
    return r


def exported(market: str) -> bool:
    return REGISTRY.get_sample_value("kmm_position_contracts", {"market": market}) is not None


async def test_only_markets_we_were_in_get_series_and_settled_unknowns_are_forgotten() -> None:
    r = risk()
    d: Any = None
    listed = [f"KXSERIES-T{i}" for i in range(20)]
    await r.on_market_data("md:market", [MarketInfo(market=m) for m in listed])
    await r.on_message(Fill(fill_id="f1", order_id="o1", client_order_id="c1", market=listed[0], side=BID,
                            price=4000, count=100, seq=1), d)
    r.export_metrics()
    assert exported(listed[0])
    assert not any(exported(m) for m in listed[1:])

    await r.on_market_data("md:market", [MarketInfo(market=m, status=MARKET_SETTLED) for m in listed])
    r.export_metrics()
    assert set(r.engine.markets) == {listed[0]}  # the one we traded keeps its ledger
    assert exported(listed[0])


async def test_a_settled_market_whose_orders_left_without_a_fill_loses_its_series() -> None:
    r = risk()
    market = "KXSERIES-ORDERS"
    await r.on_market_data("md:market", [MarketInfo(market=market)])
    r.engine.on_order(market, "c1", BID, 4000, 100)
    r.export_metrics()
    assert exported(market)
    r.engine.on_order_done(market, "c1")
    await r.on_market_data("md:market", [MarketInfo(market=market, status=MARKET_SETTLED)])
    assert market not in r.engine.markets and market not in r.exported
    assert not exported(market)


async def test_the_quoters_last_pull_of_an_ended_market_does_not_bring_it_back() -> None:
    r = risk()
    market = "KXSERIES-PULLED"
    await r.on_market_data("md:market", [MarketInfo(market=market), MarketInfo(market=market, status="closed")])
    now = time.time_ns()
    await r.on_intent(QuoteIntent(intent_id="pull", market=market, book_ts=now, book_bid=4800, book_ask=5200,
                                  sigma=5.0, expires_at_ns=now + 10 * NS))
    assert market not in r.engine.markets and market not in r.book_ts
