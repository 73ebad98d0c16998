"""``kmm status|positions|orders|halt|resume|fills``: operate a running system from a terminal.

Each command is a small namespace with ``add_arguments(parser)`` and ``main(args) -> int``, listed in
:mod:`kmm.cli` as ``kmm.ops.commands:<name>``. With no flags they talk to the newest local
``kmm run``; ``--url SERVICE=URL`` / ``--ports-file`` / ``--workdir`` / the config file's ``[ops]``
name another system (:mod:`.target`). ``--json`` prints JSON instead of tables. Exit status: 0 done,
1 refused or failed (the reason on stderr), 2 nothing to talk to or a bad flag.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from . import snapshot, views
from .target import OpsClient, OpsError, Target, add_target_arguments, resolve

DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def run_command(args: argparse.Namespace, body: Callable[[OpsClient, Target], int]) -> int:
    """Resolve the target, run ``body``, turn every :class:`OpsError` into one stderr line and its code."""
    try:
        target = resolve(args)
        for note in target.notes:
            print(f"note: {note}", file=sys.stderr)
        with OpsClient(target, timeout=args.timeout) as client:
            return body(client, target)
    except OpsError as exc:
        print(f"kmm: {exc}", file=sys.stderr)
        return exc.code


def emit(args: argparse.Namespace, data: Any, renderable: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        views.make_console().print(renderable)


def parse_since(text: str, now: float | None = None) -> int:
    """``30s`` / ``10m`` / ``2h`` / ``1d`` ago, an ISO-8601 time (UTC when no zone) or Unix seconds → Unix ms."""
    now = time.time() if now is None else now
    t = text.strip()
    m = DURATION.match(t)
    if m:
        return int((now - float(m.group(1)) * UNIT_S[m.group(2)]) * 1000)
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return int(float(t) * 1000)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise OpsError(f"--since {text!r}: give a duration (30s, 10m, 2h, 1d), an ISO time "
                       "(2026-11-30T14:00:00Z) or Unix seconds", 2) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


# --- status --------------------------------------------------------------------------------------
def _status_args(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)


def _status(args: argparse.Namespace) -> int:
    def body(client: OpsClient, target: Target) -> int:
        snap = snapshot.collect(client)
        if not any(s["reachable"] for s in snap["services"].values()):
            raise OpsError(f"no service answers ({target.source}): " + snap["services"]["risk"]["error"])
        data = {**snap, "system": snapshot.system_summary(snap), "markets": snapshot.market_rows(snap)}
        emit(args, data, views.status_view(snap))
        return 0 if all(s["ready"] for s in snap["services"].values()) else 1

    return run_command(args, body)


# --- positions -----------------------------------------------------------------------------------
def _positions(args: argparse.Namespace) -> int:
    def body(client: OpsClient, target: Target) -> int:
        pos = client.get("risk", "/positions")
        emit(args, pos, views.positions_table(pos))
        return 0

    return run_command(args, body)


# --- orders --------------------------------------------------------------------------------------
def _orders(args: argparse.Namespace) -> int:
    def body(client: OpsClient, target: Target) -> int:
        orders = client.get("gateway", "/orders")
        emit(args, orders, views.orders_table(orders["orders"]))
        return 0

    return run_command(args, body)


# --- halt / resume -------------------------------------------------------------------------------
def _halt_args(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument("--reason", default="operator", help="recorded with the halt (shown by kmm status)")
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait until the gateway reports no open order (0: do not wait)")


def _halt(args: argparse.Namespace) -> int:
    def body(client: OpsClient, target: Target) -> int:
        res = client.post("risk", "/halt", {"reason": args.reason})
        watch = args.wait > 0 and bool(target.urls.get("gateway"))
        left = wait_no_orders(client, args.wait) if watch else None
        res["open_orders"] = left
        if args.json:
            print(json.dumps(res))
        else:
            print(f"trading {res['state']} ({res.get('reason') or args.reason}); "
                  + ("every order cancelled" if left == 0 else
                     f"{left} order(s) still open after {args.wait:g} s — check `kmm orders`" if left else
                     "the gateway cancels every resting order"
                     + ("" if watch or args.wait <= 0 else " (not watched: no gateway URL; add --url gateway=URL)")))
        return 0 if left in (0, None) else 1

    return run_command(args, body)


def wait_no_orders(client: OpsClient, timeout: float) -> int | None:
    """Poll the gateway until it holds no open order; the count left at the deadline (None: unreachable)."""
    deadline = time.monotonic() + timeout
    left: int | None = None
    while True:
        body, _ = client.try_get("gateway", "/orders")
        left = len(body["orders"]) if body is not None else None
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _resume_args(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _resume(args: argparse.Namespace) -> int:
    def body(client: OpsClient, target: Target) -> int:
        state = client.get("risk", "/state")
        if not args.yes:
            if not sys.stdin.isatty():
                raise OpsError("resume re-enables trading: confirm with --yes (no terminal to ask on)", 2)
            answer = input(f"risk is {state['state']}"
                           f"{' (' + state['reason'] + ')' if state.get('reason') else ''}; resume trading? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("not resumed")
                return 1
        res = client.post("risk", "/resume")
        print(json.dumps(res) if args.json else f"trading {res['state']}"
              + (f" ({res['reason']})" if res.get("reason") else ""))
        return 0

    return run_command(args, body)


# --- fills ---------------------------------------------------------------------------------------
def _fills_args(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument("--since", default="1h", help="30s, 10m, 2h, 1d ago, an ISO time or Unix seconds (default 1h)")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (the newest)")


def _fills(args: argparse.Namespace) -> int:
    def body(client: OpsClient, target: Target) -> int:
        since_ms = parse_since(args.since)
        res = client.get("gateway", "/fills", since_ms=since_ms, limit=args.limit)
        table = views.fills_table(res["fills"])
        table.caption = (f"{len(res['fills'])} fill(s) since {datetime.fromtimestamp(since_ms / 1000, UTC):%Y-%m-%d %H:%M:%S}"
                         f" UTC" + (" (truncated: use --limit or a later --since)" if res["truncated"] else ""))
        emit(args, res, table)
        return 0

    return run_command(args, body)


status = SimpleNamespace(add_arguments=_status_args, main=_status)
positions = SimpleNamespace(add_arguments=add_target_arguments, main=_positions)
orders = SimpleNamespace(add_arguments=add_target_arguments, main=_orders)
halt = SimpleNamespace(add_arguments=_halt_args, main=_halt)
resume = SimpleNamespace(add_arguments=_resume_args, main=_resume)
fills = SimpleNamespace(add_arguments=_fills_args, main=_fills)
