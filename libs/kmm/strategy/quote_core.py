"""The quoting math as one compiled function (numba): the live quoter (``quoting.quote_one``), the
vectorized path (``quoting.quote_arrays``) and the backtest kernel (``kmm.backtest.kernel``) all run
:func:`quote_core`, so live, grid and backtest share one implementation of the formulas in
:mod:`kmm.strategy.quoting` (units and rules are documented there and in docs/strategy.md).

Every input is explicit (no hidden state): plain scalars plus the market's tick tables
(``TickGrid._floor`` / ``_ceil``). Output: ``(bid_price, bid_count, ask_price, ask_count, reasons_mask,
reservation_c, spread_c)``. :func:`quote_many` loops the core over arrays (one row per state/parameter
set); :func:`hold_side1` is the safe-side requote hold for one side.

Transcendentals are libm's (``math.exp``/``math.log``); tests/unit/strategy/reference_quoting.py is a
pure-Python transcription with the same operation order that the tests compare bit for bit.

numba caches the compiled code on disk (``cache=True``); :mod:`kmm.jitcache` drops the cache when a
source compiled in here (or into the backtest kernel, which inlines this) changes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kmm.jitborrow import borrow
from kmm.jitcache import guard

guard()  # numba's cache knows only this file: drop it when a module compiled in here changed

PRICE_SCALE_F = 10_000.0
COUNT_SCALE = 100  # kmm.messages.units.COUNT_SCALE (a literal: numba freezes module constants)
LOGIT_CENTS = 25.0  # x̃ = 25·logit(p): dx̃/dp¢ = 1 at p = ½
LOGIT_SLOPE2 = 2500.0 * 2500.0  # (dx̃/dp¢)² = (2500 / PP)²

# Reason bits (int64 per quote); names in kmm.strategy.quoting.REASONS.
NO_BID = 1 << 0  # no bid quoted (off the grid, post-only squeeze, reduce-only, no size or bad input)
NO_ASK = 1 << 1  # no ask quoted
BID_POST_ONLY = 1 << 2  # bid lowered to stay below the best ask
ASK_POST_ONLY = 1 << 3  # ask raised to stay above the best bid
REDUCE_ONLY_LONG = 1 << 4  # |q| ≥ reduce_only_at while long: bid suppressed
REDUCE_ONLY_SHORT = 1 << 5  # ... while short: ask suppressed
BID_LIMIT = 1 << 6  # bid count capped by the position limit
ASK_LIMIT = 1 << 7  # ask count capped by the position limit
MIN_SPREAD = 1 << 8  # the fee floor widened the quote
VARIANCE_CAP = 1 << 9  # σ²h exceeded p(1−p) and was capped
BID_NO_SIZE = 1 << 10  # shaped bid size rounded to zero
ASK_NO_SIZE = 1 << 11  # shaped ask size rounded to zero
BAD_INPUT = 1 << 12  # a non-finite input: no quote
JUMP_FLOOR = 1 << 13  # the close's jump floor raised the variance
CLOSE_REDUCE = 1 << 14  # within reduce_before_h of the close: only the reducing side
CLOSE_STOP = 1 << 15  # within stop_before_h of the close: no quote
BID_GUARD = 1 << 16  # the adverse-selection guard is on for the bid
ASK_GUARD = 1 << 17  # ... for the ask


@njit(cache=True, nogil=True, inline="always")
def _min(a: float, b: float) -> float:
    """``np.minimum`` for two floats, NaN-propagating."""
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
def fee_unit_c(rate: float, price_c: float) -> float:
    """``kmm.kalshi.fees.fee_unit_c``: rate × P × (1 − P) per contract in cents, unrounded."""
    return rate * price_c * (100.0 - price_c) / 100.0


@njit(cache=True, nogil=True, inline="always")
def ceil_fee_c(unit_c: float, contracts: float) -> float:
    """``kmm.kalshi.fees.ceil_fee_c``: ``unit_c`` × ``contracts`` rounded up to the cent (1e-9 ¢ slack)."""
    v = unit_c * contracts - 1e-9
    return np.ceil(v) if math.isfinite(v) else v


@njit(cache=True, nogil=True, inline="always")
def floor1(t: np.ndarray, x: float) -> int:
    """``TickGrid.floor1`` on the grid's floor table."""
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
    """``TickGrid.contains``: ``p`` is a valid price of the grid."""
    return 0 < p < 10_000 and floor_t[p] == p


