"""The compiled event loop (numba): book, queue position, latency, fills, fees, fill reports, settlement,
the A–S quoting core, the risk engine and metrics, for ``n_cells`` independent parameter sets at once.

Everything lives in int64/float64 arrays whose column layouts are the constants below; the loop is
resumable (``run_events`` processes events ``[i, stop)`` and returns where it stopped and why), so
the Python side can report progress and grow the rings (fill reports, markouts, recorded fills) when
they fill up. A single backtest is the one-cell case of the same function, so a grid cell equals a
single run with the same parameters exactly. The rules are in docs/backtest.md §3.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kmm.jitborrow import borrow
from kmm.jitcache import guard
from kmm.kalshi.fees import CENT_MONEY
from kmm.messages.units import NS_PER_S, PRICE_SCALE
from kmm.strategy.quote_core import LOGIT_SLOPE2, hold_side1, quote_core

from . import krisk as R
from . import ksignals as S
from .kfees import fill_fee, trade_fee, trade_revenue

guard()  # numba's cache knows only this file: drop it when a module compiled in here changed

BOOK, TRADE = 1, 2
BID, ASK = 0, 1
SETTLE = 2  # a report row that carries a settlement, not a fill
LEVELS = 10_001  # price levels per side of one market's book (0..10_000)
NS_PER_H = 3_600 * NS_PER_S
NS_PER_DAY = 86_400 * NS_PER_S
NEVER = 1 << 62
MARKOUT_S = (1, 10, 60)

# --- per (market, cell) ints: MI[m, c, k]; per-side blocks start at SIDE * s ------------------------
SIDE = 14
O_PX, O_REM, O_ACC, F_T, F_PX, F_N, Q_V, Q_PX, Q_N, T_PX, T_N, H_PX, H_N, F_AMEND = range(SIDE)
(MI_POS, MI_CASH, MI_FEES, MI_COST, MI_REALIZED, MI_FILLS, MI_VOL_BUY, MI_VOL_SELL, MI_PLACED, MI_REJECTED,
 MI_MAX_ABS, MI_UPTIME, MI_KPOS, MI_DIRTY, MI_LAST_OK, MI_SNAP_EXPO, MI_SNAP_VALUE, MI_SNAP_STATE,
 MI_SNAP_DAY_END, MI_DEC_GUARD, MI_LQ_BP, MI_LQ_BN, MI_LQ_AP, MI_LQ_AN) = range(2 * SIDE, 2 * SIDE + 24)
MI_N = 2 * SIDE + 24  # MI_LQ_*: the quote (after the hold) the cell's last decision sent to risk
# --- per (market, cell) floats: MF[m, c, k] ----------------------------------------------------------
(MF_QA0, MF_QA1, MF_SPREAD, MF_MK0, MF_MK1, MF_MK2, MF_INV_TW, MF_INV_ABS_TW, MF_EQ, MF_PEAK, MF_MDD) = range(11)
MF_N = 11
# --- per market ints: MK[m, k] -----------------------------------------------------------------------
(MK_BB, MK_BA, MK_MID2, MK_HAD2, MK_NEXT_DEC, MK_CLOSED, MK_NEXT_LAND, MK_LO0, MK_HI0, MK_LO1, MK_HI1,
 MK_FIRST_TS, MK_LAST_INV_T, MK_UP_SINCE, MK_EST_LAST_TS, MK_EST_N, MK_BOOK_BASE, MK_CLOSE_TS, MK_RESULT_PX,
 MK_GRID, MK_FEE_NUM, MK_FEE_DEN, MK_SETTLE_PX, MK_END_TS, MK_DEC_BB, MK_DEC_BA, MK_DEC_MID2) = range(27)
MK_N = 27
# --- per market floats: MKF[m, k] ---------------------------------------------------------------------
# MKF_REDUCE_H / MKF_STOP_H: the series' close rules (hours), NaN = the cell's reduce_before_h / stop_before_h
MKF_EST_NUM, MKF_EST_DEN, MKF_EST_LAST_X, MKF_SIGMA, MKF_DEC_SIGMA, MKF_DEC_TAU, MKF_REDUCE_H, MKF_STOP_H = range(8)
MKF_N = 8
# --- per cell floats: CF[c, k] ------------------------------------------------------------------------
CF_EQ, CF_PEAK, CF_MDD = range(3)
CF_N = 3
# --- global ints: G[k] (ring heads/tails count up forever; index = counter % capacity) ------------------
(G_REP_HEAD, G_REP_TAIL, G_MKR_HEAD0, G_MKR_HEAD1, G_MKR_HEAD2, G_MKR_TAIL, G_FR_N, G_INV_N, G_DAY, G_NEXT_SAMPLE,
 G_SAMPLE_N, G_LAST_TS, G_NEXT_CLOSE, G_WAKE_AT) = range(14)
G_N = 14
# --- config: KI (int64) and KF (float64) --------------------------------------------------------------
(KI_POLICY, KI_FILL_MODEL, KI_CANCEL_MODEL, KI_PLACE_LAT, KI_CANCEL_LAT, KI_INTERVAL, KI_REPORT_LAT, KI_RISK,
 KI_DENIAL_KEEPS, KI_DECREASE_KEEPS, KI_TO_MODEL, KI_TO_AHEAD, KI_LOGIT, KI_POST_ONLY, KI_COUNT_STEP,
 KI_HOLD_TOL, KI_SIGMA_KIND, KI_RECORD_FILLS, KI_RECORD_INV, KI_DAY_OFFSET, KI_FIRST_DAY,
 KI_N_DAYS, KI_SAMPLE_STEP, KI_N_SAMPLES, KI_WAKE_DELAY, KI_GUARD_TOXIC, KI_GUARD_FLOW, KI_MIN_MARKOUT) = range(28)
KI_N = 28
# KF_EST_*: the σ estimator's decay (per hour), prior variance and prior weight (EWMA: hours; two-scale:
# (K − 1) × hours); KF_TAU_FAR: τ (hours) beyond which no cell's quote depends on τ
KF_POWER, KF_HOLD_SIZE_TOL, KF_SIGMA_C, KF_EST_BETA, KF_EST_PRIOR_VAR, KF_EST_PRIOR_W, KF_TAU_FAR = range(7)
KF_N = 7
POLICY_AS, POLICY_STATIC = 0, 1
FILL_THROUGH, FILL_QUEUE = 0, 1
CANCEL_NONE, CANCEL_PROPORTIONAL, CANCEL_POWER = 0, 1, 2
SIGMA_FIXED, SIGMA_EWMA, SIGMA_EWMA_LOGIT, SIGMA_TSRV, SIGMA_TSRV_LOGIT = 0, 1, 2, 3, 4
# --- parameters per cell: PF[c, k] floats, PI[c, k] ints, SQ[c, 4] static quotes ------------------------
(PF_GAMMA, PF_KAPPA, PF_ETA, PF_HORIZON, PF_MIN_EDGE, PF_RO_AT, PF_LIQ, PF_JUMP, PF_REDUCE_H, PF_STOP_H,
 PF_GUARD_WIDEN, PF_GUARD_SIZE) = range(12)
PF_N = 12
PI_BASE, PI_MAX_POS = range(2)
PI_N = 2
# --- ring rows -------------------------------------------------------------------------------------
REP_N = 7  # report_ts, market, cell, side, price, count, fee (settlement: −1, SETTLE, price, yes)
MKR_N = 5  # fill ts, market, cell, signed count, price (one ring, three heads: one per horizon)
FR_N = 7  # ts, market, cell, side, price, count, fee
INV_N = 3  # ts, market, position (cell 0)
# --- return codes ----------------------------------------------------------------------------------
DONE, GROW_REP, GROW_MKR, GROW_FR, GROW_INV, GROW_GQ = 0, 1, 2, 3, 4, 5


@njit(cache=True, nogil=True)
def tau_hours(close: int, t: int) -> float:
    """``kmm.strategy.estimators.hours_to_close``: τ in whole seconds rounded up, in hours (∞: no close)."""
    if close <= 0:
        return math.inf
    return max(-((t - close) // NS_PER_S), 0) / 3600.0


@njit(cache=True, nogil=True)
def _lat(ki: np.ndarray, n: int) -> int:
    return ki[KI_PLACE_LAT] if n > 0 else ki[KI_CANCEL_LAT]


@njit(cache=True, nogil=True)
def _level(lv: np.ndarray, mk: np.ndarray, m: int, s: int, p: int) -> int:
    base = mk[m, MK_BOOK_BASE]
    if base < 0 or p <= 0 or p >= LEVELS:
        return 0
    return lv[base + s * LEVELS + p]


@njit(cache=True, nogil=True)
def _accrue(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, m: int, t: int) -> None:
    """Two-sided quote time and time-weighted inventory of every cell in market m up to t."""
    dt = t - mk[m, MK_UP_SINCE]
    n_c = mi.shape[1]
    if dt > 0:
        for c in range(n_c):
            if mi[m, c, O_REM] > 0 and mi[m, c, SIDE + O_REM] > 0:
                mi[m, c, MI_UPTIME] += dt
        mk[m, MK_UP_SINCE] = t
    dt = t - mk[m, MK_LAST_INV_T]
    if dt > 0:
        for c in range(n_c):
            pos = mi[m, c, MI_POS]
            if pos != 0:
                mf[m, c, MF_INV_TW] += pos * dt
                mf[m, c, MF_INV_ABS_TW] += abs(pos) * dt
        mk[m, MK_LAST_INV_T] = t


@njit(cache=True, nogil=True)
def _mark(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, m: int, c: int) -> None:
    """Re-mark cell c's equity in market m (at the mid, or the settlement price once settled)."""
    px2 = 2 * mk[m, MK_SETTLE_PX] if mk[m, MK_CLOSED] else mk[m, MK_MID2]
    if px2 <= 0 and not mk[m, MK_CLOSED]:
        return
    eq = mi[m, c, MI_CASH] + mi[m, c, MI_POS] * (px2 / 2.0) - mi[m, c, MI_FEES]
    cf[c, CF_EQ] += eq - mf[m, c, MF_EQ]
    mf[m, c, MF_EQ] = eq
    if eq > mf[m, c, MF_PEAK]:
        mf[m, c, MF_PEAK] = eq
    if mf[m, c, MF_PEAK] - eq > mf[m, c, MF_MDD]:
        mf[m, c, MF_MDD] = mf[m, c, MF_PEAK] - eq
    tot = cf[c, CF_EQ]
    if tot > cf[c, CF_PEAK]:
        cf[c, CF_PEAK] = tot
    if cf[c, CF_PEAK] - tot > cf[c, CF_MDD]:
        cf[c, CF_MDD] = cf[c, CF_PEAK] - tot


