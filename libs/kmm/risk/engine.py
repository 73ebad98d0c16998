"""The risk engine: a deterministic veto over quote intents, with an ACTIVE / REDUCING / HALTED machine.

Pure state (no Redis, no I/O, clock injected) so the risk service and the backtester run the same code.

Inputs: market metadata (:meth:`RiskEngine.on_market`), books/marks (:meth:`on_book`), volatility
(:meth:`on_volatility`, σ in ¢/√h as from :mod:`kmm.strategy.estimators`), our fills (:meth:`on_fill`),
exchange position snapshots (:meth:`on_position`), cancels (:meth:`on_cancel`), and quote intents
(:meth:`check`). An approval is the market's new *target*: it replaces the previous approved target for
that market (the gateway amends or cancels the old orders), so limits are checked against the current
position plus the new target only.

State machine (transitions are :class:`StateEvent` with a reason; entering HALTED carries cancel-all):
- HALTED is latched: by :meth:`halt`, a per-market position beyond the hard limit, global worst-case
  exposure above its maximum, or the daily loss limit. Only :meth:`resume` clears the latch; if a breach
  still holds the engine halts again at once with that reason.
- REDUCING when exposure or daily loss is within ``near_fraction`` of its limit: every market may only
  quote the side that reduces its position.
- ACTIVE otherwise. REDUCING ↔ ACTIVE is automatic.

Checks on an intent, in order: halted → market known and open → prices on the grid, bid < ask, not
crossing the opposite best (the crossing side is dropped) → size scaled by volatility (σ_ref/σ, clipped)
→ per-market position limit scaled by volatility (near it: reducing side only; at it: that side stops)
→ global state (REDUCING: reducing sides only) and worst-case exposure headroom (opening sides shrink
to fit) → order-rate budget (token bucket; one token per side whose target changes). The daily loss
and exposure breaches are evaluated as state transitions before every check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from kmm.messages import ACTIVE, ASK, BID, HALTED, REDUCING, Approval, Denial, MarketInfo, QuoteIntent
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE
from kmm.risk.bucket import TokenBucket
from kmm.risk.exposure import PAYOUT, event_worst_loss, opening_order_loss
from kmm.strategy.ticks import TickGrid, tick_grid

OPEN_STATUSES = frozenset({"open", "active"})
NS_PER_DAY = 86_400 * NS_PER_S

# Denial codes
HALTED_CODE = "halted"
MARKET_UNKNOWN = "market_unknown"
MARKET_CLOSED = "market_closed"
OFF_GRID = "off_grid"
BAD_COUNT = "bad_count"
SELF_CROSSED = "self_crossed"
RATE_LIMITED = "rate_limited"
# Resize reasons
BID_CROSSES_BOOK = "bid_crosses_book"
ASK_CROSSES_BOOK = "ask_crosses_book"
VOL_SIZE = "vol_size"
NEAR_POSITION_LIMIT = "near_position_limit"
AT_POSITION_LIMIT = "at_position_limit"
POSITION_LIMIT = "position_limit"
REDUCING_ONLY = "reducing_only"
EXPOSURE_LIMIT = "exposure_limit"
DENIAL_CODES = (HALTED_CODE, MARKET_UNKNOWN, MARKET_CLOSED, OFF_GRID, BAD_COUNT, SELF_CROSSED, RATE_LIMITED)
RESIZE_REASONS = (BID_CROSSES_BOOK, ASK_CROSSES_BOOK, VOL_SIZE, NEAR_POSITION_LIMIT, AT_POSITION_LIMIT,
                  POSITION_LIMIT, REDUCING_ONLY, EXPOSURE_LIMIT)
# State reasons
MANUAL = "manual"
POSITION_BREACH = "position_breach"
EXPOSURE_BREACH = "exposure_breach"
DAILY_LOSS_BREACH = "daily_loss_breach"
NEAR_EXPOSURE = "near_exposure"
NEAR_DAILY_LOSS = "near_daily_loss"
WITHIN_LIMITS = "within_limits"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits. Counts in 0.01 contract, money in µ$, σ in ¢/√h."""

    position_limit: int = 100 * COUNT_SCALE  # hard per-market |position|; beyond it → HALTED
    near_fraction: float = 0.8  # "near a limit" threshold as a fraction of the limit
    max_exposure: int = 1_000 * MONEY_SCALE  # global worst-case settlement loss
    max_daily_loss: int = 100 * MONEY_SCALE  # loss since the start of the trading day (marked to mid)
    rate_capacity: float = 20.0  # token bucket: burst
    rate_per_s: float = 10.0  # token bucket: refill
    sigma_ref: float = 5.0  # σ at which limits and sizes are unscaled
    vol_limit_min: float = 0.25  # per-market limit multiplier clip (σ_ref/σ)
    vol_limit_max: float = 1.0
    vol_size_min: float = 0.25  # size multiplier clip (σ_ref/σ)
    vol_size_max: float = 2.0
    count_step: int = COUNT_SCALE  # sizes are floored to this many count units
    day_offset_ns: int = 0  # trading day starts at UTC midnight + offset


