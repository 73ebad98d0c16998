"""The risk engine: a deterministic veto over quote intents, with an ACTIVE / REDUCING / HALTED machine.

Pure state (no Redis, no I/O, clock injected) so the risk service and the backtester run the same code.

Inputs: market metadata (:meth:`RiskEngine.on_market`), books/marks (:meth:`on_book`), volatility
(:meth:`on_volatility`, σ in ¢/√h as from :mod:`kmm.strategy.estimators`), our fills (:meth:`on_fill`),
settlements (:meth:`on_settlement`), exchange position snapshots (:meth:`on_position`), the gateway's
order reports (:meth:`on_order`, :meth:`on_order_done`) and approval reports
(:meth:`on_approval_status`), and quote intents (:meth:`check`).

The approval rule (:mod:`kmm.risk.approval`): an approval is permission for at most N contracts per
side, computed at the market's fill sequence. Fills consume every outstanding approval; only a newer
approval adds size. Until the gateway reports an approval applied (or refused, or expired), older
ones may still rest orders, so the worst case resting on a side is the largest of the outstanding
approvals and the orders the gateway reports resting. Per-market room is ``limit − position``: every
approval fits it at the fill sequence it was computed at, and fills shrink room and approvals alike.

State machine (transitions are :class:`StateEvent` with a reason; entering HALTED carries cancel-all):
- HALTED is latched: by :meth:`halt`, a per-market position beyond the hard limit, worst-case loss of
  the *holdings* above the exposure maximum, or the daily loss limit. Only :meth:`resume` clears the
  latch (or, with ``daily_loss_unlatch``, a new trading day a daily-loss halt); if a breach still holds
  the engine halts again at once with that reason.
- REDUCING when worst-case exposure (holdings and orders) or daily loss is within ``near_fraction`` of
  its limit: every market may only quote the side that reduces its position.
- ACTIVE otherwise. REDUCING ↔ ACTIVE is automatic.

Checks on an intent, in order: halted → market known, open, not settled → book age (a stale book may
only reduce) → prices on the grid, bid < ask, not crossing the opposite best (the crossing side is
dropped) → size scaled by volatility (σ_ref/σ, clipped) → per-market position limit scaled by
volatility (near it: reducing side only; at it: that side stops) → global state (REDUCING: reducing
sides only) and worst-case exposure headroom (opening sides shrink to fit under where REDUCING ends,
``RiskLimits.opening_exposure_cap``) → write budget (a token bucket in exchange write tokens; a side
that opens or moves costs a request, cancels and reductions are free; a side the budget cannot pay
keeps its previous approval). The daily loss and exposure breaches
are evaluated as state transitions before every check.

Exposure and value are running totals: every input that moves a market (its position, cost, mark,
approvals, resting orders, event membership) re-derives that market's share (and its event's, for
mutually exclusive brackets) and adjusts the totals by the difference, so a check costs the same
with 10 markets as with 1,000. :meth:`RiskEngine.recomputed` gives the same figures from scratch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kmm.messages import (
    ACTIVE,
    ASK,
    BID,
    HALTED,
    MARKET_ENDED_STATUSES,
    MARKET_OPEN_STATUSES,
    REDUCING,
    Approval,
    Denial,
    MarketInfo,
    QuoteIntent,
)
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE
from kmm.risk import fill_seq as fs
from kmm.risk.approval import Permit, Permits
from kmm.risk.bucket import TokenBucket
from kmm.risk.exposure import PAYOUT, event_worst_loss, opening_order_loss, opening_side_loss
from kmm.risk.reasons import (
    ASK_CROSSES_BOOK,
    AT_POSITION_LIMIT,
    BAD_COUNT,
    BID_CROSSES_BOOK,
    DAILY_LOSS_BREACH,
    EXPOSURE_BREACH,
    EXPOSURE_LIMIT,
    HALTED_CODE,
    MANUAL,
    MARKET_CLOSED,
    MARKET_UNKNOWN,
    NEAR_DAILY_LOSS,
    NEAR_EXPOSURE,
    NEAR_POSITION_LIMIT,
    OFF_GRID,
    POSITION_BREACH,
    POSITION_LIMIT,
    RATE_LIMITED,
    REDUCING_ONLY,
    SELF_CROSSED,
    STALE_BOOK,
    VOL_SIZE,
    WITHIN_LIMITS,
)
from kmm.strategy.ticks import TickGrid, tick_grid

NS_PER_DAY = 86_400 * NS_PER_S
MAX_PERMITS = 64  # beyond this (a gateway that never reports) the oldest merge, keeping the worst case


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits. Counts in 0.01 contract, money in µ$, σ in ¢/√h, write budget in exchange tokens."""

    position_limit: int = 100 * COUNT_SCALE  # hard per-market |position|; beyond it → HALTED
    near_fraction: float = 0.8  # "near a limit" threshold as a fraction of the limit
    near_hysteresis: float = 0.05  # REDUCING ends only below (near_fraction − this) of the limit
    max_exposure: int = 1_000 * MONEY_SCALE  # global worst-case settlement loss
    max_daily_loss: int = 100 * MONEY_SCALE  # loss since the start of the trading day (marked to mid)
    rate_capacity: float = 200.0  # write tokens: burst (Kalshi Basic holds two seconds of 100/s)
    rate_per_s: float = 100.0  # write tokens per second
    request_cost: float = 10.0  # tokens one order request costs
    sigma_ref: float = 5.0  # σ at which limits and sizes are unscaled
    vol_limit_min: float = 0.25  # per-market limit multiplier clip (σ_ref/σ)
    vol_limit_max: float = 1.0
    vol_size_min: float = 0.25  # size multiplier clip (σ_ref/σ)
    vol_size_max: float = 2.0
    count_step: int = COUNT_SCALE  # sizes are floored to this many count units
    day_offset_ns: int = 0  # trading day starts at UTC midnight + offset
    max_book_age_ns: int = 0  # an intent priced off an older book may only reduce (0: not checked)
    daily_loss_unlatch: bool = False  # a new trading day clears a daily-loss halt (backtests)

    @property
    def opening_exposure_cap(self) -> int:
        """Opening sides fit worst-case exposure under this (µ$): where REDUCING would end, so orders
        alone never take the engine into REDUCING (it would pull them, fall back under, place them again)."""
        return int(self.max_exposure * (self.near_fraction - self.near_hysteresis))


