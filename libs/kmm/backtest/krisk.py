"""``kmm.risk.engine.RiskEngine`` compiled for the backtest kernel: one engine per cell, its state in
int64/float64 arrays (layout below), the same checks in the same order with the same integer and
float arithmetic. tests/unit/backtest/test_krisk.py drives this port and the Python engine with the
same random input sequences and asserts equal decisions and state.

What the port adds (kernel-only until the risk engine grows the same inputs, issue 10):
- :func:`settle` books a market's $1/$0 payout (or its mark when the result is unknown) into cash,
  clears its position, cost and target, and so releases its exposure;
- a halt resets at the first evaluation of a new trading day unless ``LIM_LATCH`` asks it to latch
  (a manual halt always latches); every halt is counted with its time, reason and market.

Exposure and the marked value are kept as running sums (per cell), so a check is O(1) in the
number of markets. Mutually exclusive events are not grouped (the event log does not carry the flag):
every market is standalone, as the Python engine treats markets without ``mutually_exclusive``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kmm.messages.units import NS_PER_S, PRICE_SCALE

from .kquote import on_grid

NS_PER_DAY = 86_400 * NS_PER_S
PAYOUT = PRICE_SCALE

# states and reasons (codes; names in STATE_NAMES / REASON_NAMES)
ACTIVE, REDUCING, HALTED = 0, 1, 2
STATE_NAMES = ("ACTIVE", "REDUCING", "HALTED")
R_NONE, R_MANUAL, R_POSITION, R_EXPOSURE, R_DAILY_LOSS, R_NEAR_EXPOSURE, R_NEAR_DAILY_LOSS = range(7)
REASON_NAMES = ("", "manual", "position_breach", "exposure_breach", "daily_loss_breach", "near_exposure",
                "near_daily_loss")
# denial codes (the order of kmm.risk.engine.DENIAL_CODES)
D_HALTED, D_UNKNOWN, D_CLOSED, D_OFF_GRID, D_BAD_COUNT, D_SELF_CROSSED, D_RATE_LIMITED = range(7)
DENIAL_NAMES = ("halted", "market_unknown", "market_closed", "off_grid", "bad_count", "self_crossed",
                "rate_limited")

# per-cell ints: RC[cell, k]
(RC_STATE, RC_REASON, RC_LATCH, RC_CASH, RC_DAY, RC_DAY_START, RC_EXPO, RC_POSMARK, RC_NBREACH,
 RC_BUCKET_LAST, RC_NHALT, RC_HALT1_TS, RC_HALT1_REASON, RC_HALT1_MARKET, RC_HALTN_TS, RC_HALTN_REASON,
 RC_HALTN_MARKET, RC_NRESET, RC_DAY_BEGIN, RC_DAY_END, RC_HALT_HANDLED) = range(21)
RC_DENY = 21  # RC_DENY + code: denials by code
RC_N = RC_DENY + 7
# per-cell floats: RCF[cell, k]
RCF_TOKENS = 0
RCF_N = 1
# per (market, cell) ints: RM[market, cell, k]
RM_POS, RM_COST, RM_TBP, RM_TBN, RM_TAP, RM_TAN, RM_CASH, RM_FEES, RM_MARK, RM_OOL = range(10)
RM_N = 10
# limits: LI (int64) and LF (float64)
(LI_POSITION_LIMIT, LI_MAX_EXPOSURE, LI_MAX_DAILY_LOSS, LI_COUNT_STEP, LI_DAY_OFFSET, LI_LATCH) = range(6)
LI_N = 6
(LF_NEAR, LF_RATE_CAP, LF_RATE_PER_S, LF_SIGMA_REF, LF_VOL_LIMIT_MIN, LF_VOL_LIMIT_MAX, LF_VOL_SIZE_MIN,
 LF_VOL_SIZE_MAX) = range(8)
LF_N = 8


def limits_arrays(limits, latch: bool = False) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """``kmm.risk.engine.RiskLimits`` → (LI, LF)."""
    li = np.zeros(LI_N, dtype=np.int64)
    lf = np.zeros(LF_N, dtype=np.float64)
    li[LI_POSITION_LIMIT] = limits.position_limit
    li[LI_MAX_EXPOSURE] = limits.max_exposure
    li[LI_MAX_DAILY_LOSS] = limits.max_daily_loss
    li[LI_COUNT_STEP] = limits.count_step
    li[LI_DAY_OFFSET] = limits.day_offset_ns
    li[LI_LATCH] = 1 if latch else 0
    lf[LF_NEAR] = limits.near_fraction
    lf[LF_RATE_CAP] = limits.rate_capacity
    lf[LF_RATE_PER_S] = limits.rate_per_s
    lf[LF_SIGMA_REF] = limits.sigma_ref
    lf[LF_VOL_LIMIT_MIN] = limits.vol_limit_min
    lf[LF_VOL_LIMIT_MAX] = limits.vol_limit_max
    lf[LF_VOL_SIZE_MIN] = limits.vol_size_min
    lf[LF_VOL_SIZE_MAX] = limits.vol_size_max
    return li, lf


def new_state(n_markets: int, n_cells: int, lf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RC, RCF, RM) for engines that have seen nothing (ACTIVE, full bucket, day unknown)."""
    rc = np.zeros((n_cells, RC_N), dtype=np.int64)
    rc[:, RC_DAY] = -1
    rc[:, RC_BUCKET_LAST] = -1
    rcf = np.zeros((n_cells, RCF_N), dtype=np.float64)
    rcf[:, RCF_TOKENS] = lf[LF_RATE_CAP]
    rm = np.zeros((n_markets, n_cells, RM_N), dtype=np.int64)
    return rc, rcf, rm


