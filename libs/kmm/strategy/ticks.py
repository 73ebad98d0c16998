"""A market's price grid: snapping float prices onto valid ticks, vectorized and scalar.

Tick ranges come from ``kmm.messages.MarketInfo.tick_ranges``: ``((start, end, step), ...)`` in price
units of $0.0001 (Kalshi's ``price_ranges``), both ends inclusive. The valid quote prices are every
``start + k·step ≤ end`` of every range, strictly inside (0, 10_000): a binary never trades at $0 or $1.

Conventions shared by the numpy and the pure-Python methods (they give identical answers; float
inputs are clipped to [0, 10_000] first, so a bid above $1 snaps to the highest tick):
- ``floor(x)``: the largest valid price ≤ x, or ``NONE_LOW`` (0) when there is none;
- ``ceil(x)``: the smallest valid price ≥ x, or ``NONE_HIGH`` (10_000) when there is none;
- ``below(p)``: the largest valid price < p (0 if none); ``above(p)``: the smallest valid price > p
  (10_000 if none). These keep post-only quotes off the opposite best.
A result of 0 or 10_000 means "no valid price": callers drop that side.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from kmm.messages.units import PRICE_SCALE

NONE_LOW = 0
NONE_HIGH = PRICE_SCALE
TickRanges = tuple[tuple[int, int, int], ...]
LINEAR_CENT: TickRanges = ((0, PRICE_SCALE, 100),)


class TickGrid:
    """The sorted valid prices of one market, with lookup tables for O(1) snapping."""

    __slots__ = ("ranges", "prices", "lo", "hi", "_floor", "_ceil", "_floor_list", "_ceil_list")

    def __init__(self, ranges: TickRanges) -> None:
        valid: set[int] = set()
        for start, end, step in ranges:
            if step <= 0 or end < start:
                raise ValueError(f"bad tick range {(start, end, step)}")
            valid.update(p for p in range(start, end + 1, step) if 0 < p < PRICE_SCALE)
        if not valid:
            raise ValueError(f"tick ranges {ranges} contain no price inside (0, 1)")
        self.ranges = tuple(tuple(r) for r in ranges)
        ordered = sorted(valid)
        self.prices = np.array(ordered, dtype=np.int64)
        self.lo = ordered[0]
        self.hi = ordered[-1]
        # _floor[k]: largest valid price <= k (0 if none); _ceil[k]: smallest valid >= k (10_000 if none).
        floor_t = [NONE_LOW] * (PRICE_SCALE + 1)
        ceil_t = [NONE_HIGH] * (PRICE_SCALE + 1)
        last = NONE_LOW
        for k in range(PRICE_SCALE + 1):
            if k in valid:
                last = k
            floor_t[k] = last
        nxt = NONE_HIGH
        for k in range(PRICE_SCALE, -1, -1):
            if k in valid:
                nxt = k
            ceil_t[k] = nxt
        self._floor_list = floor_t
        self._ceil_list = ceil_t
        self._floor = np.array(floor_t, dtype=np.int64)
        self._ceil = np.array(ceil_t, dtype=np.int64)

    def __repr__(self) -> str:
        return f"TickGrid({self.ranges!r})"

    # --- vectorized (x: float arrays in price units, finite; p: int arrays) --------------------

    def floor(self, x: np.ndarray) -> np.ndarray:
        """Largest valid price <= x (int64), 0 when none."""
        return self._floor[np.floor(np.minimum(np.maximum(x, 0.0), 1e4)).astype(np.int64)]

    def ceil(self, x: np.ndarray) -> np.ndarray:
        """Smallest valid price >= x (int64), 10_000 when none."""
        return self._ceil[np.ceil(np.minimum(np.maximum(x, 0.0), 1e4)).astype(np.int64)]

    def below(self, p: np.ndarray) -> np.ndarray:
        """Largest valid price strictly below the integer p, 0 when none."""
        return self._floor[np.minimum(np.maximum(p, 1), PRICE_SCALE + 1) - 1]

    def above(self, p: np.ndarray) -> np.ndarray:
        """Smallest valid price strictly above the integer p, 10_000 when none."""
        return self._ceil[np.minimum(np.maximum(p, -1), PRICE_SCALE - 1) + 1]

    def on_grid(self, p: np.ndarray) -> np.ndarray:
        """True where the integer p is a valid price."""
        p = np.asarray(p, dtype=np.int64)
        inside = (p > 0) & (p < PRICE_SCALE)
        return inside & (self._floor[np.clip(p, 0, PRICE_SCALE)] == p)

    # --- scalar (identical results) ----------------------------------------------------------

    def floor1(self, x: float) -> int:
        x = 0.0 if x < 0.0 else (1e4 if x > 1e4 else x)
        return self._floor_list[math.floor(x)]

    def ceil1(self, x: float) -> int:
        x = 0.0 if x < 0.0 else (1e4 if x > 1e4 else x)
        return self._ceil_list[math.ceil(x)]

    def below1(self, p: int) -> int:
        p = 1 if p < 1 else (PRICE_SCALE + 1 if p > PRICE_SCALE + 1 else p)
        return self._floor_list[p - 1]

    def above1(self, p: int) -> int:
        p = -1 if p < -1 else (PRICE_SCALE - 1 if p > PRICE_SCALE - 1 else p)
        return self._ceil_list[p + 1]

    def contains(self, p: int) -> bool:
        return 0 < p < PRICE_SCALE and self._floor_list[p] == p


@lru_cache(maxsize=256)
def tick_grid(ranges: TickRanges = LINEAR_CENT) -> TickGrid:
    """The (cached) grid for a market's ``tick_ranges``."""
    return TickGrid(tuple(tuple(int(v) for v in r) for r in ranges))  # type: ignore[arg-type]
