"""Helpers for the exchange-engine tests: a manual clock, unit shorthands and an event recorder."""

from __future__ import annotations

from kmm.messages.units import MONEY_SCALE
from kmm_services.exchange.engine import Exchange
from kmm_services.exchange.orders import CreateOrder

DOLLAR = MONEY_SCALE
CENT_M = MONEY_SCALE // 100
S = 1_000_000_000
T0 = 1_800_000_000 * S
TICKER = "KXT-26DEC31-A"
EVENT = "KXT-26DEC31"


def c(cents: int) -> int:
    """A price in cents → price units."""
    return cents * 100


def n(contracts: int) -> int:
    """Whole contracts → count units."""
    return contracts * 100


def usd(dollars: int | float) -> int:
    return round(dollars * MONEY_SCALE)


class Clock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t

    def advance(self, ns: int) -> None:
        self.t += ns


class Recorder:
    """Listener that keeps every event it gets, by kind."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def _keep(self, ev: object) -> None:
        self.events.append(ev)

    on_book_delta = on_trade = on_fill = on_order = on_position = on_market = _keep
    on_order_group = on_settlement = _keep

    def of(self, typ: type) -> list:
        return [e for e in self.events if isinstance(e, typ)]


def make_exchange(
    users: tuple[str, ...] = ("a", "b", "c", "d"), balance: int = usd(1000), fee_type: str = "quadratic",
    post_only_cross: str = "cancel", trade_history_ns: int | None = None, **market_kw: object,
) -> tuple[Exchange, Clock]:
    clock = Clock()
    ex = Exchange(clock, post_only_cross=post_only_cross, trade_history_ns=trade_history_ns)
    ex.create_market(TICKER, EVENT, fee_type=fee_type, **market_kw)  # type: ignore[arg-type]
    for u in users:
        ex.open_account(u, balance)
    return ex, clock


def order(side: str, cents: int, contracts: int, **kw: object) -> CreateOrder:
    return CreateOrder(TICKER, side, c(cents), n(contracts), **kw)  # type: ignore[arg-type]