@dataclass(frozen=True, slots=True)
class StateEvent:
    ts_ns: int
    previous: str
    state: str
    reason: str
    cancel_all: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """Approved (possibly resized) target or a denial (``code``), with every reason that applied.

    ``fill_seq`` and ``position`` state the market's fills and position the approval was computed at."""

    approved: bool
    market: str
    bid_price: int = 0
    bid_count: int = 0
    ask_price: int = 0
    ask_count: int = 0
    code: str = ""
    reasons: tuple[str, ...] = ()
    state: str = ACTIVE
    fill_seq: int = 0
    position: int = 0

    def to_approval(self, intent: QuoteIntent, ts_init: int) -> Approval:
        return Approval(
            intent_id=intent.intent_id, market=intent.market, bid_price=self.bid_price, bid_count=self.bid_count,
            ask_price=self.ask_price, ask_count=self.ask_count, expires_at_ns=intent.expires_at_ns,
            state=self.state, corr_id=intent.corr_id, ts_event=intent.ts_event, ts_init=ts_init,
            origin_ts=intent.origin_ts, fill_seq=self.fill_seq, position=self.position,
        )

    def to_denial(self, intent: QuoteIntent, ts_init: int) -> Denial:
        return Denial(
            intent_id=intent.intent_id, market=intent.market, code=self.code, detail=",".join(self.reasons),
            corr_id=intent.corr_id, ts_event=intent.ts_event, ts_init=ts_init, origin_ts=intent.origin_ts,
        )


@dataclass(slots=True)
class MarketRisk:
    """What the engine tracks per market."""

    info: MarketInfo | None = None
    grid: TickGrid | None = None
    position: int = 0  # signed count (+ YES)
    cost: int = 0  # µ$ paid for the current holdings (YES at price, NO at 1 − price)
    best_bid: int = 0
    best_ask: int = PRICE_SCALE
    mark: int = 0  # price units; 0 = unknown
    sigma: float = math.nan
    cash: int = 0  # µ$ this market moved (− bought, + sold, + settlement payout; reconciled contracts at the mark)
    fees: int = 0  # µ$ of fees paid in this market
    fill_seq: int = 0  # the gateway's fill sequence of this market applied so far
    fills: int = 0  # our fills in this market applied (the sequence can be reused: kmm.risk.fill_seq)
    recent_fills: dict[str, int] = field(default_factory=dict)  # fill id → seq of the last few (fill_seq module)
    settled: str = ""  # the result, once the settlement is booked
    permits: Permits = field(default_factory=Permits)
    orders: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # coid → (side, price, resting count)
    # this market's share of the engine's running totals (see RiskEngine._touch)
    c_value: int = 0  # position × mark
    c_orders: int = 0  # order_exposure
    c_hold: int = 0  # cost, when not part of a mutually exclusive event
    c_event: str = ""  # the mutually exclusive event it is counted in ("" : standalone)


