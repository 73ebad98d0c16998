"""Engine objects → Kalshi JSON: number formats, and every shape validated by the official SDK models."""

from typing import Any

import pytest

from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S
from kmm_services.exchange import render
from kmm_services.exchange.engine import Exchange
from kmm_services.exchange.orders import ASK, BID, IOC, CreateOrder

T0 = 1_795_000_000 * NS_PER_S


def test_number_formats() -> None:
    assert render.money(12_345_600) == "12.3456"
    assert render.money(4_213) == "0.004213"
    assert render.money(-1_000_000) == "-1.0000"
    assert render.fp(1050) == "10.50"
    assert render.cents(1_239_999) == 123
    assert render.rfc3339(T0) == "2026-11-18T11:06:40Z"
    assert render.rfc3339(T0 + 1_500_000) == "2026-11-18T11:06:40.001500Z"


@pytest.fixture()
def traded() -> tuple[Exchange, str, str]:
    """A market where alice rested an ask and bob lifted part of it."""
    clock = [T0]
    ex = Exchange(lambda: clock[0])
    m = ex.create_market("KXT-26-B1", "KXT-26", title="t", close_ns=T0 + 3600 * NS_PER_S)
    ex.open_account("alice", 1000 * MONEY_SCALE)
    ex.open_account("bob", 1000 * MONEY_SCALE)
    ack = ex.create_order("alice", CreateOrder(m.ticker, ASK, 5800, 10 * COUNT_SCALE, client_order_id="a1"))
    clock[0] += NS_PER_S
    ex.create_order("bob", CreateOrder(m.ticker, BID, 6000, 4 * COUNT_SCALE, time_in_force=IOC))
    return ex, m.ticker, ack.order_id


def test_objects_render_with_kalshi_types(traded: tuple[Exchange, str, str]) -> None:
    ex, ticker, oid = traded
    o = render.order(ex.get_order("alice", oid))
    assert o["book_side"] == "ask" and o["outcome_side"] == "no"
    assert o["yes_price_dollars"] == "0.5800" and o["remaining_count_fp"] == "6.00"
    assert o["maker_fill_cost_dollars"] == "2.3200"
    book = render.orderbook(ex.book(ticker))
    assert book == {"yes_dollars": [], "no_dollars": [["0.4200", "6.00"]]}
    bal = render.balance(ex.balance("bob"))
    assert isinstance(bal["balance"], int) and isinstance(bal["updated_ts"], int)
    assert bal["balance_dollars"].endswith("00") and len(bal["balance_dollars"].split(".")[1]) == 4


def _check(model: str, body: dict[str, Any]) -> None:
    sdk_models = pytest.importorskip("kalshi_python_sync.models", reason="kalshi-python-sync 3.34.0 not installed")
    getattr(sdk_models, model).from_dict(body)  # raises pydantic ValidationError on a mismatch


def test_sdk_models_accept_every_rendering(traded: tuple[Exchange, str, str]) -> None:
    ex, ticker, oid = traded
    m = ex.market(ticker)
    _check("GetMarketResponse", {"market": render.market(m, ex.market_stats(ticker), {"strike_type": "between"})})
    _check("GetMarketOrderbookResponse", {"orderbook_fp": render.orderbook(ex.book(ticker))})
    _check("GetTradesResponse", {"trades": [render.trade(t) for t in ex.trades().items], "cursor": ""})
    _check("GetOrderResponse", {"order": render.order(ex.get_order("alice", oid))})
    _check("GetFillsResponse", {"fills": [render.fill(f) for f in ex.fills("bob").items], "cursor": ""})
    positions = ex.positions("bob")
    _check("GetPositionsResponse", {"market_positions": [render.position(p) for p in positions],
                                    "event_positions": render.event_positions(positions)})
    _check("GetBalanceResponse", render.balance(ex.balance("bob")))
    _check("GetSeriesResponse", {"series": render.series(ex.series(m.series_ticker))})
    _check("GetEventResponse", {"event": render.event(ex.event(m.event_ticker)), "markets": []})
    ex.settle_market(ticker, "yes")
    settled = ex.settlements("bob").items
    assert settled
    _check("GetSettlementsResponse", {"settlements": [render.settlement(s) for s in settled]})
    _check("GetMarketResponse", {"market": render.market(ex.market(ticker), ex.market_stats(ticker))})
    _check("ErrorResponse", render.error("not_found", "no")["error"])
