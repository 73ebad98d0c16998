"""Our own resting orders per price level, rebuilt from execution reports.

A market maker must not price off its own quotes: when our bid is the best bid, the book's mid
includes it, and a quoter that follows that mid chases itself. :class:`OwnOrders` follows
``exec:report`` (acks carry the resting price and size after every place, amend and decrease;
cancels, rejects and fills take size away) and :meth:`OwnOrders.strip` removes our size from a
book's levels. The live quoter and the fidelity check use it.
"""

from kmm.messages import BookUpdate, Fill, Levels, Message, OrderAck, OrderCancel, OrderReject


class OwnOrders:
    def __init__(self) -> None:
        self.orders: dict[str, tuple[str, str, int, int]] = {}  # client_order_id -> market, side, price, count
        self.levels: dict[tuple[str, str, int], int] = {}  # (market, side, price) -> our resting count

    def _move(self, coid: str, new: tuple[str, str, int, int] | None) -> None:
        old = self.orders.pop(coid, None)
        if old is not None:
            key = old[:3]
            left = self.levels.get(key, 0) - old[3]
            if left > 0:
                self.levels[key] = left
            else:
                self.levels.pop(key, None)
        if new is not None and new[3] > 0:
            self.orders[coid] = new
            self.levels[new[:3]] = self.levels.get(new[:3], 0) + new[3]

    def on_report(self, msg: Message) -> None:
        if isinstance(msg, OrderAck):
            self._move(msg.client_order_id, (msg.market, msg.side, msg.price, msg.count))
        elif isinstance(msg, OrderCancel | OrderReject):
            self._move(msg.client_order_id, None)
        elif isinstance(msg, Fill):
            old = self.orders.get(msg.client_order_id)
            if old is not None:
                self._move(msg.client_order_id, (*old[:3], max(old[3] - msg.count, 0)))

    def strip(self, book: BookUpdate) -> tuple[Levels, Levels]:
        """The book's YES bids and asks without our own size (levels left empty are dropped)."""
        if not self.levels:
            return book.bids, book.asks

        def side(levels: Levels, name: str) -> Levels:
            out = []
            for price, count in levels:
                left = count - self.levels.get((book.market, name, price), 0)
                if left > 0:
                    out.append((price, left))
            return tuple(out)

        return side(book.bids, "bid"), side(book.asks, "ask")
