"""One YES order book per market: price levels with FIFO queues (price-time priority).

Bids buy YES, asks sell YES. Each side keeps a dict price → :class:`Level` plus a sorted list of
prices (``bisect``), so best-price lookups are O(1) and level insert/delete O(levels). Each level
keeps its orders in an ``OrderedDict`` (O(1) append, removal anywhere, and front access).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict

from .orders import BID, Order


class Level:
    __slots__ = ("price", "orders", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: OrderedDict[str, Order] = OrderedDict()
        self.total = 0

    def first(self) -> Order:
        return next(iter(self.orders.values()))

    def ahead_of(self, order_id: str) -> int:
        """Remaining count queued before ``order_id`` at this level."""
        ahead = 0
        for oid, o in self.orders.items():
            if oid == order_id:
                return ahead
            ahead += o.remaining
        raise KeyError(order_id)


class BookSide:
    __slots__ = ("levels", "prices")

    def __init__(self) -> None:
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []

    def add(self, order: Order) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = Level(order.price)
            self.levels[order.price] = level
            insort(self.prices, order.price)
        level.orders[order.order_id] = order
        level.total += order.remaining

    def remove(self, order: Order) -> None:
        level = self.levels[order.price]
        del level.orders[order.order_id]
        level.total -= order.remaining
        if not level.orders:
            del self.levels[order.price]
            del self.prices[bisect_left(self.prices, order.price)]

    def __len__(self) -> int:
        return len(self.prices)


class Book:
    """The YES book of one market."""

    __slots__ = ("ticker", "bids", "asks")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.bids = BookSide()
        self.asks = BookSide()

    def side_of(self, order: Order) -> BookSide:
        return self.bids if order.side == BID else self.asks

    def add(self, order: Order) -> None:
        self.side_of(order).add(order)
        order.on_book = True

    def remove(self, order: Order) -> None:
        self.side_of(order).remove(order)
        order.on_book = False

    def reduce(self, order: Order, amount: int) -> None:
        """Lower a resting order's remaining in place (keeps its queue place)."""
        order.remaining -= amount
        self.side_of(order).levels[order.price].total -= amount

    def requeue(self, order: Order) -> None:
        """Send a resting order to the back of its level."""
        self.side_of(order).levels[order.price].orders.move_to_end(order.order_id)

    def best_bid(self) -> Level | None:
        b = self.bids
        return b.levels[b.prices[-1]] if b.prices else None

    def best_ask(self) -> Level | None:
        a = self.asks
        return a.levels[a.prices[0]] if a.prices else None

    def best_bid_price(self) -> int | None:
        return self.bids.prices[-1] if self.bids.prices else None

    def best_ask_price(self) -> int | None:
        return self.asks.prices[0] if self.asks.prices else None

    def queue_ahead(self, order: Order) -> int:
        return self.side_of(order).levels[order.price].ahead_of(order.order_id)

    def bid_levels(self) -> list[tuple[int, int]]:
        """(price, total) ascending."""
        lv = self.bids.levels
        return [(p, lv[p].total) for p in self.bids.prices]

    def ask_levels(self) -> list[tuple[int, int]]:
        lv = self.asks.levels
        return [(p, lv[p].total) for p in self.asks.prices]

    def is_crossed(self) -> bool:
        bb, ba = self.best_bid_price(), self.best_ask_price()
        return bb is not None and ba is not None and bb >= ba