@njit(cache=True, nogil=True, inline="always")
def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True, nogil=True, inline="always")
def opening_order_loss(position: int, bp: int, bc: int, ap: int, ac: int) -> int:
    bid_open = max(bc - max(-position, 0), 0)
    ask_open = max(ac - max(position, 0), 0)
    return bp * bid_open + (PAYOUT - ap) * ask_open


@njit(cache=True, nogil=True)
def _set_target(rc: np.ndarray, rm: np.ndarray, m: int, c: int, bp: int, bc: int, ap: int, ac: int) -> None:
    rm[m, c, RM_TBP] = bp
    rm[m, c, RM_TBN] = bc
    rm[m, c, RM_TAP] = ap
    rm[m, c, RM_TAN] = ac
    ool = opening_order_loss(rm[m, c, RM_POS], bp, bc, ap, ac)
    rc[c, RC_EXPO] += ool - rm[m, c, RM_OOL]
    rm[m, c, RM_OOL] = ool


@njit(cache=True, nogil=True)
def _apply_trade(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, m: int, c: int, signed: int, price: int) -> None:
    pos = rm[m, c, RM_POS]
    old_pos = pos
    cost = rm[m, c, RM_COST]
    old_cost = cost
    if pos != 0 and (pos > 0) != (signed > 0):
        closed = min(abs(signed), abs(pos))
        cost -= cost * closed // abs(pos)
        pos += closed if pos < 0 else -closed
        signed += -closed if signed > 0 else closed
        if pos == 0:
            cost = 0
    if signed != 0:
        cost += price * signed if signed > 0 else (PAYOUT - price) * -signed
        pos += signed
    lim = li[LI_POSITION_LIMIT]
    rc[c, RC_NBREACH] += (1 if abs(pos) > lim else 0) - (1 if abs(old_pos) > lim else 0)
    rc[c, RC_POSMARK] += (pos - old_pos) * rm[m, c, RM_MARK]
    rc[c, RC_EXPO] += cost - old_cost
    rm[m, c, RM_POS] = pos
    rm[m, c, RM_COST] = cost
    _set_target(rc, rm, m, c, rm[m, c, RM_TBP], rm[m, c, RM_TBN], rm[m, c, RM_TAP], rm[m, c, RM_TAN])


