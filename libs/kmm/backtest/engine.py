"""The event-driven backtester: replays an event log against many parameter sets ("cells") at once.

One pass over the events drives ``n_cells`` independent simulations whose state lives in numpy
arrays of shape (markets, cells); a single backtest is the one-cell case of the same code, so grid
cells and single runs agree exactly. Rules (docs/backtest.md):

- Decisions for a market happen at its events, at most every ``decision_interval_ns``, and see only
  events up to and including the current one (no look-ahead). The policy (the live quoting code)
  returns target quotes per cell.
- Orders: a changed target is sent at the decision; it rests from ``t + place_latency`` (a replace
  keeps the old order fillable until then); a withdrawn side is removed at ``t + cancel_latency``.
  A bid that would cross the replayed best ask when it lands is rejected (post-only).
- Our orders never move the replayed book. Fills are maker fills at our price:
  * ``trade_through``: a print strictly through our price fills us, capped by the print size;
  * ``queue``: additionally a print at our price fills us once the queue ahead is gone. Queue ahead
    at placement = displayed size at our price; prints at the price consume it; size decreases not
    explained by prints (cancellations) advance us by the cancel model (``none``, ``proportional``,
    ``power``), and the queue never exceeds the displayed size.
  In both models new opposite liquidity arriving at or through our price fills us (capped by it).
- Fees: Kalshi's maker fee exactly as the simulator charges it (``kmm.kalshi.fees.order_fill_fee``:
  trade fee to $0.0001, balance floored to the cent, the order's rounding accumulator carried across
  its fills and amends), at the series' rate and multiplier; an unknown fee type pays the standard
  maker rate. Settlement at close at $1/$0 when the result is known, else marked at the last mid
  and flagged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kmm.kalshi import fees as kfees
from kmm.messages.units import MONEY_SCALE, NS_PER_MS, NS_PER_S, PRICE_SCALE

from .book import NO_ASK, NO_BID, book_tops, future_mid2, mids2
from .eventlog import ASK, BID, BOOK, EventLog, MarketMeta

TRADE_THROUGH = "trade_through"
QUEUE = "queue"
FILL_MODELS = (TRADE_THROUGH, QUEUE)
CANCEL_MODELS = ("none", "proportional", "power")
MARKOUT_S = (1, 10, 60)


@dataclass(frozen=True)
class FillConfig:
    model: str = QUEUE
    cancel_model: str = "proportional"
    power: float = 2.0  # exponent of the "power" cancel model (hftbacktest PowerProbQueueFunc)
    place_latency_ns: int = 30 * NS_PER_MS
    cancel_latency_ns: int = 30 * NS_PER_MS

    def __post_init__(self) -> None:
        if self.model not in FILL_MODELS:
            raise ValueError(f"fill model must be one of {FILL_MODELS}")
        if self.cancel_model not in CANCEL_MODELS:
            raise ValueError(f"cancel model must be one of {CANCEL_MODELS}")
        if self.place_latency_ns < 0 or self.cancel_latency_ns < 0:
            raise ValueError("latencies must be >= 0")


@dataclass(frozen=True)
class RunConfig:
    fill: FillConfig = field(default_factory=FillConfig)
    decision_interval_ns: int = 100 * NS_PER_MS
    record_fills: bool = False  # keep every fill (single runs, fidelity checks)
    record_inventory: bool = False  # keep (ts, market, position) at each decision


@dataclass(frozen=True)
class Decision:
    """What a policy sees at a decision: the book top and our position, per cell."""

    market: int
    ts: int
    best_bid: int
    best_ask: int
    mid2: int  # bid + ask (int), or 2 × last reference price; 0 when unknown
    position: np.ndarray  # (cells,) signed count units
    tau_s: float  # seconds to close (inf if unknown)
    meta: MarketMeta
    index: int  # event index of the decision (the policy may look at events[: index + 1] only)


class Policy(Protocol):
    """The quoting (and risk) code under test. ``decide`` returns int64 arrays (cells,):
    bid_price, bid_count, ask_price, ask_count (count 0 = no quote on that side)."""

    n_cells: int

    def start(self, log: EventLog, mid2: np.ndarray) -> None: ...

    def decide(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def cache_key(self, d: Decision) -> object:
        """Everything besides the book top and positions that ``decide`` depends on (σ, capped τ…),
        or None to always decide. Equal keys with an unchanged book and no fill since the last
        decision mean the same targets, so the engine skips the call."""
        ...


@dataclass
class Result:
    """Per-(market, cell) metric arrays plus overall per-cell arrays. Money in µ$ (``kmm`` units)."""

    tickers: list[str]
    n_cells: int
    per_market: dict[str, np.ndarray]
    overall: dict[str, np.ndarray]
    settled_known: np.ndarray  # (markets,) bool: result known → settled, else marked and flagged
    fills: list[tuple[int, int, int, int, int, int, int]] = field(default_factory=list)
    inventory: list[tuple[int, int, int]] = field(default_factory=list)
    events: int = 0

    FILL_FIELDS = ("ts", "market", "cell", "side", "price", "count", "fee")

    def market_summary(self, cell: int = 0) -> list[dict[str, Any]]:
        rows = []
        for m, t in enumerate(self.tickers):
            row: dict[str, Any] = {"market": t, "settled": bool(self.settled_known[m])}
            for k, arr in self.per_market.items():
                v = arr[m, cell]
                row[k] = v.item()
            rows.append(row)
        return rows

    def overall_summary(self, cell: int = 0) -> dict[str, Any]:
        return {k: v[cell].item() for k, v in self.overall.items()}

    def cell(self, i: int) -> Result:
        """The single-cell result of cell ``i`` (for comparisons with single runs)."""
        return Result(self.tickers, 1, {k: v[:, i:i + 1] for k, v in self.per_market.items()},
                      {k: v[i:i + 1] for k, v in self.overall.items()}, self.settled_known,
                      [f for f in self.fills if f[2] == i], [], self.events)


def fee_type_of(meta: MarketMeta) -> str:
    """The market's series fee type; "" (unknown) unless the log or a series table says."""
    if meta.fee_type:
        return meta.fee_type
    return kfees.QUADRATIC_WITH_MAKER_FEES if meta.maker_fees else ""


