"""The quoter's per-market signals, compiled for the backtest kernel: the two-scale σ
(``kmm.strategy.estimators.TwoScaleVolatility``) and the adverse-selection guard
(``kmm.strategy.guard.AdverseGuard``), transcribed operation for operation with their state in arrays.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kmm.jitcache import guard
from kmm.messages.units import NS_PER_S

guard()  # numba's cache knows only this file: drop it when a module compiled in here changed

NS_PER_H = 3_600 * NS_PER_S
BID_SIDE, ASK_SIDE = 0, 1

# --- two-scale σ: per market ints TI[m, k], floats TF[m, k], ring RT[m, L+1] (ts) and RX[m, L+1] (x) ----
TI_HEAD, TI_COUNT, TI_N = range(3)
TI_NCOLS = 3
TF_S1, TF_SK, TF_D1, TF_DK, TF_LAST_X = range(5)
TF_NCOLS = 5


def tsrv_state(n_markets: int, lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fresh (TI, TF, RT, RX) for ``n_markets`` estimators with ``lag`` K (``TwoScaleVolatility()``)."""
    tf = np.zeros((n_markets, TF_NCOLS), dtype=np.float64)
    tf[:, TF_LAST_X] = np.nan
    return (np.zeros((n_markets, TI_NCOLS), dtype=np.int64), tf, np.zeros((n_markets, lag + 1), dtype=np.int64),
            np.zeros((n_markets, lag + 1), dtype=np.float64))


@njit(cache=True, nogil=True)
def tsrv_update(ti: np.ndarray, tf: np.ndarray, rt: np.ndarray, rx: np.ndarray, m: int, beta: float, ts_ns: int,
                x: float) -> bool:
    """``TwoScaleVolatility.update`` of market m with ``x`` already in its space (cents or logit-cents);
    False when the observation was ignored (unchanged or non-finite)."""
    if not math.isfinite(x):
        return False
    if x == tf[m, TF_LAST_X]:
        return False
    size = rt.shape[1]
    k = size - 1
    head = ti[m, TI_HEAD]
    if ti[m, TI_COUNT]:
        prev = (head - 1) % size
        if rt[m, prev] > ts_ns:
            ts_ns = rt[m, prev]
    rt[m, head] = ts_ns
    rx[m, head] = x
    tf[m, TF_LAST_X] = x
    ti[m, TI_COUNT] += 1
    if ti[m, TI_COUNT] > k:
        prev = (head - 1) % size
        old = (head + 1) % size  # K changes back
        dt1 = (ts_ns - rt[m, prev]) / NS_PER_H
        dx1 = x - rx[m, prev]
        dxk = x - rx[m, old]
        decay = math.exp(-beta * dt1) if dt1 > 0.0 else 1.0
        tf[m, TF_S1] = tf[m, TF_S1] * decay + dx1 * dx1
        tf[m, TF_SK] = tf[m, TF_SK] * decay + dxk * dxk
        tf[m, TF_D1] = tf[m, TF_D1] * decay + dt1
        tf[m, TF_DK] = tf[m, TF_DK] * decay + (ts_ns - rt[m, old]) / NS_PER_H
        ti[m, TI_N] += 1
    ti[m, TI_HEAD] = (head + 1) % size
    return True


@njit(cache=True, nogil=True)
def tsrv_sigma(tf: np.ndarray, m: int, prior_var: float, prior_w: float) -> float:
    """``TwoScaleVolatility.sigma``."""
    num = max(tf[m, TF_SK] - tf[m, TF_S1], 0.0) + prior_var * prior_w
    return math.sqrt(num / (max(tf[m, TF_DK] - tf[m, TF_D1], 0.0) + prior_w))