LEDGER_FIELDS = ("position", "cost", "cash", "fees", "fill_seq", "fills", "recent_fills", "settled", "mark")


class RiskEngine:
    """See the module docstring. All times come from ``clock()`` (integer ns)."""

    def __init__(self, limits: RiskLimits, clock: Callable[[], int]) -> None:
        self.limits = limits
        self.clock = clock
        self.markets: dict[str, MarketRisk] = {}
        self.state = ACTIVE
        self.state_reason = ""
        self.cash = 0  # µ$: − bought, + sold, − fees, + settlement payouts
        self.events: list[StateEvent] = []
        self.bucket = TokenBucket(limits.rate_capacity, limits.rate_per_s)
        self._latched = ""  # reason of a latched HALT, "" if none
        self.reconciliations = 0
        self._day = -1
        self._day_start_value = 0
        self._day_unlatched = False
        self._tot_value = 0  # Σ position × mark
        self._tot_orders = 0  # Σ order_exposure
        self._tot_hold = 0  # holdings_exposure
        self._event_loss: dict[str, int] = {}
        self._event_markets: dict[str, set[str]] = {}
        self._over_limit: set[str] = set()  # markets whose |position| is past the hard limit

    # --- inputs --------------------------------------------------------------------------------

    def on_market(self, info: MarketInfo) -> None:
        """A market's metadata. A market whose trading ended (closed or settled) that we never traded is
        forgotten: on Kalshi markets are listed and closed every day, and kept they would grow the engine
        without end (a market listed again comes back as new)."""
        if info.status in MARKET_ENDED_STATUSES and not self.ours(info.market):
            self._forget(info.market)
            return
        m = self._market(info.market)
        m.info = info
        m.grid = tick_grid(info.tick_ranges)
        self._touch(info.market)
        self._evaluate()

    def on_book(self, market: str, best_bid: int, best_ask: int, evaluate: bool = True) -> None:
        """Top of book (0 = no bid, 10_000 = no ask); the mid becomes the mark.

        A caller applying a batch of books passes ``evaluate=False`` and calls :meth:`evaluate` once
        after the batch (the state machine then sees the batch's marks together)."""
        m = self._market(market)
        m.best_bid, m.best_ask = best_bid, best_ask
        if 0 < best_bid < best_ask < PRICE_SCALE and not m.settled:
            m.mark = (best_bid + best_ask) // 2
            self._touch(market)
        if evaluate:
            self._evaluate()

    def evaluate(self) -> None:
        """Re-run the state transitions (after ``on_book(..., evaluate=False)`` calls)."""
        self._evaluate()

    def on_volatility(self, market: str, sigma: float) -> None:
        self._market(market).sigma = sigma

    def on_fill(self, market: str, side: str, price: int, count: int, fee: int = 0, seq: int = 0,
                order: str = "", fill_id: str = "") -> str:
        """One of our fills: ``side`` is the order's book side (bid = bought YES, ask = sold YES).

        ``seq`` is the market's fill sequence from the gateway (0: count it here) and ``fill_id`` the
        exchange's id (:mod:`kmm.risk.fill_seq`). A redelivered fill changes nothing and returns "";
        an applied one returns ``fill_seq.NEW``, or ``fill_seq.REUSED`` when its sequence had been
        applied before. It consumes every outstanding approval's side and the resting ``order`` it filled."""
        if side not in (BID, ASK) or count <= 0:
            raise ValueError(f"bad fill {side!r} {count}")
        m = self._market(market)
        kind, m.fill_seq = fs.admit(m.fill_seq, m.recent_fills, seq, fill_id)
        if kind == fs.DUPLICATE:
            return ""
        signed = count if side == BID else -count
        flow = -price * count if side == BID else price * count
        self.cash += flow - fee
        m.cash += flow
        m.fees += fee
        self._apply_trade(m, signed, price)
        m.fills += 1
        m.permits.on_fill(side, count)
        resting = m.orders.get(order)
        if resting is not None:
            left = resting[2] - count
            if left > 0:
                m.orders[order] = (resting[0], resting[1], left)
            else:
                del m.orders[order]
        if m.mark == 0:
            m.mark = price
        self._touch(market)
        self._evaluate()
        return kind

    def on_order(self, market: str, order: str, side: str, price: int, count: int) -> None:
        """The gateway reports ``order`` (client order id) resting ``count`` at ``price`` (0: gone)."""
        resting = count > 0 and side in (BID, ASK)
        if not resting and market not in self.markets:
            return  # gone from a market forgotten (its trading ended): nothing to retire
        m = self._market(market)
        if resting:
            m.orders[order] = (side, price, count)
        else:
            m.orders.pop(order, None)
        self._touch(market)

    def on_order_done(self, market: str, order: str) -> None:
        m = self.markets.get(market)
        if m is not None and m.orders.pop(order, None) is not None:
            self._touch(market)

    def on_approval_status(self, market: str, intent_id: str, status: str) -> None:
        """The gateway's report on an approval (applied / refused / expired) retires older ones (a market
        forgotten has none)."""
        m = self.markets.get(market)
        if m is not None:
            m.permits.on_status(intent_id, status)
            self._touch(market)

    def on_cancel(self, market: str, side: str, count: int) -> None:
        """Resting count removed that the current approvals will not rest again (a backtest's reject)."""
        m = self.markets.get(market)
        if m is not None:
            m.permits.on_fill(side, count)
            self._touch(market)

    def restore_approval(self, market: str, intent_id: str, bid_price: int, bid_count: int, ask_price: int,
                         ask_count: int, expires_at_ns: int = 0) -> None:
        """An approval issued before a restart that the gateway may still act on: it counts again."""
        self._market(market).permits.issue(intent_id, bid_price, bid_count, ask_price, ask_count, expires_at_ns)
        self._touch(market)

    def on_settlement(self, market: str, result: str, payout: int | None = None,
                      position: int | None = None) -> bool:
        """The market settled: book the payout, clear the position, release its exposure. Idempotent.

        ``payout`` (µ$) is in this engine's YES convention — the position times the settlement price
        ($1 on YES, $0 on NO), so a short pays $1 a contract when YES wins and nothing when NO wins;
        computed when None. From the exchange's own record use :func:`payout_from_exchange`.
        ``position`` is the position the exchange settled (reconciled first when it differs)."""
        m = self._market(market)
        if m.settled:
            return False
        if position is not None and position != m.position:
            self.on_position(market, position)
        if payout is None:
            payout = m.position * (PAYOUT if result == "yes" else 0)
        self.cash += payout
        m.cash += payout
        m.position, m.cost = 0, 0
        m.permits.clear()
        m.orders.clear()
        m.settled = result or "settled"
        m.mark = PAYOUT if result == "yes" else 0
        self._touch(market)
        self._evaluate()
        return True

    def on_position(self, market: str, position: int, fill_seq: int | None = None) -> bool:
        """The exchange's position (reconciliation). Unexplained contracts are costed at the mark (at the
        worst case, $1 per contract, if no mark is known) and leave the day's P&L unchanged.

        With ``fill_seq`` (the fills the reporter had seen), a report made before or after fills this
        engine has not applied yet is not comparable and is ignored (returns False)."""
        m = self._market(market)
        if fill_seq is not None and fill_seq != m.fill_seq:
            return False
        diff = position - m.position
        if diff:
            price = m.mark if m.mark else (PAYOUT if diff > 0 else 0)
            self._apply_trade(m, diff, price)
            m.cash -= diff * m.mark  # as if traded at the mark: the market's P&L does not jump
            self._roll_day()
            self._day_start_value += diff * m.mark
            self.reconciliations += 1
            self._touch(market)
        self._evaluate()
        return True

    # --- kill switch ---------------------------------------------------------------------------

    def halt(self, reason: str = MANUAL) -> None:
        self._latched = reason or MANUAL
        self._evaluate()

    def resume(self) -> None:
        """Clear the latch; the state becomes ACTIVE or REDUCING, or HALTED again if a breach holds."""
        self._latched = ""
        self._evaluate(resuming=True)
        if self.state == HALTED:
            self.events.append(StateEvent(self.clock(), HALTED, HALTED, f"resume_refused:{self.state_reason}", True))

    def drain_events(self) -> list[StateEvent]:
        events, self.events = self.events, []
        return events

    # --- persistence -------------------------------------------------------------------------------

    def global_snapshot(self) -> dict[str, Any]:
        """The state that must survive a restart, apart from the per-market ledgers."""
        return {"latched": self._latched, "day": self._day, "day_start_value": self._day_start_value,
                "cash": self.cash}

    def market_snapshot(self, market: str) -> dict[str, Any]:
        m = self._market(market)
        snap = {f: getattr(m, f) for f in LEDGER_FIELDS}
        snap["recent_fills"] = dict(m.recent_fills)
        return snap

    def restore(self, global_state: dict[str, Any], markets: dict[str, dict[str, Any]]) -> None:
        """Load what :meth:`global_snapshot` / :meth:`market_snapshot` saved (a halt comes back halted)."""
        for market, ledger in markets.items():
            m = self._market(market)
            for f in LEDGER_FIELDS:
                if f in ledger:
                    setattr(m, f, dict(ledger[f]) if f == "recent_fills" else ledger[f])
            if "fills" not in ledger:  # saved before fills were counted apart from the sequence
                m.fills = m.fill_seq
            self._touch(market)
        self.cash = int(global_state.get("cash", 0))
        self._day = int(global_state.get("day", -1))
        self._day_start_value = int(global_state.get("day_start_value", 0))
        self._latched = str(global_state.get("latched", ""))
        self._evaluate()

    # --- measures --------------------------------------------------------------------------------

    def holdings_exposure(self) -> int:
        """Worst-case settlement loss (µ$) of the positions alone (a running total)."""
        return self._tot_hold

    def recomputed(self) -> dict[str, int]:
        """Holdings exposure, order exposure and value computed from scratch (the running totals' check)."""
        return {"holdings": self._holdings_from_scratch(),
                "orders": sum(self._order_exposure(m, m.position) for m in self.markets.values()),
                "value": self.cash + sum(m.position * m.mark for m in self.markets.values())}

    def totals(self) -> dict[str, int]:
        """The running totals, in :meth:`recomputed`'s shape."""
        return {"holdings": self._tot_hold, "orders": self._tot_orders, "value": self.value()}

    def _holdings_from_scratch(self) -> int:
        total = 0
        events: dict[str, list[tuple[int, int]]] = {}
        for m in self.markets.values():
            if m.info is not None and m.info.mutually_exclusive and m.info.event:
                events.setdefault(m.info.event, []).append((m.position, m.cost))
            else:
                total += m.cost
        for holdings in events.values():
            total += event_worst_loss(holdings)
        return total

    def order_exposure(self, market: str, position: int | None = None) -> int:
        """Worst-case loss (µ$) the market's orders could add: per side, the largest of the outstanding
        approvals and of what the gateway reports resting, beyond the part that closes the position."""
        m = self._market(market)
        return self._order_exposure(m, m.position if position is None else position)

    @staticmethod
    def _order_exposure(m: MarketRisk, pos: int) -> int:
        total = 0
        for side in (BID, ASK):
            candidates = m.permits.worst(side)
            resting = [(p, c) for s, p, c in m.orders.values() if s == side]
            if resting:
                price = max(p for p, _ in resting) if side == BID else min(p for p, _ in resting)
                candidates.append((price, sum(c for _, c in resting)))
            total += max((opening_side_loss(pos, side, p, c) for p, c in candidates), default=0)
        return total

    def exposure(self, skip_orders_of: str | None = None) -> int:
        """Global worst-case settlement loss (µ$) of positions and of orders that may rest (running totals)."""
        total = self._tot_hold + self._tot_orders
        if skip_orders_of is not None:
            m = self.markets.get(skip_orders_of)
            if m is not None:
                total -= m.c_orders
        return total

    def fills_booked(self) -> int:
        """Our fills in the ledger, every market (restored at start, so a restart does not reset it)."""
        return sum(m.fills for m in self.markets.values())

    def value(self) -> int:
        """Cash plus positions marked to mid (µ$)."""
        return self.cash + self._tot_value

    def market_pnl(self, market: str) -> dict[str, int]:
        """One market's P&L in µ$: realized, unrealized (holdings at the mark − their cost) and fees;
        realized + unrealized − fees is the market's total."""
        m = self.markets[market]
        held_value = m.position * m.mark if m.position >= 0 else -m.position * (PRICE_SCALE - m.mark)
        unrealized = held_value - m.cost if m.mark else 0
        total = m.cash + m.position * m.mark - m.fees
        return {"realized": total + m.fees - unrealized, "unrealized": unrealized, "fees": m.fees}

    def daily_pnl(self) -> int:
        self._roll_day()
        return self.value() - self._day_start_value

    def position_limit(self, market: str) -> int:
        """The per-market limit scaled by volatility, floored to the count step."""
        lim = self.limits
        mult = _clip(lim.sigma_ref / self._sigma(market), lim.vol_limit_min, lim.vol_limit_max)
        return int(lim.position_limit * mult) // lim.count_step * lim.count_step

    # --- the check --------------------------------------------------------------------------------

    def check(self, intent: QuoteIntent) -> Decision:
        lim = self.limits
        now = self.clock()
        self._evaluate()
        if self.state == HALTED:
            return self._deny(intent, HALTED_CODE, (self.state_reason,))
        m = self.markets.get(intent.market)
        if m is None or m.info is None or m.grid is None:
            return self._deny(intent, MARKET_UNKNOWN)
        if m.settled:
            return self._deny(intent, MARKET_CLOSED, ("settled",))
        if m.info.status not in MARKET_OPEN_STATUSES or (m.info.close_ts and m.info.close_ts <= now):
            return self._deny(intent, MARKET_CLOSED, (m.info.status,))
        bp, bc, ap, ac = intent.bid_price, intent.bid_count, intent.ask_price, intent.ask_count
        if bc < 0 or ac < 0:
            return self._deny(intent, BAD_COUNT)
        latest = m.permits.latest()
        if (lim.max_book_age_ns and intent.book_ts and now - intent.book_ts > lim.max_book_age_ns
                and not _only_reduces(latest, bp, bc, ap, ac)):
            return self._deny(intent, STALE_BOOK, (f"book {(now - intent.book_ts) / NS_PER_S:.1f}s old",))
        if (bc and not m.grid.contains(bp)) or (ac and not m.grid.contains(ap)):
            return self._deny(intent, OFF_GRID)
        if bc and ac and bp >= ap:
            return self._deny(intent, SELF_CROSSED)
        reasons: list[str] = []
        if bc and bp >= m.best_ask:
            bc = 0
            reasons.append(BID_CROSSES_BOOK)
        if ac and ap <= m.best_bid:
            ac = 0
            reasons.append(ASK_CROSSES_BOOK)

        step = lim.count_step
        size_mult = _clip(lim.sigma_ref / self._sigma(intent.market), lim.vol_size_min, lim.vol_size_max)
        if size_mult != 1.0:
            nb, na = int(bc * size_mult) // step * step, int(ac * size_mult) // step * step
            if (nb, na) != (bc, ac):
                reasons.append(VOL_SIZE)
            bc, ac = nb, na

        pos = m.position
        limit = self.position_limit(intent.market)
        near = limit * lim.near_fraction
        bid_room = max(limit - pos, 0) // step * step
        ask_room = max(limit + pos, 0) // step * step
        if pos >= limit and bc:
            reasons.append(AT_POSITION_LIMIT)
            bid_room = 0
        elif pos >= near and bc:
            reasons.append(NEAR_POSITION_LIMIT)
            bid_room = 0
        if -pos >= limit and ac:
            reasons.append(AT_POSITION_LIMIT)
            ask_room = 0
        elif -pos >= near and ac:
            reasons.append(NEAR_POSITION_LIMIT)
            ask_room = 0
        if self.state == REDUCING:
            bid_room, ask_room = min(bid_room, max(-pos, 0)), min(ask_room, max(pos, 0))
        if bc > bid_room:
            if bid_room:
                reasons.append(POSITION_LIMIT if self.state != REDUCING else REDUCING_ONLY)
            elif self.state == REDUCING:
                reasons.append(REDUCING_ONLY)
            bc = bid_room
        if ac > ask_room:
            if ask_room:
                reasons.append(POSITION_LIMIT if self.state != REDUCING else REDUCING_ONLY)
            elif self.state == REDUCING:
                reasons.append(REDUCING_ONLY)
            ac = ask_room
        headroom = lim.opening_exposure_cap - self.exposure(skip_orders_of=intent.market)
        opening = opening_order_loss(pos, bp, bc, ap, ac)
        if opening > headroom:
            reasons.append(EXPOSURE_LIMIT)
            bc, ac = _shrink_to(pos, bp, bc, ap, ac, max(headroom, 0), step)

        # The write budget: a side that opens or moves costs a request; without the tokens it keeps
        # its previous approval (within today's room), so a cancel or a reduction is never refused.
        sides = {BID: (bp if bc else 0, bc, bid_room), ASK: (ap if ac else 0, ac, ask_room)}
        for side, (price, count, room) in list(sides.items()):
            prev = latest.side(side) if latest is not None else None
            prev_price, prev_count = (prev.price, prev.count) if prev is not None else (0, 0)
            opens = count > 0 and (price != prev_price or count > prev_count)
            if opens and not self.bucket.try_take(now, lim.request_cost):
                if RATE_LIMITED not in reasons:
                    reasons.append(RATE_LIMITED)
                keep = min(prev_count, room) if prev_count else 0
                crosses = keep and (prev_price >= m.best_ask if side == BID else prev_price <= m.best_bid)
                sides[side] = (prev_price if keep and not crosses else 0, 0 if crosses else keep, room)
        (bp, bc, _), (ap, ac, _) = sides[BID], sides[ASK]
        m.permits.issue(intent.intent_id, bp, bc, ap, ac, intent.expires_at_ns)
        if len(m.permits.items) > MAX_PERMITS:
            _merge_oldest(m.permits.items)
        self._touch(intent.market)
        return Decision(True, intent.market, bp if bc else 0, bc, ap if ac else 0, ac, "", tuple(reasons),
                        self.state, m.fill_seq, pos)

    # --- internals ------------------------------------------------------------------------------

    def _market(self, market: str) -> MarketRisk:
        m = self.markets.get(market)
        if m is None:
            m = self.markets[market] = MarketRisk()
        return m

    def ours(self, market: str) -> bool:
        """Something of ours was ever in ``market``: a fill, a position, money or an order (its ledger is
        not empty)."""
        m = self.markets.get(market)
        return m is not None and bool(m.fills or m.fill_seq or m.position or m.cost or m.cash or m.fees or m.orders
                                      or m.settled)

    def _forget(self, market: str) -> None:
        """Drop ``market`` and its share of the running totals (its permits die with it: trading ended)."""
        m = self.markets.pop(market, None)
        if m is None:
            return
        self._tot_value -= m.c_value
        self._tot_orders -= m.c_orders
        if m.c_event:
            self._event_markets[m.c_event].discard(market)
            self._event_changed(m.c_event)
        else:
            self._tot_hold -= m.c_hold
        self._over_limit.discard(market)
        self._evaluate()

    def _touch(self, market: str) -> None:
        """Re-derive ``market``'s share of the running totals (and its event's) after it changed."""
        m = self.markets[market]
        if abs(m.position) > self.limits.position_limit:
            self._over_limit.add(market)
        else:
            self._over_limit.discard(market)
        v = m.position * m.mark
        self._tot_value += v - m.c_value
        m.c_value = v
        o = self._order_exposure(m, m.position)
        self._tot_orders += o - m.c_orders
        m.c_orders = o
        event = m.info.event if m.info is not None and m.info.mutually_exclusive and m.info.event else ""
        if event != m.c_event:
            if m.c_event:
                self._event_markets[m.c_event].discard(market)
                self._event_changed(m.c_event)
            else:
                self._tot_hold -= m.c_hold
                m.c_hold = 0
            m.c_event = event
            if event:
                self._event_markets.setdefault(event, set()).add(market)
        if event:
            self._event_changed(event)
        else:
            self._tot_hold += m.cost - m.c_hold
            m.c_hold = m.cost

    def _event_changed(self, event: str) -> None:
        members = self._event_markets.get(event, ())
        loss = event_worst_loss((self.markets[n].position, self.markets[n].cost) for n in members) if members else 0
        self._tot_hold += loss - self._event_loss.get(event, 0)
        if members:
            self._event_loss[event] = loss
        else:
            self._event_loss.pop(event, None)
            self._event_markets.pop(event, None)

    def _sigma(self, market: str) -> float:
        m = self.markets.get(market)
        sigma = m.sigma if m is not None else math.nan
        return sigma if math.isfinite(sigma) and sigma > 0 else self.limits.sigma_ref

    def _deny(self, intent: QuoteIntent, code: str, reasons: tuple[str, ...] = ()) -> Decision:
        return Decision(False, intent.market, code=code, reasons=tuple(r for r in reasons if r), state=self.state)

    @staticmethod
    def _apply_trade(m: MarketRisk, signed: int, price: int) -> None:
        """Move the position by ``signed`` contracts at ``price``, keeping the cost basis of holdings."""
        pos = m.position
        if pos and (pos > 0) != (signed > 0):  # closes (part of) the holdings first
            closed = min(abs(signed), abs(pos))
            m.cost -= m.cost * closed // abs(pos)
            pos += closed if pos < 0 else -closed
            signed += -closed if signed > 0 else closed
            if pos == 0:
                m.cost = 0
        if signed:
            m.cost += price * signed if signed > 0 else (PAYOUT - price) * -signed
            pos += signed
        m.position = pos

    def _roll_day(self) -> None:
        day = (self.clock() - self.limits.day_offset_ns) // NS_PER_DAY
        if day != self._day:
            self._day = day
            self._day_start_value = self.value()
            if self.limits.daily_loss_unlatch and self._latched == DAILY_LOSS_BREACH:
                self._latched = ""
                self._day_unlatched = True

    def _evaluate(self, resuming: bool = False) -> None:
        lim = self.limits
        self._roll_day()
        loss = -(self.value() - self._day_start_value)
        breach = self._latched
        if not breach:
            if self._over_limit:
                breach = POSITION_BREACH
            elif self.holdings_exposure() > lim.max_exposure:
                breach = EXPOSURE_BREACH
            elif loss >= lim.max_daily_loss:
                breach = DAILY_LOSS_BREACH
        if breach:
            self._latched = breach
            self._set(HALTED, breach)
            return
        if self.state == HALTED and not resuming and not self._day_unlatched:
            return
        self._day_unlatched = False
        near = lim.near_fraction - (lim.near_hysteresis if self.state == REDUCING else 0.0)
        if self.exposure() >= near * lim.max_exposure:
            self._set(REDUCING, NEAR_EXPOSURE)
        elif loss >= near * lim.max_daily_loss:
            self._set(REDUCING, NEAR_DAILY_LOSS)
        else:
            self._set(ACTIVE, WITHIN_LIMITS)

    def _set(self, state: str, reason: str) -> None:
        if state == self.state:
            self.state_reason = reason if state != ACTIVE else ""
            return
        self.events.append(StateEvent(self.clock(), self.state, state, reason, state == HALTED))
        self.state = state
        self.state_reason = reason if state != ACTIVE else ""


