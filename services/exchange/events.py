"""Events the engine hands to its listeners (the WS layer turns them into Kalshi WS messages).

A listener is any object with some of the ``on_*`` methods of :class:`Listener`; missing methods
are skipped. Events of one engine call are delivered after the call has finished, in order, so a
listener may query the engine and sees the state after the call. Listeners must not raise and must
not call mutating engine methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .ledger import FillRecord, Position, Settlement
from .orders import Order

# Virtual hours of public trades (and their candles) a simulator keeps: flat memory for a run left
# going (they grow ~70 kB per market and virtual hour), and the 24 h that volume_24h already spans.
DEFAULT_HISTORY_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class BookDelta:
    """Change of aggregate size at one level, in Kalshi's view: side ``yes`` = YES bids at the YES
    price; side ``no`` = NO bids at the NO price (= asks at 1 − price). ``user``/``client_order_id``
    name who caused it (Kalshi shows ``client_order_id`` only to that user)."""

    ticker: str
    side: str
    price: int
    delta: int
    ts_ns: int
    seq: int
    user: str | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class TradePrint:
    """A public trade at the resting order's YES price. ``taker_side`` is the taker's outcome side."""

    trade_id: str
    ticker: str
    price: int
    count: int
    taker_side: str
    taker_book_side: str
    ts_ns: int
    seq: int

    @property
    def no_price(self) -> int:
        from kmm.messages.units import ONE_DOLLAR

        return ONE_DOLLAR - self.price


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """``kind``: created | updated | canceled | executed. ``order`` is a snapshot."""

    user: str
    kind: str
    order: Order
    ts_ns: int


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    user: str
    position: Position
    ts_ns: int


@dataclass(frozen=True, slots=True)
class FillEvent:
    user: str
    fill: FillRecord


@dataclass(frozen=True, slots=True)
class MarketLifecycle:
    """``event_type``: created, activated, deactivated, close_date_updated, determined, settled; also
    opened and closed (open/close time passed), which are recorded but not sent (``SILENT_EVENTS``)."""

    ticker: str
    event_type: str
    status: str
    ts_ns: int
    result: str = ""
    close_ns: int | None = None


@dataclass(frozen=True, slots=True)
class OrderGroupUpdate:
    """``event_type``: created, triggered, reset, deleted, limit_updated."""

    user: str
    order_group_id: str
    event_type: str
    contracts_limit: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class SettlementEvent:
    user: str
    settlement: Settlement


class Listener(Protocol):
    def on_book_delta(self, ev: BookDelta) -> None: ...
    def on_trade(self, ev: TradePrint) -> None: ...
    def on_fill(self, ev: FillEvent) -> None: ...
    def on_order(self, ev: OrderUpdate) -> None: ...
    def on_position(self, ev: PositionUpdate) -> None: ...
    def on_market(self, ev: MarketLifecycle) -> None: ...
    def on_order_group(self, ev: OrderGroupUpdate) -> None: ...
    def on_settlement(self, ev: SettlementEvent) -> None: ...


EVENT_METHODS: dict[type, str] = {
    BookDelta: "on_book_delta",
    TradePrint: "on_trade",
    FillEvent: "on_fill",
    OrderUpdate: "on_order",
    PositionUpdate: "on_position",
    MarketLifecycle: "on_market",
    OrderGroupUpdate: "on_order_group",
    SettlementEvent: "on_settlement",
}