@njit(cache=True, nogil=True)
def quote_core(fair: float, best_bid: int, best_ask: int, position: int, sigma: float, tau_h: float,
               fee_rate: float, bid_guard: float, ask_guard: float, gamma: float, eta: float, base_count: int,
               max_position: int, horizon_h: float, min_edge_c: float, reduce_only_at: float, jump_frac: float,
               reduce_before_h: float, stop_before_h: float, guard_widen_c: float, guard_size: float, liq_c: float,
               floor_t: np.ndarray, ceil_t: np.ndarray, logit: bool, post_only: bool,
               count_step: int) -> tuple[int, int, int, int, int, float, float]:
    """One market, one parameter set: see ``kmm.strategy.quoting`` for the formulas and units."""
    s_c = _min(_max(fair, 1.0), PRICE_SCALE_F - 1.0) / 100.0
    var_cap = s_c * (100.0 - s_c)
    tau_c = _max(tau_h, 0.0)
    horizon = horizon_h
    ramp = 1.0 if tau_c <= horizon else horizon / tau_c
    sq = sigma * sigma
    var_raw = 0.0 if sq == 0.0 else sq * horizon  # 0·∞ is 0 here
    q = position / max_position
    capped = False
    if not logit:
        var_d = _min(var_raw, var_cap)
        var_j = jump_frac * var_cap * ramp
        var = _max(var_d, var_j)
        r = s_c - q * gamma * var
        half = (gamma * var + liq_c) * 0.5
        bid_c = r - half
        ask_c = r + half
        r_c = r
        capped = var_raw > var_cap
    else:
        x = LOGIT_CENTS * math.log(s_c / (100.0 - s_c))
        var_d = var_raw
        var_j = jump_frac * ramp * LOGIT_SLOPE2 / var_cap
        var = _max(var_d, var_j)
        r = x - q * gamma * var
        half = (gamma * var + liq_c) * 0.5
        r_c = 100.0 / (1.0 + _exp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + _exp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + _exp(-(r + half) / LOGIT_CENTS))
    floored = var_j > var_d

    # sizes: base·e^(−η·|q|) on the side that grows |position|, base on the other; × guard_size if guarded
    g_b = bid_guard
    g_a = ask_guard
    shape = _exp(-eta * abs(q))
    mult_b = 1.0 + g_b * (guard_size - 1.0)
    mult_a = 1.0 + g_a * (guard_size - 1.0)
    bid_sz = int(math.floor(base_count * (shape if q > 0.0 else 1.0) * mult_b / count_step)) * count_step
    ask_sz = int(math.floor(base_count * (shape if q < 0.0 else 1.0) * mult_a / count_step)) * count_step

    # fee floors: each side at least its own cent-rounded fee per contract (at its size) from r
    bid_c = bid_c - guard_widen_c * g_b
    ask_c = ask_c + guard_widen_c * g_a
    edge = min_edge_c * 0.5
    unit = fee_unit_c(fee_rate, s_c)
    c_b = (bid_sz if bid_sz > count_step else count_step) / COUNT_SCALE
    c_a = (ask_sz if ask_sz > count_step else count_step) / COUNT_SCALE
    floor_b = r_c - (ceil_fee_c(unit, c_b) / c_b + edge)
    floor_a = r_c + (ceil_fee_c(unit, c_a) / c_a + edge)
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

    room_b = max(max_position - position, 0) // count_step * count_step
    room_a = max(max_position + position, 0) // count_step * count_step
    ro_long = q >= reduce_only_at
    ro_short = q <= -reduce_only_at
    held = abs(position) // count_step * count_step
    close_ro = tau_c < reduce_before_h
    stop = tau_c < stop_before_h
    no_b = ro_long or stop or (close_ro and position >= 0)
    no_a = ro_short or stop or (close_ro and position <= 0)
    cap_bid = 0 if no_b else (held if (ro_short or close_ro) else room_b)
    cap_ask = 0 if no_a else (held if (ro_long or close_ro) else room_a)
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
    if floored:
        mask |= JUMP_FLOOR
    if close_ro:
        mask |= CLOSE_REDUCE
    if stop:
        mask |= CLOSE_STOP
    if g_b > 0.0:
        mask |= BID_GUARD
    if g_a > 0.0:
        mask |= ASK_GUARD
    return bid_px, bid_n, ask_px, ask_n, mask, r_c, (ask_u - bid_u) / 100.0


