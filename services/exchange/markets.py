"""Series, events and markets of the simulated exchange: registry, tick grid and status lifecycle.

Prices are ints in $0.0001 (``kmm.messages.units``); times are ns. ``Market.status`` uses Kalshi's
``Market.status`` enum (``initialized``, ``inactive``, ``active``, ``closed``, ``determined``,
``finalized``); "settled" is the lifecycle *event* name, ``finalized`` the status the SDK accepts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from kmm.messages.units import CENT, ONE_DOLLAR

from .errors import INVALID_PRICE, MARKET_CLOSED, bad_request

# Market.status values
INITIALIZED = "initialized"
INACTIVE = "inactive"
ACTIVE = "active"
CLOSED = "closed"
DETERMINED = "determined"
FINALIZED = "finalized"
MARKET_STATUSES = (INITIALIZED, INACTIVE, ACTIVE, CLOSED, DETERMINED, FINALIZED)

# market_lifecycle_v2 event types
EV_CREATED = "created"
EV_ACTIVATED = "activated"
EV_DEACTIVATED = "deactivated"
EV_CLOSE_DATE_UPDATED = "close_date_updated"
EV_DETERMINED = "determined"
EV_SETTLED = "settled"
# Transitions the engine records but Kalshi sends no WebSocket event for: open_time or close_time
# passing (docs.kalshi.com, getting_started/market_lifecycle, "Implicit (no WebSocket event)").
EV_OPENED = "opened"
EV_CLOSED = "closed"
SILENT_EVENTS = frozenset({EV_OPENED, EV_CLOSED})

# results
YES = "yes"
NO = "no"
RESULTS = (YES, NO)

# Series.fee_type values
FEE_QUADRATIC = "quadratic"
FEE_QUADRATIC_WITH_MAKER = "quadratic_with_maker_fees"
FEE_QUADRATIC_WITH_COMBO_MAKER = "quadratic_with_combo_maker_fees"
FEE_TYPES = (FEE_QUADRATIC, FEE_QUADRATIC_WITH_MAKER, FEE_QUADRATIC_WITH_COMBO_MAKER)

DEFAULT_SHARDS = 2


def shard_for(event_ticker: str, shards: int) -> int:
    """The exchange index (shard) of an event and all its markets: crc32 of the event ticker mod N."""
    return zlib.crc32(event_ticker.encode()) % shards if shards > 1 else 0


PriceRange = tuple[int, int, int]
"""(start, end, step) in price units, inclusive bounds."""

LINEAR_CENT: tuple[PriceRange, ...] = ((0, ONE_DOLLAR, CENT),)
DECI_CENT: tuple[PriceRange, ...] = ((0, ONE_DOLLAR, CENT // 10),)
TAPERED_DECI_CENT: tuple[PriceRange, ...] = (
    (0, 10 * CENT, CENT // 10),
    (10 * CENT, 90 * CENT, CENT),
    (90 * CENT, ONE_DOLLAR, CENT // 10),
)
PRICE_LEVEL_STRUCTURES: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": LINEAR_CENT,
    "deci_cent": DECI_CENT,
    "tapered_deci_cent": TAPERED_DECI_CENT,
}


@dataclass(slots=True)
class Series:
    ticker: str
    title: str = ""
    fee_type: str = FEE_QUADRATIC
    category: str = ""
    frequency: str = "custom"

    @property
    def has_maker_fees(self) -> bool:
        return self.fee_type in (FEE_QUADRATIC_WITH_MAKER, FEE_QUADRATIC_WITH_COMBO_MAKER)


@dataclass(slots=True)
class Event:
    event_ticker: str
    series_ticker: str
    title: str = ""
    sub_title: str = ""
    mutually_exclusive: bool = False
    market_tickers: list[str] = field(default_factory=list)
    exchange_index: int = 0


@dataclass(slots=True)
class Market:
    """One binary market. Mutable: the engine owns it; callers treat it as read-only."""

    ticker: str
    event_ticker: str
    series_ticker: str
    title: str = ""
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    status: str = INITIALIZED
    created_ns: int = 0
    updated_ns: int = 0
    open_ns: int = 0
    close_ns: int = 0
    latest_expiration_ns: int = 0
    settlement_timer_seconds: int = 0
    can_close_early: bool = True
    price_level_structure: str = "linear_cent"
    price_ranges: tuple[PriceRange, ...] = LINEAR_CENT
    result: str = ""
    determination_ns: int | None = None
    settlement_ns: int | None = None
    rules_primary: str = ""
    rules_secondary: str = ""
    exchange_index: int = 0

    def check_price(self, price: int) -> None:
        """Raise ``invalid_price`` unless 0 < price < $1 and on one band of the tick grid."""
        if not is_on_grid(self.price_ranges, price):
            raise bad_request(INVALID_PRICE, f"price {price} is not on the tick grid of {self.ticker}")

    def check_trading(self) -> None:
        if self.status != ACTIVE:
            raise bad_request(MARKET_CLOSED, f"market {self.ticker} is {self.status}")


def is_on_grid(ranges: tuple[PriceRange, ...], price: int) -> bool:
    if not 0 < price < ONE_DOLLAR:
        return False
    for start, end, step in ranges:
        if start <= price <= end and (price - start) % step == 0:
            return True
    return False


def grid_prices(ranges: tuple[PriceRange, ...]) -> list[int]:
    """Every valid order price of a grid, ascending (for generators and tests)."""
    prices: set[int] = set()
    for start, end, step in ranges:
        prices.update(p for p in range(start, end + 1, step) if 0 < p < ONE_DOLLAR)
    return sorted(prices)
