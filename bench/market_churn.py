"""Memory the services keep per market listed and ended: markets listed, traded in the public tape and
closed, fed to risk, the quoter and the selector as service objects (no bus), heaps read by tracemalloc.

On Kalshi markets are listed and closed by the thousand every day; what a service keeps of a market
after it ended is what a run left going grows by.
Usage: ``python bench/market_churn.py [--markets N] [--rounds R]``.
Each round lists and ends ``--markets`` new markets; what a round leaves behind after the first is what
a market ended costs for good. The last line printed is one JSON object of those figures, per service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from kmm.messages import MARKET_SETTLED, MarketInfo, Message, Trade
from kmm_services.quoter.service import QuoterService, QuoterSettings
from kmm_services.risk.service import RiskService, RiskSettings
from kmm_services.selector.service import SelectorService, SelectorSettings

NS = 1_000_000_000
Feed = Callable[[str, list[Message]], Awaitable[None]]


def infos(n: int, status: str, day: int) -> list[Message]:
    close = time.time_ns() + 3600 * NS
    return [MarketInfo(market=f"KXCHURN-{day}-{i}", event=f"KXCHURN-{day}-E{i // 10}", mutually_exclusive=True, status=status,
                       close_ts=close, yes_bid=4800, yes_ask=5200) for i in range(n)]


def trades(n: int, day: int) -> list[Message]:
    now = time.time_ns()
    return [Trade(market=f"KXCHURN-{day}-{i}", trade_id=f"t{i}", taker_side="yes", price=4900, count=100, ts_event=now)
            for i in range(n)]


def services() -> list[tuple[str, Any, Feed, Feed | None]]:
    """(name, service, its md:market handler, its md:trade handler)."""
    risk, quoter, selector = RiskService(RiskSettings()), QuoterService(QuoterSettings()), \
        SelectorService(SelectorSettings())
    return [("risk", risk, risk.on_market_data, None),
            ("quoter", quoter, quoter.on_reference, quoter.on_market_data),
            ("selector", selector, selector.on_market_data, selector.on_market_data)]


async def measure(n: int, rounds: int) -> dict[str, dict[str, int]]:
    """Per service: bytes a market while ``n`` are open, and what each round of ``n`` new markets listed
    and ended leaves behind after the first round (the first round's dict tables are reused after)."""
    out: dict[str, dict[str, int]] = {}
    for name, svc, on_market, on_trade in services():
        svc.publish_nowait = lambda stream, msg: None
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        held: list[int] = []
        while_open = 0
        for r in range(rounds):
            listed, ended, tape = infos(n, "open", r), infos(n, MARKET_SETTLED, r), trades(n, r)
            start = tracemalloc.get_traced_memory()[0]
            await on_market("md:market", listed)
            if on_trade is not None:
                await on_trade("md:trade", tape)
            while_open = max(while_open, tracemalloc.get_traced_memory()[0] - start)
            await on_market("md:market", ended)
            del listed, ended, tape
            held.append(tracemalloc.get_traced_memory()[0] - base)
        tracemalloc.stop()
        out[name] = {"bytes_per_market_open": round(while_open / n),
                     "bytes_kept_per_market_ended": round((held[-1] - held[0]) / (n * (rounds - 1)))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", type=int, default=2000, help="markets listed and ended each round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of new markets (at least 2)")
    args = ap.parse_args()
    if args.rounds < 2:
        ap.error("--rounds must be at least 2")
    figures = asyncio.run(measure(args.markets, args.rounds))
    for name, f in figures.items():
        print(f"{name:9s} {f['bytes_per_market_open']:6d} B a market while open, "
              f"{f['bytes_kept_per_market_ended']:6d} B kept for good a market ended")
    total = sum(f["bytes_kept_per_market_ended"] for f in figures.values())
    print(json.dumps({"markets": args.markets, "rounds": args.rounds,
                      **{f"{k}_{m}": v for k, f in figures.items() for m, v in f.items()},
                      "bytes_kept_per_market_ended_total": total}))


if __name__ == "__main__":
    main()