@njit(cache=True, nogil=True)
def _mark_all(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray) -> None:
    for m in range(mi.shape[0]):
        for c in range(mi.shape[1]):
            _mark(mi, mf, mk, cf, m, c)


@njit(cache=True, nogil=True)
def _bounds(mi: np.ndarray, mk: np.ndarray, m: int) -> None:
    """Price range of our live orders in market m per side (a filter for the per-event scans)."""
    for s in range(2):
        lo = LEVELS
        hi = -1
        for c in range(mi.shape[1]):
            if mi[m, c, SIDE * s + O_REM] > 0:
                p = mi[m, c, SIDE * s + O_PX]
                lo = min(lo, p)
                hi = max(hi, p)
        mk[m, MK_LO0 + 2 * s] = lo
        mk[m, MK_HI0 + 2 * s] = hi


@njit(cache=True, nogil=True)
def _deliver(mi: np.ndarray, mk: np.ndarray, m: int, c: int, s: int, p: int, n: int, fee: int, ki: np.ndarray,
             rc: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, now: int, gs: tuple) -> None:
    """A report reaches the quoter and risk: a fill (the known position moves, risk books it) or, with
    ``s == SETTLE``, market m's settlement at ``p`` per YES contract (``n`` = 1 when it settled YES) for
    every cell. Both travel the same ordered channel, so risk books every fill before the payout."""
    if s == SETTLE:
        if ki[KI_RISK]:
            for cc in range(mi.shape[1]):
                R.settle(rc, rm, li, lf, cc, m, n == 1, rm[m, cc, R.RM_POS] * p, now)
                _halt_cancels(mi, mk, ki, rc, rm, cc, now)
        return
    mi[m, c, MI_KPOS] += n if s == BID else -n
    mi[m, c, MI_DIRTY] = 1
    if ki[KI_GUARD_TOXIC] and math.isfinite(gs[4][c, S.GP_TOXIC]):  # the guard scores its markout later
        S.guard_fill(gs[2], gs[3], gs[5], gs[6], m, c, s, now, p)
    if ki[KI_RISK]:
        R.on_fill(rc, rm, li, lf, c, m, s == BID, p, n, fee, now)
        _halt_cancels(mi, mk, ki, rc, rm, c, now)


@njit(cache=True, nogil=True)
def _send(mi: np.ndarray, mk: np.ndarray, ki: np.ndarray, m: int, c: int, s: int, px: int, n: int, t: int) -> None:
    """The gateway's job for one side: make the order (px, n); one request in flight at a time."""
    b = SIDE * s
    if n <= 0:
        px, n = 0, 0
    if mi[m, c, b + F_T] > 0:
        if px == mi[m, c, b + T_PX] and n == mi[m, c, b + T_N]:
            return
        if px == mi[m, c, b + F_PX] and n == mi[m, c, b + F_N]:
            mi[m, c, b + Q_V] = 0
        else:
            mi[m, c, b + Q_V] = 1
            mi[m, c, b + Q_PX] = px
            mi[m, c, b + Q_N] = n
        mi[m, c, b + T_PX] = px
        mi[m, c, b + T_N] = n
        return
    rem = mi[m, c, b + O_REM]
    cur_px = mi[m, c, b + O_PX] if rem > 0 else 0
    mi[m, c, b + T_PX] = px
    mi[m, c, b + T_N] = n
    if px == cur_px and n == rem:
        return
    ft = t + _lat(ki, n)
    mi[m, c, b + F_T] = ft
    mi[m, c, b + F_PX] = px
    mi[m, c, b + F_N] = n
    mi[m, c, b + F_AMEND] = 1 if rem > 0 else 0
    if ft < mk[m, MK_NEXT_LAND]:
        mk[m, MK_NEXT_LAND] = ft


@njit(cache=True, nogil=True)
def _halt_cancels(mi: np.ndarray, mk: np.ndarray, ki: np.ndarray, rc: np.ndarray, rm: np.ndarray, c: int,
                  t: int) -> None:
    """Entering HALTED carries cancel-all (as live: the gateway cancels every order of the account), and
    the cell's approvals can rest nothing more (live: the gateway reports them expired)."""
    if rc[c, R.RC_NHALT] == rc[c, R.RC_HALT_HANDLED]:
        return
    rc[c, R.RC_HALT_HANDLED] = rc[c, R.RC_NHALT]
    for m in range(mi.shape[0]):
        if mk[m, MK_CLOSED]:
            continue
        for s in range(2):
            mi[m, c, SIDE * s + H_PX] = 0
            mi[m, c, SIDE * s + H_N] = 0
            _send(mi, mk, ki, m, c, s, 0, 0, t)
        mi[m, c, MI_DIRTY] = 1
        R.expire(rc, rm, m, c)


