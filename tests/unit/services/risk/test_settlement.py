"""The risk service books a settlement from the exchange's record in the engine's YES convention."""

from typing import Any

import pytest

from kmm.messages import Fill, MarketInfo, Settlement
from kmm.messages.types import ASK
from kmm.messages.units import MONEY_SCALE
from kmm_services.risk.service import RiskService, RiskSettings


def risk() -> tuple[RiskService, list[str | None]]:
    r = RiskService(RiskSettings())
    saved: list[str | None] = []

    async def save(market: str | None = None) -> None:
        saved.append(market)

    r.save = save  # type: ignore[method-assign]
    r.publish_nowait = lambda stream, msg: None  # type: ignore[method-assign]
    r.engine.on_market(MarketInfo(market="M"))
    return r, saved


@pytest.mark.parametrize(("result", "revenue_usd", "profit_usd"), [("no", 100, 40), ("yes", 0, -60)])
async def test_a_settled_short_books_its_true_profit_and_loss(result: str, revenue_usd: int, profit_usd: int) -> None:
    r, saved = risk()
    d: Any = None
    # sell 100 YES at 40c; the exchange holds it as 100 NO bought at 60c and pays $1 each if NO wins
    await r.on_message(Fill(fill_id="f1", order_id="o1", client_order_id="c1", market="M", side=ASK,
                            price=4000, count=10_000, seq=1), d)
    cash = r.engine.cash
    await r.on_message(Settlement(market="M", result=result, position=-10_000,
                                  revenue=revenue_usd * MONEY_SCALE, fill_seq=1), d)
    assert r.engine.cash - cash + 4000 * 10_000 == profit_usd * MONEY_SCALE
    assert r.engine.markets["M"].position == 0 and r.counts["settlements"] == 1
    assert saved[-1] == "M"  # the settled ledger is persisted before the ack