@dataclass(frozen=True, slots=True)
class StateEvent:
    ts_ns: int
    previous: str
    state: str
    reason: str
    cancel_all: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """Approved (possibly resized) target or a denial (``code``), with every reason that applied."""

    approved: bool
    market: str
    bid_price: int = 0
    bid_count: int = 0
    ask_price: int = 0
    ask_count: int = 0
    code: str = ""
    reasons: tuple[str, ...] = ()
    state: str = ACTIVE

    def to_approval(self, intent: QuoteIntent, ts_init: int) -> Approval:
        return Approval(
            intent_id=intent.intent_id, market=intent.market, bid_price=self.bid_price, bid_count=self.bid_count,
            ask_price=self.ask_price, ask_count=self.ask_count, expires_at_ns=intent.expires_at_ns,
            state=self.state, corr_id=intent.corr_id, ts_event=intent.ts_event, ts_init=ts_init,
            origin_ts=intent.origin_ts,
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
    target: tuple[int, int, int, int] = (0, 0, 0, 0)  # approved bid_price, bid_count, ask_price, ask_count
    cash: int = 0  # µ$ this market's trades moved (− bought, + sold; reconciled contracts at the mark)
    fees: int = 0  # µ$ of fees paid in this market


class RiskEngine:
    """See the module docstring. All times come from ``clock()`` (integer ns)."""

    def __init__(self, limits: RiskLimits, clock: Callable[[], int]) -> None:
        self.limits = limits
        self.clock = clock
        self.markets: dict[str, MarketRisk] = {}
        self.state = ACTIVE
        self.state_reason = ""
        self.cash = 0  # µ$: − bought, + sold, − fees
        self.events: list[StateEvent] = []
        self.bucket = TokenBucket(limits.rate_capacity, limits.rate_per_s)
        self._latched = ""  # reason of a latched HALT, "" if none
        self.reconciliations = 0
        self._day = -1
        self._day_start_value = 0

    # --- inputs --------------------------------------------------------------------------------

    def on_market(self, info: MarketInfo) -> None:
        m = self._market(info.market)
        m.info = info
        m.grid = tick_grid(info.tick_ranges)
        self._evaluate()

    def on_book(self, market: str, best_bid: int, best_ask: int, evaluate: bool = True) -> None:
        """Top of book (0 = no bid, 10_000 = no ask); the mid becomes the mark.

        A caller applying a batch of books passes ``evaluate=False`` and calls :meth:`evaluate` once
        after the batch (the state machine then sees the batch's marks together)."""
        m = self._market(market)
        m.best_bid, m.best_ask = best_bid, best_ask
        if 0 < best_bid < best_ask < PRICE_SCALE:
            m.mark = (best_bid + best_ask) // 2
        if evaluate:
            self._evaluate()

    def evaluate(self) -> None:
        """Re-run the state transitions (after ``on_book(..., evaluate=False)`` calls)."""
        self._evaluate()

    def on_volatility(self, market: str, sigma: float) -> None:
        self._market(market).sigma = sigma

    def on_fill(self, market: str, side: str, price: int, count: int, fee: int = 0) -> None:
        """One of our fills: ``side`` is the order's book side (bid = bought YES, ask = sold YES)."""
        if side not in (BID, ASK) or count <= 0:
            raise ValueError(f"bad fill {side!r} {count}")
        m = self._market(market)
        signed = count if side == BID else -count
        flow = -price * count if side == BID else price * count
        self.cash += flow - fee
        m.cash += flow
        m.fees += fee
        self._apply_trade(m, signed, price)
        bp, bc, ap, ac = m.target
        if side == BID:
            bc = max(bc - count, 0)
        else:
            ac = max(ac - count, 0)
        m.target = (bp if bc else 0, bc, ap if ac else 0, ac)
        if m.mark == 0:
            m.mark = price
        self._evaluate()

    def on_cancel(self, market: str, side: str, count: int) -> None:
        """Resting count removed without a fill (cancel, expiry, reject): it no longer counts as exposure."""
        m = self._market(market)
        bp, bc, ap, ac = m.target
        if side == BID:
            bc = max(bc - count, 0)
        elif side == ASK:
            ac = max(ac - count, 0)
        m.target = (bp if bc else 0, bc, ap if ac else 0, ac)

    def on_position(self, market: str, position: int) -> None:
        """The exchange's position (reconciliation). Unexplained contracts are costed at the mark (at the
        worst case, $1 per contract, if no mark is known) and leave the day's P&L unchanged."""
        m = self._market(market)
        diff = position - m.position
        if diff:
            price = m.mark if m.mark else (PAYOUT if diff > 0 else 0)
            self._apply_trade(m, diff, price)
            m.cash -= diff * m.mark  # as if traded at the mark: the market's P&L does not jump
            self._roll_day()
            self._day_start_value += diff * m.mark
            self.reconciliations += 1
        self._evaluate()

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

    # --- measures --------------------------------------------------------------------------------

    def exposure(self, skip_orders_of: str | None = None) -> int:
        """Global worst-case settlement loss (µ$) of positions and approved resting targets."""
        total = 0
        events: dict[str, list[tuple[int, int]]] = {}
        for name, m in self.markets.items():
            if m.info is not None and m.info.mutually_exclusive and m.info.event:
                events.setdefault(m.info.event, []).append((m.position, m.cost))
            else:
                total += m.cost
            if name != skip_orders_of:
                bp, bc, ap, ac = m.target
                total += opening_order_loss(m.position, bp, bc, ap, ac)
        for holdings in events.values():
            total += event_worst_loss(holdings)
        return total

    def value(self) -> int:
        """Cash plus positions marked to mid (µ$)."""
        return self.cash + sum(m.position * m.mark for m in self.markets.values())

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
        if m.info.status not in OPEN_STATUSES or (m.info.close_ts and m.info.close_ts <= now):
            return self._deny(intent, MARKET_CLOSED, (m.info.status,))
        bp, bc, ap, ac = intent.bid_price, intent.bid_count, intent.ask_price, intent.ask_count
        if bc < 0 or ac < 0:
            return self._deny(intent, BAD_COUNT)
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
        bid_room = max(limit - pos, 0)
        ask_room = max(limit + pos, 0)
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
        if bc > bid_room:
            if bid_room:
                reasons.append(POSITION_LIMIT)
            bc = bid_room // step * step
        if ac > ask_room:
            if ask_room:
                reasons.append(POSITION_LIMIT)
            ac = ask_room // step * step

        if self.state == REDUCING:
            rb, ra = min(bc, max(-pos, 0)), min(ac, max(pos, 0))
            if (rb, ra) != (bc, ac):
                reasons.append(REDUCING_ONLY)
            bc, ac = rb, ra
        headroom = lim.max_exposure - self.exposure(skip_orders_of=intent.market)
        opening = opening_order_loss(pos, bp, bc, ap, ac)
        if opening > headroom:
            reasons.append(EXPOSURE_LIMIT)
            bc, ac = _shrink_to(pos, bp, bc, ap, ac, max(headroom, 0), step)

        target = (bp if bc else 0, bc, ap if ac else 0, ac)
        cost = sum(1 for old, new in ((m.target[:2], target[:2]), (m.target[2:], target[2:])) if old != new)
        if cost and not self.bucket.try_take(now, float(cost)):
            return self._deny(intent, RATE_LIMITED, tuple(reasons))
        m.target = target
        return Decision(True, intent.market, target[0], target[1], target[2], target[3], "", tuple(reasons),
                        self.state)

    # --- internals ------------------------------------------------------------------------------

    def _market(self, market: str) -> MarketRisk:
        m = self.markets.get(market)
        if m is None:
            m = self.markets[market] = MarketRisk()
        return m

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

    def _evaluate(self, resuming: bool = False) -> None:
        lim = self.limits
        self._roll_day()
        loss = -(self.value() - self._day_start_value)
        exposure = self.exposure()
        breach = self._latched
        if not breach:
            if any(abs(m.position) > lim.position_limit for m in self.markets.values()):
                breach = POSITION_BREACH
            elif exposure > lim.max_exposure:
                breach = EXPOSURE_BREACH
            elif loss >= lim.max_daily_loss:
                breach = DAILY_LOSS_BREACH
        if breach:
            self._latched = breach
            self._set(HALTED, breach)
            return
        if self.state == HALTED and not resuming:
            return
        if exposure >= lim.near_fraction * lim.max_exposure:
            self._set(REDUCING, NEAR_EXPOSURE)
        elif loss >= lim.near_fraction * lim.max_daily_loss:
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


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


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
