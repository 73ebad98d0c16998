"""``kmm import``: convert Kalshi data (WS logs, the legacy L2 file, REST trade tapes) into an event log.

Results and close times come from ``--markets-file`` (``ticker,result,close_time``), from per-ticker
flags, or — only with ``--infer-results`` — from each market's last print (the inferred values are
printed). A ticker named in a flag that the data does not contain is an error, not a new market.
An import that yields no events is an error saying why (exit 2, nothing written); a market whose close
comes at or before its first event is warned about (a backtest would ignore all of it).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from .cli_help import DefaultsFormatter
from .eventlog import BOOK, EventLog
from .importers import (
    BadRecord,
    UnsupportedFormat,
    close_warning,
    import_rest_trades,
    import_ws_jsonl,
    infer_results,
    nothing_imported,
    parse_time,
    read_markets_file,
    skip_report,
)

KINDS = ("ws", "l2", "trades")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = DefaultsFormatter
    p.add_argument("kind", choices=KINDS, help="ws: raw WS JSONL (either dialect); l2: legacy L2 recorder "
                   "JSONL; trades: GET /markets/trades as CSV, parquet, JSON or JSONL")
    p.add_argument("files", nargs="+", type=Path, help="input files (.gz allowed except for parquet)")
    p.add_argument("--out", type=Path, required=True, help="event log to write (.npz)")
    p.add_argument("--markets-file", type=Path, default=None,
                   help="CSV with a header ticker,result,close_time (result yes|no|empty; time RFC3339, UTC unless "
                        "it has an offset, or Unix seconds); rows for tickers not in the data are ignored and counted "
                        "(default: none)")
    p.add_argument("--result", action="append", default=[], metavar="TICKER=yes|no",
                   help="known settlement result (repeatable; overrides the markets file)")
    p.add_argument("--default-result", choices=("yes", "no"), default=None,
                   help="result of every market still without one (e.g. the losing strikes of an event; "
                        "default: none, such markets are marked at their last mid)")
    p.add_argument("--close", action="append", default=[], metavar="TICKER=TIME",
                   help="close time, RFC3339 or Unix seconds (repeatable; TICKER '*' = every market "
                        "still without one)")
    p.add_argument("--infer-results", action="store_true",
                   help="infer missing results (and close times) from each market's last print and list them")
    p.add_argument("--infer-band-c", type=band_c, default=5,
                   help="with --infer-results: a last print this close to 0 or 100, in cents (0 to 49), "
                        "decides")
    p.add_argument("--maker-fees", action="append", default=[], metavar="SERIES",
                   help="series charging maker fees (quadratic_with_maker_fees; repeatable)")


def band_c(text: str) -> int:
    """``--infer-band-c``: whole cents in [0, 50) (at 50 every last print would decide, at 60 a 40¢ one YES)."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v < 50:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole cents with 0 <= band < 50 (a last print "
                                         "within band cents of 0 or 100 decides the result)")
    return v


class UsageError(ValueError):
    """A flag that names something the data does not have, or a malformed flag."""


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        t, sep, v = item.partition("=")
        if not sep or not t or not v:
            raise UsageError(f"{flag} {item!r}: expected TICKER=VALUE")
        out.append((t, v))
    return out


def apply_metadata(log: EventLog, args: argparse.Namespace) -> list[str]:
    """Apply the markets file and flags to ``log.markets`` (in place); returns lines to print."""
    notes: list[str] = []
    by = {m.ticker: m for m in log.markets}
    if args.markets_file:
        rows = read_markets_file(args.markets_file)
        unused = 0
        for r in rows:
            m = by.get(r.ticker)
            if m is None:
                unused += 1
                continue
            m.result = r.result or m.result
            m.close_ts = r.close_ts or m.close_ts
        notes.append(f"markets file: {len(rows) - unused} rows applied, {unused} for tickers not in the data")
    results = _pairs(args.result, "--result")
    closes = _pairs(args.close, "--close")
    unknown = sorted({t for t, _ in results + closes if t != "*" and t not in by})
    if unknown:
        raise UsageError(f"unknown ticker(s) not in the data: {', '.join(unknown)}")
    for t, r in results:
        if r not in ("yes", "no"):
            raise UsageError(f"--result {t}={r}: expected yes or no")
        by[t].result = r
    default_close = 0
    for t, when in closes:
        try:
            ns = parse_time(when)
        except BadRecord as exc:
            raise UsageError(f"--close {t}={when}: {exc}") from None
        if t == "*":
            default_close = ns
        else:
            by[t].close_ts = ns
    for m in log.markets:
        if default_close and not m.close_ts:
            m.close_ts = default_close
    if args.infer_results:
        rows = infer_results(log, args.infer_band_c)
        inferred = [r for r in rows if r["inferred"]]
        notes.append(f"inferred from last prints (--infer-results, band {args.infer_band_c}c): "
                     f"{sum('result' in r['inferred'] for r in rows)} results, "
                     f"{sum('close' in r['inferred'] for r in rows)} close times")
        for r in inferred:
            close = datetime.fromtimestamp(r["close_ts"] / 1e9, tz=UTC).isoformat()
            notes.append(f"  inferred {r['ticker']}: result={r['result'] or '?'} close={close} "
                         f"(last print {r['last_price_c']:g}c) [{', '.join(r['inferred'])}]")
        for r in rows:
            if "note" in r:
                notes.append(f"  not inferred {r['ticker']}: {r['note']}")
    for m in log.markets:
        if args.default_result and not m.result:
            m.result = args.default_result
        if m.series in args.maker_fees:
            m.maker_fees = True
            m.fee_type = "quadratic_with_maker_fees"
    missing = [m.ticker for m in log.markets if not m.result]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        notes.append(f"{len(missing)} market(s) without a result (the backtest marks them at the last mid): "
                     f"{', '.join(missing[:5])}{more}")
    return notes


def main(args: argparse.Namespace) -> int:
    from . import importers
    from .progress import Progress

    total = sum(f.stat().st_size for f in args.files if f.exists())
    bar, done = Progress("import", enabled=total > 0), [0]

    def read(n: int) -> None:
        done[0] += n
        bar(min(done[0], total), total)

    importers.READ_PROGRESS = read
    try:
        if args.kind in ("ws", "l2"):
            log = import_ws_jsonl(args.files, source=args.kind)
        else:
            log = import_rest_trades(args.files)
        notes = apply_metadata(log, args)
    except (UnsupportedFormat, UsageError, ValueError) as exc:
        print(f"kmm import: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing, unreadable or directory path
        print(f"kmm import: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        importers.READ_PROGRESS = None
    if done[0] < total:
        bar(total, total)  # parquet and the last buffer: close the bar
    if not len(log):
        names = ", ".join(str(f) for f in args.files)
        print(f"kmm import: nothing imported from {names} (as {args.kind}): {nothing_imported(log)}; no event "
              "log written", file=sys.stderr)
        return 2
    log.meta["trade_only"] = not bool((log.events["kind"] == BOOK).any())
    log.save(args.out)
    print(skip_report(log))
    for line in notes:
        print(line)
    warning = close_warning(log)
    if warning:
        print(warning, file=sys.stderr)
    print(f"wrote {args.out}")
    return 0
