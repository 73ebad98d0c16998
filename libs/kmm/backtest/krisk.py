"""``kmm.risk.engine.RiskEngine`` compiled for the backtest kernel: one engine per cell, its state in
int64/float64 arrays (layout below), the same checks in the same order with the same integer and
float arithmetic. tests/unit/backtest/test_krisk.py drives this port and the Python engine with the
same random input sequences and asserts equal decisions and state.

How the kernel drives it, and the Python engine calls each step stands for:

- :func:`on_book` / :func:`on_fill` / :func:`on_cancel` — ``on_book``, ``on_fill``, ``on_cancel``;
- :func:`check` — ``check(intent)`` then, when approved, ``on_approval_status(market, intent_id,
  APPLIED)``: the replay applies an approval at once, so only the newest approval (the *permit*) is
  outstanding per market, consumed by the fills that follow it. The kernel reports no resting orders
  (``on_order``): within the place latency they are what the permit lets rest;
- :func:`expire` — ``on_approval_status(market, latest, EXPIRED)`` after a halt's cancel-all (the
  approvals' orders are gone; live, the gateway reports them expired at their TTL);
- :func:`settle` — ``on_settlement(market, result, payout=position × settlement price)`` (the
  payout in the engine's cash convention, where selling YES credited the YES price; see the note in
  docs/backtest.md on short positions);
- the halt latch follows ``RiskLimits.daily_loss_unlatch`` (a daily-loss halt clears at the next
  trading day when it is set). With ``LI_RESUME`` an operator also calls ``resume()`` before the first
  input of a new trading day that finds the engine HALTED (a halt that still holds halts again at
  once), so one overshoot does not end a multi-day run. Every halt is counted with its time, reason
  and market; every halt cleared by the day or the operator is counted as a reset.

Not ported, because a replay cannot reach them: ``max_book_age_ns`` (a decision always prices off
the book of the current event: its age is 0), the manual halt, position reconciliation and the merge
of more than 64 outstanding approvals.

Exposure, holdings exposure and the marked value are kept as running sums (per cell), so a check is
O(1) in the number of markets. Mutually exclusive events are not grouped (the event log does not
carry the flag): every market is standalone, as the Python engine treats markets without
``mutually_exclusive``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kmm import messages as m
from kmm.jitcache import guard
from kmm.messages.units import NS_PER_S, PRICE_SCALE
from kmm.risk import engine as _e
from kmm.risk import reasons as rs
from kmm.strategy.quote_core import on_grid

guard()  # numba's cache knows only this file: drop it when a module compiled in here changed

NS_PER_DAY = 86_400 * NS_PER_S
PAYOUT = PRICE_SCALE

# states and reasons (codes; names in STATE_NAMES / REASON_NAMES)
ACTIVE, REDUCING, HALTED = 0, 1, 2
STATE_NAMES = (m.ACTIVE, m.REDUCING, m.HALTED)
R_NONE, R_MANUAL, R_POSITION, R_EXPOSURE, R_DAILY_LOSS, R_NEAR_EXPOSURE, R_NEAR_DAILY_LOSS = range(7)
REASON_NAMES = ("", rs.MANUAL, rs.POSITION_BREACH, rs.EXPOSURE_BREACH, rs.DAILY_LOSS_BREACH, rs.NEAR_EXPOSURE,
                rs.NEAR_DAILY_LOSS)
# denial codes (the order of kmm.risk.reasons.DENIAL_CODES)
D_HALTED, D_UNKNOWN, D_CLOSED, D_OFF_GRID, D_BAD_COUNT, D_SELF_CROSSED, D_STALE_BOOK = range(7)
DENIAL_NAMES = rs.DENIAL_CODES
assert DENIAL_NAMES[D_CLOSED] == rs.MARKET_CLOSED and DENIAL_NAMES[D_STALE_BOOK] == rs.STALE_BOOK

# per-cell ints: RC[cell, k]
(RC_STATE, RC_REASON, RC_LATCH, RC_CASH, RC_DAY, RC_DAY_START, RC_EXPO, RC_HOLD, RC_POSMARK, RC_NBREACH,
 RC_BUCKET_LAST, RC_NHALT, RC_HALT1_TS, RC_HALT1_REASON, RC_HALT1_MARKET, RC_HALTN_TS, RC_HALTN_REASON,
 RC_HALTN_MARKET, RC_NRESET, RC_DAY_BEGIN, RC_DAY_END, RC_HALT_HANDLED, RC_UNLATCHED, RC_NRATE,
 RC_RESET_HANDLED, RC_WAKE_AT) = range(26)  # HALT_HANDLED, RESET_HANDLED, WAKE_AT: the kernel's
RC_DENY = 26  # RC_DENY + code: denials by code
RC_N = RC_DENY + len(DENIAL_NAMES)
# per-cell floats: RCF[cell, k]
RCF_TOKENS = 0
RCF_N = 1
# per (market, cell) ints: RM[market, cell, k]. The permit (TBP..TAN) is the outstanding approval: what it
# still lets rest per side after the fills that followed it.
(RM_POS, RM_COST, RM_TBP, RM_TBN, RM_TAP, RM_TAN, RM_CASH, RM_FEES, RM_MARK, RM_OOL, RM_SETTLED,
 RM_FILL_SEQ) = range(12)
RM_N = 12
# limits: LI (int64) and LF (float64)
(LI_POSITION_LIMIT, LI_MAX_EXPOSURE, LI_MAX_DAILY_LOSS, LI_COUNT_STEP, LI_DAY_OFFSET, LI_UNLATCH,
 LI_RESUME, LI_OPENING_CAP) = range(8)
LI_N = 8
(LF_NEAR, LF_RATE_CAP, LF_RATE_PER_S, LF_REQUEST_COST, LF_SIGMA_REF, LF_VOL_LIMIT_MIN, LF_VOL_LIMIT_MAX,
 LF_VOL_SIZE_MIN, LF_VOL_SIZE_MAX, LF_NEAR_HYST) = range(10)
LF_N = 10


def limits_arrays(limits: _e.RiskLimits, resume_next_day: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``kmm.risk.engine.RiskLimits`` → (LI, LF); ``resume_next_day``: the operator's daily resume."""
    li = np.zeros(LI_N, dtype=np.int64)
    lf = np.zeros(LF_N, dtype=np.float64)
    li[LI_POSITION_LIMIT] = limits.position_limit
    li[LI_MAX_EXPOSURE] = limits.max_exposure
    li[LI_MAX_DAILY_LOSS] = limits.max_daily_loss
    li[LI_COUNT_STEP] = limits.count_step
    li[LI_DAY_OFFSET] = limits.day_offset_ns
    li[LI_UNLATCH] = 1 if limits.daily_loss_unlatch else 0
    li[LI_RESUME] = 1 if resume_next_day else 0
    li[LI_OPENING_CAP] = limits.opening_exposure_cap
    lf[LF_NEAR] = limits.near_fraction
    lf[LF_RATE_CAP] = limits.rate_capacity
    lf[LF_RATE_PER_S] = limits.rate_per_s
    lf[LF_REQUEST_COST] = limits.request_cost
    lf[LF_SIGMA_REF] = limits.sigma_ref
    lf[LF_VOL_LIMIT_MIN] = limits.vol_limit_min
    lf[LF_VOL_LIMIT_MAX] = limits.vol_limit_max
    lf[LF_VOL_SIZE_MIN] = limits.vol_size_min
    lf[LF_VOL_SIZE_MAX] = limits.vol_size_max
    lf[LF_NEAR_HYST] = limits.near_hysteresis
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
    """``kmm.risk.exposure.opening_order_loss``; with one outstanding permit it is the market's
    ``RiskEngine.order_exposure``."""
    bid_open = max(bc - max(-position, 0), 0)
    ask_open = max(ac - max(position, 0), 0)
    return bp * bid_open + (PAYOUT - ap) * ask_open


