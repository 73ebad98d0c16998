"""Risk reads no book stream: the intent's book top and σ are what it checks against and marks with."""

import time
from typing import Any

from kmm.messages import Approval, Denial, MarketInfo, QuoteIntent
from kmm.risk.reasons import BID_CROSSES_BOOK
from kmm_services.risk.service import RiskService, RiskSettings

NS = 1_000_000_000


def risk() -> tuple[RiskService, list[Any]]:
    r = RiskService(RiskSettings())
    sent: list[Any] = []
    r.publish_nowait = lambda stream, msg: sent.append(msg)  # type: ignore[method-assign]
    r.engine.on_market(MarketInfo(market="M"))
    return r, sent


def intent(n: int, book_ts: int, bid: int, ask: int, sigma: float = 5.0, bp: int = 4800) -> QuoteIntent:
    return QuoteIntent(intent_id=f"i{n}", market="M", bid_price=bp, bid_count=1000, ask_price=5400,
                       ask_count=1000, book_ts=book_ts, book_bid=bid, book_ask=ask, sigma=sigma,
                       expires_at_ns=time.time_ns() + 10 * NS)


async def test_crossing_and_mark_come_from_the_intents_book() -> None:
    r, sent = risk()
    now = time.time_ns()
    await r.on_intent(intent(1, now, 4900, 5000, bp=5000))  # our bid at the book's ask: crosses
    a = sent[-1]
    assert isinstance(a, Approval) and a.bid_count == 0 and a.ask_count == 1000
    assert r.engine.markets["M"].mark == 4950 and r.engine.markets["M"].best_ask == 5000
    await r.on_intent(intent(2, now + 1, 4700, 5100, bp=5000))  # a newer book: the same bid fits
    assert sent[-1].bid_count == 1000 and r.engine.markets["M"].mark == 4900


async def test_an_intent_priced_off_an_older_book_does_not_move_the_mark() -> None:
    r, sent = risk()
    now = time.time_ns()
    await r.on_intent(intent(1, now, 4900, 5100, sigma=10.0))
    await r.on_intent(intent(2, now - NS, 3000, 3200, sigma=20.0))
    m = r.engine.markets["M"]
    assert (m.best_bid, m.best_ask, m.mark, m.sigma) == (4900, 5100, 5000, 10.0)


async def test_sigma_from_the_intent_scales_size_and_an_unknown_one_is_ignored() -> None:
    r, sent = risk()
    now = time.time_ns()
    await r.on_intent(intent(1, now, 4700, 5500, sigma=20.0))  # 4× σ_ref: a quarter of the size
    assert sent[-1].bid_count == 1000 * 5 // 20 // 100 * 100  # floored to whole contracts
    await r.on_intent(intent(2, now + 1, 4700, 5500, sigma=0.0))
    assert r.engine.markets["M"].sigma == 20.0


async def test_a_stale_book_in_the_intent_may_only_reduce() -> None:
    r, sent = risk()
    old = time.time_ns() - 60 * NS
    await r.on_intent(intent(1, old, 4700, 5500))
    assert isinstance(sent[-1], Denial) and sent[-1].code == "stale_book"
    assert BID_CROSSES_BOOK not in sent[-1].detail
