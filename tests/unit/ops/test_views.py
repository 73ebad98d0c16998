"""The snapshot's per-market rows and system line, and the tables drawn from them."""

import io
from typing import Any

from rich.console import Console

from kmm.ops import snapshot, views


def snap(state: str = "ACTIVE") -> dict[str, Any]:
    ok = {"reachable": True, "ready": True, "checks": {}, "error": ""}
    return {
        "services": {
            "marketdata": {**ok, "status": {"summary": "markets 2"}},
            "selector": {**ok, "status": {"summary": "universe 2"}},
            "quoter": {**ok, "status": {"summary": "universe 2", "markets": [
                {"market": "M-A", "best_bid": 4000, "best_ask": 4200, "bid": 3900, "ask": 4300},
                {"market": "M-B", "best_bid": 1000, "best_ask": 0, "bid": 900, "ask": 0}]}},
            "risk": {**ok, "status": {"summary": "state " + state, "state": state}},
            "gateway": {**ok, "status": {"summary": "open 2", "open_orders": [
                {"market": "M-A", "side": "bid", "price": 3900, "count": 500, "status": "resting"},
                {"market": "M-A", "side": "bid", "price": 3900, "count": 250, "status": "resting"}],
                "tick_to_order_p50_ms": 4.5, "tick_to_order_p99_ms": 38.8, "rate_tokens": {"write": 183.71}}},
        },
        "risk": {"state": state, "reason": "operator" if state == "HALTED" else "",
                 "exposure_dollars": "12.345678", "max_exposure_dollars": "2000.000000",
                 "pnl_dollars": "-0.125000", "daily_pnl_dollars": "-0.125000", "max_daily_loss_dollars": "200.000000",
                 "fills_booked": 3, "counts": {"fills": 1, "denied": 1},  # risk restarted after 2 fills
                 "markets": [{"market": "M-A", "position": "-7.50", "limit": "150.00", "pnl": "-0.125000",
                              "realized": "0.1", "unrealized": "-0.2", "fees": "0.025",
                              "fills": 3, "best_bid": 4000, "best_ask": 4200,
                              "last_denial": {"code": "position_limit", "at": "2026-01-01T00:00:00.000Z"}}]},
        "dlq": {"marketdata": 0, "selector": 0, "quoter": 2, "risk": None, "gateway": 0},
    }


def test_market_rows_join_quoter_gateway_and_risk() -> None:
    rows = {r["market"]: r for r in snapshot.market_rows(snap())}
    a, b = rows["M-A"], rows["M-B"]
    assert (a["best_bid"], a["best_ask"]) == (".4000", ".4200")
    assert a["our_bid"] == ".3900 x7.5"  # what rests at the exchange, summed per side
    assert a["our_ask"] == "(.4300)"  # nothing rests: the quoter's target, in brackets
    assert (a["position"], a["pnl"], a["fills"], a["last_denial"]) == ("-7.50", "-0.125000", 3, "position_limit")
    assert (b["best_ask"], b["our_ask"], b["position"]) == ("-", "-", "0.00")


def test_halted_rows_do_not_show_stale_targets() -> None:
    rows = {r["market"]: r for r in snapshot.market_rows(snap("HALTED"))}
    assert rows["M-A"]["our_ask"] == "-"


def test_system_summary_and_one_line() -> None:
    s = snapshot.system_summary(snap())
    assert (s["state"], s["fills"], s["open_orders"], s["write_tokens"], s["dlq_total"]) == ("ACTIVE", 3, 2, 184, 2)
    line = snapshot.one_line(snap("HALTED"))
    assert line.startswith("HALTED (operator) | exposure $12.35/$2000.00 | PnL $-0.12 | fills 3 | open 2")
    assert "t2o p50 4.5 ms p99 38.8 ms | DLQ 2 | ready 5/5" in line
    starting = snap()
    starting["risk"] = {}
    starting["services"]["gateway"]["ready"] = False
    assert snapshot.one_line(starting) == "starting: ready 4/5 (waiting for gateway)"


def render(renderable: Any) -> str:
    c = Console(file=io.StringIO(), width=200, markup=False)
    c.print(renderable)
    return c.file.getvalue()  # type: ignore[attr-defined]


def test_status_view_shows_services_system_and_markets() -> None:
    text = render(views.status_view(snap(), {"redis": {"alive": True, "restarts": 1, "ready": True}}))
    assert "marketdata" in text and "redis" in text
    assert "ACTIVE" in text and "exposure $12.35 / $2000.00" in text and "tick-to-order p50 4.5 ms" in text
    assert "M-A" in text and ".3900 x7.5" in text and "position_limit" in text


def test_orders_positions_fills_tables() -> None:
    assert "0.3900" in render(views.orders_table([{"market": "M", "side": "bid", "price": 3900, "count": "5.00",
                                                   "status": "resting", "client_order_id": "kmm-1"}]))
    pos = render(views.positions_table(snap()["risk"]))
    assert "M-A" in pos and "-7.50" in pos and "exposure $12.35 of $2000.00" in pos
    fills = render(views.fills_table([{"reported": "2026-01-01T00:00:00.000Z", "market": "M", "side": "ask",
                                       "price": "0.4200", "count": "3.00", "fee": "0.010000", "is_taker": False,
                                       "seq": 4}]))
    assert "0.4200" in fills and "0.010000" in fills
