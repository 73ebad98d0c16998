"""Arguments and helpers shared by the ``kmm backtest|grid`` commands (every option shows its default)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, PRICE_SCALE
from kmm.risk.engine import RiskLimits
from kmm.strategy.quoting import PARAM_NAMES, QuoteParams

from .engine import CANCEL_MODELS, DEFAULT_REPORT_LATENCY_NS, FILL_MODELS, FillConfig, RunConfig
from .eventlog import TRADE, EventLog
from .policy import BACKTEST_LIMITS, SIGMA_ESTIMATORS
from .series_table import apply_series_table, load_series_table
from .synthetic import generate

_DEFAULT_LIMITS = BACKTEST_LIMITS


def add_input(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", type=Path, help="event log (.npz) written by kmm import/record")
    src.add_argument("--synthetic", action="store_true", help="use the deterministic synthetic dataset")
    p.add_argument("--seed", type=int, default=7, help="synthetic seed")
    p.add_argument("--synthetic-events", type=int, default=20_000, help="synthetic events per market")
    p.add_argument("--markets", nargs="*", default=None, help="only these tickers")


def add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fill-model", choices=FILL_MODELS, default="queue", help="fill model on markets with a book")
    p.add_argument("--trade-only-model", choices=FILL_MODELS, default="trade_through",
                   help="fill model on markets with prints only (no book): trade_through = only prints through "
                        "our price fill us; queue = prints at our price too, after --trade-only-queue-ahead")
    p.add_argument("--trade-only-queue-ahead", type=float, default=0.0,
                   help="contracts assumed ahead of us at our price on trade-only markets (queue model)")
    p.add_argument("--cancel-model", choices=CANCEL_MODELS, default="proportional",
                   help="how unexplained level decreases advance our queue place")
    p.add_argument("--power", type=float, default=2.0, help="exponent of the power cancel model")
    p.add_argument("--place-latency-ms", type=float, default=30.0, help="decision → order resting")
    p.add_argument("--cancel-latency-ms", type=float, default=30.0, help="decision → order gone")
    p.add_argument("--report-latency-ms", type=float, default=DEFAULT_REPORT_LATENCY_NS / NS_PER_MS,
                   help="fill → the quoter and risk learn it (live over the exchange WebSocket: p50 ~3–5 ms "
                        "in make run)")
    p.add_argument("--decrease-resets-priority", action="store_true",
                   help="a size decrease sends the order to the back of the queue (Kalshi keeps its place)")
    p.add_argument("--denial-pulls-quotes", action="store_true",
                   help="a risk denial withdraws the market's quotes (live leaves them resting)")
    p.add_argument("--latch-halts", action="store_true",
                   help="a risk halt lasts the rest of the run, as live without an operator (default: a daily-loss "
                        "halt clears at the next UTC day and the operator resumes any other halt then)")
    p.add_argument("--interval-ms", type=float, default=100.0,
                   help="minimum time between decisions per market (0 = every event)")
    p.add_argument("--sigma", type=float, default=10.0, help="σ in ¢/√h when --sigma-estimator fixed")
    p.add_argument("--sigma-estimator", choices=SIGMA_ESTIMATORS, default="tsrv",
                   help="σ from an estimator fed with the replayed mids (tsrv: the live quoter's two-scale σ; "
                        "ewma: tick-by-tick), or fixed at --sigma")
    p.add_argument("--space", choices=("price", "logit"), default="price", help="quoting space")
    p.add_argument("--size", type=float, default=10.0, help="base quote size, contracts")
    p.add_argument("--max-position", type=float, default=100.0, help="quoting position cap, contracts")
    p.add_argument("--horizon-min", type=float, default=5.0, help="holding horizon h, minutes")
    p.add_argument("--param", type=param_value, action="append", default=[], metavar="NAME=VALUE",
                   help="any other QuoteParams field, e.g. jump_frac=0.02, toxic_c=inf, reduce_before_h=0 "
                        "(repeatable; docs/strategy.md lists them and their defaults)")
    p.add_argument("--series-table", type=Path, default=None,
                   help="CSV or TOML of per-series fee_type, fee_multiplier and close rules "
                        "(kmm.backtest.series_table)")
    p.add_argument("--hold-c", type=float, default=0.0,
                   help="the live quoter's safe-side requote hold, cents (live default 1; 0 = off)")
    p.add_argument("--hold-size-tolerance", type=float, default=0.5,
                   help="with --hold-c: a resting size is raised only past this fraction")
    p.add_argument("--position-limit", type=float, default=_DEFAULT_LIMITS.position_limit / COUNT_SCALE,
                   help="risk: hard per-market position limit, contracts")
    p.add_argument("--max-exposure", type=float, default=_DEFAULT_LIMITS.max_exposure / MONEY_SCALE,
                   help="risk: worst-case settlement loss limit, $")
    p.add_argument("--max-daily-loss", type=float, default=_DEFAULT_LIMITS.max_daily_loss / MONEY_SCALE,
                   help="risk: daily loss limit, $ (per UTC day)")
    p.add_argument("--out", type=Path, default=None, help="output directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def load_input(args: argparse.Namespace) -> EventLog:
    log = (generate(seed=args.seed, events_per_market=args.synthetic_events) if args.synthetic
           else EventLog.load(args.log))
    if args.markets:
        unknown = sorted(set(args.markets) - set(log.tickers))
        if unknown:
            raise SystemExit(f"--markets: unknown ticker(s) {', '.join(unknown)}")
        log = log.select(args.markets)
    args.series_close = {}
    if getattr(args, "series_table", None) is not None:
        try:
            args.series_close = apply_series_table(log, load_series_table(args.series_table))
        except (OSError, ValueError) as exc:
            print(f"invalid setting --series-table: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return log


_OWN_OPTIONS = ("gamma", "kappa", "base_count", "max_position", "horizon_h")  # set by their own options


def param_value(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` for ``--param``: a QuoteParams field (not one with its own option) and a valid value."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in PARAM_NAMES or name in _OWN_OPTIONS:
        allowed = ", ".join(n for n in PARAM_NAMES if n not in _OWN_OPTIONS)
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE with NAME one of {allowed}")
    try:
        v = float(value)
        QuoteParams(**{name: v})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return name, v


def policy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ASPolicy options the commands share: σ, space, the requote hold, the series' close rules."""
    return {"sigma_c": args.sigma, "space": args.space, "sigma_estimator": args.sigma_estimator,
            "hold_tolerance": round(args.hold_c * PRICE_SCALE / 100),
            "hold_size_tolerance": args.hold_size_tolerance, "series_close": getattr(args, "series_close", {})}


