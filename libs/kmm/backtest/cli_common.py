"""Arguments and helpers shared by the ``kmm backtest|grid`` commands (every option shows its default).

Every numeric option is checked when it is parsed (an argparse ``type``), so a bad value exits 2 with
one line naming the option and what it expects, before anything runs; so does an unreadable
``--log``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, PRICE_SCALE
from kmm.risk.engine import RiskLimits
from kmm.strategy.quoting import PARAM_NAMES, QuoteParams

from .cli_help import DefaultsFormatter
from .engine import CANCEL_MODELS, DEFAULT_REPORT_LATENCY_NS, FILL_MODELS, FillConfig, RunConfig
from .eventlog import TRADE, EventLog, EventLogError
from .importers import close_warning
from .policy import BACKTEST_LIMITS, SIGMA_ESTIMATORS
from .series_table import apply_series_table, load_series_table
from .synthetic import generate

_DEFAULT_LIMITS = BACKTEST_LIMITS


def fail(args: argparse.Namespace, message: str) -> NoReturn:
    """Bad input found after parsing: one line on stderr, exit 2."""
    print(f"{getattr(args, 'prog', 'kmm')}: {message}", file=sys.stderr)
    raise SystemExit(2)


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
           integer: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a number within [lo, hi] (``lo_open``/``hi_open``: the bound excluded)."""
    lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
    hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
    want = f"{'a whole number' if integer else 'a finite number'}{' ' if lo_s or hi_s else ''}" + " and ".join(
        x for x in (lo_s, hi_s) if x)

    def parse(text: str) -> float:
        try:
            v: float = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {want}") from None
        ok = (math.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo))
              and (hi is None or (v < hi if hi_open else v <= hi)))
        if not ok:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {want}")
        return v

    parse.__name__ = "number"
    return parse


