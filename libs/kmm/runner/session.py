"""A ``kmm run`` session kept in its workdir, and its report (``kmm report <workdir>``).

While the system runs, :class:`kmm.backtest.recorder.SessionJournal` appends ``md:*`` and
``exec:report`` to ``<workdir>/session.journal``. At the end, :func:`write_session` writes:

- ``session.npz``: the market data as the backtester's event log, our own orders taken out of the
  books, with the live quoter's parameters and risk limits in its metadata — those the run recorded
  in the journal as it started (:func:`live_parameters` in the runner's environment and config), so
  a report made later, elsewhere or with other settings still has the run's own — so
  ``kmm backtest --log <workdir>/session.npz`` replays the same session;
- ``fills.csv``: every fill the gateway reported (dollars and contracts);
- ``session.json``: per market and in total, what the live system did: fills, volume, position, fees,
  P&L (settled where the market settled, else marked to the last mid) and markouts; and, in sim mode,
  ``venue``: whether those fills agree with the exchange's own record of the account
  (:func:`agree_with_venue`).

:func:`report` prints that, draws ``pnl.png`` (P&L over time, marked to the mid) and ``inventory.png``
(position per market over time) and writes ``report.html``; with ``replay`` it also runs the
backtester over ``session.npz`` with the live parameters and shows backtest against live per
market (the fidelity check).
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kmm.backtest.book import book_tops, mids2
from kmm.backtest.eventlog import EventLog
from kmm.backtest.fidelity import figures_from_fills, reference_prices
from kmm.backtest.recorder import journal_dropped, journal_files, journal_meta, session_log
from kmm.messages import BID, Fill, Message, Settlement
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE, fp_to_count

JOURNAL = "session.journal"
MARKOUTS_S = (1, 10, 60)


def is_session_dir(d: Path) -> bool:
    return (d / "session.npz").exists() and (d / "session.json").exists()


class SessionError(Exception):
    """The session cannot be written; the message names the setting, never its value."""


def _settings(service: str, env: Mapping[str, str] | None) -> Any:
    """``service``'s settings with ``env`` over the environment, or SessionError naming each bad setting
    (:func:`kmm.ops.config_cmd.service_settings`: never the value, which a ValidationError's text shows)."""
    from kmm.ops.config_cmd import service_settings

    settings, problems = service_settings(service, env)
    if settings is None:
        raise SessionError("; ".join(problems))
    return settings


def live_parameters(envs: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """The quoter's parameters and risk's limits as the services read them (environment and config,
    with ``envs[service]`` over the environment: what the runner sets for each); SessionError if a
    setting is bad."""
    envs = envs or {}
    q = _settings("quoter", envs.get("quoter"))
    r = _settings("risk", envs.get("risk"))
    return {
        "gamma": q.gamma, "kappa": q.kappa, "eta": q.eta, "size_contracts": q.base_contracts,
        "max_position_contracts": q.max_position_contracts, "horizon_min": q.horizon_h * 60,
        "min_edge_c": q.min_edge_c, "space": q.space, "sigma_prior_c": q.sigma_prior_c, "sigma_lag": q.sigma_lag,
        "requote_tolerance_c": q.requote_tolerance_c, "requote_size_tolerance": q.requote_size_tolerance,
        "position_limit_contracts": r.position_limit_contracts, "max_exposure_dollars": r.max_exposure_dollars,
        "max_daily_loss_dollars": r.max_daily_loss_dollars, "near_fraction": r.near_fraction,
        "rate_capacity": r.rate_capacity, "rate_per_s": r.rate_per_s, "sigma_ref_c": r.sigma_ref_c,
    }


def fill_time(f: Fill) -> int:
    """When the fill happened on our clock: the exchange's send time of the report, else when we got it."""
    return f.origin_ts or f.ts_init


class Mids:
    """Mid price of each market at any time, from an event log (price units; 0 = unknown)."""

    def __init__(self, log: EventLog) -> None:
        ev = log.events
        bb, ba = book_tops(ev, len(log.markets))
        m2 = mids2(ev, bb, ba, len(log.markets))
        self.by_market: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for i, meta in enumerate(log.markets):
            idx = np.flatnonzero(ev["market"] == i)
            self.by_market[meta.ticker] = (ev["ts"][idx], m2[idx])

    def at(self, market: str, ts: int) -> float:
        t, m2 = self.by_market.get(market, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        j = int(np.searchsorted(t, ts, side="right")) - 1
        return float(m2[j]) / 2 if j >= 0 and m2[j] else 0.0


def markouts(fills: list[Fill], mids: Mids) -> dict[str, float]:
    """Σ over fills of (mid h seconds later − price) × signed count, in dollars, per horizon."""
    out = {}
    for h in MARKOUTS_S:
        total = 0.0
        for f in fills:
            mid = mids.at(f.market, fill_time(f) + h * NS_PER_S)
            if mid:
                sign = 1 if f.side == BID else -1
                total += sign * (mid - f.price) * f.count
        out[f"markout_{h}s_usd"] = round(total / MONEY_SCALE, 6)
    return out


def write_session(workdir: Path, mode: str = "sim", progress: Any = None,
                  venue_positions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Turn ``<workdir>/session.journal`` into session.npz, fills.csv and session.json; returns the summary
    (with ``venue``, the check against the exchange's record, when its positions are given)."""
    journal = workdir / JOURNAL
    live = journal_meta(journal).get("live") or live_parameters()  # a journal from before runs recorded them
    log, reports = session_log(journal, mode=mode, live=live)
    if progress:
        progress(1, 3)
    log.save(workdir / "session.npz")
    fills = sorted({f.fill_id: f for f in reports if isinstance(f, Fill)}.values(), key=fill_time)
    settlements = [s for s in reports if isinstance(s, Settlement)]
    write_fills_csv(workdir / "fills.csv", fills)
    if progress:
        progress(2, 3)
    s = summarize(log, fills, settlements, reports)
    dropped = journal_dropped(journal)
    if dropped["frames"]:
        s["market_data_dropped"] = dropped
    if venue_positions is not None:
        s["venue"] = agree_with_venue(fills, venue_positions)
    (workdir / "session.json").write_text(json.dumps(s, indent=2))
    for f in journal_files(journal):
        f.unlink(missing_ok=True)
    if progress:
        progress(3, 3)
    return s


def write_fills_csv(path: Path, fills: list[Fill]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts_ns", "market", "side", "price_usd", "count_contracts", "fee_usd", "is_taker", "seq", "fill_id"])
        for f in fills:
            w.writerow([fill_time(f), f.market, f.side, f.price / PRICE_SCALE, f.count / COUNT_SCALE,
                        f.fee / MONEY_SCALE, int(f.is_taker), f.seq, f.fill_id])


def summarize(log: EventLog, fills: list[Fill], settlements: list[Settlement], reports: list[Message]
              ) -> dict[str, Any]:
    refs = reference_prices(log)
    for s in settlements:  # the exchange's result beats an unknown one in md:market
        refs[s.market] = (PRICE_SCALE if s.result == "yes" else 0, True)
    figs = figures_from_fills(fills, refs)
    mids = Mids(log)
    per = []
    for t, f in sorted(figs.items()):
        d = asdict(f)
        per.append({"market": t, "fills": d["fills"], "bought_contracts": d["bought"] / COUNT_SCALE,
                    "sold_contracts": d["sold"] / COUNT_SCALE, "position_contracts": d["position"] / COUNT_SCALE,
                    "fees_usd": d["fees"] / MONEY_SCALE, "pnl_usd": round(d["pnl"] / MONEY_SCALE, 6),
                    "settled": refs.get(t, (0, False))[1]})
    ts = log.events["ts"]
    t0 = int(ts[0]) if len(ts) else 0
    t1 = int(ts[-1]) if len(ts) else 0
    return {
        "kind": "kmm run session", "events": len(log), "markets": len(log.markets),
        "seconds": round((t1 - t0) / NS_PER_S, 1), "start_ns": t0, "end_ns": t1,
        "reports": len(reports), "live": log.meta.get("live", {}),
        "overall": {"fills": len(fills), "fees_usd": sum(f.fee for f in fills) / MONEY_SCALE,
                    "bought_contracts": sum(f.count for f in fills if f.side == BID) / COUNT_SCALE,
                    "sold_contracts": sum(f.count for f in fills if f.side != BID) / COUNT_SCALE,
                    "pnl_usd": round(sum(x["pnl_usd"] for x in per), 6), **markouts(fills, mids)},
        "per_market": per,
    }


def agree_with_venue(fills: list[Fill], positions: list[dict[str, Any]]) -> dict[str, Any]:
    """The session's fills against the exchange's own record of this account (``/admin/positions``
    rows): per market, contracts traded must equal the exchange's volume, and, where the market has
    not settled, the net of our fills its position. Returns the verdict and every disagreement."""
    traded: dict[str, int] = {}
    net: dict[str, int] = {}
    for f in fills:
        traded[f.market] = traded.get(f.market, 0) + f.count
        net[f.market] = net.get(f.market, 0) + (f.count if f.side == BID else -f.count)
    venue = {p["ticker"]: p for p in positions}
    mismatches = []
    for t in sorted(set(traded) | {t for t, p in venue.items() if fp_to_count(p["volume_fp"])}):
        p = venue.get(t)
        volume = fp_to_count(p["volume_fp"]) if p else 0
        position = fp_to_count(p["position_fp"]) if p else 0
        if volume != traded.get(t, 0):
            mismatches.append({"market": t, "what": "contracts traded", "session": traded.get(t, 0) / COUNT_SCALE,
                               "exchange": volume / COUNT_SCALE})
        elif p is not None and not p.get("settled") and position != net.get(t, 0):
            mismatches.append({"market": t, "what": "position", "session": net.get(t, 0) / COUNT_SCALE,
                               "exchange": position / COUNT_SCALE})
    return {"agrees": not mismatches, "markets": len(set(traded) | set(venue)),
            "contracts_traded": sum(traded.values()) / COUNT_SCALE, "mismatches": mismatches}


def load_fills(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def timeline(log: EventLog, fills: list[dict[str, Any]], points: int = 400
             ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(times in s from the start, P&L marked to the mid in $, position per traded market) sampled."""
    mids = Mids(log)
    ts = log.events["ts"]
    if not len(ts):
        return np.zeros(0), np.zeros(0), {}
    t0, t1 = int(ts[0]), int(ts[-1])
    grid = np.linspace(t0, max(t1, t0 + 1), points).astype(np.int64)
    markets = sorted({f["market"] for f in fills})
    pos = {m: np.zeros(points) for m in markets}
    cash = np.zeros(points)
    fts = np.array([int(f["ts_ns"]) for f in fills], dtype=np.int64)
    for f, t in zip(fills, fts, strict=True):
        sign = 1 if f["side"] == BID else -1
        after = grid >= t
        count, price, fee = float(f["count_contracts"]), float(f["price_usd"]), float(f["fee_usd"])
        pos[f["market"]][after] += sign * count
        cash[after] += -sign * count * price - fee
    value = cash.copy()
    for m in markets:
        mid = np.array([mids.at(m, int(g)) for g in grid]) / PRICE_SCALE
        value += pos[m] * mid
    return (grid - t0) / NS_PER_S, value, pos


def charts(d: Path, log: EventLog, fills: list[dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, value, pos = timeline(log, fills)
    out = []
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(t, value, color="tab:blue")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("seconds since the session started")
    ax.set_ylabel("P&L, $ (marked to the mid)")
    ax.set_title("P&L")
    fig.tight_layout()
    fig.savefig(d / "pnl.png", dpi=100)
    plt.close(fig)
    out.append(d / "pnl.png")
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for m, p in sorted(pos.items(), key=lambda kv: -np.abs(kv[1]).max())[:10]:
        ax.step(t, p, where="post", label=m)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("seconds since the session started")
    ax.set_ylabel("position, contracts (+YES)")
    ax.set_title("Inventory (10 largest)")
    if pos:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(d / "inventory.png", dpi=100)
    plt.close(fig)
    out.append(d / "inventory.png")
    return out


def replay(d: Path, log: EventLog) -> tuple[list[dict[str, Any]], int]:
    """Backtest the session with the live parameters; per market backtest vs live (fidelity), and how
    many live fills were left out: those before the log's first event (a capped recording's market
    data starts later than the run; the replay cannot have made them)."""
    from kmm.backtest.engine import RunConfig
    from kmm.backtest.fidelity import compare
    from kmm.backtest.policy import ASPolicy
    from kmm.risk.engine import RiskLimits
    from kmm.strategy.quoting import QuoteParams

    p = log.meta.get("live") or live_parameters()
    params = QuoteParams(gamma=p["gamma"], kappa=p["kappa"], eta=p["eta"],
                         base_count=int(p["size_contracts"] * COUNT_SCALE),
                         max_position=int(p["max_position_contracts"] * COUNT_SCALE),
                         horizon_h=p["horizon_min"] / 60, min_edge_c=p["min_edge_c"])
    limits = RiskLimits(position_limit=int(p["position_limit_contracts"] * COUNT_SCALE),
                        near_fraction=p["near_fraction"], max_exposure=int(p["max_exposure_dollars"] * MONEY_SCALE),
                        max_daily_loss=int(p["max_daily_loss_dollars"] * MONEY_SCALE),
                        rate_capacity=p["rate_capacity"], rate_per_s=p["rate_per_s"], sigma_ref=p["sigma_ref_c"])
    policy = ASPolicy(params, sigma_c=p["sigma_prior_c"], sigma_estimator="tsrv", sigma_prior=p["sigma_prior_c"],
                      sigma_lag=p.get("sigma_lag", 10),
                      hold_tolerance=round(p["requote_tolerance_c"] * PRICE_SCALE / 100),
                      hold_size_tolerance=p["requote_size_tolerance"], risk=limits)
    ts = log.events["ts"]
    start = int(ts[0]) if len(ts) else 0
    rows = load_fills(d / "fills.csv")
    fills = [Fill(fill_id=f["fill_id"], order_id="", client_order_id="", market=f["market"], side=f["side"],
                  price=round(float(f["price_usd"]) * PRICE_SCALE), count=round(float(f["count_contracts"]) * COUNT_SCALE),
                  fee=round(float(f["fee_usd"]) * MONEY_SCALE)) for f in rows if int(f["ts_ns"]) >= start]
    return compare(log, policy, fills, RunConfig()), len(rows) - len(fills)


def report_lines(s: dict[str, Any], top: int = 10) -> list[str]:
    o = s["overall"]
    p = s.get("live", {})
    lines = [
        f"kmm run session: {s['seconds']:.0f} s, {s['markets']} markets, {s['events']} market-data events, "
        f"{s['reports']} execution reports",
        f"  fills {o['fills']}: bought {o['bought_contracts']:,.2f} / sold {o['sold_contracts']:,.2f} contracts, "
        f"fees ${o['fees_usd']:,.4f}",
        f"  P&L ${o['pnl_usd']:,.4f} (settled markets at their result, the others at the last mid)",
        f"  markouts 1 s ${o['markout_1s_usd']:,.4f}, 10 s ${o['markout_10s_usd']:,.4f}, "
        f"60 s ${o['markout_60s_usd']:,.4f} (Σ (later mid − price) × signed contracts)",
    ]
    dropped = s.get("market_data_dropped")
    if dropped:
        until = datetime.fromtimestamp(dropped["until_ns"] / NS_PER_S, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"  market data and order reports before {until} not kept ({dropped['frames']:,} entries, "
                     f"{dropped['bytes'] / 2**20:,.0f} MiB: the recording's cap, --record-max-mb); every fill and "
                     "settlement is kept")
    if p:
        lines.append(f"  live parameters: γ={p.get('gamma')} κ={p.get('kappa')} size {p.get('size_contracts')}, "
                     f"position limit {p.get('position_limit_contracts')}")
    markets = sorted(s["per_market"], key=lambda m: -abs(m["pnl_usd"]))
    if markets:
        lines.append(f"  {min(top, len(markets))} markets with the largest |P&L|:")
        for m in markets[:top]:
            lines.append(f"    {m['market']:<32} ${m['pnl_usd']:>9,.4f}  fills {m['fills']:>4}  "
                         f"position {m['position_contracts']:>8,.2f}{'' if m['settled'] else '  (marked)'}")
    return lines


def replay_lines(rows: list[dict[str, Any]], left_out: int = 0) -> list[str]:
    def tot(kind: str, k: str) -> int:
        return sum(r[f"{k}_{kind}"] for r in rows)

    bf, lf = tot("backtest", "fills"), tot("live", "fills")
    bp, lp = tot("backtest", "pnl") / MONEY_SCALE, tot("live", "pnl") / MONEY_SCALE
    lines = [f"  replay (kmm backtest over session.npz, live parameters): fills {bf} vs live {lf}; "
             f"P&L ${bp:,.4f} vs live ${lp:,.4f}"]
    if left_out:
        lines.append(f"    live: the fills within the recorded market data only ({left_out:,} earlier fill{'' if left_out == 1 else 's'} left out)")
    for r in rows:
        lines.append(f"    {r['market']:<32} fills {r['fills_backtest']:>4} vs {r['fills_live']:>4}   "
                     f"P&L ${r['pnl_backtest'] / MONEY_SCALE:>9,.4f} vs ${r['pnl_live'] / MONEY_SCALE:>9,.4f}")
    return lines


def report(d: Path, top: int = 10, out: Path | None = None, with_replay: bool = False) -> int:
    s = json.loads((d / "session.json").read_text())
    log = EventLog.load(d / "session.npz")
    fills = load_fills(d / "fills.csv")
    lines = report_lines(s, top)
    if with_replay:
        lines += replay_lines(*replay(d, log))
    print("\n".join(lines))
    images = charts(d, log, fills)
    parts = [f"<h1>kmm run session: {html.escape(str(d))}</h1>", "<pre>" + html.escape("\n".join(lines)) + "</pre>"]
    for img in images:
        parts.append(f'<img alt="{img.stem}" src="data:image/png;base64,{base64.b64encode(img.read_bytes()).decode()}">')
    if s["per_market"]:
        keys = list(s["per_market"][0])
        head = "".join(f"<th>{k}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in keys) + "</tr>"
                       for r in s["per_market"])
        parts.append(f"<h2>Per market</h2><table><tr>{head}</tr>{body}</table>")
    target = out or d / "report.html"
    target.write_text("<!doctype html><html><head><meta charset='utf-8'><title>kmm session</title><style>"
                      "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                      "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>" + "".join(parts)
                      + "</body></html>")
    print(f"wrote {', '.join(str(i) for i in images)}, {target}")
    return 0
