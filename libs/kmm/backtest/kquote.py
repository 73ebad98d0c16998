"""The quoting math as one compiled function (numba): :func:`quote_core` is ``kmm.strategy.quoting.quote_one``
transcribed operation for operation, with every input explicit (no hidden state), so the backtest
kernel and — once the strategy library calls it — the live quoter share one implementation.

Inputs are plain scalars plus the market's tick tables (``TickGrid._floor`` / ``_ceil``). Outputs:
``(bid_price, bid_count, ask_price, ask_count, reasons_mask, reservation_c, spread_c)`` with the
reason bits of ``kmm.strategy.quoting``. :func:`hold_side1` is ``hold_side`` for one side.

When the quoting math in ``kmm.strategy.quoting`` changes, this file changes with it; the
equality tests (tests/unit/backtest/test_kquote.py) compare the two on random inputs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kmm.strategy import quoting as _q

from .jitcache import guard

guard()  # numba's cache knows only this file: drop it when a module compiled in here changed

PRICE_SCALE_F = 10_000.0
LOGIT_CENTS = _q.LOGIT_CENTS
NO_BID, NO_ASK = _q.NO_BID, _q.NO_ASK
BID_POST_ONLY, ASK_POST_ONLY = _q.BID_POST_ONLY, _q.ASK_POST_ONLY
REDUCE_ONLY_LONG, REDUCE_ONLY_SHORT = _q.REDUCE_ONLY_LONG, _q.REDUCE_ONLY_SHORT
BID_LIMIT, ASK_LIMIT = _q.BID_LIMIT, _q.ASK_LIMIT
MIN_SPREAD, VARIANCE_CAP = _q.MIN_SPREAD, _q.VARIANCE_CAP
BID_NO_SIZE, ASK_NO_SIZE, BAD_INPUT = _q.BID_NO_SIZE, _q.ASK_NO_SIZE, _q.BAD_INPUT


@njit(cache=True, nogil=True, inline="always")
def _min(a: float, b: float) -> float:
    return a if (a < b or a != a) else b


@njit(cache=True, nogil=True, inline="always")
def _max(a: float, b: float) -> float:
    return a if (a > b or a != a) else b


@njit(cache=True, nogil=True, inline="always")
def _exp(x: float) -> float:
    if x == 0.0:
        return 1.0
    return math.exp(x)


@njit(cache=True, nogil=True, inline="always")
def floor1(t: np.ndarray, x: float) -> int:
    x = 0.0 if x < 0.0 else (1e4 if x > 1e4 else x)
    return t[int(math.floor(x))]


@njit(cache=True, nogil=True, inline="always")
def ceil1(t: np.ndarray, x: float) -> int:
    x = 0.0 if x < 0.0 else (1e4 if x > 1e4 else x)
    return t[int(math.ceil(x))]


@njit(cache=True, nogil=True, inline="always")
def below1(floor_t: np.ndarray, p: int) -> int:
    p = 1 if p < 1 else (10_001 if p > 10_001 else p)
    return floor_t[p - 1]


@njit(cache=True, nogil=True, inline="always")
def above1(ceil_t: np.ndarray, p: int) -> int:
    p = -1 if p < -1 else (9_999 if p > 9_999 else p)
    return ceil_t[p + 1]


@njit(cache=True, nogil=True, inline="always")
def on_grid(floor_t: np.ndarray, p: int) -> bool:
    return 0 < p < 10_000 and floor_t[p] == p


@njit(cache=True, nogil=True)
def quote_core(fair: float, best_bid: int, best_ask: int, position: int, sigma: float, tau_h: float,
               fee_rate: float, gamma: float, kappa: float, eta: float, base_count: int, max_position: int,
               horizon_h: float, min_edge_c: float, reduce_only_at: float, liq_c: float,
               floor_t: np.ndarray, ceil_t: np.ndarray, logit: bool, post_only: bool,
               count_step: int) -> tuple[int, int, int, int, int, float, float]:
    """One market, one parameter set: see ``kmm.strategy.quoting`` for the formulas and units."""
    s_c = _min(_max(fair, 1.0), PRICE_SCALE_F - 1.0) / 100.0
    var_cap = s_c * (100.0 - s_c)
    tau = _max(_min(tau_h, horizon_h), 0.0)
    var_raw = sigma * sigma * tau
    q = position / max_position
    min_half = (fee_rate * var_cap * 0.02 + min_edge_c) * 0.5
    capped = False
    if not logit:
        var = _min(var_raw, var_cap)
        r = s_c - q * gamma * var
        half = (gamma * var + liq_c) * 0.5
        bid_c = r - half
        ask_c = r + half
        r_c = r
        capped = var_raw > var_cap
    else:
        x = LOGIT_CENTS * math.log(s_c / (100.0 - s_c))
        r = x - q * gamma * var_raw
        half = (gamma * var_raw + liq_c) * 0.5
        r_c = 100.0 / (1.0 + _exp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + _exp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + _exp(-(r + half) / LOGIT_CENTS))
    floor_b = r_c - min_half
    floor_a = r_c + min_half
    widened = bid_c > floor_b or ask_c < floor_a
    bid_u = _min(bid_c, floor_b) * 100.0
    ask_u = _max(ask_c, floor_a) * 100.0
    bad = not (math.isfinite(bid_u) and math.isfinite(ask_u))
    if bad:
        bid_u, ask_u = 0.0, 1e4

    bid_px = floor1(floor_t, bid_u)
    ask_px = ceil1(ceil_t, ask_u)
    b_clamped = False
    a_clamped = False
    if post_only:
        cap_b = below1(floor_t, best_ask)
        cap_a = above1(ceil_t, best_bid)
        b_clamped = bid_px > cap_b
        a_clamped = ask_px < cap_a
        bid_px = bid_px if bid_px < cap_b else cap_b
        ask_px = ask_px if ask_px > cap_a else cap_a

    base = base_count // count_step * count_step
    shaped = int(math.floor(base_count * _exp(-eta * abs(q)) / count_step)) * count_step
    bid_sz = shaped if q > 0.0 else base
    ask_sz = shaped if q < 0.0 else base
    room_b = max(max_position - position, 0) // count_step * count_step
    room_a = max(max_position + position, 0) // count_step * count_step
    ro_long = q >= reduce_only_at
    ro_short = q <= -reduce_only_at
    held = abs(position) // count_step * count_step
    cap_bid = 0 if ro_long else (held if ro_short else room_b)
    cap_ask = 0 if ro_short else (held if ro_long else room_a)
    bid_n = min(bid_sz, cap_bid) if bid_px > 0 else 0
    ask_n = min(ask_sz, cap_ask) if ask_px < 10_000 else 0
    bid_px = bid_px if bid_n > 0 else 0
    ask_px = ask_px if ask_n > 0 else 0
    mask = 0
    if bid_px == 0:
        mask |= NO_BID
    if ask_px == 0:
        mask |= NO_ASK
    if b_clamped:
        mask |= BID_POST_ONLY
    if a_clamped:
        mask |= ASK_POST_ONLY
    if ro_long:
        mask |= REDUCE_ONLY_LONG
    if ro_short:
        mask |= REDUCE_ONLY_SHORT
    if bid_sz > room_b:
        mask |= BID_LIMIT
    if ask_sz > room_a:
        mask |= ASK_LIMIT
    if widened:
        mask |= MIN_SPREAD
    if capped:
        mask |= VARIANCE_CAP
    if bid_sz == 0:
        mask |= BID_NO_SIZE
    if ask_sz == 0:
        mask |= ASK_NO_SIZE
    if bad:
        mask |= BAD_INPUT
    return bid_px, bid_n, ask_px, ask_n, mask, r_c, (ask_u - bid_u) / 100.0


@njit(cache=True, nogil=True, inline="always")
def hold_side1(prev_price: int, prev_count: int, new_price: int, new_count: int, tolerance: int,
               size_tolerance: float) -> tuple[int, int]:
    """``kmm.strategy.quoting.hold_side`` for one side (scalars)."""
    near = prev_count > 0 and new_count > 0 and abs(new_price - prev_price) <= tolerance
    keep_size = near and new_count >= prev_count and new_count <= prev_count * (1.0 + size_tolerance)
    return (prev_price if near else new_price), (prev_count if keep_size else new_count)
