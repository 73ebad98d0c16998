"""Adverse-selection guard: which side of a market to widen or shrink after toxic fills or one-sided flow.

A small pure state object, one per market, vectorized over ``n`` parameter sets (n = 1 live, one per
grid cell in the backtester); the quoter service and the backtest policy feed it the same inputs:

- :meth:`AdverseGuard.on_fill` — our fills (side, price, count per set);
- :meth:`AdverseGuard.on_trade` — public prints (which side the taker bought, count);
- :meth:`AdverseGuard.update` — the current mid; returns the per-set 0/1 guard flags for the bid and
  the ask, which go into ``MarketState.bid_guard`` / ``ask_guard``.

Two triggers, parameters per set from :class:`kmm.strategy.quoting.QuoteParams` / ``ParamGrid``:

- **Toxic markout.** ``markout_s`` seconds after a fill, at the first update at or after that time,
  the markout per contract is the mid then minus our price (bought) or our price minus the mid
  (sold), in ¢. Below −``toxic_c`` the fill's side is guarded for ``guard_s`` seconds.
- **One-sided flow.** Taker volume bought and sold decays with ``flow_half_life_s``; once at least
  ``flow_min`` contracts are in the sums and |bought − sold| / (bought + sold) ≥ ``flow_threshold``,
  the side being taken is guarded (takers buying YES lift asks: the ask; selling: the bid), for as
  long as that holds.

``math.inf`` switches a trigger off. Time is integer ns from the caller; nothing reads a clock.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE, NS_PER_S

BID_SIDE = 0
ASK_SIDE = 1
_LN2 = math.log(2.0)


class AdverseGuard:
    """The guard state of one market for ``n`` parameter sets (arrays of shape (n,) or scalars)."""

    __slots__ = ("n", "toxic_c", "markout_ns", "guard_ns", "flow_threshold", "flow_beta", "flow_min", "until",
                 "_pending", "_bought", "_sold", "_flow_ts", "_any_toxic", "_any_flow")

    def __init__(self, n: int = 1, *, toxic_c: Any = math.inf, markout_s: Any = 10.0, guard_s: Any = 60.0,
                 flow_threshold: Any = math.inf, flow_half_life_s: Any = 60.0, flow_min: Any = 50.0) -> None:
        def col(v: Any) -> np.ndarray:
            return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)))

        self.n = n
        self.toxic_c = col(toxic_c)
        self.markout_ns = (col(markout_s) * NS_PER_S).astype(np.int64)
        self.guard_ns = (col(guard_s) * NS_PER_S).astype(np.int64)
        self.flow_threshold = col(flow_threshold)
        self.flow_beta = _LN2 / (col(flow_half_life_s) * NS_PER_S)  # per ns
        self.flow_min = col(flow_min) * COUNT_SCALE
        if np.any(self.markout_ns <= 0) or np.any(self.guard_ns < 0) or np.any(self.flow_beta <= 0):
            raise ValueError("markout_s and flow_half_life_s must be > 0, guard_s >= 0")
        self.until = [np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]  # per side: guarded until (ns)
        self._pending: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []  # (due ns, side, sets, price)
        self._bought = np.zeros(n)
        self._sold = np.zeros(n)
        self._flow_ts: int | None = None
        self._any_toxic = bool(np.any(np.isfinite(self.toxic_c)))
        self._any_flow = bool(np.any(np.isfinite(self.flow_threshold)))

    @classmethod
    def from_params(cls, params: Any) -> AdverseGuard:
        """From a ``QuoteParams`` (n = 1) or a ``ParamGrid`` (n = its length)."""
        n = len(params) if hasattr(params, "__len__") else 1
        return cls(n, toxic_c=params.toxic_c, markout_s=params.markout_s, guard_s=params.guard_s,
                   flow_threshold=params.flow_threshold, flow_half_life_s=params.flow_half_life_s,
                   flow_min=params.flow_min)

    def on_fill(self, ts_ns: int, side: int, sets: Any, price: Any) -> None:
        """Our fill(s) at ``ts_ns`` on ``side`` (0 bid, 1 ask) for the sets ``sets`` (indices) at ``price``
        ($0.0001, one per set or one for all)."""
        if not self._any_toxic:
            return
        idx = np.atleast_1d(np.asarray(sets, dtype=np.int64))
        px = np.broadcast_to(np.asarray(price, dtype=np.float64), idx.shape).copy()
        self._pending.append((ts_ns + self.markout_ns[idx], side, idx, px))

    def on_trade(self, ts_ns: int, taker_bought_yes: bool, count: int) -> None:
        """A public print of ``count`` (0.01 contract); ``taker_bought_yes`` when it lifted the YES ask."""
        if not self._any_flow:
            return
        self._decay(ts_ns)
        if taker_bought_yes:
            self._bought += count
        else:
            self._sold += count

    def _decay(self, ts_ns: int) -> None:
        if self._flow_ts is None:
            self._flow_ts = ts_ns
            return
        dt = ts_ns - self._flow_ts
        if dt > 0:
            # libm's exp per set (numpy's vectorized exp can differ in the last bit): the backtest
            # kernel's compiled guard computes exactly this
            k = np.array([math.exp(x) for x in (-self.flow_beta * dt).tolist()])
            self._bought *= k
            self._sold *= k
            self._flow_ts = ts_ns

    def update(self, ts_ns: int, mid: float) -> tuple[np.ndarray, np.ndarray]:
        """Score the fills whose markout is due against ``mid`` ($0.0001; NaN = unknown, scored later)
        and return (bid_guard, ask_guard) as float arrays of 0.0 / 1.0."""
        if self._pending and math.isfinite(mid):
            keep = []
            for due, side, idx, px in self._pending:
                ready = due <= ts_ns
                if ready.any():
                    edge = (mid - px[ready]) if side == BID_SIDE else (px[ready] - mid)
                    sets = idx[ready]
                    toxic = edge / 100.0 < -self.toxic_c[sets]
                    if toxic.any():
                        hit = sets[toxic]
                        until = self.until[side]
                        until[hit] = np.maximum(until[hit], ts_ns + self.guard_ns[hit])
                    if not ready.all():
                        keep.append((due[~ready], side, idx[~ready], px[~ready]))
                else:
                    keep.append((due, side, idx, px))
            self._pending = keep
        bid = self.until[BID_SIDE] > ts_ns
        ask = self.until[ASK_SIDE] > ts_ns
        if self._any_flow:
            self._decay(ts_ns)
            total = self._bought + self._sold
            active = total >= np.maximum(self.flow_min, 1e-12)
            imbalance = np.where(active, (self._bought - self._sold) / np.where(active, total, 1.0), 0.0)
            ask = ask | (imbalance >= self.flow_threshold)
            bid = bid | (-imbalance >= self.flow_threshold)
        return bid.astype(np.float64), ask.astype(np.float64)

    def update1(self, ts_ns: int, mid: float) -> tuple[float, float]:
        """:meth:`update` for a single set (the live quoter)."""
        bid, ask = self.update(ts_ns, mid)
        return float(bid[0]), float(ask[0])
