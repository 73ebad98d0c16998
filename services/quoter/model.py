"""Per-market state the quoter keeps: book top (without our own orders), market info, σ, the
adverse-selection guard and the position."""

import math
from dataclasses import dataclass, field

from kmm.kalshi.fees import maker_rate, rate_float
from kmm.messages import BookUpdate, Fill, MarketInfo, Trade
from kmm.strategy.estimators import TwoScaleVolatility, hours_to_close, microprice, mid_price
from kmm.strategy.guard import ASK_SIDE, BID_SIDE, AdverseGuard
from kmm.strategy.own_orders import OwnOrders
from kmm.strategy.quoting import MarketState, QuoteParams
from kmm.strategy.ticks import NONE_HIGH, NONE_LOW, TickGrid, tick_grid


def fee_rate(info: MarketInfo | None) -> float:
    """The maker rate the quotes price in: the series' fee type times its multiplier; an unknown
    series (no info, or ``fee_type`` "" from an old or failed lookup) pays the standard maker rate."""
    if info is None:
        return rate_float(maker_rate(""))
    fee_type = info.fee_type or ("quadratic_with_maker_fees" if info.maker_fees else "")
    return rate_float(maker_rate(fee_type, info.fee_multiplier_ppm))


@dataclass
class MarketModel:
    market: str
    sigma_prior: float
    space: str = "price"
    params: QuoteParams = field(default_factory=QuoteParams)
    sigma_lag: int = 10
    info: MarketInfo | None = None
    grid: TickGrid = field(default_factory=tick_grid)
    best_bid: int = NONE_LOW
    best_ask: int = NONE_HIGH
    bid_size: int = 0
    ask_size: int = 0
    position: int = 0
    vol: TwoScaleVolatility = field(init=False)
    price_vol: TwoScaleVolatility = field(init=False)  # σ in price space for risk (``vol`` itself in that space)
    guard: AdverseGuard = field(init=False)
    last_book: BookUpdate | None = None
    last_quote: tuple[int, int, int, int] | None = None
    last_sent_ns: int = 0

    def __post_init__(self) -> None:
        self.vol = TwoScaleVolatility(lag=self.sigma_lag, prior_sigma=self.sigma_prior, space=self.space)
        self.price_vol = self.vol if self.space == "price" else TwoScaleVolatility(lag=self.sigma_lag,
                                                                                   prior_sigma=self.sigma_prior)
        self.guard = AdverseGuard.from_params(self.params)

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

    def on_trade(self, trade: Trade, now_ns: int) -> None:
        """A public print seen at ``now_ns``: one-sided taker flow feeds the guard."""
        self.guard.on_trade(now_ns, trade.taker_side == "yes", trade.count)

    def on_fill(self, fill: Fill, now_ns: int) -> None:
        """One of our fills, seen at ``now_ns``: the guard scores its markout ``markout_s`` later."""
        self.guard.on_fill(now_ns, BID_SIDE if fill.side == "bid" else ASK_SIDE, 0, fill.price)

    def fair(self, use_microprice: bool) -> float:
        if use_microprice:
            return microprice(self.best_bid, self.bid_size, self.best_ask, self.ask_size)
        return mid_price(self.best_bid, self.best_ask)

    def state(self, now_ns: int, use_microprice: bool) -> MarketState | None:
        fair = self.fair(use_microprice)
        if not math.isfinite(fair):
            return None
        close = self.info.close_ts if self.info else 0
        bid_guard, ask_guard = self.guard.update1(now_ns, mid_price(self.best_bid, self.best_ask))
        return MarketState(fair=fair, best_bid=self.best_bid, best_ask=self.best_ask, position=self.position,
                           sigma=self.vol.sigma, tau_h=hours_to_close(close, now_ns), maker_fee_rate=fee_rate(self.info),
                           bid_guard=bid_guard, ask_guard=ask_guard)
