"""``kmm backtest``: one backtest over an event log (or the synthetic dataset) with one (γ, κ), risk on
by default; writes summary.json (every setting, in dollars and contracts), markets.csv, fills.csv,
equity and daily P&L. Events at or after their market's close are ignored, counted and warned about."""

from __future__ import annotations

import argparse
import sys
import time

from kmm.strategy.quoting import QuoteParams

from .cli_common import (
    add_input,
    add_run,
    base_params_kwargs,
    input_settings,
    load_input,
    markets_with_prints,
    own_param,
    policy_kwargs,
    risk_limits,
    run_config,
    warn_closes,
)
from .engine import run
from .policy import ASPolicy
from .progress import Progress
from .report import console_line, settings_in_units, summary, write_backtest

EQUITY_SAMPLES = 2_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_run(p)
    p.add_argument("--gamma", type=own_param("gamma"), default=0.1, help="risk aversion γ, 1/¢ (> 0)")
    p.add_argument("--kappa", type=own_param("kappa"), default=1.0, help="fill intensity decay κ, 1/¢ (> 0)")
    p.add_argument("--no-risk", action="store_true", help="skip the risk checks (quotes go straight to the book)")


def main(args: argparse.Namespace) -> int:
    log = load_input(args)
    params = QuoteParams(gamma=args.gamma, kappa=args.kappa, **base_params_kwargs(args))
    policy = ASPolicy(params, risk=None if args.no_risk else risk_limits(args), **policy_kwargs(args))
    cfg = run_config(args, record_fills=True, record_inventory=True, equity_samples=EQUITY_SAMPLES)
    t0 = time.perf_counter()
    result = run(log, policy, cfg, progress=None if args.no_progress else Progress("backtest"))
    elapsed = time.perf_counter() - t0
    settings = settings_in_units({"input": input_settings(args, log), "run": cfg.settings(), "policy": policy.settings(),
                                  "params": {"gamma": args.gamma, "kappa": args.kappa, "size_contracts": args.size,
                                             "max_position_contracts": args.max_position,
                                             "horizon_min": args.horizon_min}})
    s = summary(result, settings, markets_with_prints=markets_with_prints(log), seconds=round(elapsed, 3))
    print(console_line(s, elapsed))
    warn_closes(log, result.ignored_after_close)
    if s["unsettled_markets"]:
        names = s["unsettled_markets"]
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        print(f"{len(names)} unsettled (marked at last mid): {', '.join(names[:10])}{more}", file=sys.stderr)
    if args.out:
        files = write_backtest(args.out, result, s)
        print(f"wrote {args.out}/{{{','.join(files)}}}")
    return 0
