"""Vectorized book tops of a replayed event log: best bid/ask and mid after every event.

Because event-log BOOK rows carry absolute level sizes, the best price after each row is a pure
function of the rows so far; it is computed per (market, side) with a chunked forward fill over the
distinct price levels instead of a per-event Python loop.
"""

from __future__ import annotations

import numpy as np

from kmm.messages.units import PRICE_SCALE

from .eventlog import ASK, BID, BOOK

NO_BID = 0
NO_ASK = PRICE_SCALE


def _side_best(rows: np.ndarray, prices: np.ndarray, qty: np.ndarray, side: int) -> np.ndarray:
    """Best price of one side after each of its rows (0 / 10_000 when the side is empty)."""
    levels, col = np.unique(prices, return_inverse=True)
    n_lv = len(levels)
    out = np.empty(len(rows), dtype=np.int64)
    nonzero = np.append(qty > 0, False)  # index −1 (never set) reads the trailing False
    last = np.full(n_lv, -1, dtype=np.int32)
    chunk = max(1024, 4_000_000 // max(n_lv, 1))
    for start in range(0, len(rows), chunk):
        k = min(chunk, len(rows) - start)
        mat = np.full((k, n_lv), -1, dtype=np.int32)
        mat[np.arange(k), col[start:start + k]] = np.arange(start, start + k, dtype=np.int32)
        mat[0] = np.maximum(mat[0], last)
        np.maximum.accumulate(mat, axis=0, out=mat)
        present = nonzero[mat]
        any_ = present.any(axis=1)
        if side == BID:
            best_col = n_lv - 1 - np.argmax(present[:, ::-1], axis=1)
            out[start:start + k] = np.where(any_, levels[best_col], NO_BID)
        else:
            best_col = np.argmax(present, axis=1)
            out[start:start + k] = np.where(any_, levels[best_col], NO_ASK)
        last = mat[-1]
    return out


def book_tops(events: np.ndarray, n_markets: int) -> tuple[np.ndarray, np.ndarray]:
    """(best_bid, best_ask) of each event's market after that event (int64 price units)."""
    n = len(events)
    bb = np.full(n, NO_BID, dtype=np.int64)
    ba = np.full(n, NO_ASK, dtype=np.int64)
    market = events["market"]
    is_book = events["kind"] == BOOK
    for m in range(n_markets):
        idx_m = np.flatnonzero(market == m)
        if not len(idx_m):
            continue
        for side, out, empty in ((BID, bb, NO_BID), (ASK, ba, NO_ASK)):
            sel = is_book[idx_m] & (events["side"][idx_m] == side)
            rows = idx_m[sel]
            if not len(rows):
                continue
            best = _side_best(rows, events["price"][rows], events["qty"][rows], side)
            pos = np.searchsorted(rows, idx_m, side="right") - 1
            out[idx_m] = np.where(pos >= 0, best[np.maximum(pos, 0)], empty)
    return bb, ba


def mids2(events: np.ndarray, bb: np.ndarray, ba: np.ndarray, n_markets: int) -> np.ndarray:
    """Twice the mid (bid + ask, int) per event, forward-filled per market over one-sided moments;
    where a market never had a two-sided book yet, the last trade price × 2; else 0."""
    n = len(events)
    out = np.zeros(n, dtype=np.int64)
    two_sided = (bb > NO_BID) & (ba < NO_ASK)
    ref = np.where(two_sided, bb + ba, np.where(events["kind"] == BOOK, 0, 2 * events["price"].astype(np.int64)))
    for m in range(n_markets):
        idx_m = np.flatnonzero(events["market"] == m)
        if not len(idx_m):
            continue
        r = ref[idx_m]
        have = r > 0
        last = np.maximum.accumulate(np.where(have, np.arange(len(r)), -1))
        vals = np.where(last >= 0, r[np.maximum(last, 0)], 0)
        # A two-sided mid always wins over an older trade price; a trade only fills gaps before one.
        ts2 = np.where(two_sided[idx_m], np.arange(len(r)), -1)
        last2 = np.maximum.accumulate(ts2)
        out[idx_m] = np.where(last2 >= 0, r[np.maximum(last2, 0)], vals)
    return out


def future_mid2(events: np.ndarray, mid2: np.ndarray, n_markets: int, horizon_ns: int) -> np.ndarray:
    """For each event, its market's mid×2 at ``ts + horizon`` (the last value at or before it)."""
    out = np.zeros(len(events), dtype=np.int64)
    for m in range(n_markets):
        idx_m = np.flatnonzero(events["market"] == m)
        if not len(idx_m):
            continue
        t = events["ts"][idx_m]
        j = np.searchsorted(t, t + horizon_ns, side="right") - 1
        out[idx_m] = mid2[idx_m][j]
    return out
