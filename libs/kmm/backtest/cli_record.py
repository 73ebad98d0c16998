"""``kmm record``: read md:* streams from Redis (plain XREAD) and write an event log."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .cli_help import DefaultsFormatter
from .importers import skip_report
from .progress import Progress
from .recorder import MD_STREAMS, record

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = DefaultsFormatter
    # the default is resolved in main: --help must not print $KMM_REDIS_URL (it may hold a password)
    p.add_argument("--redis-url", default=None,
                   help=f"Redis to read (default: $KMM_REDIS_URL, else {DEFAULT_REDIS_URL})")
    p.add_argument("--out", type=Path, required=True, help="event log to write (.npz)")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this long (default: at Ctrl-C)")
    p.add_argument("--max-messages", type=int, default=None, help="stop after this many messages (default: no limit)")
    p.add_argument("--from-start", action="store_true", help="read what the streams still hold, then follow")
    p.add_argument("--streams", nargs="*", default=list(MD_STREAMS), help="streams to read")


def main(args: argparse.Namespace) -> int:
    stop = threading.Event()
    old = signal.signal(signal.SIGINT, lambda *_: stop.set())
    t0 = time.monotonic()
    bar = Progress("record", every_s=0.5)

    def on_batch(n: int) -> None:
        if args.duration_s:  # a bar over the time asked for; otherwise a running count
            bar(min(int((time.monotonic() - t0) * 10), int(args.duration_s * 10)), int(args.duration_s * 10))
            print(f" {n} messages", end="", file=sys.stderr)
        else:
            print(f"\rrecorded {n} messages", end="", file=sys.stderr)

    try:
        url = args.redis_url or os.environ.get("KMM_REDIS_URL") or DEFAULT_REDIS_URL
        log = record(url, streams=tuple(args.streams), from_start=args.from_start,
                     duration_s=args.duration_s, max_messages=args.max_messages, stop=stop, on_batch=on_batch)
    finally:
        signal.signal(signal.SIGINT, old)
    print(file=sys.stderr)
    log.save(args.out)
    print(skip_report(log))
    print(f"wrote {args.out}")
    return 0
