"""The write budget goes first to cancels and decreases, then to the most wrong quote (or in arrival
order in FIFO mode); staleness is the share of resting quote-time more than 1¢ from the model."""

import time
from typing import Any

import pytest

from kmm.kalshi import wire
from kmm.kalshi.ratelimit import RateLimiter
from kmm_services.gateway.orders import RESTING, Order
from kmm_services.gateway.planner import AMEND, CANCEL, DECREASE, PLACE, Action
from kmm_services.gateway.scheduler import FIFO_MODE, PRIORITY_MODE, Staleness, order_actions, wrongness
from kmm_services.gateway.service import GatewayService, GatewaySettings


def resting(market: str, price: int, count: int = 1000, side: str = "bid") -> Order:
    return Order(f"kmm-{market}-{side}", market, side, price, count, order_id=f"o-{market}-{side}", status=RESTING)


def amend(market: str, old: int, new: int, count: int = 1000) -> Action:
    return Action(AMEND, market, "bid", new, count, order=resting(market, old, count))


def test_priority_cancels_and_decreases_first_then_the_most_wrong_quote() -> None:
    acts = [amend("NEAR", 5000, 5100, 500), amend("FAR", 5000, 5600), Action(PLACE, "NEW", "bid", 4000, 1000),
            Action(DECREASE, "DEC", "bid", 5000, 500, order=resting("DEC", 5000)),
            Action(CANCEL, "CXL", "bid", order=resting("CXL", 5000))]
    waiting = {"NEAR": 1.0, "FAR": 2.0, "NEW": 0.5, "DEC": 3.0, "CXL": 4.0}
    got = [a.market for a in order_actions(acts, PRIORITY_MODE, waiting)]
    assert got == ["CXL", "DEC", "FAR", "NEW", "NEAR"]  # a missing quote counts as 1¢ off
    assert wrongness(acts[1]) == 600 * 1000 and wrongness(acts[2]) == 100 * 1000
    fifo = [a.market for a in order_actions(acts, FIFO_MODE, waiting)]
    assert fifo == ["CXL", "DEC", "NEW", "NEAR", "FAR"]


def test_equal_wrongness_goes_to_the_market_that_waited_longest() -> None:
    acts = [amend("B", 5000, 5300), amend("A", 5000, 5300)]
    assert [a.market for a in order_actions(acts, PRIORITY_MODE, {"A": 1.0, "B": 2.0})] == ["A", "B"]


def test_staleness_is_time_weighted_over_resting_sides() -> None:
    s = Staleness()
    s.sample(10.0, [])
    s.sample(11.0, [(5000, 5100, 1000), (5000, 5300, 1000)])  # 1¢ off is fresh, 3¢ stale
    s.sample(13.0, [(5000, 5000, 0)])  # resting where the model wants nothing: stale
    assert (s.fresh_s, s.stale_s) == (1.0, 3.0) and s.share == pytest.approx(0.75)


class StubApi:
    def __init__(self) -> None:
        self.amends: list[str] = []
        self.presigned: list[tuple] = []

    def presign_many(self, requests: list[tuple], limit: int | None = None) -> int:
        self.presigned += requests
        return len(requests)

    async def amend_order(self, order_id: str, **kw: Any) -> wire.WriteAck:
        self.amends.append(kw["ticker"])
        return wire.WriteAck(order_id=order_id, remaining_count=kw["count"])


@pytest.mark.parametrize("mode,expected", [(PRIORITY_MODE, {"FAR", "MID"}), (FIFO_MODE, {"NEAR", "MID"})])
async def test_short_tokens_go_where_the_scheduler_says(mode: str, expected: set[str]) -> None:
    svc = GatewayService(GatewaySettings(dry_run=True, write_scheduler=mode, sign_threads=0))
    svc.publish_nowait = lambda stream, msg: None  # type: ignore[method-assign]
    svc.trading = True
    svc.api = StubApi()  # type: ignore[assignment]
    svc.limiter = RateLimiter(100, 1, write_capacity=20)  # two amends' worth of tokens
    now = time.monotonic()
    svc.waiting = {"NEAR": now - 3, "MID": now - 2, "FAR": now - 1}
    acts = [amend("NEAR", 5000, 5200), amend("MID", 5000, 5400), amend("FAR", 5000, 5900)]
    for a in acts:
        svc.table.add(a.order)  # type: ignore[arg-type]
    deferred = svc.execute(acts)
    if svc.inflight:
        import asyncio
        await asyncio.gather(*svc.inflight)
    assert set(svc.api.amends) == expected  # type: ignore[attr-defined]
    answered = {"order_id": f"o-{sorted(expected)[0]}-bid"}
    for path in ("/portfolio/events/orders/{order_id}/amend", "/portfolio/events/orders/{order_id}/decrease"):
        assert ("POST", path, answered) in svc.api.presigned  # type: ignore[attr-defined]  # the next write of an answered order is signed ahead
    # an amend's answer renews the order's own signatures only, not those of the writes that name no order
    assert all("{order_id}" in template for _, template, _ in svc.api.presigned)  # type: ignore[attr-defined]
    assert deferred == {"NEAR", "MID", "FAR"} - expected and svc.deferred == 1
