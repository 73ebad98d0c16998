"""One picture of a running system from its HTTP endpoints: what ``kmm status`` prints and the
console of ``kmm run`` draws.

Per service: ``/readyz`` and ``/status``; risk's ``/positions`` (per-market position, limit, P&L,
fills, last denial; exposure and loss limits); the gateway's open orders, tick-to-order latency and
write-budget tokens (in its ``/status``); DLQ lengths from each service's ``/metrics``
(``kmm_bus_dlq_length_messages``). A service that does not answer is shown as such; nothing here raises.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kmm.bus.topology import SERVICES
from kmm.messages.units import price_to_dollars

from .target import OpsClient


def dlq_lengths(client: OpsClient, services: tuple[str, ...] = SERVICES) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name in services:
        try:
            text = client.request(name, "GET", "/metrics").text
        except Exception:
            out[name] = None
            continue
        n = None
        for fam in text_string_to_metric_families(text):
            if fam.name == "kmm_bus_dlq_length_messages":
                for s in fam.samples:
                    if s.labels.get("service") == name:
                        n = int(s.value)
        out[name] = n
    return out


def collect(client: OpsClient, with_dlq: bool = True) -> dict[str, Any]:
    """Everything the views need, as plain JSON."""
    services: dict[str, Any] = {}
    for name in SERVICES:
        ready, err = client.try_get(name, "/readyz", ok=(200, 503))
        status, err2 = client.try_get(name, "/status") if ready is not None else (None, err)
        services[name] = {"reachable": ready is not None, "ready": bool(ready and ready.get("ready")),
                          "checks": (ready or {}).get("checks", {}), "status": status or {},
                          "error": err or err2}
    positions, perr = client.try_get("risk", "/positions")
    snap: dict[str, Any] = {"at": time.time(), "source": client.target.source, "services": services,
                            "risk": positions or {}, "risk_error": perr}
    if with_dlq:
        snap["dlq"] = dlq_lengths(client)
    return snap


def _px(p: int | None) -> str:
    return price_to_dollars(p)[1:] if p else "-"


def market_rows(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """Per market: book, our resting orders (or the quoter's target when nothing rests), position,
    P&L, fills and the last denial — the union of what quoter, gateway and risk know."""
    quoter = {m["market"]: m for m in snap["services"].get("quoter", {}).get("status", {}).get("markets", [])}
    risk = {m["market"]: m for m in snap.get("risk", {}).get("markets", [])}
    resting: dict[tuple[str, str], tuple[int, int]] = {}
    for o in snap["services"].get("gateway", {}).get("status", {}).get("open_orders", []):
        key = (o["market"], o["side"])
        price, count = resting.get(key, (o["price"], 0))
        resting[key] = (o["price"], count + o["count"])
    halted = (snap.get("risk") or {}).get("state") == "HALTED"
    rows = []
    for market in sorted(set(quoter) | set(risk)):
        q, r = quoter.get(market, {}), risk.get(market, {})
        best_bid = q.get("best_bid") or r.get("best_bid") or 0
        best_ask = q.get("best_ask") or (r.get("best_ask") if r.get("best_ask", 10_000) < 10_000 else 0) or 0
        row = {"market": market, "best_bid": _px(best_bid), "best_ask": _px(best_ask)}
        for side in ("bid", "ask"):
            if (market, side) in resting:
                price, count = resting[(market, side)]
                row[f"our_{side}"] = f"{_px(price)} x{Decimal(count) / 100:g}"
            else:
                row[f"our_{side}"] = f"({_px(q.get(side))})" if q.get(side) and not halted else "-"
        denial = r.get("last_denial") or {}
        row.update({"position": r.get("position", "0.00"), "limit": r.get("limit", ""), "pnl": r.get("pnl", "0"),
                    "fills": r.get("fills", 0), "last_denial": denial.get("code", ""),
                    "last_denial_at": denial.get("at", "")})
        rows.append(row)
    return rows


def system_summary(snap: dict[str, Any]) -> dict[str, Any]:
    """Risk state, exposure against its limit, P&L, latency, write budget, DLQs, health in one dict."""
    r = snap.get("risk") or {}
    gw = snap["services"].get("gateway", {}).get("status", {})
    dlq = snap.get("dlq") or {}
    ready = [n for n, s in snap["services"].items() if s["ready"]]
    return {
        "state": r.get("state") or snap["services"].get("risk", {}).get("status", {}).get("state", "?"),
        "reason": r.get("reason", ""),
        "exposure_dollars": r.get("exposure_dollars"), "max_exposure_dollars": r.get("max_exposure_dollars"),
        "pnl_dollars": r.get("pnl_dollars"), "daily_pnl_dollars": r.get("daily_pnl_dollars"),
        "max_daily_loss_dollars": r.get("max_daily_loss_dollars"),
        "fills": r.get("fills_booked", gw.get("fills")),
        "denied": (r.get("counts") or {}).get("denied"),
        "open_orders": len(gw.get("open_orders", [])),
        "tick_to_order_p50_ms": gw.get("tick_to_order_p50_ms"), "tick_to_order_p99_ms": gw.get("tick_to_order_p99_ms"),
        "write_tokens": _round((gw.get("rate_tokens") or {}).get("write")),
        "dead_man_fired": gw.get("dead_man_fired"),
        "dlq": dlq, "dlq_total": sum(v for v in dlq.values() if v),
        "ready": f"{len(ready)}/{len(snap['services'])}",
    }


def one_line(snap: dict[str, Any]) -> str:
    """The system in one short line (``kmm run`` without a terminal prints it every 5 s)."""
    s = system_summary(snap)
    down = [n for n, v in snap["services"].items() if not v["ready"]]
    if not snap.get("risk"):
        return f"starting: ready {s['ready']}" + (f" (waiting for {', '.join(down)})" if down else "")
    p50, p99 = s["tick_to_order_p50_ms"], s["tick_to_order_p99_ms"]
    return (f"{s['state']}{' (' + s['reason'] + ')' if s['reason'] else ''} | exposure ${_d(s['exposure_dollars'])}"
            f"/${_d(s['max_exposure_dollars'])} | PnL ${_d(s['pnl_dollars'])} | fills {s['fills'] or 0} | "
            f"open {s['open_orders']} | t2o p50 {p50 if p50 is not None else '-'} ms p99 "
            f"{p99 if p99 is not None else '-'} ms | DLQ {s['dlq_total']} | ready {s['ready']}"
            + (f" (not ready: {', '.join(down)})" if down else ""))


def _round(v: Any) -> Any:
    return round(v) if isinstance(v, int | float) else v


def _d(v: Any) -> str:
    """A dollar string shortened to cents for the views (the JSON keeps every digit)."""
    if v is None:
        return "-"
    try:
        return f"{Decimal(str(v)).quantize(Decimal('0.01'))}"
    except ArithmeticError:
        return str(v)