@njit(cache=True, nogil=True)
def _land(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, lv: np.ndarray, ki: np.ndarray, rc: np.ndarray,
          rm: np.ndarray, m: int, t: int) -> None:
    """Apply every request of market m that reached the exchange by t (post-only checked against the
    replayed book as it stands)."""
    _accrue(mi, mf, mk, m, t)
    nxt = NEVER
    trade_only = mk[m, MK_BOOK_BASE] < 0
    for c in range(mi.shape[1]):
        for s in range(2):
            b = SIDE * s
            while 0 < mi[m, c, b + F_T] <= t:
                ft = mi[m, c, b + F_T]
                px = mi[m, c, b + F_PX]
                n = mi[m, c, b + F_N]
                rem = mi[m, c, b + O_REM]
                crosses = (px >= mk[m, MK_BA]) if s == BID else (px <= mk[m, MK_BB])
                if n == 0:
                    mi[m, c, b + O_REM] = 0
                    mi[m, c, b + O_ACC] = 0
                elif rem == 0 and mi[m, c, b + F_AMEND]:
                    mi[m, c, MI_DIRTY] = 1  # an amend of an order that filled meanwhile: it is gone
                elif rem > 0:
                    keep = px == mi[m, c, b + O_PX] and n <= rem and ki[KI_DECREASE_KEEPS] != 0
                    if not keep and crosses:
                        # Kalshi cancels a post-only order whose amend would cross (kalshi-api.md §12)
                        mi[m, c, MI_REJECTED] += 1
                        mi[m, c, MI_DIRTY] = 1
                        mi[m, c, b + O_REM] = 0
                        mi[m, c, b + O_ACC] = 0
                        if ki[KI_RISK]:
                            R.on_cancel(rc, rm, m, c, s == BID, n)
                    else:
                        if not keep:
                            mf[m, c, MF_QA0 + s] = (ki[KI_TO_AHEAD] if trade_only else _level(lv, mk, m, s, px))
                            mi[m, c, MI_PLACED] += 1
                        mi[m, c, b + O_PX] = px
                        mi[m, c, b + O_REM] = n
                elif crosses:
                    mi[m, c, MI_REJECTED] += 1
                    mi[m, c, MI_DIRTY] = 1
                    if ki[KI_RISK]:
                        R.on_cancel(rc, rm, m, c, s == BID, n)
                else:
                    mi[m, c, b + O_PX] = px
                    mi[m, c, b + O_REM] = n
                    mi[m, c, b + O_ACC] = 0
                    mf[m, c, MF_QA0 + s] = (ki[KI_TO_AHEAD] if trade_only else _level(lv, mk, m, s, px))
                    mi[m, c, MI_PLACED] += 1
                mi[m, c, b + F_T] = 0
                if mi[m, c, b + Q_V]:
                    mi[m, c, b + Q_V] = 0
                    qn = mi[m, c, b + Q_N]
                    mi[m, c, b + F_T] = ft + _lat(ki, qn)
                    mi[m, c, b + F_PX] = mi[m, c, b + Q_PX]
                    mi[m, c, b + F_N] = qn
                    mi[m, c, b + F_AMEND] = 1 if mi[m, c, b + O_REM] > 0 else 0
            if mi[m, c, b + F_T] > 0 and mi[m, c, b + F_T] < nxt:
                nxt = mi[m, c, b + F_T]
    mk[m, MK_NEXT_LAND] = nxt
    _bounds(mi, mk, m)


@njit(cache=True, nogil=True)
def _fill(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, ki: np.ndarray, m: int, c: int, s: int,
          f: int, t: int, mid2: int, rep: np.ndarray, g: np.ndarray, mkr: np.ndarray, fr: np.ndarray) -> None:
    """Fill ``f`` of cell c's order on side s at its price: ledger, fee, markouts, report, record."""
    b = SIDE * s
    p = mi[m, c, b + O_PX]
    mi[m, c, b + O_REM] -= f
    mi[m, c, MI_DIRTY] = 1
    pos = mi[m, c, MI_POS]
    bid = s == BID
    rev = trade_revenue(pos, bid, p, f)
    fee, acc = fill_fee(rev, trade_fee(mk[m, MK_FEE_NUM], mk[m, MK_FEE_DEN], p, f), mi[m, c, b + O_ACC], CENT_MONEY)
    mi[m, c, b + O_ACC] = acc if mi[m, c, b + O_REM] > 0 else 0
    signed = f if bid else -f
    cost = mi[m, c, MI_COST]
    if pos != 0 and (pos > 0) != (signed > 0):
        k = min(f, abs(pos))
        rel = cost * k // abs(pos)
        sg = 1 if signed > 0 else -1
        mi[m, c, MI_REALIZED] += -sg * k * p - rel
        cost = cost - rel + (signed - sg * k) * p
    else:
        cost = cost + signed * p
    mi[m, c, MI_COST] = cost
    mi[m, c, MI_POS] = pos + signed
    mi[m, c, MI_CASH] -= signed * p
    mi[m, c, MI_FEES] += fee
    mi[m, c, MI_FILLS] += 1
    if bid:
        mi[m, c, MI_VOL_BUY] += f
    else:
        mi[m, c, MI_VOL_SELL] += f
    if abs(pos + signed) > mi[m, c, MI_MAX_ABS]:
        mi[m, c, MI_MAX_ABS] = abs(pos + signed)
    if mid2 != 0:
        edge = (mid2 - 2 * p) if bid else (2 * p - mid2)
        mf[m, c, MF_SPREAD] += edge * f / 2.0
    cap = mkr.shape[0]
    j = g[G_MKR_TAIL] % cap
    mkr[j, 0] = t
    mkr[j, 1] = m
    mkr[j, 2] = c
    mkr[j, 3] = signed
    mkr[j, 4] = p
    g[G_MKR_TAIL] += 1
    cap = rep.shape[0]  # reported report_latency later (0: after this event's fills, before its decision)
    j = g[G_REP_TAIL] % cap
    rep[j, 0] = t + ki[KI_REPORT_LAT]
    rep[j, 1], rep[j, 2], rep[j, 3], rep[j, 4], rep[j, 5], rep[j, 6] = m, c, s, p, f, fee
    g[G_REP_TAIL] += 1
    if ki[KI_RECORD_FILLS]:
        j = g[G_FR_N]
        fr[j, 0], fr[j, 1], fr[j, 2], fr[j, 3], fr[j, 4], fr[j, 5], fr[j, 6] = t, m, c, s, p, f, fee
        g[G_FR_N] += 1
    _mark(mi, mf, mk, cf, m, c)


@njit(cache=True, nogil=True)
def _apply_fills(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, ki: np.ndarray, m: int, s: int,
                 qty: np.ndarray, t: int, mid2: int, rep: np.ndarray, g: np.ndarray, mkr: np.ndarray,
                 fr: np.ndarray) -> None:
    any_fill = False
    for c in range(mi.shape[1]):
        if qty[c] > 0:
            any_fill = True
            break
    if not any_fill:
        return
    _accrue(mi, mf, mk, m, t)
    for c in range(mi.shape[1]):
        if qty[c] > 0:
            _fill(mi, mf, mk, cf, ki, m, c, s, qty[c], t, mid2, rep, g, mkr, fr)