# --- the adverse-selection guard ------------------------------------------------------------------------
# Per (market, cell) state: GI[m, c, k] ints, GF[m, c, k] floats. Per cell parameters: GP[c, k] floats and
# GPI[c, k] ints. Pending fills (awaiting their markout) in a per-market FIFO ring GQ[m, j, k] in the order
# they were reported, with head/tail counters in GH[m, 0/1].
GI_UNTIL_B, GI_UNTIL_A, GI_FLOW_TS, GI_FLAGS = range(4)  # flags: 1 = bid guarded, 2 = ask guarded
GI_N = 4
GF_BOUGHT, GF_SOLD = range(2)
GF_N = 2
GP_TOXIC, GP_FLOW_THR, GP_FLOW_BETA, GP_FLOW_MIN = range(4)
GP_N = 4
GPI_MARKOUT, GPI_GUARD = range(2)
GPI_N = 2
GQ_TS, GQ_DUE, GQ_CELL, GQ_SIDE, GQ_PX, GQ_DONE = range(6)
GQ_N = 6


def guard_params(toxic_c: np.ndarray, markout_s: np.ndarray, guard_s: np.ndarray, flow_threshold: np.ndarray,
                 flow_half_life_s: np.ndarray, flow_min: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(GP, GPI) per cell from ``QuoteParams``-style arrays, converted exactly as ``AdverseGuard.__init__``."""
    from kmm.strategy.guard import AdverseGuard

    n = len(np.atleast_1d(toxic_c))
    g = AdverseGuard(n, toxic_c=toxic_c, markout_s=markout_s, guard_s=guard_s, flow_threshold=flow_threshold,
                     flow_half_life_s=flow_half_life_s, flow_min=flow_min)
    gp = np.zeros((n, GP_N), dtype=np.float64)
    gpi = np.zeros((n, GPI_N), dtype=np.int64)
    gp[:, GP_TOXIC] = g.toxic_c
    gp[:, GP_FLOW_THR] = g.flow_threshold
    gp[:, GP_FLOW_BETA] = g.flow_beta
    gp[:, GP_FLOW_MIN] = g.flow_min
    gpi[:, GPI_MARKOUT] = g.markout_ns
    gpi[:, GPI_GUARD] = g.guard_ns
    return gp, gpi


def guard_state(n_markets: int, n_cells: int, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fresh (GI, GF, GQ, GH); ``capacity`` pending fills per market (:func:`grow_queue` doubles it)."""
    gi = np.zeros((n_markets, n_cells, GI_N), dtype=np.int64)
    gi[:, :, GI_FLOW_TS] = -1
    return (gi, np.zeros((n_markets, n_cells, GF_N), dtype=np.float64),
            np.zeros((n_markets, capacity, GQ_N), dtype=np.int64), np.zeros((n_markets, 2), dtype=np.int64))


@njit(cache=True, nogil=True)
def guard_fill(gq: np.ndarray, gh: np.ndarray, gpi: np.ndarray, gmax: np.ndarray, m: int, c: int, side: int, ts: int,
               px: int) -> None:
    """``AdverseGuard.on_fill``: cell c's fill on ``side`` at ``px``, reported at ``ts`` (the caller keeps
    room in the ring and calls this only when the cell's toxic trigger is on). ``gmax[0]`` keeps an upper
    bound of every market's ring length (the room check)."""
    cap = gq.shape[1]
    j = gh[m, 1] % cap
    gq[m, j, GQ_TS] = ts
    gq[m, j, GQ_DUE] = ts + gpi[c, GPI_MARKOUT]
    gq[m, j, GQ_CELL] = c
    gq[m, j, GQ_SIDE] = side
    gq[m, j, GQ_PX] = px
    gq[m, j, GQ_DONE] = 0
    gh[m, 1] += 1
    if gh[m, 1] - gh[m, 0] > gmax[0]:
        gmax[0] = gh[m, 1] - gh[m, 0]


@njit(cache=True, nogil=True)
def _decay(gi: np.ndarray, gf: np.ndarray, gp: np.ndarray, m: int, c: int, ts: int) -> None:
    if gi[m, c, GI_FLOW_TS] < 0:
        gi[m, c, GI_FLOW_TS] = ts
        return
    dt = ts - gi[m, c, GI_FLOW_TS]
    if dt > 0:
        k = math.exp(-gp[c, GP_FLOW_BETA] * dt)
        gf[m, c, GF_BOUGHT] *= k
        gf[m, c, GF_SOLD] *= k
        gi[m, c, GI_FLOW_TS] = ts


@njit(cache=True, nogil=True)
def guard_trade(gi: np.ndarray, gf: np.ndarray, gp: np.ndarray, m: int, ts: int, taker_bought_yes: bool,
                count: int) -> None:
    """``AdverseGuard.on_trade`` for every cell whose flow trigger is on."""
    for c in range(gi.shape[1]):
        if not math.isfinite(gp[c, GP_FLOW_THR]):
            continue
        _decay(gi, gf, gp, m, c, ts)
        if taker_bought_yes:
            gf[m, c, GF_BOUGHT] += count
        else:
            gf[m, c, GF_SOLD] += count


@njit(cache=True, nogil=True)
def guard_update(gi: np.ndarray, gf: np.ndarray, gq: np.ndarray, gh: np.ndarray, gp: np.ndarray, gpi: np.ndarray,
                 m: int, c_only: int, ts: int, mid: float, min_markout: int) -> None:
    """``AdverseGuard.update`` of market m at ``ts`` with ``mid`` ($0.0001; NaN = unknown, scored later) for
    cell ``c_only`` (−1: every cell); the flags land in ``gi[m, c, GI_FLAGS]``. ``min_markout`` is the
    smallest markout horizon of any cell (ns): the ring is in report order, so no fill after one reported
    later than ``ts − min_markout`` can be due."""
    head, tail = gh[m, 0], gh[m, 1]
    if head < tail and math.isfinite(mid):
        cap = gq.shape[1]
        j = head
        while j < tail:
            r = j % cap
            if gq[m, r, GQ_TS] + min_markout > ts:
                break
            c = gq[m, r, GQ_CELL]
            if gq[m, r, GQ_DONE] == 0 and (c_only < 0 or c == c_only) and gq[m, r, GQ_DUE] <= ts:
                gq[m, r, GQ_DONE] = 1
                px = float(gq[m, r, GQ_PX])
                side = gq[m, r, GQ_SIDE]
                edge = (mid - px) if side == BID_SIDE else (px - mid)
                if edge / 100.0 < -gp[c, GP_TOXIC]:
                    k = GI_UNTIL_B if side == BID_SIDE else GI_UNTIL_A
                    until = ts + gpi[c, GPI_GUARD]
                    if until > gi[m, c, k]:
                        gi[m, c, k] = until
            j += 1
        while head < tail and gq[m, head % cap, GQ_DONE]:
            head += 1
        gh[m, 0] = head
    lo = 0 if c_only < 0 else c_only
    hi = gi.shape[1] if c_only < 0 else c_only + 1
    for c in range(lo, hi):
        bid = gi[m, c, GI_UNTIL_B] > ts
        ask = gi[m, c, GI_UNTIL_A] > ts
        thr = gp[c, GP_FLOW_THR]
        if math.isfinite(thr):
            _decay(gi, gf, gp, m, c, ts)
            total = gf[m, c, GF_BOUGHT] + gf[m, c, GF_SOLD]
            if total >= max(gp[c, GP_FLOW_MIN], 1e-12):
                imbalance = (gf[m, c, GF_BOUGHT] - gf[m, c, GF_SOLD]) / total
                ask = ask or imbalance >= thr
                bid = bid or -imbalance >= thr
        gi[m, c, GI_FLAGS] = (1 if bid else 0) | (2 if ask else 0)


def grow_queue(gq: np.ndarray, gh: np.ndarray, gmax: np.ndarray, need: int) -> np.ndarray:
    """The pending-fill ring with room for ``need`` more entries in every market (``gmax[0]`` recomputed
    exactly first: it only bounds the lengths); returns ``gq`` itself when it already has the room."""
    lengths = gh[:, 1] - gh[:, 0]
    gmax[0] = int(lengths.max(initial=0))
    cap = gq.shape[1]
    if gmax[0] + need <= cap:
        return gq
    new_cap = cap
    while gmax[0] + need > new_cap:
        new_cap *= 2
    new = np.zeros((gq.shape[0], new_cap, GQ_N), dtype=np.int64)
    for m in range(gq.shape[0]):
        idx = np.arange(gh[m, 0], gh[m, 1])
        new[m, idx % new_cap] = gq[m, idx % cap]
    return new
