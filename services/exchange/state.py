"""Per-market state the engine keeps next to the ``Market`` record: book, holders, trade statistics."""

from __future__ import annotations

from collections import deque

from .book import Book
from .events import TradePrint
from .markets import Market


class MarketState:
    """Mutable, engine-owned."""

    __slots__ = (
        "market", "book", "maker_rate", "holders", "last_price", "last_size", "volume", "dollar_volume",
        "recent", "volume_24h", "previous_price", "open_interest", "trades",
    )

    def __init__(self, market: Market, maker: tuple[int, int]) -> None:
        self.market = market
        self.book = Book(market.ticker)
        self.maker_rate = maker
        self.holders: dict[str, None] = {}
        self.last_price: int | None = None
        self.last_size = 0
        self.volume = 0
        self.dollar_volume = 0
        self.recent: deque[tuple[int, int, int]] = deque()  # (ts, count, price) of the last 24 h
        self.volume_24h = 0
        self.previous_price: int | None = None  # last trade price before the 24 h window
        self.open_interest = 0
        self.trades: list[TradePrint] = []