@njit(cache=True, nogil=True)
def _set_state(rc: np.ndarray, c: int, state: int, reason: int, now: int, market: int) -> None:
    if state == rc[c, RC_STATE]:
        rc[c, RC_REASON] = reason if state != ACTIVE else R_NONE
        return
    if state == HALTED:
        rc[c, RC_NHALT] += 1
        if rc[c, RC_NHALT] == 1:
            rc[c, RC_HALT1_TS] = now
            rc[c, RC_HALT1_REASON] = reason
            rc[c, RC_HALT1_MARKET] = market
        rc[c, RC_HALTN_TS] = now
        rc[c, RC_HALTN_REASON] = reason
        rc[c, RC_HALTN_MARKET] = market
    rc[c, RC_STATE] = state
    rc[c, RC_REASON] = reason if state != ACTIVE else R_NONE


@njit(cache=True, nogil=True)
def evaluate(rc: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, now: int, market: int,
             resuming: bool, reset_halts: bool) -> None:
    """``RiskEngine._evaluate`` (with ``_roll_day``). With ``reset_halts`` a latched halt other than a
    manual one is cleared at the first evaluation of a new day (unless LI_LATCH)."""
    value = rc[c, RC_CASH] + rc[c, RC_POSMARK]
    if now >= rc[c, RC_DAY_END] or now < rc[c, RC_DAY_BEGIN]:
        day = (now - li[LI_DAY_OFFSET]) // NS_PER_DAY
        rc[c, RC_DAY_BEGIN] = day * NS_PER_DAY + li[LI_DAY_OFFSET]
        rc[c, RC_DAY_END] = rc[c, RC_DAY_BEGIN] + NS_PER_DAY
    else:
        day = rc[c, RC_DAY]
    if day != rc[c, RC_DAY]:
        rolled = rc[c, RC_DAY] >= 0
        rc[c, RC_DAY] = day
        rc[c, RC_DAY_START] = value
        if (rolled and reset_halts and li[LI_LATCH] == 0 and rc[c, RC_LATCH] != R_NONE
                and rc[c, RC_LATCH] != R_MANUAL):
            rc[c, RC_LATCH] = R_NONE
            rc[c, RC_NRESET] += 1
            resuming = True
    loss = -(value - rc[c, RC_DAY_START])
    exposure = rc[c, RC_EXPO]
    breach = rc[c, RC_LATCH]
    if breach == R_NONE:
        if rc[c, RC_NBREACH] > 0:
            breach = R_POSITION
        elif exposure > li[LI_MAX_EXPOSURE]:
            breach = R_EXPOSURE
        elif loss >= li[LI_MAX_DAILY_LOSS]:
            breach = R_DAILY_LOSS
    if breach != R_NONE:
        rc[c, RC_LATCH] = breach
        _set_state(rc, c, HALTED, breach, now, market)
        return
    if rc[c, RC_STATE] == HALTED and not resuming:
        return
    if exposure >= lf[LF_NEAR] * li[LI_MAX_EXPOSURE]:
        _set_state(rc, c, REDUCING, R_NEAR_EXPOSURE, now, market)
    elif loss >= lf[LF_NEAR] * li[LI_MAX_DAILY_LOSS]:
        _set_state(rc, c, REDUCING, R_NEAR_DAILY_LOSS, now, market)
    else:
        _set_state(rc, c, ACTIVE, R_NONE, now, market)


@njit(cache=True, nogil=True)
def on_book(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int, best_bid: int,
            best_ask: int, now: int, reset_halts: bool, run_evaluate: bool = True) -> None:
    """The mid becomes the mark. A caller that calls :func:`check` right after (same time) passes
    ``run_evaluate=False``: check evaluates first, and evaluating twice with nothing in between
    changes nothing."""
    if 0 < best_bid < best_ask < PRICE_SCALE:
        mark = (best_bid + best_ask) // 2
        rc[c, RC_POSMARK] += rm[m, c, RM_POS] * (mark - rm[m, c, RM_MARK])
        rm[m, c, RM_MARK] = mark
    if run_evaluate:
        evaluate(rc, li, lf, c, now, m, False, reset_halts)