@njit(cache=True, nogil=True)
def _refresh_ool(rc: np.ndarray, rm: np.ndarray, m: int, c: int) -> None:
    ool = opening_order_loss(rm[m, c, RM_POS], rm[m, c, RM_TBP], rm[m, c, RM_TBN], rm[m, c, RM_TAP],
                             rm[m, c, RM_TAN])
    rc[c, RC_EXPO] += ool - rm[m, c, RM_OOL]
    rm[m, c, RM_OOL] = ool


@njit(cache=True, nogil=True)
def _set_permit(rc: np.ndarray, rm: np.ndarray, m: int, c: int, bp: int, bc: int, ap: int, ac: int) -> None:
    rm[m, c, RM_TBP] = bp if bc != 0 else 0
    rm[m, c, RM_TBN] = bc
    rm[m, c, RM_TAP] = ap if ac != 0 else 0
    rm[m, c, RM_TAN] = ac
    _refresh_ool(rc, rm, m, c)


@njit(cache=True, nogil=True)
def _consume(rc: np.ndarray, rm: np.ndarray, m: int, c: int, bid: bool, count: int) -> None:
    """``Permits.on_fill``: the count no longer counts as allowed to rest on that side."""
    bp, bc, ap, ac = rm[m, c, RM_TBP], rm[m, c, RM_TBN], rm[m, c, RM_TAP], rm[m, c, RM_TAN]
    if bid:
        bc = max(bc - count, 0)
    else:
        ac = max(ac - count, 0)
    _set_permit(rc, rm, m, c, bp, bc, ap, ac)