@njit(cache=True, nogil=True)
def _set_level(lv: np.ndarray, mk: np.ndarray, m: int, s: int, p: int, q: int) -> None:
    base = mk[m, MK_BOOK_BASE] + s * LEVELS
    lv[base + p] = q
    if s == BID:
        bb = mk[m, MK_BB]
        if q > 0:
            if p > bb:
                mk[m, MK_BB] = p
        elif p == bb:
            k = p - 1
            while k > 0 and lv[base + k] == 0:
                k -= 1
            mk[m, MK_BB] = k if k > 0 else 0
    else:
        ba = mk[m, MK_BA]
        if q > 0:
            if p < ba:
                mk[m, MK_BA] = p
        elif p == ba:
            k = p + 1
            while k < LEVELS - 1 and lv[base + k] == 0:
                k += 1
            mk[m, MK_BA] = k if k < LEVELS - 1 else LEVELS - 1


@njit(cache=True, nogil=True)
def _close(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, ki: np.ndarray, rc: np.ndarray,
           rm: np.ndarray, li: np.ndarray, lf: np.ndarray, rep: np.ndarray, g: np.ndarray, m: int, t: int,
           direct: bool, gs: tuple) -> None:
    """Market m closes at t: quotes withdrawn, settled at $1/$0 (or the last mid when the result is
    unknown). Risk learns the settlement ``report_latency`` later, after the fills reported before it
    (``direct``: now, when no report is pending); it books the payout and releases the market."""
    _accrue(mi, mf, mk, m, t)
    mk[m, MK_CLOSED] = 1
    rp = mk[m, MK_RESULT_PX]
    mk[m, MK_SETTLE_PX] = rp if rp >= 0 else mk[m, MK_MID2] // 2
    for c in range(mi.shape[1]):
        for s in range(2):
            b = SIDE * s
            for k in range(SIDE):
                if k != H_PX and k != H_N:
                    mi[m, c, b + k] = 0
        _mark(mi, mf, mk, cf, m, c)
    yes = 1 if rp == PRICE_SCALE else 0
    if ki[KI_RISK]:
        if direct:  # after the last event: risk's clock is past every report it was given
            _deliver(mi, mk, m, -1, SETTLE, mk[m, MK_SETTLE_PX], yes, 0, ki, rc, rm, li, lf, max(t, g[G_LAST_TS]),
                     gs)
        else:
            j = g[G_REP_TAIL] % rep.shape[0]
            rep[j, 0] = t + ki[KI_REPORT_LAT]
            rep[j, 1], rep[j, 2], rep[j, 3], rep[j, 4], rep[j, 5], rep[j, 6] = m, -1, SETTLE, mk[m, MK_SETTLE_PX], yes, 0
            g[G_REP_TAIL] += 1
    mk[m, MK_NEXT_LAND] = NEVER
    mk[m, MK_END_TS] = t
    gs[3][m, 0] = gs[3][m, 1]  # the market's guard is gone: its pending markouts with it
    _bounds(mi, mk, m)


@njit(cache=True, nogil=True)
def _sigma_update(mk: np.ndarray, mkf: np.ndarray, ki: np.ndarray, kf: np.ndarray, m: int, t: int,
                  tsr: tuple) -> None:
    """The market's σ estimator takes its mid: ``kmm.strategy.estimators.EwmaVolatility.update`` or, for
    the two-scale σ, ``TwoScaleVolatility.update`` (:mod:`kmm.backtest.ksignals`)."""
    price = mk[m, MK_MID2] / 2.0
    kind = ki[KI_SIGMA_KIND]
    if kind == SIGMA_EWMA_LOGIT or kind == SIGMA_TSRV_LOGIT:
        p = min(max(price, 1.0), 9999.0)
        x = 25.0 * math.log(p / (10_000.0 - p))
    else:
        x = price / 100.0
    if kind == SIGMA_TSRV or kind == SIGMA_TSRV_LOGIT:
        if S.tsrv_update(tsr[0], tsr[1], tsr[2], tsr[3], m, kf[KF_EST_BETA], t, x):
            mkf[m, MKF_SIGMA] = S.tsrv_sigma(tsr[1], m, kf[KF_EST_PRIOR_VAR], kf[KF_EST_PRIOR_W])
        return
    last = mk[m, MK_EST_LAST_TS]
    if last >= 0:
        dt_h = max(t - last, 0) / NS_PER_H
        decay = math.exp(-kf[KF_EST_BETA] * dt_h)
        dx = x - mkf[m, MKF_EST_LAST_X]
        mkf[m, MKF_EST_NUM] = mkf[m, MKF_EST_NUM] * decay + dx * dx
        mkf[m, MKF_EST_DEN] = mkf[m, MKF_EST_DEN] * decay + dt_h
        mk[m, MK_EST_N] += 1
    if last < 0 or t >= last:
        mk[m, MK_EST_LAST_TS] = t
    mkf[m, MKF_EST_LAST_X] = x
    ph = kf[KF_EST_PRIOR_W]
    mkf[m, MKF_SIGMA] = math.sqrt((mkf[m, MKF_EST_NUM] + kf[KF_EST_PRIOR_VAR] * ph) / (mkf[m, MKF_EST_DEN] + ph))


@njit(cache=True, nogil=True)
def _decide(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, mkf: np.ndarray, cf: np.ndarray, ki: np.ndarray,
            kf: np.ndarray, pf: np.ndarray, pi: np.ndarray, sq: np.ndarray, floor_t: np.ndarray,
            ceil_t: np.ndarray, rc: np.ndarray, rcf: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray,
            inv: np.ndarray, g: np.ndarray, m: int, t: int, gs: tuple) -> None:
    """One decision for every cell in market m at one of its events: guard → quote → risk → the gateway."""
    bb, ba, mid2 = mk[m, MK_BB], mk[m, MK_BA], mk[m, MK_MID2]
    close = mk[m, MK_CLOSE_TS]
    tau_h = tau_hours(close, t)
    sigma = mkf[m, MKF_SIGMA] if ki[KI_SIGMA_KIND] != SIGMA_FIXED else kf[KF_SIGMA_C]
    risk = ki[KI_RISK] != 0
    if ki[KI_RECORD_INV]:
        j = g[G_INV_N]
        inv[j, 0], inv[j, 1], inv[j, 2] = t, m, mi[m, 0, MI_POS]
        g[G_INV_N] += 1
    # every cell's guard sees this decision (as the live quoter updates it at each requote), skipped or not
    guard_on = ki[KI_GUARD_TOXIC] != 0 or ki[KI_GUARD_FLOW] != 0
    if guard_on:
        S.guard_update(gs[0], gs[1], gs[2], gs[3], gs[4], gs[5], m, -1, t, mid2 / 2.0 if mid2 != 0 else math.nan,
                       ki[KI_MIN_MARKOUT])
    # Nothing this market's quote depends on moved since its last decision: a cell whose own state did
    # not move either (no fill, report, reject or wake-up; the same guard flags; risk's exposure, value,
    # state and day unchanged; its last decision approved without changing the permit) would decide
    # exactly the same: skip it.
    far = kf[KF_TAU_FAR]
    prev_tau = mkf[m, MKF_DEC_TAU]
    same = (bb == mk[m, MK_DEC_BB] and ba == mk[m, MK_DEC_BA] and mid2 == mk[m, MK_DEC_MID2]
            and sigma == mkf[m, MKF_DEC_SIGMA])
    tau_same = tau_h == prev_tau or (tau_h >= far and prev_tau >= far)
    mk[m, MK_DEC_BB], mk[m, MK_DEC_BA], mk[m, MK_DEC_MID2] = bb, ba, mid2
    mkf[m, MKF_DEC_SIGMA], mkf[m, MKF_DEC_TAU] = sigma, tau_h
    for c in range(mi.shape[1]):
        if (same and mi[m, c, MI_LAST_OK] and not mi[m, c, MI_DIRTY]
                and (not guard_on or gs[0][m, c, S.GI_FLAGS] == mi[m, c, MI_DEC_GUARD])
                and (not risk or (mi[m, c, MI_SNAP_EXPO] == rc[c, R.RC_EXPO]
                                  and mi[m, c, MI_SNAP_VALUE] == rc[c, R.RC_CASH] + rc[c, R.RC_POSMARK]
                                  and mi[m, c, MI_SNAP_STATE] == rc[c, R.RC_STATE] + 8 * rc[c, R.RC_LATCH]
                                  and t < mi[m, c, MI_SNAP_DAY_END] and t >= rc[c, R.RC_DAY_BEGIN]))):
            if tau_same or (mid2 != 0 and _tau_irrelevant(pf, mkf, ki, m, c, mid2, sigma, tau_h, prev_tau)):
                continue
            # only τ moved: the quote may still come out the same (the hold included, which is idempotent
            # on an unchanged model quote); then risk and the gateway would see exactly what they saw
            bp, bn, ap, an = _model_quote(mi, mk, mkf, ki, kf, pf, pi, sq, floor_t, ceil_t, m, c, sigma, tau_h,
                                          mi[m, c, MI_DEC_GUARD])
            if (bp == mi[m, c, MI_LQ_BP] and bn == mi[m, c, MI_LQ_BN] and ap == mi[m, c, MI_LQ_AP]
                    and an == mi[m, c, MI_LQ_AN]):
                continue
            _decide_cell(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, g, m, c, t,
                         sigma, tau_h, gs, False, True, bp, bn, ap, an)
            continue
        _decide_cell(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, g, m, c, t,
                     sigma, tau_h, gs, False, False, 0, 0, 0, 0)