def run_config(args: argparse.Namespace, **kw: Any) -> RunConfig:
    fill = FillConfig(model=args.fill_model, cancel_model=args.cancel_model, power=args.power,
                      place_latency_ns=int(args.place_latency_ms * NS_PER_MS),
                      cancel_latency_ns=int(args.cancel_latency_ms * NS_PER_MS),
                      report_latency_ns=int(args.report_latency_ms * NS_PER_MS),
                      decrease_keeps_priority=not args.decrease_resets_priority,
                      trade_only_model=args.trade_only_model,
                      trade_only_queue_ahead=int(round(args.trade_only_queue_ahead * COUNT_SCALE)))
    return RunConfig(fill=fill, decision_interval_ns=int(args.interval_ms * NS_PER_MS),
                     denial_keeps_target=not args.denial_pulls_quotes, resume_next_day=not args.latch_halts, **kw)


def risk_limits(args: argparse.Namespace) -> RiskLimits:
    return replace(BACKTEST_LIMITS, position_limit=int(round(args.position_limit * COUNT_SCALE)),
                   max_exposure=int(round(args.max_exposure * MONEY_SCALE)),
                   max_daily_loss=int(round(args.max_daily_loss * MONEY_SCALE)),
                   daily_loss_unlatch=not args.latch_halts)


def base_params_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"base_count": int(round(args.size * COUNT_SCALE)), "max_position": int(round(args.max_position * COUNT_SCALE)),
            "horizon_h": args.horizon_min / 60.0, **dict(args.param)}


def input_settings(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    return {"log": str(args.log) if args.log else None, "synthetic": bool(args.synthetic),
            "seed": args.seed if args.synthetic else None, "markets": args.markets, "source": log.meta.get("source"),
            "events": len(log)}


def markets_with_prints(log: EventLog) -> int:
    return int(len(np.unique(log.events["market"][log.events["kind"] == TRADE])))


def parse_range(text: str) -> np.ndarray:
    """``lo:hi:n`` → n evenly spaced values; ``a,b,c`` → those values."""
    if ":" in text:
        lo, hi, n = text.split(":")
        return np.round(np.linspace(float(lo), float(hi), int(n)), 6)
    return np.array([float(x) for x in text.split(",")])