@njit(cache=True, nogil=True, inline="always")
def _at_f(a: np.ndarray, i: int) -> float:
    return a[0] if a.shape[0] == 1 else a[i]


@njit(cache=True, nogil=True, inline="always")
def _at_i(a: np.ndarray, i: int) -> int:
    return a[0] if a.shape[0] == 1 else a[i]


@njit(cache=True, nogil=True)
def quote_many(n: int, fair: np.ndarray, best_bid: np.ndarray, best_ask: np.ndarray, position: np.ndarray,
               sigma: np.ndarray, tau_h: np.ndarray, fee_rate: np.ndarray, bid_guard: np.ndarray,
               ask_guard: np.ndarray, gamma: np.ndarray, eta: np.ndarray, base_count: np.ndarray,
               max_position: np.ndarray, horizon_h: np.ndarray, min_edge_c: np.ndarray,
               reduce_only_at: np.ndarray, jump_frac: np.ndarray, reduce_before_h: np.ndarray,
               stop_before_h: np.ndarray, guard_widen_c: np.ndarray, guard_size: np.ndarray, liq_c: np.ndarray,
               floor_t: np.ndarray, ceil_t: np.ndarray, logit: bool, post_only: bool, count_step: int,
               out_i: np.ndarray, out_f: np.ndarray) -> None:
    """:func:`quote_core` for rows 0..n−1; every input array has length 1 (shared) or n. Writes
    (bid_price, bid_count, ask_price, ask_count, mask) into ``out_i[:, k]`` and (reservation_c,
    spread_c) into ``out_f[:, k]``."""
    floor_t, ceil_t = borrow((floor_t, ceil_t))
    for i in range(n):
        bp, bn, ap, an, mask, r_c, sp = quote_core(
            _at_f(fair, i), _at_i(best_bid, i), _at_i(best_ask, i), _at_i(position, i), _at_f(sigma, i),
            _at_f(tau_h, i), _at_f(fee_rate, i), _at_f(bid_guard, i), _at_f(ask_guard, i), _at_f(gamma, i),
            _at_f(eta, i),
            _at_i(base_count, i), _at_i(max_position, i), _at_f(horizon_h, i), _at_f(min_edge_c, i),
            _at_f(reduce_only_at, i), _at_f(jump_frac, i), _at_f(reduce_before_h, i), _at_f(stop_before_h, i),
            _at_f(guard_widen_c, i), _at_f(guard_size, i), _at_f(liq_c, i), floor_t, ceil_t,
            logit, post_only, count_step)
        out_i[i, 0] = bp
        out_i[i, 1] = bn
        out_i[i, 2] = ap
        out_i[i, 3] = an
        out_i[i, 4] = mask
        out_f[i, 0] = r_c
        out_f[i, 1] = sp


@njit(cache=True, nogil=True, inline="always")
def hold_side1(prev_price: int, prev_count: int, new_price: int, new_count: int, tolerance: int,
               size_tolerance: float, bid: bool) -> tuple[int, int]:
    """``kmm.strategy.quoting.hold_side`` for one side (scalars): keep the resting price while it is
    within ``tolerance`` of the model's **on the safe side** (a bid at or below, an ask at or above)."""
    gap = (new_price - prev_price) if bid else (prev_price - new_price)
    near = prev_count > 0 and new_count > 0 and gap >= 0 and gap <= tolerance
    keep_size = near and new_count >= prev_count and new_count <= prev_count * (1.0 + size_tolerance)
    return (prev_price if near else new_price), (prev_count if keep_size else new_count)
