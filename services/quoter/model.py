"""Per-market state the quoter keeps: book top (without our own orders), market info, estimators, position."""

import math
from dataclasses import dataclass, field

from kmm.messages import BookUpdate, MarketInfo
from kmm.strategy.estimators import EwmaVolatility, hours_to_close, microprice, mid_price
from kmm.strategy.own_orders import OwnOrders
from kmm.strategy.quoting import MAKER_FEE_RATE, MarketState
from kmm.strategy.ticks import NONE_HIGH, NONE_LOW, TickGrid, tick_grid


@dataclass
class MarketModel:
    market: str
    sigma_prior: float
    space: str = "price"
    info: MarketInfo | None = None
    grid: TickGrid = field(default_factory=tick_grid)
    best_bid: int = NONE_LOW
    best_ask: int = NONE_HIGH
    bid_size: int = 0
    ask_size: int = 0
    position: int = 0
    vol: EwmaVolatility = field(init=False)
    price_vol: EwmaVolatility = field(init=False)  # σ in price space for risk (``vol`` itself in that space)
    last_book: BookUpdate | None = None
    last_quote: tuple[int, int, int, int] | None = None
    last_sent_ns: int = 0

    def __post_init__(self) -> None:
        self.vol = EwmaVolatility(prior_sigma=self.sigma_prior, space=self.space)
        self.price_vol = self.vol if self.space == "price" else EwmaVolatility(prior_sigma=self.sigma_prior)

    def on_info(self, info: MarketInfo) -> None:
        if self.info is None or info.tick_ranges != self.info.tick_ranges:
            self.grid = tick_grid(info.tick_ranges)
        self.info = info

    def on_book(self, book: BookUpdate, own: OwnOrders) -> None:
        """Take the book without our own resting size: we never price off our own quotes."""
        self.last_book = book
        bids, asks = own.strip(book)
        self.best_bid, self.bid_size = bids[0] if bids else (NONE_LOW, 0)
        self.best_ask, self.ask_size = asks[0] if asks else (NONE_HIGH, 0)
        mid = mid_price(self.best_bid, self.best_ask)
        if math.isfinite(mid):
            self.vol.update(book.ts_init, mid)
            if self.price_vol is not self.vol:
                self.price_vol.update(book.ts_init, mid)

    def fair(self, use_microprice: bool) -> float:
        if use_microprice:
            return microprice(self.best_bid, self.bid_size, self.best_ask, self.ask_size)
        return mid_price(self.best_bid, self.best_ask)

    def state(self, now_ns: int, use_microprice: bool) -> MarketState | None:
        fair = self.fair(use_microprice)
        if not math.isfinite(fair):
            return None
        close = self.info.close_ts if self.info else 0
        maker = MAKER_FEE_RATE if self.info is not None and self.info.maker_fees else 0.0
        return MarketState(fair=fair, best_bid=self.best_bid, best_ask=self.best_ask, position=self.position,
                           sigma=self.vol.sigma, tau_h=hours_to_close(close, now_ns), maker_fee_rate=maker)
