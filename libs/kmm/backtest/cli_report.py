"""``kmm report``: a readable text summary of a ``kmm backtest`` or ``kmm grid`` output directory, or
of a ``kmm run`` workdir (its recorded session: fills, P&L, markouts, P&L and inventory charts, and
with ``--replay`` the backtest of the same session against what live did), and a self-contained
report.html beside it."""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from pathlib import Path
from typing import Any

from .cli_help import DefaultsFormatter
from .report import figure, usd, utc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = DefaultsFormatter
    p.add_argument("dir", type=Path, help="output directory of kmm backtest or kmm grid, or a kmm run workdir")
    p.add_argument("--out", type=Path, default=None, help="HTML file (default DIR/report.html)")
    p.add_argument("--top", type=int, default=10, help="markets (backtest) listed by P&L")
    p.add_argument("--replay", action="store_true",
                   help="kmm run workdir: also backtest its session.npz with the live parameters and compare")


def _table(rows: list[dict], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k in keys) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def backtest_text(s: dict[str, Any], top: int) -> list[str]:
    o = s["overall"]
    st = s.get("settings", {})
    pol = st.get("policy", {})
    run = st.get("run", {})
    fm = s.get("fill_models", {})
    ignored = s.get("events_ignored_after_close", 0)
    lines = [
        f"Backtest of {s['events']} events over {len(s['markets'])} markets "
        f"({o.get('markets_traded', '?')} traded; {fm.get('markets_with_book', '?')} with a book, "
        f"{s.get('markets_with_prints', '?')} with trade prints)",
        f"  P&L settled   {usd(o['pnl_settled_usd'], grouping=True):>13}   (marked to the last mid "
        f"{usd(o['pnl_marked_usd'], grouping=True)})",
        f"  fees          {usd(o['fees_usd'], grouping=True):>13}   fills {o['fills']}, bought "
        f"{o['volume_buy_contracts']:,.0f} / sold {o['volume_sell_contracts']:,.0f} contracts",
        f"  max drawdown  {usd(o['max_drawdown_usd'], grouping=True):>13}   Sharpe (daily, annualized) "
        f"{figure(o.get('sharpe_annualized')) if o.get('sharpe_annualized') is not None else 'n/a'}",
        f"  spread captured {usd(o['spread_captured_usd'], grouping=True)}; markouts 1 s "
        f"{usd(o['markout_1s_usd'], grouping=True)}, 10 s {usd(o['markout_10s_usd'], grouping=True)}, "
        f"60 s {usd(o['markout_60s_usd'], grouping=True)}",
    ]
    if ignored:
        lines.append(f"  {ignored} events ignored: at or after their market's close")
    lines.append(f"  fill model: {fm.get('book_markets')} on {fm.get('markets_with_book', '?')} market(s) with a book; "
                 f"{s.get('settings', {}).get('run', {}).get('fill', {}).get('trade_only_model')} on "
                 f"{fm.get('trade_only_markets', 0)} trade-only market(s)")
    if pol.get("risk"):
        r = s.get("risk", {})
        line = f"  risk on: final state {r.get('state')}, {r.get('halts', 0)} halt(s), {r.get('halt_resets', 0)} reset(s)"
        for key in ("first_halt", "last_halt"):
            h = r.get(key)
            if h:
                line += f"; {key.replace('_', ' ')} {utc(h['ts_ns'])} {h['reason']} in {h['market']}"
        lines.append(line)
        if r.get("denials"):
            lines.append("  denials: " + ", ".join(f"{k} {v}" for k, v in r["denials"].items()))
    else:
        lines.append("  risk off")
    lines.append(f"  settings: γ={st.get('params', {}).get('gamma')} κ={st.get('params', {}).get('kappa')}, "
                 f"decisions every {run.get('decision_interval_ns', 0) / 1e6:g} ms, latency place "
                 f"{run.get('fill', {}).get('place_latency_ns', 0) / 1e6:g} ms / fill reports "
                 f"{run.get('fill', {}).get('report_latency_ns', 0) / 1e6:g} ms, σ {pol.get('sigma_estimator')}")
    markets = sorted(s["markets"], key=lambda m: -m["pnl_settled_usd"])
    if markets:
        lines.append(f"  best {min(top, len(markets))} markets by settled P&L:")
        for m in markets[:top]:
            lines.append(f"    {m['market']:<32} {usd(m['pnl_settled_usd'], grouping=True):>10}  fills {m['fills']:>5}  "
                         f"position {m['position_contracts']:>8,.2f}{'' if m['settled'] else '  (marked)'}")
    if s.get("unsettled_markets"):
        lines.append(f"  {len(s['unsettled_markets'])} market(s) marked at the last mid (result unknown)")
    return lines