def maker_rate_of(meta: MarketMeta) -> tuple[int, int]:
    """The exact maker rate of a market (``kmm.kalshi.fees.maker_rate``: unknown → the standard rate)."""
    return kfees.maker_rate(fee_type_of(meta), meta.fee_multiplier_ppm)


class Backtest:
    """One replay of ``log`` for ``policy.n_cells`` parameter sets. Call :meth:`run` once."""

    def __init__(self, log: EventLog, policy: Policy, config: RunConfig | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.log = log
        self.policy = policy
        self.cfg = config or RunConfig()
        self.progress = progress
        n_m = len(log.markets)
        c = policy.n_cells
        self.n_m, self.c = n_m, c
        z = lambda dt=np.int64: np.zeros((n_m, c), dtype=dt)  # noqa: E731
        # working orders, per side: price, remaining, queue ahead
        self.px = [z(), z()]
        self.rem = [z(), z()]
        self.qa = [z(np.float64), z(np.float64)]
        # prints at each replayed level since its last depth row (they explain that row's decrease)
        self.printed: dict[int, int] = {}
        self.tgt_px = [z(), z()]
        self.tgt_n = [z(), z()]
        self.pend_until = [z(), z()]
        self.lo = [[PRICE_SCALE + 1] * n_m, [PRICE_SCALE + 1] * n_m]
        self.hi = [[-1] * n_m, [-1] * n_m]
        self.ops: list[deque[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]] = [deque() for _ in range(n_m)]
        self.next_op = [1 << 62] * n_m
        # ledger
        self.pos = z()
        self.cash = z()
        self.fees = z()
        self.cost = z()
        self.realized = z()
        # metrics
        self.n_fills = z()
        self.vol_buy = z()
        self.vol_sell = z()
        self.placed = z()
        self.rejected = z()
        self.spread_cap = z(np.float64)
        self.markout = [z(np.float64) for _ in MARKOUT_S]
        self.uptime_ns = z()
        self.active_ns = np.zeros(n_m, dtype=np.int64)
        self.inv_abs_tw = z(np.float64)
        self.inv_tw = z(np.float64)
        self.max_abs_pos = z()
        self.equity_m = z(np.float64)
        self.peak_m = z(np.float64)
        self.mdd_m = z(np.float64)
        self.total_eq = np.zeros(c, dtype=np.float64)
        self.total_peak = np.zeros(c, dtype=np.float64)
        self.total_mdd = np.zeros(c, dtype=np.float64)
        self.last_inv_t = [0] * n_m
        self.next_dec = [0] * n_m
        self.dirty = [True] * n_m  # a fill or reject since the last decision
        self.eq_dirty = [True] * n_m  # mid or ledger changed since the last equity sample
        self.last_key: list[object] = [None] * n_m
        self.maker_rates = [maker_rate_of(mm) for mm in log.markets]
        self.fee_acc = [z(), z()]  # per side: the working order's fee rounding accumulator (µ$)
        self.fills: list[tuple[int, int, int, int, int, int, int]] = []
        self.inventory: list[tuple[int, int, int]] = []
        self.lv: dict[int, int] = {}
        fc = self.cfg.fill
        self.queue_model = fc.model == QUEUE
        self.cancel_model = fc.cancel_model
        self.power = fc.power
        self.on_fills = getattr(policy, "on_fills", None)  # optional policy hooks (risk engine feeds)
        self.on_rejects = getattr(policy, "on_rejects", None)

    # --- order state helpers -------------------------------------------------------------------

    def _refresh_range(self, m: int, s: int) -> None:
        live = self.rem[s][m] > 0
        if live.any():
            p = self.px[s][m][live]
            self.lo[s][m] = int(p.min())
            self.hi[s][m] = int(p.max())
        else:
            self.lo[s][m] = PRICE_SCALE + 1
            self.hi[s][m] = -1

    def _level(self, m: int, s: int, price: int) -> int:
        return self.lv.get((m * 2 + s) * (PRICE_SCALE + 1) + price, 0)

    def _apply_ops(self, m: int, t: int, bb: int, ba: int) -> None:
        ops = self.ops[m]
        while ops and ops[0][0] <= t:
            t_eff, s, mask, new_px, new_n = ops.popleft()
            self._uptime(m, t_eff)
            px, rem = self.px[s][m], self.rem[s][m]
            self.fee_acc[s][m][mask & (rem == 0)] = 0  # a new order (an amend keeps its accumulator)
            px[mask] = new_px[mask]
            rem[mask] = new_n[mask]
            live = mask & (new_n > 0)
            if live.any():
                # post-only: an order that would cross the book when it lands is rejected
                cross = live & ((px >= ba) if s == BID else (px <= bb))
                if cross.any():
                    self.dirty[m] = True
                    if self.on_rejects is not None:
                        cells = np.flatnonzero(cross)
                        self.on_rejects(m, s, cells, rem[cells].copy())
                    rem[cross] = 0
                    self.rejected[m][cross] += 1
                    live &= ~cross
                self.placed[m][live] += 1
                if self.queue_model:
                    uniq, inv = np.unique(px[live], return_inverse=True)
                    sizes = np.array([self._level(m, s, p) for p in uniq.tolist()], dtype=np.float64)
                    self.qa[s][m][live] = sizes[inv]
            self._refresh_range(m, s)
        self.next_op[m] = ops[0][0] if ops else 1 << 62

    def _uptime(self, m: int, t: int) -> None:
        """Accrue two-sided quote time for market m up to t (called before quotes change)."""
        dt = t - self.up_since[m]
        if dt > 0:
            both = (self.rem[BID][m] > 0) & (self.rem[ASK][m] > 0)
            self.uptime_ns[m] += both * dt
        self.up_since[m] = t

    # --- fills -----------------------------------------------------------------------------------

    def _fill(self, m: int, s: int, t: int, i: int, qty: np.ndarray, mid2: int) -> None:
        """Fill ``qty`` (cells,) of the working order on side s at its price."""
        hit = qty > 0
        if not hit.any():
            return
        self._uptime(m, t)
        self._inventory_time(m, t)
        self.dirty[m] = True
        self.eq_dirty[m] = True
        cells = np.flatnonzero(hit)
        f = qty[cells]
        p = self.px[s][m][cells]
        self.rem[s][m][cells] -= f
        signed = f if s == BID else -f
        acc = self.fee_acc[s][m]
        ff = kfees.order_fill_fee(self.maker_rates[m], p, f, -signed * p, acc[cells])
        fee = np.asarray(ff.net_fee, dtype=np.int64)
        acc[cells] = np.asarray(ff.accumulator, dtype=np.int64)
        pos = self.pos[m]
        cost = self.cost[m]
        q0 = pos[cells]
        c0 = cost[cells]
        reducing = (q0 != 0) & (np.sign(q0) != np.sign(signed))
        k = np.where(reducing, np.minimum(np.abs(signed), np.abs(q0)), 0)
        rel = np.where(reducing, (c0 * k) // np.where(q0 == 0, 1, np.abs(q0)), 0)
        sgn = np.sign(signed)
        self.realized[m][cells] += np.where(reducing, -sgn * k * p - rel, 0)
        rest = signed - sgn * k
        cost[cells] = c0 - rel + rest * p
        pos[cells] = q0 + signed
        self.cash[m][cells] -= signed * p
        self.fees[m][cells] += fee
        self.n_fills[m][cells] += 1
        (self.vol_buy if s == BID else self.vol_sell)[m][cells] += f
        np.maximum(self.max_abs_pos[m], np.abs(pos), out=self.max_abs_pos[m])
        if mid2:
            edge = (mid2 - 2 * p) if s == BID else (2 * p - mid2)
            self.spread_cap[m][cells] += edge * f / 2.0
        for h, fut in enumerate(self.fut):
            m2 = fut[i]
            if m2:
                edge = (m2 - 2 * p) if s == BID else (2 * p - m2)
                self.markout[h][m][cells] += edge * f / 2.0
        if self.on_fills is not None:
            self.on_fills(m, s, cells, p, f, fee, t)
        if self.cfg.record_fills:
            for cell, fc, pc, fe in zip(cells.tolist(), f.tolist(), p.tolist(), fee.tolist(), strict=True):
                self.fills.append((t, m, cell, s, pc, fc, fe))
        self._refresh_range(m, s)

    def _trade(self, m: int, s: int, price: int, count: int, t: int, i: int, mid2: int) -> None:
        """A print that hit resting side ``s`` at ``price``."""
        px = self.px[s][m]
        rem = self.rem[s][m]
        through = (px > price) if s == BID else ((px < price) & (px > 0))
        qty = np.where(through & (rem > 0), np.minimum(rem, count), 0)
        if self.queue_model:
            at = (px == price) & (rem > 0)
            if at.any():
                qa = self.qa[s][m]
                excess = np.maximum(count - qa[at], 0.0)
                qty[at] = np.minimum(rem[at], np.floor(excess).astype(np.int64))
                qa[at] = np.maximum(qa[at] - count, 0.0)
        self._fill(m, s, t, i, qty, mid2)

    def _cross(self, m: int, s: int, price: int, delta: int, t: int, i: int, mid2: int) -> None:
        """New liquidity on side s at or through our opposite order fills it (it would have matched us)."""
        o = 1 - s
        px = self.px[o][m]
        rem = self.rem[o][m]
        cross = ((px >= price) if s == ASK else ((px <= price) & (px > 0))) & (rem > 0)
        if cross.any():
            self._fill(m, o, t, i, np.where(cross, np.minimum(rem, delta), 0), mid2)

    def _depth(self, m: int, s: int, price: int, new: int, delta: int, printed: int) -> None:
        """A level where some of our orders rest shrank by ``-delta`` (``printed`` of it explained by prints)."""
        at = (self.px[s][m] == price) & (self.rem[s][m] > 0)
        if not at.any():
            return
        qa = self.qa[s][m]
        chg = float(-delta - printed)
        front = qa[at]
        if chg > 0 and self.cancel_model != "none":
            prev = new - delta
            if self.cancel_model == "proportional":
                share = front / prev
            else:
                back = np.maximum(prev - front, 0.0)
                fp = front ** self.power
                den = fp + back ** self.power
                share = np.where(den > 0, fp / np.where(den > 0, den, 1.0), 0.0)
            front = front - chg * share
        qa[at] = np.minimum(np.maximum(front, 0.0), float(new))

    # --- decisions --------------------------------------------------------------------------------

    def _decide(self, m: int, t: int, i: int, bb: int, ba: int, mid2: int) -> None:
        self._sample_equity(m, mid2)
        meta = self.log.markets[m]
        close = meta.close_ts
        tau = (close - t) / NS_PER_S if close else float("inf")
        d = Decision(m, t, bb, ba, mid2, self.pos[m], tau, meta, i)
        key = (bb, ba, mid2, self.policy.cache_key(d))
        if not self.dirty[m] and key[3] is not None and key == self.last_key[m]:
            return
        self.last_key[m] = key
        self.dirty[m] = False
        if self.cfg.record_inventory:
            self.inventory.append((t, m, int(self.pos[m][0])))
        bpx, bn, apx, an = self.policy.decide(d)
        for s, npx, nn in ((BID, bpx, bn), (ASK, apx, an)):
            npx = np.where(nn > 0, npx, 0).astype(np.int64)
            nn = np.asarray(nn, dtype=np.int64)
            pending = self.pend_until[s][m] > t
            spent = (self.rem[s][m] == 0) & (nn > 0) & ~pending
            changed = (npx != self.tgt_px[s][m]) | (nn != self.tgt_n[s][m]) | spent
            if not changed.any():
                continue
            self.tgt_px[s][m][changed] = npx[changed]
            self.tgt_n[s][m][changed] = nn[changed]
            fc = self.cfg.fill
            for mask, lat in ((changed & (nn > 0), fc.place_latency_ns), (changed & (nn == 0), fc.cancel_latency_ns)):
                if mask.any():
                    t_eff = t + lat
                    self.pend_until[s][m][mask] = t_eff
                    self._push(m, (t_eff, s, mask, npx, nn))

    def _push(self, m: int, op: tuple[int, int, np.ndarray, np.ndarray, np.ndarray]) -> None:
        ops = self.ops[m]
        ops.append(op)
        if len(ops) > 1 and ops[-2][0] > op[0]:
            self.ops[m] = deque(sorted(ops, key=lambda o: o[0]))
        self.next_op[m] = self.ops[m][0][0]

    def _inventory_time(self, m: int, t: int) -> None:
        """Accrue position × time for market m up to t (called before the position changes)."""
        dt = t - self.last_inv_t[m]
        if dt > 0 and self.last_inv_t[m]:
            pos = self.pos[m]
            self.inv_tw[m] += pos * dt
            self.inv_abs_tw[m] += np.abs(pos) * dt
        if dt > 0 or not self.last_inv_t[m]:
            self.last_inv_t[m] = t

    def _sample_equity(self, m: int, mid2: int) -> None:
        """Mark market m at mid and update drawdowns (at decision points, when something changed)."""
        if not mid2 or (not self.eq_dirty[m] and mid2 == self.eq_mid2[m]):
            return
        self.eq_dirty[m] = False
        self.eq_mid2[m] = mid2
        pos = self.pos[m]
        eq = self.cash[m] + pos * (mid2 / 2.0) - self.fees[m]
        self.total_eq += eq - self.equity_m[m]
        self.equity_m[m] = eq
        np.maximum(self.peak_m[m], eq, out=self.peak_m[m])
        np.maximum(self.mdd_m[m], self.peak_m[m] - eq, out=self.mdd_m[m])
        np.maximum(self.total_peak, self.total_eq, out=self.total_peak)
        np.maximum(self.total_mdd, self.total_peak - self.total_eq, out=self.total_mdd)

    def _close(self, m: int, t: int) -> None:
        """Trading ends for market m at its close: withdraw every quote."""
        self._uptime(m, t)
        for s in (BID, ASK):
            self.rem[s][m][:] = 0
            self.tgt_n[s][m][:] = 0
            self.tgt_px[s][m][:] = 0
            self._refresh_range(m, s)
        self.ops[m].clear()
        self.next_op[m] = 1 << 62

    # --- the pass -----------------------------------------------------------------------------------

    def run(self) -> Result:
        log = self.log
        ev = log.events
        n = len(ev)
        bb_a, ba_a = book_tops(ev, self.n_m)
        mid2_a = mids2(ev, bb_a, ba_a, self.n_m)
        self.fut = [future_mid2(ev, mid2_a, self.n_m, h * NS_PER_S) for h in MARKOUT_S]
        self.fut = [f.tolist() for f in self.fut]
        self.policy.start(log, mid2_a)
        self.up_since = [0] * self.n_m
        self.eq_mid2 = [0] * self.n_m
        first_ts = [0] * self.n_m
        interval = self.cfg.decision_interval_ns
        close = [mm.close_ts if mm.close_ts else 1 << 62 for mm in log.markets]
        closed = [False] * self.n_m
        ts_l = ev["ts"].tolist()
        kind_l = ev["kind"].tolist()
        side_l = ev["side"].tolist()
        mk_l = ev["market"].tolist()
        price_l = ev["price"].tolist()
        qty_l = ev["qty"].tolist()
        delta_l = ev["delta"].tolist()
        bb_l = bb_a.tolist()
        ba_l = ba_a.tolist()
        mid2_l = mid2_a.tolist()
        lv = self.lv
        printed = self.printed
        qm = self.queue_model
        key_base = PRICE_SCALE + 1
        next_op = self.next_op
        next_dec = self.next_dec
        lo, hi = self.lo, self.hi
        prev_mid2 = [0] * self.n_m
        prev_bb = [NO_BID] * self.n_m
        prev_ba = [NO_ASK] * self.n_m
        step = max(1, n // 200)
        for i in range(n):
            m = mk_l[i]
            t = ts_l[i]
            if not first_ts[m]:
                first_ts[m] = t
                self.last_inv_t[m] = t
            if t >= close[m]:
                if not closed[m]:
                    closed[m] = True
                    self._close(m, close[m])
                continue
            if next_op[m] <= t:
                self._apply_ops(m, t, prev_bb[m], prev_ba[m])
            s = side_l[i]
            p = price_l[i]
            key = (m * 2 + s) * key_base + p
            if kind_l[i] == BOOK:
                q = qty_l[i]
                lv[key] = q
                dq = delta_l[i]
                printed_here = printed.pop(key, 0)
                if dq > 0:
                    if p <= hi[1 - s][m] if s == ASK else p >= lo[1 - s][m]:
                        self._cross(m, s, p, dq, t, i, prev_mid2[m])
                elif qm and lo[s][m] <= p <= hi[s][m]:
                    self._depth(m, s, p, q, dq, printed_here)
            else:
                printed[key] = printed.get(key, 0) + qty_l[i]
                if (hi[s][m] >= p) if s == BID else (lo[s][m] <= p):
                    self._trade(m, s, p, qty_l[i], t, i, prev_mid2[m])
            prev_bb[m] = bb_l[i]
            prev_ba[m] = ba_l[i]
            prev_mid2[m] = mid2_l[i]
            if t >= next_dec[m]:
                next_dec[m] = t + interval
                self._decide(m, t, i, bb_l[i], ba_l[i], mid2_l[i])
            if self.progress is not None and i % step == 0:
                self.progress(i, n)
        end_t = ts_l[-1] if n else 0
        for m in range(self.n_m):
            end_m = close[m] if closed[m] else min(end_t, close[m])
            if not closed[m]:
                self._uptime(m, end_m)
            self._inventory_time(m, end_m)
            self._sample_equity(m, prev_mid2[m])
            self.active_ns[m] = max(end_m - first_ts[m], 0)
        if self.progress is not None:
            self.progress(n, n)
        return self._result(prev_mid2, n)

    def _result(self, last_mid2: list[int], n: int) -> Result:
        log = self.log
        known = np.array([mm.result in ("yes", "no") for mm in log.markets], dtype=bool)
        settle_px = np.array([PRICE_SCALE if mm.result == "yes" else 0 for mm in log.markets], dtype=np.int64)
        mid2 = np.array(last_mid2, dtype=np.int64)
        marked = self.cash + (self.pos * mid2[:, None]) // 2 - self.fees
        settled_exact = self.cash + self.pos * settle_px[:, None] - self.fees
        settled = np.where(known[:, None], settled_exact, marked)
        active = np.maximum(self.active_ns, 1)[:, None].astype(np.float64)
        fills_n = self.n_fills
        per_market: dict[str, np.ndarray] = {
            "pnl_settled": settled,
            "pnl_marked": marked,
            "pnl_realized": self.realized,
            "fees": self.fees,
            "cash": self.cash,
            "position": self.pos,
            "fills": fills_n,
            "volume_buy": self.vol_buy,
            "volume_sell": self.vol_sell,
            "orders_placed": self.placed,
            "orders_rejected": self.rejected,
            "fill_rate": np.where(self.placed > 0, fills_n / np.maximum(self.placed, 1), 0.0),
            "spread_captured": self.spread_cap,
            **{f"markout_{h}s": self.markout[j] for j, h in enumerate(MARKOUT_S)},
            "inventory_mean": self.inv_tw / active,
            "inventory_abs_mean": self.inv_abs_tw / active,
            "inventory_max_abs": self.max_abs_pos,
            "max_drawdown": self.mdd_m,
            "quote_uptime": self.uptime_ns / active,
        }
        sums = ("pnl_settled", "pnl_marked", "pnl_realized", "fees", "fills", "volume_buy", "volume_sell",
                "orders_placed", "orders_rejected", "spread_captured", *(f"markout_{h}s" for h in MARKOUT_S))
        overall = {k: per_market[k].sum(axis=0) for k in sums}
        overall["max_drawdown"] = self.total_mdd
        overall["fill_rate"] = np.where(overall["orders_placed"] > 0,
                                        overall["fills"] / np.maximum(overall["orders_placed"], 1), 0.0)
        overall["return_usd"] = overall["pnl_settled"] / MONEY_SCALE
        return Result(log.tickers, self.c, per_market, overall, known, self.fills, self.inventory, n)


def run(log: EventLog, policy: Policy, config: RunConfig | None = None,
        progress: Callable[[int, int], None] | None = None) -> Result:
    return Backtest(log, policy, config, progress).run()
