"""Backtest outputs in dollars and contracts (units in every column name): summary.json, markets.csv,
fills.csv, inventory.csv, equity.csv, daily.csv, equity.png, and the console line.

The engine keeps kmm units (µ$, 0.01 contract, $0.0001); :func:`in_units` is the one conversion.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE

from .engine import Result

MONEY_KEYS = ("pnl_settled", "pnl_marked", "pnl_realized", "fees", "cash", "spread_captured", "markout_1s",
              "markout_10s", "markout_60s", "max_drawdown")
COUNT_KEYS = ("position", "volume_buy", "volume_sell", "inventory_max_abs", "inventory_mean", "inventory_abs_mean")
RENAME = {"quote_uptime": "quote_uptime_frac", "fill_rate": "fills_per_order", "sharpe": "sharpe_annualized"}


def in_units(row: dict[str, Any]) -> dict[str, Any]:
    """kmm units → dollars (``_usd``) and contracts (``_contracts``); fractions and counts as named."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in MONEY_KEYS:
            out[k + "_usd"] = round(float(v) / MONEY_SCALE, 6)
        elif k in COUNT_KEYS:
            out[k + "_contracts"] = round(float(v) / COUNT_SCALE, 4)
        elif k == "return_usd":
            out[k] = round(float(v), 6)
        elif isinstance(v, float):
            out[RENAME.get(k, k)] = round(v, 6) if math.isfinite(v) else None
        else:
            out[RENAME.get(k, k)] = v
    return out


MINUS = "\u2212"  # the minus sign of negative amounts: −$8.63, as README and docs/backtest.md write them


def usd(value: float, places: int = 2, grouping: bool = False) -> str:
    """Dollars with the sign before the $: ``$11.43``, ``−$8.63`` (never ``$-8.63``)."""
    text = f"{abs(value):{',' if grouping else ''}.{places}f}"
    negative = value < 0 and float(text.replace(",", "")) != 0  # −$0.00 would be noise
    return f"{MINUS if negative else ''}${text}"


def figure(value: float | None, places: int = 2) -> str:
    """A plain figure (Sharpe…) to ``places`` decimals with the same minus sign; "–" when there is none."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{abs(value):.{places}f}"
    return f"{MINUS if value < 0 and float(text) != 0 else ''}{text}"


_SETTING_UNITS: dict[str, tuple[str, float]] = {  # kmm units → (name with its unit, divisor)
    "base_count": ("base_count_contracts", COUNT_SCALE),
    "max_position": ("max_position_contracts", COUNT_SCALE),
    "position_limit": ("position_limit_contracts", COUNT_SCALE),
    "count_step": ("count_step_contracts", COUNT_SCALE),
    "trade_only_queue_ahead": ("trade_only_queue_ahead_contracts", COUNT_SCALE),
    "max_exposure": ("max_exposure_usd", MONEY_SCALE),
    "max_daily_loss": ("max_daily_loss_usd", MONEY_SCALE),
    "hold_tolerance": ("hold_tolerance_usd", PRICE_SCALE),
}


def settings_in_units(settings: Any) -> Any:
    """``settings`` (nested dicts of the run, the policy, its params and risk limits) with every field kept
    in µ$ / 0.01 contract / $0.0001 renamed with its unit and converted to dollars or contracts
    (``max_daily_loss`` 100000000 → ``max_daily_loss_usd`` 100.0); every other field as it is."""
    if isinstance(settings, dict):
        out: dict[str, Any] = {}
        for k, v in settings.items():
            if k in _SETTING_UNITS and isinstance(v, int | float) and not isinstance(v, bool):
                name, scale = _SETTING_UNITS[k]
                out[name] = round(v / scale, 6)
            else:
                out[k] = settings_in_units(v)
        return out
    if isinstance(settings, list):
        return [settings_in_units(v) for v in settings]
    return settings


def utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_date(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=int(day))).strftime("%Y-%m-%d")


def summary(result: Result, settings: dict[str, Any], cell: int = 0, **extra: Any) -> dict[str, Any]:
    """Everything about one cell's run: settings (pass them through :func:`settings_in_units`), overall and
    per-market figures, risk, daily P&L, and the events ignored for coming after their market's close."""
    overall = in_units(result.overall_summary(cell))
    n_markets = len(result.tickers)
    trade_only = int(result.trade_only.sum()) if len(result.trade_only) else 0
    fill = settings.get("run", {}).get("fill", {})
    models = {"book_markets": fill.get("model"), "trade_only_markets": fill.get("trade_only_model")}
    if fill.get("trade_only_model") == "queue":
        models["trade_only_queue_ahead_contracts"] = fill.get(  # settings in units, or raw RunConfig.settings()
            "trade_only_queue_ahead_contracts", fill.get("trade_only_queue_ahead", 0) / COUNT_SCALE)
    daily = result.daily[:, cell] if result.daily.size else np.zeros(0)
    return {
        "settings": settings,
        "events_ignored_after_close": result.ignored_after_close,
        "fill_models": {**models, "markets_with_book": n_markets - trade_only, "trade_only_markets": trade_only},
        "overall": overall,
        "markets_with_prints": extra.pop("markets_with_prints", None),
        "risk": result.risk[cell] if result.risk else {},
        "markets": [in_units(r) for r in result.market_summary(cell)],
        "unsettled_markets": [t for t, k in zip(result.tickers, result.settled_known, strict=True) if not k],
        "daily_pnl_usd": [{"date": day_date(result.first_day + d), "pnl_usd": round(float(v) / MONEY_SCALE, 6)}
                          for d, v in enumerate(daily)],
        "events": result.events,
        **extra,
    }


