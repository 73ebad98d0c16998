"""Backtester benchmark: a deterministic synthetic feed (~280k events, one binary market, 6,000 s),
a single A–S run (events/s) and the 1,024-cell (γ, κ) grid over 2 processes (parameter-events/s).

Usage: ``python bench/backtest.py [--events 280000] [--hftbacktest out.npz] [--workers 2]``.
``--hftbacktest`` also writes the same feed in hftbacktest's event layout (structured array with
ev, exch_ts, local_ts, px, qty, order_id, ival, fval; key ``data``) for a side-by-side run.
The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from kmm.backtest.engine import RunConfig, run
from kmm.backtest.eventlog import ASK, BOOK, EventLog
from kmm.backtest.grid import DEFAULT_GAMMAS, DEFAULT_KAPPAS, GridSpec, run_grid
from kmm.backtest.policy import ASPolicy
from kmm.backtest.synthetic import generate
from kmm.messages.units import COUNT_SCALE, NS_PER_MS, PRICE_SCALE
from kmm.strategy.quoting import QuoteParams

HBT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
                      ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)
DEPTH_EVENT, TRADE_EVENT, DEPTH_SNAPSHOT_EVENT = 1, 2, 4
EXCH, LOCAL, BUY, SELL = 1 << 31, 1 << 30, 1 << 29, 1 << 28


def feed(events: int, seed: int = 7) -> EventLog:
    # the generator emits ~1.17 rows per step (prints carry their book delta, re-centring several)
    return generate(seed=seed, n_markets=1, events_per_market=int(events / 1.17), duration_s=6000.0,
                    maker_fee_markets=0)


def to_hftbacktest(log: EventLog, feed_latency_ns: int = 20 * NS_PER_MS) -> np.ndarray:
    ev = log.events
    out = np.zeros(len(ev), dtype=HBT_DTYPE)
    book = ev["kind"] == BOOK
    snap = (ev["flags"] & 1) == 1
    kind = np.where(book, np.where(snap, DEPTH_SNAPSHOT_EVENT, DEPTH_EVENT), TRADE_EVENT)
    # depth: BUY = bid side, SELL = ask side; trades: BUY = the aggressor bought (it hit the asks)
    side = np.where(ev["side"] == ASK, np.where(book, SELL, BUY), np.where(book, BUY, SELL))
    out["ev"] = (kind | side | EXCH | LOCAL).astype(np.uint64)
    out["local_ts"] = ev["ts"]
    out["exch_ts"] = ev["ts"] - feed_latency_ns
    out["px"] = ev["price"] / PRICE_SCALE
    out["qty"] = ev["qty"] / COUNT_SCALE
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=280_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hftbacktest", type=Path, default=None)
    ap.add_argument("--skip-grid", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    log = feed(a.events)
    gen_s = time.perf_counter() - t0
    n = len(log)
    if a.hftbacktest:
        np.savez(a.hftbacktest, data=to_hftbacktest(log))
    print(f"feed: {n} events ({int((log.events['kind'] == 2).sum())} trades) in {gen_s:.2f}s")
    cfg = RunConfig()
    figures: dict[str, object] = {"events": n, "generate_s": round(gen_s, 3)}
    params = QuoteParams(gamma=0.1, kappa=1.0)
    for name, pol in (("single_fixed_sigma", ASPolicy(params, sigma_c=10.0)),):
        t = time.perf_counter()
        r = run(log, pol, cfg)
        dt = time.perf_counter() - t
        figures[f"{name}_s"] = round(dt, 3)
        figures[f"{name}_events_per_s"] = round(n / dt)
        figures[f"{name}_fills"] = int(r.overall["fills"][0])
        print(f"{name}: {dt:.2f}s, {n / dt:,.0f} events/s, fills {int(r.overall['fills'][0])}")
    slow = RunConfig(decision_interval_ns=1_000 * NS_PER_MS)
    t = time.perf_counter()
    run(log, ASPolicy(params, sigma_c=10.0), slow)
    dt = time.perf_counter() - t
    figures["single_1s_decisions_events_per_s"] = round(n / dt)
    print(f"single, decisions every 1 s: {dt:.2f}s, {n / dt:,.0f} events/s")
    if not a.skip_grid:
        spec = GridSpec(DEFAULT_GAMMAS, DEFAULT_KAPPAS, QuoteParams(), sigma_c=10.0)
        t = time.perf_counter()
        res = run_grid(log, spec.policy(), cfg, workers=a.workers)
        dt = time.perf_counter() - t
        figures.update(grid_cells=res.n_cells, grid_s=round(dt, 2), grid_workers=a.workers,
                       grid_param_events_per_s=round(n * res.n_cells / dt))
        print(f"grid: {res.n_cells} cells in {dt:.1f}s on {a.workers} workers, "
              f"{n * res.n_cells / dt:,.0f} parameter-events/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
