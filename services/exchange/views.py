"""Read-only result shapes of the exchange engine and newest-first pagination with opaque cursors.

Prices in $0.0001, counts in 0.01 contract, money in µ$, times in ns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from . import errors as E
from .errors import bad_request

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BookLevels:
    """Kalshi's orderbook view: YES bids and NO bids, each ascending by price (best bid last),
    as (price, count) with the price in that side's own terms."""

    yes: list[tuple[int, int]]
    no: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class MarketStats:
    """Live market figures for GET /markets. Prices None when absent; money in µ$.
    ``previous_price`` is the last trade price as of 24 h ago (Kalshi's ``previous_price_dollars``)."""

    ticker: str
    yes_bid: int | None
    yes_bid_size: int
    yes_ask: int | None
    yes_ask_size: int
    last_price: int | None
    previous_price: int | None
    last_trade_size: int
    volume: int
    volume_24h: int
    open_interest: int
    dollar_volume: int
    dollar_open_interest: int


@dataclass(frozen=True, slots=True)
class BalanceView:
    """``cash`` is the ledger balance; ``locked`` the part reserved by resting orders;
    ``available`` = cash − locked; ``portfolio_value`` marks positions at the last trade price
    (cost basis when the market has not traded). All µ$."""

    cash: int
    locked: int
    available: int
    portfolio_value: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class EventPosition:
    """A user's positions in one event, summed over its markets (µ$ and count units)."""

    event_ticker: str
    total_cost: int
    total_cost_shares: int
    event_exposure: int
    realized_pnl: int
    fees_paid: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a newest-first list; ``cursor`` is "" when there are no more pages."""

    items: list[T]
    cursor: str


def page(items: list[T], seq_of: Callable[[T], int], keep: Callable[[T], bool], limit: int, cursor: str) -> Page[T]:
    """Newest-first page of ``items`` (oldest first, strictly increasing ``seq_of``) that pass ``keep``.
    The cursor is the seq of the last item returned; the next page holds items with a smaller seq."""
    if limit <= 0:
        raise bad_request(E.INVALID_PARAMETERS, "limit must be positive")
    try:
        below = int(cursor) if cursor else None
    except ValueError as exc:
        raise bad_request(E.INVALID_PARAMETERS, f"bad cursor {cursor!r}") from exc
    i = len(items) if below is None else bisect_left(items, below, key=seq_of)
    out: list[T] = []
    while i > 0:
        i -= 1
        it = items[i]
        if not keep(it):
            continue
        if len(out) == limit:
            return Page(out, str(seq_of(out[-1])))
        out.append(it)
    return Page(out, "")


def in_range(ts: int, lo: int | None, hi: int | None) -> bool:
    return (lo is None or ts >= lo) and (hi is None or ts <= hi)