def grid_text(s: dict[str, Any]) -> list[str]:
    b, p = s["best"], s["plateau"]
    d = s.get("distribution_usd", {})
    wf = s.get("walk_forward")
    over = (f" over the training part (the first {wf['train_frac']:.0%} of time, {s.get('events', '?')} events)"
            if wf else f" over {s['events']} events" if "events" in s else "")
    lines = [f"Grid of {s['cells']} cells{over}, risk {'on' if s.get('risk') else 'off'}, in {s.get('seconds', '?')} s",
             f"  best cell     γ={b['gamma']:g} κ={b['kappa']:g}: {usd(b['value'], grouping=True)}",
             f"  plateau       γ={p['gamma']:g} κ={p['kappa']:g}: {usd(p['value'], grouping=True)} "
             f"(mean of its neighbourhood {usd(p['neighbourhood_mean'], grouping=True)})",
             f"  distribution  min {usd(d.get('min', 0), grouping=True)}, median {usd(d.get('median', 0), grouping=True)}, "
             f"max {usd(d.get('max', 0), grouping=True)}; {s.get('share_positive', 0):.0%} of cells positive"]
    if s.get("edge_warning"):
        lines.append(f"  WARNING: {s['edge_warning']}")
    if wf:
        from .grid import walk_forward_lines

        lines += ["  " + x for x in walk_forward_lines(wf)]
    return lines


def main(args: argparse.Namespace) -> int:
    d: Path = args.dir
    summary_path = d / "summary.json"
    from kmm.runner.session import JOURNAL, is_session_dir, report, write_session

    if not summary_path.exists() and not is_session_dir(d) and (d / JOURNAL).exists():
        write_session(d)  # a run that was killed before it could write its session
    if not summary_path.exists() and is_session_dir(d):
        return report(d, args.top, args.out, with_replay=args.replay)
    if not summary_path.exists():
        print(f"kmm report: {summary_path} not found (give the output directory of kmm backtest or kmm grid, "
              "or a kmm run workdir with session.npz)", file=sys.stderr)
        return 2
    s = json.loads(summary_path.read_text())
    parts = [f"<h1>kmm report: {html.escape(str(d))}</h1>"]
    if "overall" in s:
        lines = backtest_text(s, args.top)
        parts.append("<pre>" + html.escape("\n".join(lines)) + "</pre>")
        if s.get("markets"):
            parts.append("<h2>Per market (dollars, contracts)</h2>" + _table(s["markets"], list(s["markets"][0])))
        img = d / "equity.png"
    else:
        lines = grid_text(s)
        parts.append("<pre>" + html.escape("\n".join(lines)) + "</pre>")
        img = d / "heatmap.png"
    print("\n".join(lines))
    if img.exists():
        parts.append(f'<img alt="{img.stem}" src="data:image/png;base64,{base64.b64encode(img.read_bytes()).decode()}">')
    out = args.out or d / "report.html"
    out.write_text("<!doctype html><html><head><meta charset='utf-8'><title>kmm report</title><style>"
                   "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                   "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
                   + "".join(parts) + "</body></html>")
    print(f"wrote {out}")
    return 0