@njit(cache=True, nogil=True)
def _tau_irrelevant(pf: np.ndarray, mkf: np.ndarray, ki: np.ndarray, m: int, c: int, mid2: int, sigma: float,
                    tau: float, prev: float) -> bool:
    """Cell c would quote the same at τ = ``tau`` as at ``prev`` (all else equal): the close rules hold or
    not at both, and the variance is the same (no jump floor, both inside one horizon, or the floor below
    the diffusion at both) — the quoting core's arithmetic on the two τ, without the rest of it."""
    red = mkf[m, MKF_REDUCE_H]
    stop = mkf[m, MKF_STOP_H]
    red = pf[c, PF_REDUCE_H] if red != red else red
    stop = pf[c, PF_STOP_H] if stop != stop else stop
    t0 = max(tau, 0.0)
    t1 = max(prev, 0.0)
    if (t0 < red) != (t1 < red) or (t0 < stop) != (t1 < stop):
        return False
    j = pf[c, PF_JUMP]
    h = pf[c, PF_HORIZON]
    if j == 0.0 or (t0 <= h and t1 <= h):
        return True
    s_c = min(max(mid2 / 2.0, 1.0), 9_999.0) / 100.0
    pp = s_c * (100.0 - s_c)
    sq = sigma * sigma
    var_raw = 0.0 if sq == 0.0 else sq * h
    r0 = 1.0 if t0 <= h else h / t0
    r1 = 1.0 if t1 <= h else h / t1
    if ki[KI_LOGIT]:
        return j * r0 * LOGIT_SLOPE2 / pp <= var_raw and j * r1 * LOGIT_SLOPE2 / pp <= var_raw
    var_d = min(var_raw, pp)
    return j * pp * r0 <= var_d and j * pp * r1 <= var_d


@njit(cache=True, nogil=True)
def _model_quote(mi: np.ndarray, mk: np.ndarray, mkf: np.ndarray, ki: np.ndarray, kf: np.ndarray, pf: np.ndarray,
                 pi: np.ndarray, sq: np.ndarray, floor_t: np.ndarray, ceil_t: np.ndarray, m: int, c: int,
                 sigma: float, tau_h: float, flags: int) -> tuple[int, int, int, int]:
    """Cell c's target quote in market m (the quoting core, or the static quotes) after the requote hold,
    whose state it updates; a side with no size is (0, 0)."""
    bb, ba, mid2 = mk[m, MK_BB], mk[m, MK_BA], mk[m, MK_MID2]
    hold = ki[KI_HOLD_TOL]
    if ki[KI_POLICY] == POLICY_STATIC:
        bp, bn, ap, an = sq[c, 0], sq[c, 1], sq[c, 2], sq[c, 3]
    elif mid2 == 0:
        bp, bn, ap, an = 0, 0, 0, 0
    else:
        red_h = mkf[m, MKF_REDUCE_H]
        stop_h = mkf[m, MKF_STOP_H]
        bp, bn, ap, an, _mask, _r, _sp = quote_core(
            mid2 / 2.0, bb, ba, mi[m, c, MI_KPOS], sigma, tau_h, mk[m, MK_FEE_NUM] / mk[m, MK_FEE_DEN],
            1.0 if flags & 1 else 0.0, 1.0 if flags & 2 else 0.0, pf[c, PF_GAMMA], pf[c, PF_ETA], pi[c, PI_BASE],
            pi[c, PI_MAX_POS], pf[c, PF_HORIZON], pf[c, PF_MIN_EDGE], pf[c, PF_RO_AT], pf[c, PF_JUMP],
            pf[c, PF_REDUCE_H] if red_h != red_h else red_h, pf[c, PF_STOP_H] if stop_h != stop_h else stop_h,
            pf[c, PF_GUARD_WIDEN], pf[c, PF_GUARD_SIZE], pf[c, PF_LIQ], floor_t, ceil_t, ki[KI_LOGIT] != 0,
            ki[KI_POST_ONLY] != 0, ki[KI_COUNT_STEP])
    if hold != 0:
        bp, bn = hold_side1(mi[m, c, H_PX], mi[m, c, H_N], bp, bn, hold, kf[KF_HOLD_SIZE_TOL], True)
        ap, an = hold_side1(mi[m, c, SIDE + H_PX], mi[m, c, SIDE + H_N], ap, an, hold, kf[KF_HOLD_SIZE_TOL], False)
        mi[m, c, H_PX], mi[m, c, H_N] = bp, bn
        mi[m, c, SIDE + H_PX], mi[m, c, SIDE + H_N] = ap, an
    if bn <= 0:
        bp, bn = 0, 0
    if an <= 0:
        ap, an = 0, 0
    return bp, bn, ap, an


