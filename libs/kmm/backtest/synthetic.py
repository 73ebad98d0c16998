"""A deterministic small dataset for the backtester: seeded books and trades for a few binary markets.

Independent of the exchange simulator. Per market: a latent YES probability (logit random walk
with rare jumps), a sticky 1–3¢ quoted spread around it, 5 levels per side in round lots, level
size changes (adds/cancels), and taker prints (median ~20 contracts) that eat the touch. The
market closes at the end of the session and settles YES with the final latent probability.
Output is an :class:`~kmm.backtest.eventlog.EventLog` built through the normal builder, so the rows
obey every invariant of imported data.
"""

from __future__ import annotations

import math

import numpy as np

from kmm.messages.units import CENT, COUNT_SCALE, NS_PER_S

from .eventlog import ASK, BID, EventLog, EventLogBuilder, MarketMeta

START_NS = 1_780_000_000 * NS_PER_S  # a fixed epoch keeps files byte-identical across runs


def generate(
    seed: int = 7,
    n_markets: int = 3,
    events_per_market: int = 20_000,
    duration_s: float = 3_600.0,
    levels: int = 5,
    trade_share: float = 0.1,
    maker_fee_markets: int = 1,
) -> EventLog:
    """A reproducible multi-market event log (same arguments → identical events)."""
    rng = np.random.default_rng(seed)
    b = EventLogBuilder(f"synthetic(seed={seed})")
    close_ns = START_NS + int(duration_s * NS_PER_S)
    for k in range(n_markets):
        ticker = f"KXSYN-26JAN01-T{k:02d}"
        x0 = float(rng.uniform(-1.5, 1.5))
        final_p = _market(b, rng, ticker, x0, events_per_market, duration_s, levels, trade_share)
        result = "yes" if rng.random() < final_p else "no"
        b.set_market(MarketMeta(ticker=ticker, event="KXSYN-26JAN01", series="KXSYN", close_ts=close_ns,
                                result=result, maker_fees=k < maker_fee_markets,
                                fee_type="quadratic_with_maker_fees" if k < maker_fee_markets else "quadratic"))
    return b.build(seed=seed, generator="kmm.backtest.synthetic")


def _lot(rng: np.random.Generator) -> int:
    return int(min(3000, max(1, round(math.exp(rng.normal(5.0, 0.7)) / 50) * 50))) * COUNT_SCALE


def _market(b: EventLogBuilder, rng: np.random.Generator, ticker: str, x0: float, n: int,
            duration_s: float, levels: int, trade_share: float) -> float:
    gaps = rng.exponential(duration_s / n, size=n)
    ts = START_NS + np.cumsum(gaps * NS_PER_S).astype(np.int64)
    moves = rng.normal(0.0, 0.012, size=n) + np.where(rng.random(n) < 0.0005, rng.normal(0, 0.4, n), 0.0)
    kinds = rng.random(n)
    u = rng.random((n, 4))
    x = x0
    spread = 2
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}

    def target() -> tuple[int, int]:
        fair = 100.0 / (1.0 + math.exp(-x))
        bb = min(98, max(1, int(math.floor(fair - spread / 2.0))))
        return bb, min(99, bb + spread)

    def rebuild(t: int) -> None:
        bb, ba = target()
        new_b = {bb - i: bids.get(bb - i) or _lot(rng) for i in range(levels) if bb - i >= 1}
        new_a = {ba + i: asks.get(ba + i) or _lot(rng) for i in range(levels) if ba + i <= 99}
        bids.clear()
        bids.update(new_b)
        asks.clear()
        asks.update(new_a)
        b.snapshot(t, ticker, [(c * CENT, q) for c, q in sorted(bids.items())],
                   [(c * CENT, q) for c, q in sorted(asks.items())])

    rebuild(int(ts[0]))
    for i in range(1, n):
        t = int(ts[i])
        x = min(4.5, max(-4.5, x + float(moves[i])))
        if u[i, 3] < 0.02:
            spread = int(rng.integers(1, 4))
        bb, ba = target()
        cur_bb = max(bids) if bids else 0
        cur_ba = min(asks) if asks else 100
        if abs(bb - cur_bb) >= 2 or abs(ba - cur_ba) >= 2 or not bids or not asks:
            _shift(b, t, ticker, bids, asks, bb, ba, levels, rng)
        elif kinds[i] < trade_share:
            taker_yes = u[i, 0] < 0.55
            book, side = (asks, ASK) if taker_yes else (bids, BID)
            price = min(book) if taker_yes else max(book)
            size = min(book[price], max(COUNT_SCALE, int(math.exp(rng.normal(3.0, 1.2))) * COUNT_SCALE))
            b.trade(t, ticker, price * CENT, size, taker_yes)
            book[price] -= size
            b.delta(t, ticker, side, price * CENT, -size)
            if not book[price]:
                del book[price]
        else:
            book, side = (bids, BID) if u[i, 0] < 0.5 else (asks, ASK)
            if not book:
                continue
            prices = sorted(book, reverse=(side == BID))
            price = prices[min(len(prices) - 1, int(u[i, 1] * u[i, 1] * len(prices)))]
            if u[i, 2] < 0.5:
                d = _lot(rng)
            else:
                d = -min(book[price], _lot(rng))
            book[price] += d
            b.delta(t, ticker, side, price * CENT, d)
            if not book[price]:
                del book[price]
    return 1.0 / (1.0 + math.exp(-x))


def _shift(b: EventLogBuilder, t: int, ticker: str, bids: dict[int, int], asks: dict[int, int],
           bb: int, ba: int, levels: int, rng: np.random.Generator) -> None:
    """Re-centre the book as deltas: drop levels that cross or fall out of range, add missing ones."""
    want_b = {bb - i for i in range(levels) if bb - i >= 1}
    want_a = {ba + i for i in range(levels) if ba + i <= 99}
    for book, side, want in ((bids, BID, want_b), (asks, ASK, want_a)):
        for price in sorted(set(book) - want):
            b.delta(t, ticker, side, price * CENT, -book.pop(price))
    for book, side, want in ((bids, BID, want_b), (asks, ASK, want_a)):
        for price in sorted(want - set(book)):
            book[price] = _lot(rng)
            b.delta(t, ticker, side, price * CENT, book[price])
