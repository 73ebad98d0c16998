"""Sharded marketdata: every replica hears every trade and polls every market, yet each book, trade
and market is published by exactly one replica, so the streams carry each once whatever the count."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from kmm.bus.topology import MD_BOOK, MD_MARKET, MD_TRADE
from kmm.chassis.settings import describe
from kmm.kalshi import wire
from kmm.messages import BookUpdate, Message, Universe
from kmm_services.marketdata.service import MarketDataService, MarketDataSettings

TICKERS = [f"KXSHARD-26JAN01-T{i}" for i in range(40)]


class Recorder:
    """Stands in for the bus publisher: keeps what was published, per stream."""

    def __init__(self) -> None:
        self.sent: dict[str, list[Message]] = {}

    def publish_nowait(self, stream: str, msg: Message) -> None:
        self.sent.setdefault(stream, []).append(msg)


class StubApi:
    """The open markets, an event and a series for the reference lookups."""

    def __init__(self, tickers: list[str]) -> None:
        self.markets = [wire.parse_market({"ticker": t, "event_ticker": "KXSHARD-26JAN01", "status": "active"})
                        for t in tickers]

    async def iter_markets(self, **_: object) -> AsyncIterator[wire.Market]:
        for mk in self.markets:
            yield mk

    async def get_event(self, ticker: str) -> wire.Event:
        return wire.parse_event({"event_ticker": ticker, "mutually_exclusive": True})

    async def get_series(self, ticker: str) -> wire.Series:
        return wire.parse_series({"ticker": ticker, "fee_type": "quadratic"})


def shard(index: int, count: int) -> tuple[MarketDataService, Recorder]:
    svc = MarketDataService(MarketDataSettings(shard_index=index, shard_count=count))
    rec = Recorder()
    svc.publisher = rec  # type: ignore[assignment]
    svc.api = StubApi(TICKERS)  # type: ignore[assignment]
    return svc, rec


def feed(svc: MarketDataService) -> None:
    svc.set_universe(Universe(markets=tuple(TICKERS)))
    for n, t in enumerate(TICKERS):
        svc.on_ws_event(BookUpdate(market=t, seq=1, bids=((40, 100),), asks=((45, 100),)), 1)
        svc.on_ws_event(wire.PublicTrade(trade_id=f"tr{n}", ticker=t, price=42, count=100, taker_side="yes"), 1)
    asyncio.run(svc.poll_markets())


@pytest.mark.parametrize("count", [1, 2, 3])
def test_each_book_trade_and_market_is_published_by_exactly_one_shard(count: int) -> None:
    recs = []
    for index in range(count):
        svc, rec = shard(index, count)
        feed(svc)
        recs.append(rec)
    books = [m.market for r in recs for m in r.sent.get(MD_BOOK, [])]
    trades = [m.trade_id for r in recs for m in r.sent.get(MD_TRADE, [])]
    markets = [m.market for r in recs for m in r.sent.get(MD_MARKET, [])]
    assert sorted(books) == sorted(TICKERS)
    assert sorted(trades) == sorted(f"tr{n}" for n in range(len(TICKERS)))
    assert sorted(markets) == sorted(TICKERS)
    if count > 1:  # the split is real: no replica does it all
        assert all(0 < len(r.sent.get(MD_TRADE, [])) < len(TICKERS) for r in recs)


def test_a_shard_index_outside_the_count_fails_at_start_naming_the_setting() -> None:
    with pytest.raises(ValidationError) as exc:
        MarketDataSettings(shard_index=2, shard_count=2)
    (line,) = describe(exc.value)
    assert line.startswith("invalid setting KMM_SHARD_INDEX") and "KMM_SHARD_COUNT (2)" in line