@njit(cache=True, nogil=True)
def _set_position(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, m: int, c: int, pos: int, cost: int) -> None:
    """Move a market's holdings, keeping every running sum (breaches, marked value, exposures) in step."""
    old_pos = rm[m, c, RM_POS]
    lim = li[LI_POSITION_LIMIT]
    rc[c, RC_NBREACH] += (1 if abs(pos) > lim else 0) - (1 if abs(old_pos) > lim else 0)
    rc[c, RC_POSMARK] += (pos - old_pos) * rm[m, c, RM_MARK]
    rc[c, RC_HOLD] += cost - rm[m, c, RM_COST]
    rc[c, RC_EXPO] += cost - rm[m, c, RM_COST]
    rm[m, c, RM_POS] = pos
    rm[m, c, RM_COST] = cost
    _refresh_ool(rc, rm, m, c)


@njit(cache=True, nogil=True)
def _apply_trade(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, m: int, c: int, signed: int, price: int) -> None:
    """``RiskEngine._apply_trade``."""
    pos = rm[m, c, RM_POS]
    cost = rm[m, c, RM_COST]
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
    _set_position(rc, rm, li, m, c, pos, cost)


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
    elif rc[c, RC_STATE] == HALTED:
        rc[c, RC_NRESET] += 1  # a halt cleared (by the day or the operator)
    rc[c, RC_STATE] = state
    rc[c, RC_REASON] = reason if state != ACTIVE else R_NONE


@njit(cache=True, nogil=True)
def _roll_day(rc: np.ndarray, li: np.ndarray, c: int, now: int) -> None:
    """``RiskEngine._roll_day`` (the day's bounds cached, so most calls only compare)."""
    if now >= rc[c, RC_DAY_END] or now < rc[c, RC_DAY_BEGIN]:
        day = (now - li[LI_DAY_OFFSET]) // NS_PER_DAY
        rc[c, RC_DAY_BEGIN] = day * NS_PER_DAY + li[LI_DAY_OFFSET]
        rc[c, RC_DAY_END] = rc[c, RC_DAY_BEGIN] + NS_PER_DAY
    else:
        day = rc[c, RC_DAY]
    if day != rc[c, RC_DAY]:
        rc[c, RC_DAY] = day
        rc[c, RC_DAY_START] = rc[c, RC_CASH] + rc[c, RC_POSMARK]
        if li[LI_UNLATCH] != 0 and rc[c, RC_LATCH] == R_DAILY_LOSS:
            rc[c, RC_LATCH] = R_NONE
            rc[c, RC_UNLATCHED] = 1


@njit(cache=True, nogil=True)
def evaluate(rc: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, now: int, market: int,
             resuming: bool = False) -> None:
    """``RiskEngine._evaluate`` (``market``: the market whose input triggered it, for the halt record)."""
    _roll_day(rc, li, c, now)
    loss = -(rc[c, RC_CASH] + rc[c, RC_POSMARK] - rc[c, RC_DAY_START])
    breach = rc[c, RC_LATCH]
    if breach == R_NONE:
        if rc[c, RC_NBREACH] > 0:
            breach = R_POSITION
        elif rc[c, RC_HOLD] > li[LI_MAX_EXPOSURE]:
            breach = R_EXPOSURE
        elif loss >= li[LI_MAX_DAILY_LOSS]:
            breach = R_DAILY_LOSS
    if breach != R_NONE:
        rc[c, RC_LATCH] = breach
        _set_state(rc, c, HALTED, breach, now, market)
        return
    if rc[c, RC_STATE] == HALTED and not resuming and rc[c, RC_UNLATCHED] == 0:
        return
    rc[c, RC_UNLATCHED] = 0
    near = lf[LF_NEAR] - (lf[LF_NEAR_HYST] if rc[c, RC_STATE] == REDUCING else 0.0)
    if rc[c, RC_EXPO] >= near * li[LI_MAX_EXPOSURE]:
        _set_state(rc, c, REDUCING, R_NEAR_EXPOSURE, now, market)
    elif loss >= near * li[LI_MAX_DAILY_LOSS]:
        _set_state(rc, c, REDUCING, R_NEAR_DAILY_LOSS, now, market)
    else:
        _set_state(rc, c, ACTIVE, R_NONE, now, market)


