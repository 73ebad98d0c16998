"""Tables for people (rich): the services, the system line, the markets, orders, positions, fills.

``kmm status`` prints them once; the console of ``kmm run`` redraws them every second. Without a
terminal rich writes plain text (no colour, no cursor codes).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from kmm.messages.units import price_to_dollars

from .snapshot import _d, market_rows, system_summary


def make_console() -> Console:
    """A console for one-shot output: no markup in data, wide enough for the tables when piped."""
    wide = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(markup=False, soft_wrap=False, width=wide, highlight=False)


STATE_STYLE = {"ACTIVE": "bold green", "REDUCING": "bold yellow", "HALTED": "bold white on red"}


def services_table(snap: dict[str, Any], runner: dict[str, dict[str, Any]] | None = None) -> Table:
    """One row per service: up (when the runner knows), ready, restarts, DLQ, its own summary line."""
    t = Table(title=None, expand=True, show_edge=False, pad_edge=False)
    t.add_column("service", no_wrap=True)
    if runner is not None:
        t.add_column("up", no_wrap=True)
        t.add_column("restarts", justify="right", no_wrap=True)
    t.add_column("ready", no_wrap=True)
    t.add_column("DLQ", justify="right", no_wrap=True)
    t.add_column("summary", overflow="ellipsis", no_wrap=True, ratio=1)
    dlq = snap.get("dlq") or {}
    names = list(snap["services"]) + [n for n in (runner or {}) if n not in snap["services"]]
    for name in names:
        s = snap["services"].get(name)
        r = (runner or {}).get(name, {})
        if s is None:  # exchange or redis: only the runner knows them
            ready = Text("yes" if r.get("ready") else "no", style="green" if r.get("ready") else "red")
            summary = r.get("summary", "")
        else:
            ready = Text("yes", style="green") if s["ready"] else Text("no" if s["reachable"] else "DOWN", style="red")
            summary = s["status"].get("summary", "") or s.get("error", "")
        cells: list[Any] = [name]
        if runner is not None:
            cells += [Text("yes" if r.get("alive", True) else "NO", style="" if r.get("alive", True) else "red"),
                      str(r.get("restarts", 0))]
        n = dlq.get(name)
        cells += [ready, Text("-" if n is None else str(n), style="red" if n else ""), summary]
        t.add_row(*cells)
    return t


def system_line(snap: dict[str, Any]) -> Text:
    s = system_summary(snap)
    line = Text()
    line.append(" risk ")
    line.append(f" {s['state']} ", style=STATE_STYLE.get(s["state"], "bold"))
    if s["reason"]:
        line.append(f" ({s['reason']})")
    line.append(f"  exposure ${_d(s['exposure_dollars'])} / ${_d(s['max_exposure_dollars'])}")
    line.append(f"  PnL ${_d(s['pnl_dollars'])} (today ${_d(s['daily_pnl_dollars'])}, "
                f"loss limit ${_d(s['max_daily_loss_dollars'])})")
    line.append(f"  fills {s['fills'] or 0}  denied {s['denied'] or 0}  open orders {s['open_orders']}\n")
    p50, p99 = s["tick_to_order_p50_ms"], s["tick_to_order_p99_ms"]
    line.append(f" tick-to-order p50 {p50 if p50 is not None else '-'} ms  p99 {p99 if p99 is not None else '-'} ms"
                f"  write tokens {s['write_tokens'] if s['write_tokens'] is not None else '-'}"
                f"  DLQ {s['dlq_total']}  services ready {s['ready']}")
    if s["dead_man_fired"]:
        line.append("  DEAD-MAN FIRED", style="bold red")
    return line


def markets_table(snap: dict[str, Any], limit: int = 30) -> Table:
    t = Table(expand=True, show_edge=False, pad_edge=False)
    rows = market_rows(snap)
    widest = max((len(r["market"]) for r in rows[:limit]), default=6)
    t.add_column("market", no_wrap=True, min_width=min(widest, 40))
    for name, justify in (("bid", "right"), ("ask", "right"), ("our bid", "right"),
                          ("our ask", "right"), ("position", "right"), ("limit", "right"), ("P&L $", "right"),
                          ("fills", "right"), ("last denial", "left")):
        t.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows[:limit]:
        pos = r["position"]
        t.add_row(r["market"], r["best_bid"], r["best_ask"], r["our_bid"], r["our_ask"],
                  Text(pos, style="" if pos in ("0", "0.00") else "bold"), r["limit"], _d(r["pnl"]),
                  str(r["fills"]), r["last_denial"])
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more markets (kmm positions lists all)"
    return t


def status_view(snap: dict[str, Any], runner: dict[str, dict[str, Any]] | None = None) -> Group:
    return Group(services_table(snap, runner), Text(""), system_line(snap), Text(""), markets_table(snap))


def orders_table(orders: list[dict[str, Any]]) -> Table:
    t = Table(expand=False)
    for c in ("market", "side", "price", "count", "status", "client_order_id"):
        t.add_column(c, justify="right" if c in ("price", "count") else "left", no_wrap=True)
    for o in orders:
        price = o["price"] if isinstance(o["price"], str) else price_to_dollars(o["price"])
        t.add_row(o["market"], o["side"], price, str(o["count"]), o["status"], o["client_order_id"])
    return t


def positions_table(pos: dict[str, Any]) -> Table:
    t = Table(expand=False, caption=f"exposure ${_d(pos.get('exposure_dollars'))} of "
                                    f"${_d(pos.get('max_exposure_dollars'))}; PnL ${_d(pos.get('pnl_dollars'))}")
    for c in ("market", "position", "limit", "P&L $", "realized $", "unrealized $", "fees $", "fills", "last denial"):
        t.add_column(c, justify="left" if c in ("market", "last denial") else "right", no_wrap=True)
    for m in pos.get("markets", []):
        d = m.get("last_denial") or {}
        t.add_row(m["market"], m["position"], m["limit"], _d(m["pnl"]), _d(m["realized"]), _d(m["unrealized"]),
                  _d(m["fees"]), str(m["fills"]), f"{d.get('code', '')} {d.get('at', '')}".strip())
    return t


def fills_table(fills: list[dict[str, Any]]) -> Table:
    t = Table(expand=False)
    for c in ("reported", "market", "side", "price", "count", "fee", "taker", "seq"):
        t.add_column(c, justify="right" if c in ("price", "count", "fee", "seq") else "left", no_wrap=True)
    for f in fills:
        t.add_row(f["reported"], f["market"], f["side"], f["price"], f["count"], f["fee"],
                  "yes" if f["is_taker"] else "", str(f["seq"]))
    return t