def console_line(s: dict[str, Any], seconds: float) -> str:
    o = s["overall"]
    ev = s["events"]
    rate = f" ({ev / seconds:,.0f} events/s)" if seconds > 0 else ""
    ignored = s.get("events_ignored_after_close", 0)
    skipped = f" ({ignored} ignored: at or after their market's close)" if ignored else ""
    sharpe = o.get("sharpe_annualized")
    line = (f"{ev} events{skipped}, {len(s['markets'])} markets in {seconds:.2f}s{rate}: P&L settled "
            f"{usd(o['pnl_settled_usd'])} (marked {usd(o['pnl_marked_usd'])}), fees {usd(o['fees_usd'])}, fills "
            f"{o['fills']} in {o['markets_traded']} markets, max drawdown {usd(o['max_drawdown_usd'])}"
            + (f", Sharpe {figure(sharpe)}" if sharpe is not None else ""))
    risk = s.get("risk") or {}
    if s["settings"].get("policy", {}).get("risk"):
        line += f"; risk on: {risk.get('halts', 0)} halt(s)"
        for key in ("first_halt", "last_halt"):
            h = risk.get(key)
            if h and (key == "first_halt" or risk.get("halts", 0) > 1):
                line += f", {key.split('_')[0]} {utc(h['ts_ns'])} {h['reason']} in {h['market']}"
        if risk.get("latched_at_end"):
            line += f"; HALTED at the end ({risk['latched_at_end']})"
    else:
        line += "; risk off"
    return line


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_backtest(out: Path, result: Result, s: dict[str, Any]) -> list[str]:
    """Write every file of a single backtest into ``out``; returns their names."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(s, indent=2, sort_keys=True))
    write_csv(out / "markets.csv", s["markets"])
    with open(out / "fills.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts_ns", "time_utc", "market", "side", "price_usd", "count_contracts", "fee_usd"])
        for ts, m, _cell, side, price, count, fee in result.fills:
            w.writerow([ts, utc(ts), result.tickers[m], "bid" if side == 0 else "ask", f"{price / PRICE_SCALE:.4f}",
                        f"{count / COUNT_SCALE:.2f}", f"{fee / MONEY_SCALE:.6f}"])
    with open(out / "inventory.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts_ns", "time_utc", "market", "position_contracts"])
        for ts, m, pos in result.inventory:
            w.writerow([ts, utc(ts), result.tickers[m], f"{pos / COUNT_SCALE:.2f}"])
    with open(out / "equity.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts_ns", "time_utc", "equity_usd"])
        for ts, eq in zip(result.equity_ts.tolist(), result.equity[:, 0].tolist() if result.equity.size else [],
                          strict=False):
            w.writerow([ts, utc(ts), f"{eq / MONEY_SCALE:.6f}"])
    equity_end = np.cumsum(result.daily[:, 0]) if result.daily.size else np.zeros(0)
    with open(out / "daily.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "pnl_usd", "equity_usd"])
        for d, (pnl, eq) in enumerate(zip(result.daily[:, 0].tolist() if result.daily.size else [],
                                          equity_end.tolist(), strict=True)):
            w.writerow([day_date(result.first_day + d), f"{pnl / MONEY_SCALE:.6f}", f"{eq / MONEY_SCALE:.6f}"])
    (out / "equity.png").write_bytes(equity_png(result))
    return ["summary.json", "markets.csv", "fills.csv", "inventory.csv", "equity.csv", "daily.csv", "equity.png"]


def equity_png(result: Result) -> bytes:
    """Equity curve (marked to mid, $) above daily P&L bars ($)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6), dpi=100, sharex=False)
    if result.equity.size:
        t = [datetime.fromtimestamp(x / NS_PER_S, tz=UTC) for x in result.equity_ts.tolist()]
        a1.plot(t, result.equity[:, 0] / MONEY_SCALE, lw=1.2, color="#1f4e79")
        a1.axhline(0, color="#888", lw=0.8)
        a1.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    a1.set_ylabel("equity ($, marked to mid)")
    a1.set_title("Equity curve")
    if result.daily.size:
        d = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=int(result.first_day + k))
             for k in range(len(result.daily))]
        v = result.daily[:, 0] / MONEY_SCALE
        a2.bar(d, v, color=np.where(v >= 0, "#2e7d32", "#c62828"), width=0.8)
        a2.axhline(0, color="#888", lw=0.8)
        a2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    a2.set_ylabel("daily P&L ($)")
    a2.set_title("Daily P&L (UTC days)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
