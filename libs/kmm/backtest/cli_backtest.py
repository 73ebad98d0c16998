"""``kmm backtest``: one backtest over an event log (or the synthetic dataset) with one (γ, κ)."""

from __future__ import annotations

import argparse
import csv
import sys
import time

from kmm.strategy.quoting import QuoteParams

from .cli_common import (
    add_input,
    add_run,
    base_params_kwargs,
    hold_kwargs,
    load_input,
    run_config,
    to_json_summary,
    write_json,
)
from .engine import Result, run
from .policy import ASPolicy, RiskedPolicy, sigma_factory
from .progress import Progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_run(p)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--kappa", type=float, default=1.0)
    p.add_argument("--no-risk", action="store_true", help="skip the risk engine (quotes go straight to the book)")


def write_fills(path, result: Result) -> None:  # type: ignore[no-untyped-def]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts_ns", "market", "side", "price", "count", "fee_micro_usd"])
        for ts, m, _cell, side, price, count, fee in result.fills:
            w.writerow([ts, result.tickers[m], "bid" if side == 0 else "ask", price, count, fee])


def main(args: argparse.Namespace) -> int:
    log = load_input(args)
    params = QuoteParams(gamma=args.gamma, kappa=args.kappa, **base_params_kwargs(args))
    quoting = ASPolicy(params, sigma_c=args.sigma, space=args.space,
                       sigma_factory=sigma_factory(args.sigma_estimator, args.space), **hold_kwargs(args))
    policy = quoting if args.no_risk else RiskedPolicy(quoting)
    cfg = run_config(args, record_fills=True, record_inventory=True)
    t0 = time.perf_counter()
    result = run(log, policy, cfg, progress=None if args.no_progress else Progress("backtest"))
    elapsed = time.perf_counter() - t0
    summary = to_json_summary(result)
    summary.update(params={"gamma": args.gamma, "kappa": args.kappa, "risk": not args.no_risk,
                           "sigma_estimator": args.sigma_estimator},
                   risk_denials=getattr(policy, "denials", {}), seconds=round(elapsed, 3),
                   events_per_s=round(len(log) / elapsed) if elapsed else None, source=log.meta.get("source"))
    o = summary["overall"]
    print(f"{len(log)} events, {len(log.markets)} markets in {elapsed:.2f}s: PnL settled ${o['pnl_settled_usd']:.2f} "
          f"(marked ${o['pnl_marked_usd']:.2f}), fees ${o['fees_usd']:.2f}, fills {o['fills']}, "
          f"max drawdown ${o['max_drawdown_usd']:.2f}")
    if summary["unsettled_markets"]:
        names = summary["unsettled_markets"]
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        print(f"{len(names)} unsettled (marked at last mid): {', '.join(names[:10])}{more}", file=sys.stderr)
    if args.out:
        write_json(args.out / "summary.json", summary)
        write_fills(args.out / "fills.csv", result)
        with open(args.out / "inventory.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["ts_ns", "market", "position"])
            for ts, m, pos in result.inventory:
                w.writerow([ts, result.tickers[m], pos])
        print(f"wrote {args.out}/summary.json, fills.csv, inventory.csv")
    return 0
