"""Arguments and helpers shared by the ``kmm backtest|grid|report`` commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, PRICE_SCALE
from kmm.strategy.quoting import PARAM_NAMES, QuoteParams

from .engine import CANCEL_MODELS, FILL_MODELS, FillConfig, Result, RunConfig
from .eventlog import EventLog
from .policy import SIGMA_ESTIMATORS
from .series_table import apply_series_table, load_series_table
from .synthetic import generate


def add_input(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", type=Path, help="event log (.npz) written by kmm import/record")
    src.add_argument("--synthetic", action="store_true", help="use the deterministic synthetic dataset")
    p.add_argument("--seed", type=int, default=7, help="synthetic seed")
    p.add_argument("--synthetic-events", type=int, default=20_000, help="synthetic events per market")
    p.add_argument("--markets", nargs="*", default=None, help="only these tickers")


def add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fill-model", choices=FILL_MODELS, default="queue")
    p.add_argument("--cancel-model", choices=CANCEL_MODELS, default="proportional")
    p.add_argument("--power", type=float, default=2.0, help="exponent of the power cancel model")
    p.add_argument("--place-latency-ms", type=float, default=30.0)
    p.add_argument("--cancel-latency-ms", type=float, default=30.0)
    p.add_argument("--interval-ms", type=float, default=100.0, help="minimum time between decisions per market")
    p.add_argument("--sigma", type=float, default=10.0, help="σ in ¢/√h when --sigma-estimator fixed")
    p.add_argument("--sigma-estimator", choices=SIGMA_ESTIMATORS, default="tsrv",
                   help="σ from a strategy estimator fed with replayed mids (tsrv: the live quoter's), or fixed")
    p.add_argument("--space", choices=("price", "logit"), default="price")
    p.add_argument("--size", type=float, default=10.0, help="base quote size, contracts")
    p.add_argument("--max-position", type=float, default=100.0, help="contracts")
    p.add_argument("--horizon-min", type=float, default=5.0, help="holding horizon h, minutes")
    p.add_argument("--param", type=param_value, action="append", default=[], metavar="NAME=VALUE",
                   help="any other QuoteParams field, e.g. jump_frac=0.02, toxic_c=1 (repeatable; docs/strategy.md)")
    p.add_argument("--series-table", type=Path, default=None,
                   help="CSV/TOML of per-series fee_type, fee_multiplier, close rules (kmm.backtest.series_table)")
    p.add_argument("--hold-c", type=float, default=0.0, help="the live quoter's requote hold, cents (0 = off)")
    p.add_argument("--hold-size-tolerance", type=float, default=0.5, help="with --hold-c: size growth before requote")
    p.add_argument("--out", type=Path, default=None, help="output directory")
    p.add_argument("--no-progress", action="store_true")


def load_input(args: argparse.Namespace) -> EventLog:
    """The event log, with ``--series-table`` applied (its close rules land in ``args.series_close``)."""
    log = (generate(seed=args.seed, events_per_market=args.synthetic_events) if args.synthetic
           else EventLog.load(args.log))
    if args.markets:
        log = log.select(args.markets)
    args.series_close = {}
    if getattr(args, "series_table", None) is not None:
        try:
            args.series_close = apply_series_table(log, load_series_table(args.series_table))
        except (OSError, ValueError) as exc:
            print(f"invalid setting --series-table: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return log


_NOT_PARAMS = ("gamma", "kappa", "base_count", "max_position", "horizon_h")


def param_value(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` for ``--param``: a QuoteParams field (not one with its own option) and a valid value."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in PARAM_NAMES or name in _NOT_PARAMS:
        allowed = ", ".join(n for n in PARAM_NAMES if n not in _NOT_PARAMS)
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE with NAME one of {allowed}")
    try:
        v = float(value)
        QuoteParams(**{name: v})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return name, v


def hold_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"hold_tolerance": round(args.hold_c * PRICE_SCALE / 100), "hold_size_tolerance": args.hold_size_tolerance,
            "series_close": getattr(args, "series_close", {})}


def run_config(args: argparse.Namespace, **kw: Any) -> RunConfig:
    fill = FillConfig(model=args.fill_model, cancel_model=args.cancel_model, power=args.power,
                      place_latency_ns=int(args.place_latency_ms * NS_PER_MS),
                      cancel_latency_ns=int(args.cancel_latency_ms * NS_PER_MS))
    return RunConfig(fill=fill, decision_interval_ns=int(args.interval_ms * NS_PER_MS), **kw)


def base_params_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"base_count": int(round(args.size * COUNT_SCALE)), "max_position": int(round(args.max_position * COUNT_SCALE)),
            "horizon_h": args.horizon_min / 60.0, **dict(args.param)}


def dollars(v: float | int) -> float:
    return float(v) / MONEY_SCALE


MONEY_KEYS = ("pnl_settled", "pnl_marked", "pnl_realized", "fees", "cash", "spread_captured",
              "markout_1s", "markout_10s", "markout_60s", "max_drawdown")


def to_json_summary(result: Result, cell: int = 0) -> dict[str, Any]:
    """Overall and per-market metrics of one cell, money in dollars, counts in contracts."""

    def conv(row: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in row.items():
            if k in MONEY_KEYS:
                out[k + "_usd"] = round(dollars(v), 6)
            elif k in ("position", "volume_buy", "volume_sell", "inventory_max_abs"):
                out[k] = v / COUNT_SCALE
            elif k in ("inventory_mean", "inventory_abs_mean"):
                out[k] = round(v / COUNT_SCALE, 4)
            elif isinstance(v, float):
                out[k] = round(v, 6) if np.isfinite(v) else None
            else:
                out[k] = v
        return out

    return {"overall": conv(result.overall_summary(cell)), "markets": [conv(r) for r in result.market_summary(cell)],
            "unsettled_markets": [t for t, k in zip(result.tickers, result.settled_known, strict=True) if not k],
            "events": result.events}


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True))


def parse_range(text: str) -> np.ndarray:
    """``lo:hi:n`` → n evenly spaced values; ``a,b,c`` → those values."""
    if ":" in text:
        lo, hi, n = text.split(":")
        return np.round(np.linspace(float(lo), float(hi), int(n)), 6)
    return np.array([float(x) for x in text.split(",")])
