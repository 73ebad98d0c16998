"""``kmm import``: convert Kalshi data (WS logs, the legacy L2 file, REST trade tapes) into an event log."""

from __future__ import annotations

import argparse
from pathlib import Path

from .eventlog import MarketMeta
from .importers import import_rest_trades, import_ws_jsonl, rfc3339_ns, seconds_to_ns, skip_report

KINDS = ("ws", "l2", "trades")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS, help="ws: raw WS JSONL (either dialect); l2: legacy L2 recorder "
                   "JSONL; trades: GET /markets/trades JSON/JSONL/CSV")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="event log to write (.npz)")
    p.add_argument("--result", action="append", default=[], metavar="TICKER=yes|no",
                   help="known settlement result (repeatable)")
    p.add_argument("--default-result", choices=("yes", "no"), default=None,
                   help="result of every market not given by --result (e.g. the losing strikes of an event)")
    p.add_argument("--close", action="append", default=[], metavar="TICKER=TIME",
                   help="close time, RFC3339 or Unix seconds (repeatable; TICKER may be '*')")
    p.add_argument("--maker-fees", action="append", default=[], metavar="SERIES",
                   help="series charging maker fees (quadratic_with_maker_fees; repeatable)")


def _markets(args: argparse.Namespace) -> tuple[list[MarketMeta], str]:
    metas: dict[str, MarketMeta] = {}
    default_close = ""
    for item in args.result:
        t, _, r = item.partition("=")
        if r not in ("yes", "no"):
            raise SystemExit(f"--result {item!r}: expected TICKER=yes|no")
        metas.setdefault(t, MarketMeta(ticker=t)).result = r
    for item in args.close:
        t, _, when = item.partition("=")
        if t == "*":
            default_close = when
            continue
        metas.setdefault(t, MarketMeta(ticker=t)).close_ts = _time(when)
    return list(metas.values()), default_close


def _time(text: str) -> int:
    return rfc3339_ns(text) if "T" in text else seconds_to_ns(text)


def main(args: argparse.Namespace) -> int:
    metas, default_close = _markets(args)
    if args.kind in ("ws", "l2"):
        log = import_ws_jsonl(args.files, metas, source=args.kind)
    else:
        log = import_rest_trades(args.files, metas)
    for m in log.markets:
        if args.default_result and not m.result:
            m.result = args.default_result
        if default_close and not m.close_ts:
            m.close_ts = _time(default_close)
        if m.series in args.maker_fees:
            m.maker_fees = True
            m.fee_type = "quadratic_with_maker_fees"
    log.save(args.out)
    print(skip_report(log))
    print(f"wrote {args.out}")
    return 0
