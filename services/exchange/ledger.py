"""Accounts, positions, fills and settlements: the exchange's exact money ledger.

Units: money ints in µ$ (price × count), counts in 0.01 contract, prices in $0.0001.

Netting (Kalshi's single YES book, §5/§10): a position is signed (+YES / −NO). Buying YES while
short (long NO) first closes the NO contracts: the YES+NO pair is redeemed for $1, so closing c NO
contracts by buying YES at p pays the user (1 − p)·c; opening YES at p costs p·c. Symmetric for
sells. Hence every open YES+NO pair is backed by exactly $1 of locked collateral, and

    Σ cash + $1 × open_interest + exchange fees == Σ deposits          (conservation)

Fees follow kalshi-api.md §9 (fixed-point rounding, see ``kmm.kalshi.fees``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmm.messages.units import MONEY_SCALE, ONE_DOLLAR


@dataclass(slots=True)
class Position:
    """One user's position in one market. ``cost`` is the cost basis of the open contracts (µ$,
    ≥ 0: what was paid for the YES contracts if long, for the NO contracts if short).
    ``max_abs_position`` is the largest |position| the user ever held in it (after any fill)."""

    ticker: str
    event_ticker: str
    position: int = 0
    cost: int = 0
    realized_pnl: int = 0
    fees_paid: int = 0
    total_traded: int = 0
    volume: int = 0
    last_updated_ns: int = 0
    settled: bool = False
    exchange_index: int = 0
    max_abs_position: int = 0

    def snapshot(self) -> Position:
        return Position(
            self.ticker, self.event_ticker, self.position, self.cost, self.realized_pnl, self.fees_paid,
            self.total_traded, self.volume, self.last_updated_ns, self.settled, self.exchange_index,
            self.max_abs_position,
        )


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One side of one trade, as the user sees it. ``price`` is the YES price; ``fee`` is the net fee
    (trade fee + rounding fee − rebate) in µ$; ``post_position`` the signed position after it."""

    fill_id: str
    trade_id: str
    order_id: str
    client_order_id: str | None
    user: str
    ticker: str
    side: str
    price: int
    count: int
    is_taker: bool
    fee: int
    trade_fee: int
    rounding_fee: int
    rebate: int
    cash_delta: int
    post_position: int
    ts_ns: int
    seq: int
    exchange_index: int = 0

    @property
    def outcome_side(self) -> str:
        return "yes" if self.side == "bid" else "no"

    @property
    def no_price(self) -> int:
        return ONE_DOLLAR - self.price


@dataclass(frozen=True, slots=True)
class Settlement:
    """A market's settlement for one user (§6.4). Money in µ$; ``revenue_cents``/``value_cents`` are
    the integer-cent fields Kalshi still sends."""

    user: str
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: int
    yes_total_cost: int
    no_count: int
    no_total_cost: int
    revenue: int
    fee_cost: int
    settled_ns: int
    seq: int
    exchange_index: int = 0

    @property
    def revenue_cents(self) -> int:
        return self.revenue // (MONEY_SCALE // 100)

    @property
    def value_cents(self) -> int:
        return 100 if self.market_result == "yes" else 0


@dataclass(slots=True)
class Account:
    """A user's cash (µ$) and the part of it reserved by resting orders (``locked``)."""

    user: str
    cash: int = 0
    locked: int = 0
    deposits: int = 0
    updated_ns: int = 0
    keep_history: bool = True
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.cash - self.locked


def trade_cash(position: int, buy: bool, price: int, count: int) -> tuple[int, int, int]:
    """Split a trade of ``count`` at YES ``price`` into (closing count, opening count, cash delta
    before fees) for a user holding ``position``. ``buy`` = buying YES (book side bid)."""
    if buy:
        closing = min(count, -position) if position < 0 else 0
        opening = count - closing
        return closing, opening, (ONE_DOLLAR - price) * closing - price * opening
    closing = min(count, position) if position > 0 else 0
    opening = count - closing
    return closing, opening, price * closing - (ONE_DOLLAR - price) * opening


def apply_trade(pos: Position, buy: bool, price: int, count: int) -> int:
    """Update ``pos`` for a trade (cost basis, realized PnL, volume); return the cash delta before
    fees. Realized PnL on a close is proceeds minus the pro-rata cost basis, with the basis split by
    floor division so that a fully closed position has released exactly what it cost."""
    closing, opening, cash = trade_cash(pos.position, buy, price, count)
    unit_open = price if buy else ONE_DOLLAR - price
    if closing:
        held = abs(pos.position)
        released = pos.cost if closing == held else pos.cost * closing // held
        proceeds = (ONE_DOLLAR - unit_open) * closing
        pos.realized_pnl += proceeds - released
        pos.cost -= released
    if opening:
        pos.cost += unit_open * opening
    pos.position += count if buy else -count
    if abs(pos.position) > pos.max_abs_position:
        pos.max_abs_position = abs(pos.position)
    pos.total_traded += price * count if buy else (ONE_DOLLAR - price) * count
    pos.volume += count
    return cash