@njit(cache=True, nogil=True)
def operator(rc: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, now: int, market: int) -> None:
    """The backtest's operator (``LI_RESUME``): before the first input of a new trading day that finds
    the engine HALTED, ``RiskEngine.resume()``. Every entry point that evaluates calls it first."""
    if li[LI_RESUME] == 0 or rc[c, RC_STATE] != HALTED or rc[c, RC_DAY_BEGIN] <= now < rc[c, RC_DAY_END]:
        return
    rc[c, RC_LATCH] = R_NONE
    evaluate(rc, li, lf, c, now, market, True)


@njit(cache=True, nogil=True)
def on_book(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int, best_bid: int,
            best_ask: int, now: int, run_evaluate: bool = True) -> None:
    """The mid becomes the mark (not once settled). A caller that calls :func:`check` right after (same
    time) passes ``run_evaluate=False``: check evaluates first, and evaluating twice with nothing in
    between changes nothing."""
    if run_evaluate:
        operator(rc, li, lf, c, now, m)
    if 0 < best_bid < best_ask < PRICE_SCALE:
        on_mark(rc, rm, c, m, (best_bid + best_ask) // 2)
    if run_evaluate:
        evaluate(rc, li, lf, c, now, m)


@njit(cache=True, nogil=True)
def on_mark(rc: np.ndarray, rm: np.ndarray, c: int, m: int, mark: int) -> None:
    """``mark`` becomes the market's mark (not once settled). A market with no book (a trade-only tape)
    is marked at its last print, the mid its quotes are made around: without it the mark stays 0 and
    the day's P&L counts every contract bought as lost."""
    if 0 < mark < PRICE_SCALE and rm[m, c, RM_SETTLED] == 0:
        rc[c, RC_POSMARK] += rm[m, c, RM_POS] * (mark - rm[m, c, RM_MARK])
        rm[m, c, RM_MARK] = mark


@njit(cache=True, nogil=True)
def on_fill(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int, bid: bool,
            price: int, count: int, fee: int, now: int) -> None:
    """``RiskEngine.on_fill`` (fills arrive once, in order: no sequence check)."""
    operator(rc, li, lf, c, now, m)
    flow = -price * count if bid else price * count
    rc[c, RC_CASH] += flow - fee
    rm[m, c, RM_CASH] += flow
    rm[m, c, RM_FEES] += fee
    _apply_trade(rc, rm, li, m, c, count if bid else -count, price)
    rm[m, c, RM_FILL_SEQ] += 1
    _consume(rc, rm, m, c, bid, count)
    if rm[m, c, RM_MARK] == 0:
        rc[c, RC_POSMARK] += rm[m, c, RM_POS] * price
        rm[m, c, RM_MARK] = price
    evaluate(rc, li, lf, c, now, m)


@njit(cache=True, nogil=True)
def on_cancel(rc: np.ndarray, rm: np.ndarray, m: int, c: int, bid: bool, count: int) -> None:
    """``RiskEngine.on_cancel``: resting count the permit will not rest again (a rejected order)."""
    _consume(rc, rm, m, c, bid, count)


@njit(cache=True, nogil=True)
def expire(rc: np.ndarray, rm: np.ndarray, m: int, c: int) -> None:
    """``on_approval_status(market, latest, EXPIRED)``: the market's approvals can rest nothing more."""
    _set_permit(rc, rm, m, c, 0, 0, 0, 0)


@njit(cache=True, nogil=True)
def settle(rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, c: int, m: int, yes: bool,
           revenue: int, now: int) -> bool:
    """``RiskEngine.on_settlement(market, result, payout=revenue)``: book the payout, clear the position, cost
    and permit (releasing the market's exposure), mark the market settled. False if already settled."""
    if rm[m, c, RM_SETTLED] != 0:
        return False
    operator(rc, li, lf, c, now, m)
    rc[c, RC_CASH] += revenue
    rm[m, c, RM_CASH] += revenue
    rm[m, c, RM_TBP] = rm[m, c, RM_TBN] = rm[m, c, RM_TAP] = rm[m, c, RM_TAN] = 0
    _set_position(rc, rm, li, m, c, 0, 0)
    rm[m, c, RM_SETTLED] = 1
    rm[m, c, RM_MARK] = PAYOUT if yes else 0
    evaluate(rc, li, lf, c, now, m)
    return True


@njit(cache=True, nogil=True)
def _try_take(rc: np.ndarray, rcf: np.ndarray, lf: np.ndarray, c: int, now: int, cost: float) -> bool:
    """``TokenBucket.try_take``."""
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
          close_ts: int, floor_t: np.ndarray) -> tuple[bool, int, int, int, int, int, bool, bool]:
    """``RiskEngine.check`` and, when approved, the approval reported APPLIED at once: (approved,
    bid_price, bid_count, ask_price, ask_count, denial code or −1, whether the permit changed, whether
    the write budget kept a side at its previous approval)."""
    operator(rc, li, lf, c, now, m)
    evaluate(rc, li, lf, c, now, m)
    if rc[c, RC_STATE] == HALTED:
        return _deny(rc, c, D_HALTED)
    if rm[m, c, RM_SETTLED] != 0 or (close_ts != 0 and close_ts <= now):
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
    bid_room = max(limit - pos, 0) // step * step
    ask_room = max(limit + pos, 0) // step * step
    if pos >= limit and bc != 0:
        bid_room = 0
    elif pos >= near and bc != 0:
        bid_room = 0
    if -pos >= limit and ac != 0:
        ask_room = 0
    elif -pos >= near and ac != 0:
        ask_room = 0
    if rc[c, RC_STATE] == REDUCING:
        bid_room = min(bid_room, max(-pos, 0))
        ask_room = min(ask_room, max(pos, 0))
    if bc > bid_room:
        bc = bid_room
    if ac > ask_room:
        ac = ask_room
    headroom = li[LI_OPENING_CAP] - (rc[c, RC_EXPO] - rm[m, c, RM_OOL])
    if opening_order_loss(pos, bp, bc, ap, ac) > headroom:
        bc, ac = _shrink_to(pos, bp, bc, ap, ac, max(headroom, 0), step)
    # the write budget: a side that opens or moves costs a request; without the tokens it keeps its
    # previous approval within today's room (dropped if that now crosses the book)
    pbp, pbc, pap, pac = rm[m, c, RM_TBP], rm[m, c, RM_TBN], rm[m, c, RM_TAP], rm[m, c, RM_TAN]
    nbp = bp if bc != 0 else 0
    nap = ap if ac != 0 else 0
    limited = False
    cost = lf[LF_REQUEST_COST]
    if bc > 0 and (nbp != pbp or bc > pbc) and not _try_take(rc, rcf, lf, c, now, cost):
        limited = True
        keep = min(pbc, bid_room) if pbc != 0 else 0
        crosses = keep != 0 and pbp >= best_ask
        nbp = pbp if (keep != 0 and not crosses) else 0
        bc = 0 if crosses else keep
    if ac > 0 and (nap != pap or ac > pac) and not _try_take(rc, rcf, lf, c, now, cost):
        limited = True
        keep = min(pac, ask_room) if pac != 0 else 0
        crosses = keep != 0 and pap <= best_bid
        nap = pap if (keep != 0 and not crosses) else 0
        ac = 0 if crosses else keep
    if limited:
        rc[c, RC_NRATE] += 1
    nbp = nbp if bc != 0 else 0
    nap = nap if ac != 0 else 0
    changed = nbp != pbp or bc != pbc or nap != pap or ac != pac
    if changed:
        _set_permit(rc, rm, m, c, nbp, bc, nap, ac)
    return True, nbp, bc, nap, ac, -1, changed, limited


@njit(cache=True, nogil=True, inline="always")
def _deny(rc: np.ndarray, c: int, code: int) -> tuple[bool, int, int, int, int, int, bool, bool]:
    rc[c, RC_DENY + code] += 1
    return False, 0, 0, 0, 0, code, False, False
