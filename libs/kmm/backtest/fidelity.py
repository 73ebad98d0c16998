"""Fidelity check: replay a recorded session's market data through the backtester with the live
parameters and compare, per market, with what the live system actually did (fills, volumes,
position, fees, PnL). The lead wires the end-to-end run (record md:* + collect exec:report fills).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kmm.messages import BID, Fill
from kmm.messages.units import PRICE_SCALE

from .book import book_tops, mids2
from .engine import Result, RunConfig, run
from .eventlog import EventLog


@dataclass(frozen=True)
class MarketFigures:
    """One market's trading outcome; counts in 0.01 contract, money in µ$."""

    fills: int = 0
    bought: int = 0
    sold: int = 0
    position: int = 0
    fees: int = 0
    pnl: int = 0  # cash + position × reference price − fees


def reference_prices(log: EventLog) -> dict[str, tuple[int, bool]]:
    """Per ticker: settlement price when the result is known, else the last mid ((bid+ask)//2), and
    whether it is a settlement."""
    bb, ba = book_tops(log.events, len(log.markets))
    m2 = mids2(log.events, bb, ba, len(log.markets))
    out: dict[str, tuple[int, bool]] = {}
    for m, meta in enumerate(log.markets):
        if meta.result in ("yes", "no"):
            out[meta.ticker] = (PRICE_SCALE if meta.result == "yes" else 0, True)
            continue
        idx = np.flatnonzero(log.events["market"] == m)
        out[meta.ticker] = (int(m2[idx[-1]]) // 2 if len(idx) else 0, False)
    return out


def figures_from_fills(fills: Iterable[Fill], refs: dict[str, tuple[int, bool]]) -> dict[str, MarketFigures]:
    """Aggregate live ``Fill`` reports (``side`` = our order's book side) per market."""
    acc: dict[str, list[int]] = {}
    for f in fills:
        a = acc.setdefault(f.market, [0, 0, 0, 0, 0])  # fills, bought, sold, cash, fees
        a[0] += 1
        if f.side == BID:
            a[1] += f.count
            a[3] -= f.price * f.count
        else:
            a[2] += f.count
            a[3] += f.price * f.count
        a[4] += f.fee
    out = {}
    for t, (n, bought, sold, cash, fees) in acc.items():
        pos = bought - sold
        ref = refs.get(t, (0, False))[0]
        out[t] = MarketFigures(n, bought, sold, pos, fees, cash + pos * ref - fees)
    return out


def figures_from_result(result: Result, refs: dict[str, tuple[int, bool]], cell: int = 0) -> dict[str, MarketFigures]:
    pm = result.per_market
    out = {}
    for m, t in enumerate(result.tickers):
        pos = int(pm["position"][m, cell])
        ref = refs.get(t, (0, False))[0]
        out[t] = MarketFigures(int(pm["fills"][m, cell]), int(pm["volume_buy"][m, cell]),
                               int(pm["volume_sell"][m, cell]), pos, int(pm["fees"][m, cell]),
                               int(pm["cash"][m, cell]) + pos * ref - int(pm["fees"][m, cell]))
    return out


def diff(backtest: dict[str, MarketFigures], live: dict[str, MarketFigures]) -> list[dict[str, Any]]:
    """Per market (union of both): backtest value, live value and backtest − live for each figure."""
    rows = []
    for t in sorted(set(backtest) | set(live)):
        b = asdict(backtest.get(t, MarketFigures()))
        lv = asdict(live.get(t, MarketFigures()))
        row: dict[str, Any] = {"market": t}
        for k in b:
            row[f"{k}_backtest"] = b[k]
            row[f"{k}_live"] = lv[k]
            row[f"{k}_diff"] = b[k] - lv[k]
        rows.append(row)
    return rows


def compare(log: EventLog, policy: Any, live_fills: Iterable[Fill], config: RunConfig | None = None
            ) -> list[dict[str, Any]]:
    """Backtest ``log`` with ``policy`` (the live parameters, one cell) and diff against live fills."""
    if policy.n_cells != 1:
        raise ValueError("fidelity compares one parameter set")
    refs = reference_prices(log)
    result = run(log, policy, config)
    return diff(figures_from_result(result, refs), figures_from_fills(live_fills, refs))
