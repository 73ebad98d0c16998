"""``kmm sim``: run the Kalshi-compatible exchange simulator, or print its realism report.

    kmm sim --port 8001 --seed 1 --key KEY_ID:PUBLIC_KEY.pem --markets 10 --speed 1
    kmm sim --post-only-cross reject ...              # 400 post_only_rejected instead of cancel
    kmm sim --replay book.jsonl.gz --key ...          # drive markets from a recorded WS log
    kmm sim --report [--report-hours 1]               # virtual-clock session vs STATS.md targets

``--ready-file PATH`` receives the REST base URL (``http://127.0.0.1:P/trade-api/v2``) once the
server listens (the WS URL is ``ws://127.0.0.1:P/trade-api/ws/v2``, admin ``http://127.0.0.1:P/admin``).
"""

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from .events import DEFAULT_HISTORY_HOURS
from .markets import DEFAULT_SHARDS
from .orders import POST_ONLY_CANCEL, POST_ONLY_CROSS_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (0 = any free port)")
    parser.add_argument("--seed", type=int, default=1, help="scenario seed (same seed, same session)")
    parser.add_argument("--key", action="append", default=[], metavar="KEY_ID:PEM_PATH",
                        help="API key id and its public (or private) key PEM file; repeatable")
    parser.add_argument("--balance", type=int, default=10_000, help="starting balance per key, dollars")
    parser.add_argument("--markets", type=int, default=10, help="number of synthetic markets")
    parser.add_argument("--speed", type=float, default=1.0, help="virtual clock speed multiplier")
    parser.add_argument("--no-flow", action="store_true", help="list markets but run no synthetic participants")
    parser.add_argument("--replay", metavar="FILE", help="replay a recorded orderbook WS log (JSONL[.gz])")
    parser.add_argument("--tier", default="basic", help="rate-limit tier (basic, advanced, ..., prestige)")
    parser.add_argument("--no-rate-limit", action="store_true", help="disable the token buckets")
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS,
                        help=f"exchange shards (exchange_index 0..N-1) the markets are spread over (default {DEFAULT_SHARDS})")
    parser.add_argument("--first-close-minutes", type=float, default=None,
                        help="virtual minutes until the first synthetic event closes and settles (default 390)")
    parser.add_argument("--close-spacing-minutes", type=float, default=None,
                        help="virtual minutes between synthetic event closes (default 60)")
    parser.add_argument("--post-only-cross", choices=POST_ONLY_CROSS_MODES, default=POST_ONLY_CANCEL,
                        help="a post-only create/amend that would cross: cancel (201/200 with the order "
                             "canceled, reason post_only_cross_cancel; default) or reject (400 post_only_rejected)")
    parser.add_argument("--history-hours", type=float, default=DEFAULT_HISTORY_HOURS,
                        help="virtual hours of public trades and candles kept; older ones are dropped so a "
                             f"long run's memory stays flat (0: keep all; default {DEFAULT_HISTORY_HOURS:g}); "
                             "orders, fills and settlements are always kept")
    parser.add_argument("--report", action="store_true", help="run a virtual-clock session and print statistics")
    parser.add_argument("--report-hours", type=float, default=1.0, help="virtual hours for --report")
    parser.add_argument("--json", action="store_true", help="with --report: print one JSON line")
    parser.add_argument("--ready-file", metavar="PATH", help="write the REST base URL here once listening")


def public_pem(path: Path) -> bytes:
    """The public key PEM from a public or private key file."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return data


def parse_keys(specs: list[str]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for spec in specs:
        key_id, sep, path = spec.partition(":")
        if not sep or not key_id or not path:
            raise SystemExit(f"--key expects KEY_ID:PEM_PATH, got {spec!r}")
        try:
            keys[key_id] = public_pem(Path(path))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"cannot load key file {path}: {exc}") from None
    return keys


async def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .app import create_app
    from .harness import server_config
    from .sim import Simulator

    sim = Simulator(
        seed=args.seed, keys=parse_keys(args.key), n_markets=0 if args.replay else args.markets,
        flow=not args.no_flow and not args.replay, speed=args.speed, balance_dollars=args.balance,
        tier=args.tier, rate_limit=not args.no_rate_limit, replay_path=args.replay, shards=args.shards,
        first_close_minutes=args.first_close_minutes, close_spacing_minutes=args.close_spacing_minutes,
        post_only_cross=args.post_only_cross, history_hours=args.history_hours or None,
    )
    server = uvicorn.Server(server_config(create_app(sim), args.host, args.port))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{args.host}:{port}/trade-api/v2"
    print(f"kmm sim listening: {url} (ws://{args.host}:{port}/trade-api/ws/v2, admin /admin)", flush=True)
    if args.ready_file:
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(url + "\n")
        tmp.replace(args.ready_file)
    await task


def config_error(args: argparse.Namespace) -> str:
    """A message naming the first bad setting, or ""."""
    from kmm.kalshi.constants import TIERS

    if args.shards < 1:
        return f"--shards must be at least 1, not {args.shards}"
    if args.tier not in TIERS:
        return f"--tier must be one of {', '.join(TIERS)}, not {args.tier!r}"
    if args.history_hours < 0:
        return f"--history-hours must be 0 (keep all) or positive, not {args.history_hours}"
    for name in ("first_close_minutes", "close_spacing_minutes"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            return f"--{name.replace('_', '-')} must be positive, not {value}"
    return ""


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on the services' event loop (``kmm.chassis.cli.event_loop``: uvloop when installed;
    in the pipeline bench it took the simulator's CPU from 18.6 to 18.0%)."""
    from kmm.chassis.cli import event_loop

    if event_loop() == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def main(args: argparse.Namespace) -> int:
    problem = config_error(args)
    if problem:
        print(f"kmm sim: {problem}", file=sys.stderr)
        return 2
    if args.report:
        from .report import report

        text, ok = report(seed=args.seed, hours=args.report_hours, n_markets=min(args.markets, 5) or 5,
                          as_json=args.json)
        print(text)
        return 0 if ok else 1
    try:
        run_loop(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="kmm sim")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
