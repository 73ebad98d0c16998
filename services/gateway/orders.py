"""The gateway's order state machine, by client order id, from before the exchange acks to the end.

One :class:`Order` per order we sent (or adopted), moved only by exchange events — the answer to our
request, a fill, an order update from the WebSocket or a REST read — never by what we hoped:

    PENDING_NEW ──ack──▶ RESTING ◀──update acked── PENDING_UPDATE ◀──amend/decrease sent── RESTING
        │ reject → REJECTED      │ fill → PARTIALLY_FILLED / FILLED            │ refused → previous
        │ no answer → AMBIGUOUS  │ cancel sent → PENDING_CANCEL ──acked──▶ CANCELED (a late fill still counts)
        └────────── AMBIGUOUS ──(read back from the exchange)──▶ RESTING / CANCELED / FILLED

Kalshi's order ``status`` is only resting / canceled / executed; partial fills show in its counts.
A request without a clear answer (timeout, 5xx, connection lost after sending) leaves the order
AMBIGUOUS until the exchange says what happened. Fills are applied once each (by trade), and an
exchange read that reports more filled contracts than the fills we have applied marks the order
``fills_pending`` so nothing is added to it before those fills arrive. A transition the table does not
allow is counted and logged as an error, never applied blindly.

At most one order per (market, side) is *working* (the one the planner moves); any other live order
on that side (an extra found at reconciliation, a late-landing order) is cancelled.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PENDING_NEW = "pending_new"  # create sent, no answer yet
RESTING = "resting"
PARTIALLY_FILLED = "partially_filled"
PENDING_UPDATE = "pending_update"  # amend or decrease sent
PENDING_CANCEL = "pending_cancel"
AMBIGUOUS = "ambiguous"  # a request's outcome is unknown: resolved only by reading the exchange
CANCELED = "canceled"
FILLED = "filled"
REJECTED = "rejected"

TERMINAL = frozenset({CANCELED, FILLED, REJECTED})
IN_FLIGHT = frozenset({PENDING_NEW, PENDING_UPDATE, PENDING_CANCEL, AMBIGUOUS})
LIVE = frozenset({RESTING, PARTIALLY_FILLED})

# status → the events that may move it (an exchange read may move any non-terminal order)
ALLOWED: dict[str, frozenset[str]] = {
    PENDING_NEW: frozenset({"ack", "reject", "ambiguous", "fill", "exchange"}),
    RESTING: frozenset({"update", "cancel", "fill", "exchange"}),
    PARTIALLY_FILLED: frozenset({"update", "cancel", "fill", "exchange"}),
    PENDING_UPDATE: frozenset({"updated", "refused", "ambiguous", "fill", "exchange", "gone"}),
    PENDING_CANCEL: frozenset({"canceled", "refused", "ambiguous", "fill", "exchange", "gone"}),
    AMBIGUOUS: frozenset({"ack", "exchange", "fill", "gone", "cancel"}),
    CANCELED: frozenset({"fill"}),  # a late fill after a cancel is real
    FILLED: frozenset({"fill"}),
    REJECTED: frozenset(),
}


def client_order_id(intent_id: str, market: str, side: str, attempt: int = 0) -> str:
    """Deterministic, ≤ 64 chars of [-\\w]: the same intent, market, side and attempt give the same id,
    so a redelivered approval or a retried create cannot place a second order."""
    digest = hashlib.blake2b(f"{intent_id}|{market}|{side}|{attempt}".encode(), digest_size=12).hexdigest()
    return f"kmm-{side[0]}-{digest}"


class IllegalTransition(RuntimeError):
    pass


@dataclass
class Order:
    client_order_id: str
    market: str
    side: str
    price: int
    count: int  # remaining (0.01-contract units) as far as the exchange has told us
    intent_id: str = ""
    order_id: str = ""
    status: str = PENDING_NEW
    filled: int = 0  # from the fills applied
    exchange_filled: int = 0  # the largest fill count an exchange read reported
    origin_ts: int = 0
    sent_ns: int = 0
    previous: str = ""  # status to return to when an update or cancel is refused
    pending: tuple[int, int] | None = None  # (price, remaining) an in-flight update asks for
    ambiguous_since: float = 0.0  # monotonic seconds
    hold_until: float = 0.0  # monotonic: no new request for it before (after a refusal)
    presigned_at: float = 0.0  # monotonic: its writes' signatures made ahead are none older than this
    history: list[str] = field(default_factory=list)

    @property
    def fills_pending(self) -> bool:
        return self.exchange_filled > self.filled

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def worst(self) -> tuple[int, int]:
        """(price, count) the order could rest at: the larger of now and an in-flight update."""
        if self.pending is not None and self.pending[1] > self.count:
            return self.pending
        return self.price, self.count

    # --- transitions (each named by the exchange event that causes it) -------------------------
    def _move(self, event: str, to: str) -> None:
        if event not in ALLOWED[self.status]:
            raise IllegalTransition(f"{self.client_order_id}: {event} in {self.status}")
        self.history.append(f"{self.status}-{event}->{to}")
        if len(self.history) > 32:
            del self.history[:16]
        self.status = to

    def _open_status(self) -> str:
        if self.count <= 0:
            return FILLED if self.filled or self.exchange_filled else CANCELED
        return PARTIALLY_FILLED if max(self.filled, self.exchange_filled) else RESTING

    def acked(self, order_id: str, remaining: int, filled: int) -> None:
        self.order_id = order_id or self.order_id
        self.exchange_filled = max(self.exchange_filled, filled)
        self.count = remaining
        self.ambiguous_since = 0.0
        self._move("ack", self._open_status())

    def rejected(self) -> None:
        self._move("reject", REJECTED)

    def ambiguous(self, now: float) -> None:
        self.ambiguous_since = self.ambiguous_since or now
        self._move("ambiguous", AMBIGUOUS)

    def update_sent(self, price: int, remaining: int) -> None:
        self.previous = self.status
        self.pending = (price, remaining)
        self._move("update", PENDING_UPDATE)

    def update_acked(self, price: int, remaining: int, filled: int = 0, canceled: bool = False) -> None:
        """The update's answer; ``canceled``: the exchange cancelled the order in answer to it (an amend
        that would cross, with post-only), whatever it had filled before."""
        self.exchange_filled = max(self.exchange_filled, filled)
        self.price, self.count, self.pending = price, remaining, None
        self._move("updated", CANCELED if canceled else self._open_status())

    def cancel_sent(self) -> None:
        self.previous = self.status if self.status != AMBIGUOUS else RESTING
        self._move("cancel", PENDING_CANCEL)

    def cancel_acked(self) -> None:
        self.pending = None
        self._move("canceled", CANCELED)

    def refused(self, hold_until: float) -> None:
        """An update or cancel the exchange refused: back to where it was, no retry before ``hold_until``."""
        self.pending = None
        self.hold_until = hold_until
        self._move("refused", self.previous or RESTING)

    def gone(self) -> None:
        """The exchange no longer has it (404 on an update or cancel): finished one way or another."""
        self.pending = None
        self._move("gone", FILLED if self.filled or self.exchange_filled else CANCELED)

    def fill(self, count: int) -> None:
        self.filled += count
        if self.filled > self.exchange_filled:
            self.count = max(self.count - (self.filled - max(self.exchange_filled, self.filled - count)), 0)
        if self.status in TERMINAL:
            self._move("fill", self.status)
        elif self.status in LIVE:
            self._move("fill", self._open_status())
        else:  # in flight: the answer to our request settles the status
            self.history.append(f"{self.status}-fill")

    def exchange(self, status: str, price: int, remaining: int, filled: int) -> None:
        """What the exchange holds (an order update or a REST read): it wins over our view."""
        if filled < max(self.filled, self.exchange_filled):
            if status == "resting":
                return  # an older read than the fills we have applied
        self.exchange_filled = max(self.exchange_filled, filled)
        self.ambiguous_since = 0.0
        if status == "resting":
            self.price, self.count = price, remaining
            if self.status in (PENDING_UPDATE, PENDING_CANCEL):
                return  # the answer to our request is still to come
            self._move("exchange", self._open_status())
        else:
            self.count, self.pending = 0, None
            self._move("exchange", FILLED if status == "executed" else CANCELED)


class OrderTable:
    """Every order not yet forgotten, by client order id and exchange order id; the working one per side."""

    def __init__(self) -> None:
        self.by_coid: dict[str, Order] = {}
        self.by_order_id: dict[str, Order] = {}
        self.working: dict[tuple[str, str], Order] = {}
        self.by_market: dict[str, dict[str, Order]] = {}  # market → its orders not yet forgotten
        self.illegal = 0

    def add(self, order: Order, working: bool = True) -> None:
        self.by_coid[order.client_order_id] = order
        self.by_market.setdefault(order.market, {})[order.client_order_id] = order
        if working:
            self.working[(order.market, order.side)] = order
        if order.order_id:
            self.by_order_id[order.order_id] = order

    def find(self, order_id: str = "", client_order_id: str = "") -> Order | None:
        return self.by_order_id.get(order_id) if order_id and order_id in self.by_order_id else \
            self.by_coid.get(client_order_id) if client_order_id else None

    def index(self, order: Order) -> None:
        if order.order_id:
            self.by_order_id[order.order_id] = order

    def apply(self, order: Order, event: str, *args: object) -> bool:
        """Run one transition; an illegal one is counted and logged, never applied (returns False)."""
        try:
            getattr(order, event)(*args)
        except IllegalTransition as exc:
            self.illegal += 1
            log.error("illegal order transition: %s", exc)
            return False
        self.index(order)
        if order.done:
            self.retire(order)
        return True

    def retire(self, order: Order) -> None:
        """A terminal order stops being the working one; it stays findable for late fills."""
        if self.working.get((order.market, order.side)) is order:
            del self.working[(order.market, order.side)]

    def forget(self, order: Order) -> None:
        self.retire(order)
        self.by_coid.pop(order.client_order_id, None)
        mine = self.by_market.get(order.market)
        if mine is not None:
            mine.pop(order.client_order_id, None)
            if not mine:
                del self.by_market[order.market]
        if order.order_id:
            self.by_order_id.pop(order.order_id, None)

    def get(self, market: str, side: str) -> Order | None:
        return self.working.get((market, side))

    def live(self) -> list[Order]:
        """Every order not in a terminal state (working or not)."""
        return [o for o in self.by_coid.values() if not o.done]

    def of_market(self, market: str) -> list[Order]:
        """The market's orders not in a terminal state (from its own index: the planner calls this for
        every market it plans, so it must not scan every order kept)."""
        return [o for o in self.by_market.get(market, {}).values() if not o.done]

    def prune(self, keep: int = 5000) -> None:
        """Forget the oldest terminal orders beyond ``keep`` (late fills for them match by order id)."""
        done = [o for o in self.by_coid.values() if o.done]
        for o in done[: max(len(done) - keep, 0)]:
            self.forget(o)