@njit(cache=True, nogil=True)
def on_fill(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int, bid: bool,
            price: int, count: int, fee: int, now: int, reset_halts: bool) -> None:
    signed = count if bid else -count
    flow = -price * count if bid else price * count
    rc[c, RC_CASH] += flow - fee
    rm[m, c, RM_CASH] += flow
    rm[m, c, RM_FEES] += fee
    _apply_trade(rc, rm, li, m, c, signed, price)
    bp, bc, ap, ac = rm[m, c, RM_TBP], rm[m, c, RM_TBN], rm[m, c, RM_TAP], rm[m, c, RM_TAN]
    if bid:
        bc = max(bc - count, 0)
    else:
        ac = max(ac - count, 0)
    _set_target(rc, rm, m, c, bp if bc else 0, bc, ap if ac else 0, ac)
    if rm[m, c, RM_MARK] == 0:
        rc[c, RC_POSMARK] += rm[m, c, RM_POS] * price
        rm[m, c, RM_MARK] = price
    evaluate(rc, li, lf, c, now, m, False, reset_halts)


@njit(cache=True, nogil=True)
def on_cancel(rc: np.ndarray, rm: np.ndarray, m: int, c: int, bid: bool, count: int) -> None:
    bp, bc, ap, ac = rm[m, c, RM_TBP], rm[m, c, RM_TBN], rm[m, c, RM_TAP], rm[m, c, RM_TAN]
    if bid:
        bc = max(bc - count, 0)
    else:
        ac = max(ac - count, 0)
    _set_target(rc, rm, m, c, bp if bc else 0, bc, ap if ac else 0, ac)


@njit(cache=True, nogil=True)
def settle(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int, settle_px: int,
           now: int, reset_halts: bool) -> None:
    """The market paid out at ``settle_px`` per YES contract: cash, position, cost and target released."""
    pos = rm[m, c, RM_POS]
    payout = pos * settle_px
    rc[c, RC_CASH] += payout
    rm[m, c, RM_CASH] += payout
    rc[c, RC_POSMARK] -= pos * rm[m, c, RM_MARK]
    lim = li[LI_POSITION_LIMIT]
    if abs(pos) > lim:
        rc[c, RC_NBREACH] -= 1
    rc[c, RC_EXPO] -= rm[m, c, RM_COST]
    rm[m, c, RM_POS] = 0
    rm[m, c, RM_COST] = 0
    _set_target(rc, rm, m, c, 0, 0, 0, 0)
    evaluate(rc, li, lf, c, now, m, False, reset_halts)


@njit(cache=True, nogil=True)
def _try_take(rc: np.ndarray, rcf: np.ndarray, lf: np.ndarray, c: int, now: int, cost: float) -> bool:
    last = rc[c, RC_BUCKET_LAST]
    tokens = rcf[c, RCF_TOKENS]
    if last >= 0 and now > last:
        tokens = min(lf[LF_RATE_CAP], tokens + (now - last) / NS_PER_S * lf[LF_RATE_PER_S])
    if last < 0 or now > last:
        rc[c, RC_BUCKET_LAST] = now
    rcf[c, RCF_TOKENS] = tokens
    if cost > tokens:
        return False
    rcf[c, RCF_TOKENS] = tokens - cost
    return True


@njit(cache=True, nogil=True)
def _shrink_to(pos: int, bp: int, bc: int, ap: int, ac: int, headroom: int, step: int) -> tuple[int, int]:
    bid_close, ask_close = min(bc, max(-pos, 0)), min(ac, max(pos, 0))
    bid_open, ask_open = bc - bid_close, ac - ask_close
    total = bp * bid_open + (PAYOUT - ap) * ask_open
    if total <= headroom:
        return bc, ac
    bid_open = bid_open * headroom // total // step * step
    ask_open = ask_open * headroom // total // step * step
    return bid_close + bid_open, ask_close + ask_open


