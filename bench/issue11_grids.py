"""Issue 11's acceptance 2 on the compiled kernel: the (γ, κ) grid on the INXD L2 day and on the payrolls
trade tape in ../shared/data, with the figures docs/strategy.md §2.5 tabulates (best cell, share of positive
cells, median, the seed's region γ 0.05–0.25 × κ 3–5: mean, min, max, share positive, fills, fees,
markouts). Imports as the issue-11 note did: INXD with its documented result and close; payrolls with, per
ticker, the close at the next 08:30 New York after its last print (the release) and the result yes/no
where the last print is ≥ 90¢ / ≤ 10¢ (the rest marked at the last print).

Grid: γ 0.05–1 × κ 0.5–5 (32 × 32), queue fills (trade-through on the trade-only tape), 100 ms decisions,
size 10, max position 100, h 5 min, no hold, the two-scale σ, the issue-11 defaults. Each tape is run
with a series table saying ``quadratic`` (no maker fee: like for like with the note's "before") and with
the fee assumed (unknown → 0.0175); risk on (the kernel's default) and off (the old engine's grid ran
without it). Usage: ``python bench/issue11_grids.py [--workers 2]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from kmm.backtest.engine import FillConfig, RunConfig
from kmm.backtest.eventlog import EventLog
from kmm.backtest.grid import DEFAULT_GAMMAS, DEFAULT_KAPPAS, GridSpec, run_grid
from kmm.backtest.importers import import_l2_jsonl, import_rest_trades
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, NS_PER_S
from kmm.strategy.quoting import QuoteParams

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NY = ZoneInfo("America/New_York")


def inxd() -> EventLog:
    log = import_l2_jsonl([DATA / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz"])
    close = int(datetime(2023, 8, 31, 20, tzinfo=UTC).timestamp()) * NS_PER_S
    log.markets = [replace(m, result="yes" if m.ticker == "INXD-23AUG31-B4512" else "no", close_ts=close)
                   for m in log.markets]
    return log


def payrolls() -> EventLog:
    log = import_rest_trades([DATA / "trades" / "trade_level_data_payrolls.csv.gz"])
    ev = log.events
    markets = []
    for k, m in enumerate(log.markets):
        mine = ev[ev["market"] == k]
        last_ts, last_px = int(mine["ts"][-1]), int(mine["price"][-1])
        t = datetime.fromtimestamp(last_ts / NS_PER_S, NY)
        release = t.replace(hour=8, minute=30, second=0, microsecond=0)
        if release <= t:
            release += timedelta(days=1)
        result = "yes" if last_px >= 9000 else ("no" if last_px <= 1000 else "")
        markets.append(replace(m, close_ts=int(release.timestamp()) * NS_PER_S, result=result))
    log.markets = markets
    return log


def region(spec: GridSpec) -> np.ndarray:
    p = spec.params()
    return (p.gamma >= 0.05 - 1e-9) & (p.gamma <= 0.25 + 1e-9) & (p.kappa >= 3.0 - 1e-9) & (p.kappa <= 5.0 + 1e-9)


def figures(log: EventLog, fee_type: str | None, risk: bool, workers: int) -> dict[str, object]:
    if fee_type is not None:
        log = EventLog(log.events, [replace(m, fee_type=fee_type) for m in log.markets], log.meta)
    base = QuoteParams(base_count=10 * COUNT_SCALE, max_position=100 * COUNT_SCALE)
    spec = GridSpec(DEFAULT_GAMMAS, DEFAULT_KAPPAS, base, sigma_estimator="tsrv", risk=risk)
    cfg = RunConfig(fill=FillConfig(model="queue", trade_only_model="trade_through"),
                    decision_interval_ns=100 * NS_PER_MS)
    t0 = time.perf_counter()
    res = run_grid(log, spec.policy(), cfg, workers=workers)
    seconds = time.perf_counter() - t0
    pnl = res.overall["pnl_settled"] / MONEY_SCALE
    best = int(np.argmax(pnl))
    p = spec.params()
    r = region(spec)
    mk = {h: float(res.overall[f"markout_{h}s"][r].sum() / MONEY_SCALE) for h in (1, 10, 60)}  # $ (µ$ inside)
    fills_r = int(res.overall["fills"][r].sum())
    return {
        "seconds": round(seconds, 1), "cells": res.n_cells,
        "best_usd": round(float(pnl[best]), 2), "best_gamma": float(p.gamma[best]), "best_kappa": float(p.kappa[best]),
        "best_fills": int(res.overall["fills"][best]),
        "share_positive": round(float(np.mean(pnl > 0)), 3), "median_usd": round(float(np.median(pnl)), 2),
        "region_cells": int(r.sum()), "region_mean_usd": round(float(pnl[r].mean()), 2),
        "region_min_usd": round(float(pnl[r].min()), 2), "region_max_usd": round(float(pnl[r].max()), 2),
        "region_share_positive": round(float(np.mean(pnl[r] > 0)), 3),
        "region_fills_per_cell": round(fills_r / r.sum(), 1),
        "region_fees_per_cell_usd": round(float(res.overall["fees"][r].mean() / MONEY_SCALE), 2),
        **{f"region_markout_{h}s_per_cell_usd": round(v / r.sum(), 2) for h, v in mk.items()},
        "region_markout_10s_per_fill_c": round(100 * mk[10] / max(fills_r, 1), 2),
        "region_halts_per_cell": round(float(res.overall["risk_halts"][r].mean()), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", choices=("inxd", "payrolls"), default=None)
    a = ap.parse_args()
    if not DATA.exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 2
    out: dict[str, object] = {}
    tapes = {"inxd": inxd, "payrolls": payrolls}
    for name, load in tapes.items():
        if a.only and name != a.only:
            continue
        log = load()
        out[f"{name}_events"] = len(log)
        for label, fee_type in (("no_fee", "quadratic"), ("fee", None)):
            for risk in (True, False):
                key = f"{name}_{label}_{'risk' if risk else 'no_risk'}"
                out[key] = figures(log, fee_type, risk, a.workers)
                print(key, json.dumps(out[key]), flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
