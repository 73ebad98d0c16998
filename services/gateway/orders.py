"""The gateway's order table: every order we sent, by client order id, from before the ack to its end.

At most one working order per (market, side). ``client_order_id`` is derived from the intent, so a
redelivered approval or a retried create can never place a second order for the same intent.
"""

import hashlib
from dataclasses import dataclass, field

PENDING = "pending"  # request sent, no answer yet
OPEN = "open"  # acked and resting
AMBIGUOUS = "ambiguous"  # outcome unknown: must be resolved by reading the exchange
CANCELING = "canceling"
DONE = "done"  # canceled or fully filled


def client_order_id(intent_id: str, market: str, side: str, attempt: int = 0) -> str:
    """Deterministic, ≤ 64 chars of [-\\w]: the same intent, market and side give the same id."""
    digest = hashlib.blake2b(f"{intent_id}|{market}|{side}|{attempt}".encode(), digest_size=12).hexdigest()
    return f"kmm-{side[0]}-{digest}"


@dataclass
class WorkingOrder:
    client_order_id: str
    market: str
    side: str
    price: int
    count: int  # remaining (0.01-contract units)
    intent_id: str = ""
    order_id: str = ""
    status: str = PENDING
    filled: int = 0
    origin_ts: int = 0
    sent_ns: int = 0
    history: list[str] = field(default_factory=list)


class OrderTable:
    def __init__(self) -> None:
        self.by_coid: dict[str, WorkingOrder] = {}
        self.by_order_id: dict[str, WorkingOrder] = {}
        self.working: dict[tuple[str, str], WorkingOrder] = {}

    def add(self, order: WorkingOrder) -> None:
        self.by_coid[order.client_order_id] = order
        self.working[(order.market, order.side)] = order
        if order.order_id:
            self.by_order_id[order.order_id] = order

    def acked(self, order: WorkingOrder, order_id: str) -> None:
        order.order_id = order_id
        order.status = OPEN
        self.by_order_id[order_id] = order

    def done(self, order: WorkingOrder) -> None:
        order.status = DONE
        if self.working.get((order.market, order.side)) is order:
            del self.working[(order.market, order.side)]
        self.by_coid.pop(order.client_order_id, None)
        if order.order_id:
            self.by_order_id.pop(order.order_id, None)

    def get(self, market: str, side: str) -> WorkingOrder | None:
        return self.working.get((market, side))

    def open_orders(self) -> list[WorkingOrder]:
        return [o for o in self.working.values() if o.status != DONE]

    def markets(self) -> set[str]:
        return {m for m, _ in self.working}
