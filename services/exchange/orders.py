"""Order objects, order requests and acks of the exchange engine (V2 dialect: one YES book).

``side`` is the book side: ``bid`` buys YES at ``price``; ``ask`` sells YES at ``price`` (= buys NO
at 1 − price). Prices in $0.0001, counts in 0.01 contract, money in µ$, times in ns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter

BID = "bid"
ASK = "ask"
BOOK_SIDES = (BID, ASK)

GTC = "good_till_canceled"
IOC = "immediate_or_cancel"
FOK = "fill_or_kill"
TIMES_IN_FORCE = (GTC, IOC, FOK)

STP_TAKER_AT_CROSS = "taker_at_cross"
STP_MAKER = "maker"
STP_MODES = (STP_TAKER_AT_CROSS, STP_MAKER)

RESTING = "resting"
CANCELED = "canceled"
EXECUTED = "executed"
ORDER_STATUSES = (RESTING, CANCELED, EXECUTED)

# Order.last_update_reason values (why an order last changed)
R_CREATED = "created"
R_FILLED = "filled"
R_CANCELED = "canceled"
R_AMENDED = "amended"
R_DECREASED = "decreased"
R_EXPIRED = "expired"
R_SELF_TRADE = "self_trade_prevented"
R_IOC_REMAINDER = "ioc_remainder"
R_FOK_UNFILLED = "fok_unfilled"
R_ORDER_GROUP = "order_group_triggered"
R_MARKET_CLOSED = "market_closed"
R_PAUSED = "trading_paused"
R_REACTIVATED = "market_reactivated"  # Kalshi cancels resting orders when a paused market reopens
R_INSUFFICIENT = "insufficient_balance"
R_REDUCE_ONLY = "reduce_only_nothing_to_reduce"
R_POST_ONLY_CROSS = "post_only_cross_cancel"  # Kalshi changelog 2026-06-04: "Post Only Cross Cancel"

# What a post-only order (create or amend) that would cross the book gets (kalshi-api.md §12 item 1,
# unconfirmed): "cancel" = acknowledged and cancelled at once (201 / 200, remaining 0, last_update_reason
# post_only_cross_cancel; the changelog's reading, the default); "reject" = 400 post_only_rejected.
POST_ONLY_CANCEL = "cancel"
POST_ONLY_REJECT = "reject"
POST_ONLY_CROSS_MODES = (POST_ONLY_CANCEL, POST_ONLY_REJECT)


@dataclass(frozen=True, slots=True)
class CreateOrder:
    """A V2 create-order request (``CreateOrderV2Request``) in engine units."""

    ticker: str
    side: str
    price: int
    count: int
    time_in_force: str = GTC
    self_trade_prevention: str = STP_TAKER_AT_CROSS
    client_order_id: str | None = None
    post_only: bool = False
    reduce_only: bool = False
    expiration_ns: int | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool = False
    exchange_index: int | None = None  # None or -1: auto-route by ticker; else must be the market's shard


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """Amend: ``count`` is the new TOTAL (filled + remaining). ``expiration_ns=0`` removes the expiry."""

    price: int
    count: int
    updated_client_order_id: str | None = None
    expiration_ns: int | None = None


@dataclass(frozen=True, slots=True)
class OrderAck:
    """Reply to create / amend / decrease. ``fill_cost`` is Σ yes_price×count of this call's fills (µ$)
    and ``fees`` the fees charged on them; average price = fill_cost / fill_count."""

    order_id: str
    client_order_id: str | None
    status: str
    fill_count: int
    remaining_count: int
    fill_cost: int
    fees: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class CancelAck:
    order_id: str
    client_order_id: str | None
    reduced_by: int
    ts_ns: int


@dataclass(slots=True)
class Order:
    """A live order. The engine mutates it; everyone else reads it (or a :meth:`snapshot`)."""

    order_id: str
    user: str
    ticker: str
    event_ticker: str
    side: str
    price: int
    initial_count: int
    time_in_force: str
    self_trade_prevention: str
    client_order_id: str | None
    post_only: bool
    reduce_only: bool
    expiration_ns: int | None
    order_group_id: str | None
    cancel_order_on_pause: bool
    created_ns: int
    created_seq: int
    seq: int
    fill_count: int = 0
    remaining: int = 0
    status: str = RESTING
    last_update_ns: int = 0
    last_update_reason: str = R_CREATED
    taker_fill_cost: int = 0
    maker_fill_cost: int = 0
    taker_fill_count: int = 0
    maker_fill_count: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    fee_accumulator: int = 0
    reserved: int = 0
    on_book: bool = False
    exchange_index: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == RESTING

    @property
    def outcome_side(self) -> str:
        return "yes" if self.side == BID else "no"

    @property
    def no_price(self) -> int:
        from kmm.messages.units import ONE_DOLLAR

        return ONE_DOLLAR - self.price

    def snapshot(self) -> Order:
        """A detached copy (for events)."""
        return _copy_order(self)


_ORDER_FIELDS = attrgetter(*(f.name for f in fields(Order)))


def _copy_order(o: Order) -> Order:
    return Order(*_ORDER_FIELDS(o))
