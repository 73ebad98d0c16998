"""The quoter never quotes off a stale book: it pulls, and its intents carry the book's age for risk."""

import time
from typing import Any

from kmm.messages import BookUpdate, MarketInfo, QuoteIntent
from kmm_services.quoter.service import QuoterService, QuoterSettings

NS = 1_000_000_000


def quoter() -> tuple[QuoterService, list[QuoteIntent]]:
    q = QuoterService(QuoterSettings(max_book_age_s=5.0))
    sent: list[Any] = []
    q.publish_nowait = lambda stream, msg: sent.append(msg)  # type: ignore[method-assign]
    q.universe = {"M"}
    q.model("M").on_info(MarketInfo(market="M", close_ts=time.time_ns() + 3600 * NS))
    return q, sent


def book(ts_init: int, seq: int = 7) -> BookUpdate:
    return BookUpdate(market="M", seq=seq, bids=((4800, 10_000),), asks=((5200, 10_000),), ts_init=ts_init)


async def test_a_fresh_book_is_quoted_and_the_intent_carries_its_age() -> None:
    q, sent = quoter()
    now = time.time_ns()
    await q.on_market_data("md:book", [book(now - 1 * NS)])
    assert sent and sent[-1].bid_count > 0 and sent[-1].book_ts == now - 1 * NS and sent[-1].book_seq == 7


async def test_a_stale_book_pulls_the_quotes_and_is_not_quoted() -> None:
    q, sent = quoter()
    now = time.time_ns()
    await q.on_market_data("md:book", [book(now)])
    assert sent[-1].bid_count > 0
    m = q.models["M"]
    q.requote(m, now + 6 * NS, force=True)  # six seconds on, no book since: the feed is down
    assert (sent[-1].bid_count, sent[-1].ask_count) == (0, 0) and sent[-1].reason == "stale book"
    n = len(sent)
    q.requote(m, now + 9 * NS, force=True)
    assert len(sent) == n  # pulled once, then silent until a fresh book
    await q.on_market_data("md:book", [book(time.time_ns() + 9 * NS)])
    assert sent[-1].bid_count > 0


async def test_the_intent_carries_the_whole_book_top_and_sigma_for_risk() -> None:
    q, sent = quoter()
    now = time.time_ns()
    await q.on_market_data("md:book", [BookUpdate(market="M", seq=9, bids=((4800, 10_000),),
                                                  asks=((5300, 10_000),), ts_init=now, ts_event=now - 5)])
    i = sent[-1]
    assert (i.book_bid, i.book_ask, i.book_seq, i.book_ts_event) == (4800, 5300, 9, now - 5)
    assert i.sigma == q.models["M"].price_vol.sigma > 0


async def test_a_stopping_quoter_pulls_every_live_quote_once() -> None:
    q, sent = quoter()
    now = time.time_ns()
    await q.on_market_data("md:book", [book(now)])
    assert sent[-1].bid_count > 0
    q.model("N")  # known but never quoted: nothing to pull
    n = len(sent)
    await q.on_stop()
    assert [(i.market, i.bid_count, i.ask_count, i.reason) for i in sent[n:]] == [("M", 0, 0, "quoter stopping")]