@njit(cache=True, nogil=True)
def _sigma(sigma: float, ref: float) -> float:
    return sigma if (math.isfinite(sigma) and sigma > 0) else ref


@njit(cache=True, nogil=True)
def check(rc: np.ndarray, rcf: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int,
          now: int, bp: int, bc: int, ap: int, ac: int, best_bid: int, best_ask: int, sigma: float,
          close_ts: int, floor_t: np.ndarray, reset_halts: bool) -> tuple[bool, int, int, int, int, int, int]:
    """``RiskEngine.check``: (approved, bid_price, bid_count, ask_price, ask_count, denial code or −1,
    sides whose target changed)."""
    evaluate(rc, li, lf, c, now, m, False, reset_halts)
    if rc[c, RC_STATE] == HALTED:
        return _deny(rc, c, D_HALTED)
    if close_ts != 0 and close_ts <= now:
        return _deny(rc, c, D_CLOSED)
    if bc < 0 or ac < 0:
        return _deny(rc, c, D_BAD_COUNT)
    if (bc != 0 and not on_grid(floor_t, bp)) or (ac != 0 and not on_grid(floor_t, ap)):
        return _deny(rc, c, D_OFF_GRID)
    if bc != 0 and ac != 0 and bp >= ap:
        return _deny(rc, c, D_SELF_CROSSED)
    if bc != 0 and bp >= best_ask:
        bc = 0
    if ac != 0 and ap <= best_bid:
        ac = 0
    step = li[LI_COUNT_STEP]
    ref = lf[LF_SIGMA_REF]
    sig = _sigma(sigma, ref)
    size_mult = _clip(ref / sig, lf[LF_VOL_SIZE_MIN], lf[LF_VOL_SIZE_MAX])
    if size_mult != 1.0:
        bc = int(bc * size_mult) // step * step
        ac = int(ac * size_mult) // step * step
    pos = rm[m, c, RM_POS]
    limit = int(li[LI_POSITION_LIMIT] * _clip(ref / sig, lf[LF_VOL_LIMIT_MIN], lf[LF_VOL_LIMIT_MAX])) // step * step
    near = limit * lf[LF_NEAR]
    bid_room = max(limit - pos, 0)
    ask_room = max(limit + pos, 0)
    if pos >= limit and bc != 0:
        bid_room = 0
    elif pos >= near and bc != 0:
        bid_room = 0
    if -pos >= limit and ac != 0:
        ask_room = 0
    elif -pos >= near and ac != 0:
        ask_room = 0
    if bc > bid_room:
        bc = bid_room // step * step
    if ac > ask_room:
        ac = ask_room // step * step
    if rc[c, RC_STATE] == REDUCING:
        bc, ac = min(bc, max(-pos, 0)), min(ac, max(pos, 0))
    headroom = li[LI_MAX_EXPOSURE] - (rc[c, RC_EXPO] - rm[m, c, RM_OOL])
    opening = opening_order_loss(pos, bp, bc, ap, ac)
    if opening > headroom:
        bc, ac = _shrink_to(pos, bp, bc, ap, ac, max(headroom, 0), step)
    nbp = bp if bc != 0 else 0
    nap = ap if ac != 0 else 0
    cost = 0
    if nbp != rm[m, c, RM_TBP] or bc != rm[m, c, RM_TBN]:
        cost += 1
    if nap != rm[m, c, RM_TAP] or ac != rm[m, c, RM_TAN]:
        cost += 1
    if cost != 0 and not _try_take(rc, rcf, lf, c, now, float(cost)):
        return _deny(rc, c, D_RATE_LIMITED)
    if cost != 0:
        _set_target(rc, rm, m, c, nbp, bc, nap, ac)
    return True, nbp, bc, nap, ac, -1, cost


@njit(cache=True, nogil=True, inline="always")
def _deny(rc: np.ndarray, c: int, code: int) -> tuple[bool, int, int, int, int, int, int]:
    rc[c, RC_DENY + code] += 1
    return False, 0, 0, 0, 0, code, 0