def payout_from_exchange(revenue: int, position: int) -> int:
    """The exchange's settlement revenue ($1 per winning contract, YES or NO held) in this engine's YES
    convention: a short YES position (= NO held) was booked as YES sold at p (+p) where the exchange
    booked NO bought at 1 − p (−(1 − p)); the $1 a contract between the two comes back out here."""
    return revenue - PAYOUT * max(-position, 0)


def cash_from_exchange(balance_change: int, positions: Iterable[int]) -> int:
    """The exchange's balance change (µ$) in this engine's YES convention, given the positions (0.01
    contract) the account holds: the exchange holds a short YES as a NO bought at 1 − p where the engine
    booked a YES sold at p, so the balance is $1 a short contract below the engine's cash."""
    return balance_change + PAYOUT * sum(max(-p, 0) for p in positions)


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


def _only_reduces(latest: Permit | None, bp: int, bc: int, ap: int, ac: int) -> bool:
    """True when neither side rests more than the latest approval did at the same price."""
    for price, count, side in ((bp, bc, BID), (ap, ac, ASK)):
        if not count:
            continue
        prev = latest.side(side) if latest is not None else None
        if prev is None or prev.price != price or count > prev.count:
            return False
    return True


def _merge_oldest(items: list[Permit]) -> None:
    """Fold the two oldest approvals into one that rests the worst of both on each side."""
    a, b = items[0], items[1]
    for side in (BID, ASK):
        sa, sb = a.side(side), b.side(side)
        worst = max((sa, sb), key=lambda s: opening_side_loss(0, side, s.price, s.count))
        b.side(side).price, b.side(side).count = worst.price, max(sa.count, sb.count)
    del items[0]


def _shrink_to(pos: int, bp: int, bc: int, ap: int, ac: int, headroom: int, step: int) -> tuple[int, int]:
    """Scale the opening parts of both sides down proportionally so their worst-case loss fits."""
    bid_close, ask_close = min(bc, max(-pos, 0)), min(ac, max(pos, 0))
    bid_open, ask_open = bc - bid_close, ac - ask_close
    total = bp * bid_open + (PAYOUT - ap) * ask_open
    if total <= headroom:
        return bc, ac
    bid_open = bid_open * headroom // total // step * step
    ask_open = ask_open * headroom // total // step * step
    return bid_close + bid_open, ask_close + ask_open