def param_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not valid for the QuoteParams field ``name`` (QuoteParams' own check), or None."""
    try:
        QuoteParams(**{name: value})
    except (ValueError, OverflowError) as exc:
        return str(exc)
    return None


def own_param(name: str, to_field: Callable[[float], Any] = float) -> Callable[[str], float]:
    """An argparse ``type`` for an option that sets the QuoteParams field ``name`` (via ``to_field``):
    checked by QuoteParams itself, as ``--param`` is."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
        problem = param_problem(name, to_field(v))
        if problem:
            raise argparse.ArgumentTypeError(f"{text!r}: {problem.removeprefix(name + ' ')}")
        return v

    parse.__name__ = name
    return parse


def add_input(p: argparse.ArgumentParser) -> None:
    p.formatter_class = DefaultsFormatter
    p.set_defaults(prog=p.prog)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", type=Path, help="event log (.npz) written by kmm import/record")
    src.add_argument("--synthetic", action="store_true", help="use the deterministic synthetic dataset")
    p.add_argument("--seed", type=int, default=7, help="synthetic seed")
    p.add_argument("--synthetic-events", type=number(1, integer=True), default=20_000,
                   help="synthetic events per market")
    p.add_argument("--markets", nargs="*", default=None, help="only these tickers (default: every market)")


def add_run(p: argparse.ArgumentParser, out_default: Path | None = None,
            out_help: str = "output directory (default: none, nothing written)") -> None:
    p.add_argument("--fill-model", choices=FILL_MODELS, default="queue", help="fill model on markets with a book")
    p.add_argument("--trade-only-model", choices=FILL_MODELS, default="trade_through",
                   help="fill model on markets with prints only (no book): trade_through = only prints through "
                        "our price fill us; queue = prints at our price too, after --trade-only-queue-ahead")
    p.add_argument("--trade-only-queue-ahead", type=number(0), default=0.0,
                   help="contracts assumed ahead of us at our price on trade-only markets (queue model)")
    p.add_argument("--cancel-model", choices=CANCEL_MODELS, default="proportional",
                   help="how unexplained level decreases advance our queue place")
    p.add_argument("--power", type=number(0, lo_open=True), default=2.0, help="exponent of the power cancel model")
    p.add_argument("--place-latency-ms", type=number(0), default=30.0, help="decision → order resting")
    p.add_argument("--cancel-latency-ms", type=number(0), default=30.0, help="decision → order gone")
    p.add_argument("--report-latency-ms", type=number(0), default=DEFAULT_REPORT_LATENCY_NS / NS_PER_MS,
                   help="fill → the quoter and risk learn it (live over the exchange WebSocket: p50 ~3–5 ms "
                        "in make run)")
    p.add_argument("--decrease-resets-priority", action="store_true",
                   help="a size decrease sends the order to the back of the queue (Kalshi keeps its place)")
    p.add_argument("--denial-pulls-quotes", action="store_true",
                   help="a risk denial withdraws the market's quotes (live leaves them resting)")
    p.add_argument("--latch-halts", action="store_true",
                   help="a risk halt lasts the rest of the run, as live without an operator (default: a daily-loss "
                        "halt clears at the next UTC day and the operator resumes any other halt then)")
    p.add_argument("--interval-ms", type=number(0), default=100.0,
                   help="minimum time between decisions per market (0 = every event)")
    p.add_argument("--sigma", type=number(0), default=10.0, help="σ in ¢/√h when --sigma-estimator fixed")
    p.add_argument("--sigma-estimator", choices=SIGMA_ESTIMATORS, default="tsrv",
                   help="σ from an estimator fed with the replayed mids (tsrv: the live quoter's two-scale σ; "
                        "ewma: tick-by-tick), or fixed at --sigma")
    p.add_argument("--space", choices=("price", "logit"), default="price", help="quoting space")
    p.add_argument("--size", type=own_param("base_count", _count), default=10.0, help="base quote size, contracts")
    p.add_argument("--max-position", type=own_param("max_position", _count), default=100.0, help="quoting position cap, contracts")
    p.add_argument("--horizon-min", type=own_param("horizon_h", _minutes), default=5.0, help="holding horizon h, minutes")
    p.add_argument("--param", type=param_value, action="append", default=[], metavar="NAME=VALUE",
                   help="any other QuoteParams field, e.g. jump_frac=0.02, toxic_c=inf, reduce_before_h=0 "
                        "(repeatable; docs/strategy.md lists them and their defaults)")
    p.add_argument("--series-table", type=Path, default=None,
                   help="CSV or TOML of per-series fee_type, fee_multiplier and close rules "
                        "(kmm.backtest.series_table; default: none, every series as its markets say)")
    p.add_argument("--hold-c", type=number(0), default=0.0,
                   help="the live quoter's safe-side requote hold, cents (live default 1; 0 = off)")
    p.add_argument("--hold-size-tolerance", type=number(0), default=0.5,
                   help="with --hold-c: a resting size is raised only past this fraction")
    p.add_argument("--position-limit", type=number(0), default=_DEFAULT_LIMITS.position_limit / COUNT_SCALE,
                   help="risk: hard per-market position limit, contracts")
    p.add_argument("--max-exposure", type=number(0), default=_DEFAULT_LIMITS.max_exposure / MONEY_SCALE,
                   help="risk: worst-case settlement loss limit, $")
    p.add_argument("--max-daily-loss", type=number(0), default=_DEFAULT_LIMITS.max_daily_loss / MONEY_SCALE,
                   help="risk: daily loss limit, $ (per UTC day)")
    p.add_argument("--out", type=Path, default=out_default, help=out_help)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _count(contracts: float) -> int:
    return int(round(contracts * COUNT_SCALE))


def _minutes(minutes: float) -> float:
    return minutes / 60.0


def load_input(args: argparse.Namespace) -> EventLog:
    """The event log the options name (exit 2 with one line when it cannot be read or holds no events)."""
    if args.synthetic:
        log = generate(seed=args.seed, events_per_market=args.synthetic_events)
    else:
        try:
            log = EventLog.load(args.log)
        except FileNotFoundError:
            fail(args, f"--log {args.log}: no such file (an event log is the .npz kmm import or kmm record writes)")
        except IsADirectoryError:
            fail(args, f"--log {args.log}: is a directory, not an event log (.npz)")
        except (EventLogError, OSError) as exc:
            fail(args, f"--log {exc}")
        if not len(log):
            fail(args, f"--log {args.log}: the event log holds no events (nothing to replay)")
    if args.markets:
        unknown = sorted(set(args.markets) - set(log.tickers))
        if unknown:
            fail(args, f"--markets: unknown ticker(s) {', '.join(unknown)}")
        log = log.select(args.markets)
        if not len(log):
            fail(args, f"--markets: the log holds no events of {', '.join(args.markets)}")
    args.series_close = {}
    if getattr(args, "series_table", None) is not None:
        try:
            args.series_close = apply_series_table(log, load_series_table(args.series_table))
        except (OSError, ValueError) as exc:
            print(f"invalid setting --series-table: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return log


def warn_closes(log: EventLog, ignored: int, events: int | None = None) -> None:
    """On stderr, when a run ignored events for coming at or after their market's close (the console
    line and summary.json count them): the markets that close at or before their first event (a run learns
    nothing from them), and a warning when most of the ``events`` run (default: the log's) were ignored."""
    if not ignored:
        return
    events = len(log) if events is None else events
    if 2 * ignored > events:
        print(f"WARNING: {ignored} of {events} events came at or after their market's close and were ignored",
              file=sys.stderr)
    line = close_warning(log)
    if line:
        print(line, file=sys.stderr)


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
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    problem = param_problem(name, v)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
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


def grid_axis(name: str) -> Callable[[str], np.ndarray]:
    """An argparse ``type`` for ``--gammas`` / ``--kappas``: ``lo:hi:n`` or ``a,b,c``, every value valid
    for the QuoteParams field ``name``; returned in ascending order without repeats (the plateau and the
    heatmap need neighbouring cells to be neighbouring values; ``0.3:0.1:3`` is 0.1, 0.2, 0.3)."""

    def parse(text: str) -> np.ndarray:
        try:
            values = parse_range(text)
        except ValueError:
            values = np.zeros(0)
        if not len(values) or not np.all(np.isfinite(values)):
            raise argparse.ArgumentTypeError(f"{text!r}: expected lo:hi:n (n >= 1) or a,b,c")
        for v in values.tolist():
            problem = param_problem(name, v)
            if problem:
                raise argparse.ArgumentTypeError(f"{text!r}: {v:g}: {problem.removeprefix(name + ' ')}")
        return np.unique(values)

    parse.__name__ = name
    return parse