@njit(cache=True, nogil=True)
def _decide_cell(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, mkf: np.ndarray, cf: np.ndarray, ki: np.ndarray,
                 kf: np.ndarray, pf: np.ndarray, pi: np.ndarray, sq: np.ndarray, floor_t: np.ndarray,
                 ceil_t: np.ndarray, rc: np.ndarray, rcf: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray,
                 g: np.ndarray, m: int, c: int, t: int, sigma: float, tau_h: float, gs: tuple,
                 update_guard: bool, quoted: bool, bp: int, bn: int, ap: int, an: int) -> None:
    """Cell c's decision in market m at t: quote (or static quotes) → risk → the gateway. ``update_guard``:
    this is the cell's own requote (a fill report, a wake-up), so its guard sees it first. ``quoted``:
    (bp, bn, ap, an) is the quote :func:`_model_quote` already made for this decision."""
    bb, ba, mid2 = mk[m, MK_BB], mk[m, MK_BA], mk[m, MK_MID2]
    mi[m, c, MI_DIRTY] = 0
    mi[m, c, MI_LAST_OK] = 1
    _mark(mi, mf, mk, cf, m, c)
    if not quoted:
        flags = 0
        if ki[KI_GUARD_TOXIC] != 0 or ki[KI_GUARD_FLOW] != 0:
            if update_guard:
                S.guard_update(gs[0], gs[1], gs[2], gs[3], gs[4], gs[5], m, c, t,
                               mid2 / 2.0 if mid2 != 0 else math.nan, ki[KI_MIN_MARKOUT])
            flags = gs[0][m, c, S.GI_FLAGS]
        mi[m, c, MI_DEC_GUARD] = flags
        bp, bn, ap, an = _model_quote(mi, mk, mkf, ki, kf, pf, pi, sq, floor_t, ceil_t, m, c, sigma, tau_h, flags)
    mi[m, c, MI_LQ_BP], mi[m, c, MI_LQ_BN], mi[m, c, MI_LQ_AP], mi[m, c, MI_LQ_AN] = bp, bn, ap, an
    if ki[KI_RISK]:
        R.on_book(rc, rm, li, lf, c, m, bb, ba, t, False)
        if mk[m, MK_BOOK_BASE] < 0 and mid2 > 0:  # trade-only: the last print is the mid
            R.on_mark(rc, rm, c, m, mid2 // 2)
        ok, bp, bn, ap, an, _code, changed, limited = R.check(rc, rcf, rm, li, lf, c, m, t, bp, bn, ap, an, bb, ba,
                                                              sigma, mk[m, MK_CLOSE_TS], floor_t)
        mi[m, c, MI_LAST_OK] = 1 if (ok and not changed and not limited) else 0
        mi[m, c, MI_SNAP_EXPO] = rc[c, R.RC_EXPO]
        mi[m, c, MI_SNAP_VALUE] = rc[c, R.RC_CASH] + rc[c, R.RC_POSMARK]
        mi[m, c, MI_SNAP_STATE] = rc[c, R.RC_STATE] + 8 * rc[c, R.RC_LATCH]
        mi[m, c, MI_SNAP_DAY_END] = rc[c, R.RC_DAY_END]
        if rc[c, R.RC_NRESET] != rc[c, R.RC_RESET_HANDLED]:
            _schedule_wake(rc, g, ki, c, t)
        if rc[c, R.RC_NHALT] != rc[c, R.RC_HALT_HANDLED]:
            _halt_cancels(mi, mk, ki, rc, rm, c, t)
            return
        if not ok:
            if ki[KI_DENIAL_KEEPS]:
                return
            bp, bn, ap, an = 0, 0, 0, 0
    _send(mi, mk, ki, m, c, BID, bp, bn, t)
    _send(mi, mk, ki, m, c, ASK, ap, an, t)


@njit(cache=True, nogil=True)
def _reports(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, mkf: np.ndarray, cf: np.ndarray, ki: np.ndarray,
             kf: np.ndarray, pf: np.ndarray, pi: np.ndarray, sq: np.ndarray, floor_t: np.ndarray,
             ceil_t: np.ndarray, rc: np.ndarray, rcf: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray,
             rep: np.ndarray, g: np.ndarray, t: int, gs: tuple) -> None:
    """Deliver every report due by t, in order. A fill makes its cell quote its market again at once,
    as the live quoter requotes on every fill (not only at the market's next event, which on a quiet
    market may be the print our refreshed quote would have met)."""
    cap = rep.shape[0]
    risk = ki[KI_RISK] != 0
    while g[G_REP_HEAD] < g[G_REP_TAIL] and rep[g[G_REP_HEAD] % cap, 0] <= t:
        j = g[G_REP_HEAD] % cap
        rt, m, c, s = rep[j, 0], rep[j, 1], rep[j, 2], rep[j, 3]
        if g[G_WAKE_AT] <= rt:  # inputs reach risk in time order
            _wake(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, g, rt, gs)
        _deliver(mi, mk, m, c, s, rep[j, 4], rep[j, 5], rep[j, 6], ki, rc, rm, li, lf, rt, gs)
        g[G_REP_HEAD] += 1
        if s == SETTLE:
            if risk:
                for cc in range(mi.shape[1]):
                    if rc[cc, R.RC_NRESET] != rc[cc, R.RC_RESET_HANDLED]:
                        _schedule_wake(rc, g, ki, cc, rt)
            continue
        if risk and rc[c, R.RC_NRESET] != rc[c, R.RC_RESET_HANDLED]:
            _schedule_wake(rc, g, ki, c, rt)
        if not mk[m, MK_CLOSED]:
            close = mk[m, MK_CLOSE_TS]
            tau_h = tau_hours(close, rt)
            sigma = mkf[m, MKF_SIGMA] if ki[KI_SIGMA_KIND] != SIGMA_FIXED else kf[KF_SIGMA_C]
            gi = mk[m, MK_GRID]
            _decide_cell(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t[gi], ceil_t[gi], rc, rcf, rm, li, lf, g, m,
                         c, rt, sigma, tau_h, gs, True, False, 0, 0, 0, 0)
            mi[m, c, MI_DIRTY] = 1
    if g[G_WAKE_AT] <= t:
        _wake(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, g, t, gs)


@njit(cache=True, nogil=True)
def _schedule_wake(rc: np.ndarray, g: np.ndarray, ki: np.ndarray, c: int, t: int) -> None:
    """Cell c's risk engine left HALTED at t: the halt cancelled its orders, so it quotes every open
    market again ``KI_WAKE_DELAY`` later (the live quoter's refresh re-sends every intent within its
    period). Other state changes (REDUCING ↔ ACTIVE) reach a market's quotes at its next decision: a
    wake-up for each would cost a decision per market every refresh while the state flaps."""
    rc[c, R.RC_RESET_HANDLED] = rc[c, R.RC_NRESET]
    if rc[c, R.RC_STATE] == R.HALTED or rc[c, R.RC_WAKE_AT] != 0:
        return
    rc[c, R.RC_WAKE_AT] = t + ki[KI_WAKE_DELAY]
    if rc[c, R.RC_WAKE_AT] < g[G_WAKE_AT]:
        g[G_WAKE_AT] = rc[c, R.RC_WAKE_AT]


@njit(cache=True, nogil=True)
def _day_start(rc: np.ndarray, li: np.ndarray, lf: np.ndarray, g: np.ndarray, ki: np.ndarray, m: int,
               t_day: int) -> None:
    """Every cell's risk engine is evaluated at the start of a trading day (the operator's resume first):
    the day's loss baseline is set and a halt the day clears ends now, not at the day's first event."""
    for c in range(rc.shape[0]):
        R.operator(rc, li, lf, c, t_day, m)
        R.evaluate(rc, li, lf, c, t_day, m)
        if rc[c, R.RC_NRESET] != rc[c, R.RC_RESET_HANDLED]:
            _schedule_wake(rc, g, ki, c, t_day)


@njit(cache=True, nogil=True)
def _wake(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, mkf: np.ndarray, cf: np.ndarray, ki: np.ndarray,
          kf: np.ndarray, pf: np.ndarray, pi: np.ndarray, sq: np.ndarray, floor_t: np.ndarray, ceil_t: np.ndarray,
          rc: np.ndarray, rcf: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray, g: np.ndarray,
          t: int, gs: tuple) -> None:
    """Cells whose wake-up is due by t quote every open market again at their wake-up time (a quiet
    market may have no event for days, so waiting for its next event would miss the print the new
    quote could meet). A woken cell's next event decision is not skipped (the skip stays exact)."""
    for c in range(mi.shape[1]):
        w = rc[c, R.RC_WAKE_AT]
        if w == 0 or w > t:
            continue
        rc[c, R.RC_WAKE_AT] = 0
        if rc[c, R.RC_STATE] == R.HALTED:
            continue
        for m in range(mi.shape[0]):
            if mk[m, MK_CLOSED] or mk[m, MK_FIRST_TS] == 0:
                continue
            close = mk[m, MK_CLOSE_TS]
            tau_h = tau_hours(close, w)
            sigma = mkf[m, MKF_SIGMA] if ki[KI_SIGMA_KIND] != SIGMA_FIXED else kf[KF_SIGMA_C]
            gi = mk[m, MK_GRID]
            _decide_cell(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t[gi], ceil_t[gi], rc, rcf, rm, li, lf, g, m,
                         c, w, sigma, tau_h, gs, True, False, 0, 0, 0, 0)
            mi[m, c, MI_DIRTY] = 1
    nxt = NEVER
    for c in range(mi.shape[1]):
        w = rc[c, R.RC_WAKE_AT]
        if w != 0 and w < nxt:
            nxt = w
    g[G_WAKE_AT] = nxt


@njit(cache=True, nogil=True)
def _resolve_markouts(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, mkr: np.ndarray, g: np.ndarray, t: int,
                      final: bool) -> None:
    """Markouts whose horizon ended before t take their market's current mid (the mid at the horizon)."""
    cap = mkr.shape[0]
    tail = g[G_MKR_TAIL]
    for h in range(3):
        horizon = MARKOUT_S[h] * NS_PER_S
        head = g[G_MKR_HEAD0 + h]
        while head < tail:
            j = head % cap
            if not final and mkr[j, 0] + horizon >= t:
                break
            m = mkr[j, 1]
            mid2 = mk[m, MK_MID2]
            if mid2 != 0:
                mf[m, mkr[j, 2], MF_MK0 + h] += mkr[j, 3] * (mid2 - 2 * mkr[j, 4]) / 2.0
            head += 1
        g[G_MKR_HEAD0 + h] = head


@njit(cache=True, nogil=True)
def _day_roll(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, ki: np.ndarray, g: np.ndarray,
              daily: np.ndarray, day: int) -> None:
    """Close the books of every day before ``day``: equity at the end of each, per cell."""
    _mark_all(mi, mf, mk, cf)
    prev = g[G_DAY]
    for d in range(max(prev, ki[KI_FIRST_DAY]), day):
        k = d - ki[KI_FIRST_DAY]
        if 0 <= k < daily.shape[0]:
            for c in range(cf.shape[0]):
                daily[k, c] = cf[c, CF_EQ]
    g[G_DAY] = day


@njit(cache=True, nogil=True)
def run_events(ts: np.ndarray, kind: np.ndarray, side: np.ndarray, market: np.ndarray, price: np.ndarray,
               qty: np.ndarray, delta: np.ndarray, start: int, stop: int,
               mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, mkf: np.ndarray, cf: np.ndarray, g: np.ndarray,
               lv: np.ndarray, pr: np.ndarray, rep: np.ndarray, mkr: np.ndarray, fr: np.ndarray, inv: np.ndarray,
               eqs: np.ndarray, eqs_ts: np.ndarray, daily: np.ndarray, ki: np.ndarray, kf: np.ndarray,
               pf: np.ndarray, pi: np.ndarray, sq: np.ndarray, floor_t: np.ndarray, ceil_t: np.ndarray,
               rc: np.ndarray, rcf: np.ndarray, rm: np.ndarray, li: np.ndarray, lf: np.ndarray,
               scratch: np.ndarray, close_order: np.ndarray, gs: tuple, tsr: tuple) -> tuple[int, int]:
    """Process events [start, stop); returns (next index, DONE or the ring that must grow first).
    ``gs``: the guard's arrays (GI, GF, GQ, GH, GP, GPI, gmax; :mod:`kmm.backtest.ksignals`); ``tsr``: the
    two-scale σ's (TI, TF, RT, RX)."""
    ts, kind, side, market, price, qty, delta = borrow((ts, kind, side, market, price, qty, delta))
    mi, mf, mk, mkf, cf, g, lv, pr = borrow((mi, mf, mk, mkf, cf, g, lv, pr))
    rep, mkr, fr, inv, eqs, eqs_ts, daily = borrow((rep, mkr, fr, inv, eqs, eqs_ts, daily))
    ki, kf, pf, pi, sq, floor_t, ceil_t = borrow((ki, kf, pf, pi, sq, floor_t, ceil_t))
    rc, rcf, rm, li, lf, scratch, close_order = borrow((rc, rcf, rm, li, lf, scratch, close_order))
    gs, tsr = borrow(gs), borrow(tsr)
    n_c = mi.shape[1]
    queue_model = ki[KI_FILL_MODEL] == FILL_QUEUE
    to_queue = ki[KI_TO_MODEL] == FILL_QUEUE
    cancel_model = ki[KI_CANCEL_MODEL]
    power = kf[KF_POWER]
    interval = ki[KI_INTERVAL]
    for i in range(start, stop):
        # room for this event's worst case: one fill per cell
        if g[G_REP_TAIL] - g[G_REP_HEAD] + n_c > rep.shape[0]:
            return i, GROW_REP
        if g[G_MKR_TAIL] - g[G_MKR_HEAD2] + n_c > mkr.shape[0]:
            return i, GROW_MKR
        if ki[KI_RECORD_FILLS] and g[G_FR_N] + n_c > fr.shape[0]:
            return i, GROW_FR
        if ki[KI_RECORD_INV] and g[G_INV_N] + 1 > inv.shape[0]:
            return i, GROW_INV
        if ki[KI_GUARD_TOXIC] and gs[6][0] + (g[G_REP_TAIL] - g[G_REP_HEAD]) + n_c > gs[2].shape[1]:
            return i, GROW_GQ  # every fill reported before the next check may join one market's ring
        m = market[i]
        t = ts[i]
        g[G_LAST_TS] = t
        # time passes: markouts, fill reports, day roll, equity samples
        _resolve_markouts(mi, mf, mk, mkr, g, t, False)
        day = (t - ki[KI_DAY_OFFSET]) // NS_PER_DAY
        if day != g[G_DAY]:
            if ki[KI_RISK]:  # risk sees the new day begin (live: books and quote refreshes reach it all the time)
                t_day = day * NS_PER_DAY + ki[KI_DAY_OFFSET]
                _reports(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, rep, g,
                         t_day - 1, gs)
                _day_start(rc, li, lf, g, ki, m, t_day)
            _day_roll(mi, mf, mk, cf, ki, g, daily, day)
        if (g[G_REP_HEAD] < g[G_REP_TAIL] and rep[g[G_REP_HEAD] % rep.shape[0], 0] <= t) or g[G_WAKE_AT] <= t:
            _reports(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, rep, g, t, gs)
        if ki[KI_N_SAMPLES] > 0:
            while g[G_SAMPLE_N] < ki[KI_N_SAMPLES] and t >= g[G_NEXT_SAMPLE]:
                _mark_all(mi, mf, mk, cf)
                k = g[G_SAMPLE_N]
                eqs_ts[k] = g[G_NEXT_SAMPLE]
                for c in range(n_c):
                    eqs[k, c] = cf[c, CF_EQ]
                g[G_SAMPLE_N] += 1
                g[G_NEXT_SAMPLE] += ki[KI_SAMPLE_STEP]
        # every market closes at its close time, whether or not it has events then
        while g[G_NEXT_CLOSE] < close_order.shape[0]:
            mc = close_order[g[G_NEXT_CLOSE]]
            if mk[mc, MK_CLOSE_TS] > t:
                break
            if g[G_REP_TAIL] - g[G_REP_HEAD] + n_c + 1 > rep.shape[0]:
                return i, GROW_REP  # everything before this point in the event is done and not redone
            if not mk[mc, MK_CLOSED]:
                _close(mi, mf, mk, cf, ki, rc, rm, li, lf, rep, g, mc, mk[mc, MK_CLOSE_TS], False, gs)
            g[G_NEXT_CLOSE] += 1
        if mk[m, MK_FIRST_TS] == 0:
            mk[m, MK_FIRST_TS] = t
            mk[m, MK_LAST_INV_T] = t
            mk[m, MK_UP_SINCE] = t
        close = mk[m, MK_CLOSE_TS]
        if mk[m, MK_CLOSED]:
            continue
        if close != 0 and t >= close:
            _close(mi, mf, mk, cf, ki, rc, rm, li, lf, rep, g, m, close, False, gs)
            continue
        if mk[m, MK_NEXT_LAND] <= t:
            _land(mi, mf, mk, lv, ki, rc, rm, m, t)
        mid2_before = mk[m, MK_MID2]
        s = side[i]
        p = price[i]
        if kind[i] == BOOK:
            q = qty[i]
            dq = delta[i]
            base = mk[m, MK_BOOK_BASE] + s * LEVELS + p
            printed = pr[base]
            pr[base] = 0
            _set_level(lv, mk, m, s, p, q)
            o = 1 - s
            if dq > 0:
                hit = (p <= mk[m, MK_HI0 + 2 * o]) if s == ASK else (p >= mk[m, MK_LO0 + 2 * o])
                if hit:
                    ob = SIDE * o
                    for c in range(n_c):
                        scratch[c] = 0
                        rem = mi[m, c, ob + O_REM]
                        if rem > 0:
                            opx = mi[m, c, ob + O_PX]
                            if (opx >= p) if s == ASK else (opx <= p):
                                scratch[c] = min(rem, dq)
                    _apply_fills(mi, mf, mk, cf, ki, m, o, scratch, t, mid2_before, rep, g, mkr, fr)
            elif queue_model and mk[m, MK_LO0 + 2 * s] <= p <= mk[m, MK_HI0 + 2 * s]:
                chg = float(-dq - printed)
                prev = q - dq
                sb = SIDE * s
                for c in range(n_c):
                    if mi[m, c, sb + O_REM] > 0 and mi[m, c, sb + O_PX] == p:
                        front = mf[m, c, MF_QA0 + s]
                        if chg > 0 and cancel_model != CANCEL_NONE:
                            if cancel_model == CANCEL_PROPORTIONAL:
                                share = front / prev
                            else:
                                back = max(prev - front, 0.0)
                                fp = front ** power
                                den = fp + back ** power
                                share = fp / den if den > 0 else 0.0
                            front = front - chg * share
                        mf[m, c, MF_QA0 + s] = min(max(front, 0.0), float(q))
            bb, ba = mk[m, MK_BB], mk[m, MK_BA]
            if bb > 0 and ba < LEVELS - 1:
                mk[m, MK_MID2] = bb + ba
                mk[m, MK_HAD2] = 1
        else:
            n = qty[i]
            trade_only = mk[m, MK_BOOK_BASE] < 0
            if not trade_only:
                pr[mk[m, MK_BOOK_BASE] + s * LEVELS + p] += n
            at_fills = (to_queue if trade_only else queue_model)
            if ki[KI_GUARD_FLOW]:
                S.guard_trade(gs[0], gs[1], gs[4], m, t, s == ASK, n)
            sb = SIDE * s
            if (mk[m, MK_HI0] >= p) if s == BID else (mk[m, MK_LO1] <= p):
                for c in range(n_c):
                    scratch[c] = 0
                    rem = mi[m, c, sb + O_REM]
                    if rem > 0:
                        opx = mi[m, c, sb + O_PX]
                        if (opx > p) if s == BID else (opx < p):
                            scratch[c] = min(rem, n)
                        elif opx == p and at_fills:
                            qa = mf[m, c, MF_QA0 + s]
                            excess = max(n - qa, 0.0)
                            scratch[c] = min(rem, int(math.floor(excess)))
                            mf[m, c, MF_QA0 + s] = max(qa - n, 0.0)
                _apply_fills(mi, mf, mk, cf, ki, m, s, scratch, t, mid2_before, rep, g, mkr, fr)
            if not mk[m, MK_HAD2]:
                mk[m, MK_MID2] = 2 * p
        if mk[m, MK_MID2] != 0 and ki[KI_SIGMA_KIND] != SIGMA_FIXED:
            _sigma_update(mk, mkf, ki, kf, m, t, tsr)
        if ki[KI_REPORT_LAT] == 0 and g[G_REP_HEAD] < g[G_REP_TAIL]:  # this event's fills, before its decision
            _reports(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t, ceil_t, rc, rcf, rm, li, lf, rep, g, t, gs)
        if t >= mk[m, MK_NEXT_DEC]:
            mk[m, MK_NEXT_DEC] = t + interval
            gi = mk[m, MK_GRID]
            _decide(mi, mf, mk, mkf, cf, ki, kf, pf, pi, sq, floor_t[gi], ceil_t[gi], rc, rcf, rm, li, lf, inv, g,
                    m, t, gs)
    return stop, DONE


@njit(cache=True, nogil=True)
def finish(mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, g: np.ndarray, mkr: np.ndarray,
           rep: np.ndarray, ki: np.ndarray, daily: np.ndarray, rc: np.ndarray, rm: np.ndarray, li: np.ndarray,
           lf: np.ndarray, end_ts: int, gs: tuple) -> None:
    """After the last event: pending reports delivered, open markets settled (result known) or marked,
    markouts resolved, inventory and uptime accrued, the last day closed."""
    mi, mf, mk, cf, g, mkr, rep, ki, daily = borrow((mi, mf, mk, cf, g, mkr, rep, ki, daily))
    rc, rm, li, lf = borrow((rc, rm, li, lf))
    gs = borrow(gs)
    ki[KI_GUARD_TOXIC] = 0  # no decision follows: the guard takes no more fills
    cap = rep.shape[0]
    while g[G_REP_HEAD] < g[G_REP_TAIL]:
        j = g[G_REP_HEAD] % cap
        _deliver(mi, mk, rep[j, 1], rep[j, 2], rep[j, 3], rep[j, 4], rep[j, 5], rep[j, 6], ki, rc, rm, li, lf,
                 rep[j, 0], gs)
        g[G_LAST_TS] = max(g[G_LAST_TS], rep[j, 0])
        g[G_REP_HEAD] += 1
    _resolve_markouts(mi, mf, mk, mkr, g, end_ts, True)
    for m in range(mi.shape[0]):
        if not mk[m, MK_CLOSED]:
            end_m = end_ts
            if mk[m, MK_CLOSE_TS] != 0 and mk[m, MK_CLOSE_TS] < end_m:
                end_m = mk[m, MK_CLOSE_TS]
            _close(mi, mf, mk, cf, ki, rc, rm, li, lf, rep, g, m, end_m, True, gs)
        mk[m, MK_END_TS] = max(mk[m, MK_END_TS], mk[m, MK_FIRST_TS])
    day = (end_ts - ki[KI_DAY_OFFSET]) // NS_PER_DAY
    _day_roll(mi, mf, mk, cf, ki, g, daily, day + 1)
