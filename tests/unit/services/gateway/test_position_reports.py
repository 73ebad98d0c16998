"""A position report carries the fill sequence of the fills the exchange's position holds (found by the
soak: after a gateway restart, a position read that already held a fill made while the gateway was
down went out stamped with the older sequence; risk took it as comparable, reconciled its position at
the mark, then applied the fill on top — positions flipped and risk's cash drifted from the exchange's)."""

from typing import Any

from kmm.kalshi import wire
from kmm.kalshi.rest import Page
from kmm.messages import PositionReport
from tests.unit.services.gateway.test_service import fill, gateway


class StubApi:
    """The exchange: its fills and positions (a fill is already in the position when it is listed)."""

    def __init__(self, fills: list[wire.Fill], positions: dict[str, int]) -> None:
        self.fills = fills
        self.positions = positions

    async def iter_fills(self, **_: Any) -> Any:
        for f in list(self.fills):
            yield f

    async def get_positions(self, ticker: str) -> Page[wire.Position]:
        return Page([wire.Position(ticker=ticker, position=self.positions[ticker])], "")


async def test_a_fill_made_while_the_gateway_was_down_is_applied_before_the_report() -> None:
    svc, sent = gateway()
    svc.allowance("M").fill_seq = 1  # restored: one fill reported before the restart
    svc.fill_keys["t1:o1"] = None
    svc.api = StubApi([fill(trade="t1"), fill(trade="t2", count=500)], {"M": 900})  # type: ignore[assignment]
    await svc.publish_positions({"M"})
    reports = [m for m in sent if isinstance(m, PositionReport)]
    assert [(r.position, r.fill_seq) for r in reports] == [(900, 2)]


async def test_a_fill_landing_during_the_read_skips_the_market() -> None:
    svc, sent = gateway()
    api = StubApi([], {"M": 400})
    real_get = api.get_positions

    async def read_then_fill(ticker: str) -> Page[wire.Position]:
        page = await real_get(ticker)
        api.fills.append(fill(trade="t9", count=100))  # lands just after the read
        return page

    api.get_positions = read_then_fill  # type: ignore[method-assign]
    svc.api = api  # type: ignore[assignment]
    await svc.publish_positions({"M"})
    assert not [m for m in sent if isinstance(m, PositionReport)]
    assert svc.allowance("M").fill_seq == 1
