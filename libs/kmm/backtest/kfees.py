"""Kalshi's fixed-point maker fee, compiled: ``kmm.kalshi.fees.trade_fee`` + ``fill_fee`` (the per-order
rounding accumulator) exactly as the exchange simulator charges them, so a backtest fill costs what
the simulator would charge for the same fill, to the µ$.

The revenue that the balance rounding applies to is the simulator's (``services/exchange/ledger.py``
``trade_cash``): closing contracts pay out at their own side's price, opening ones cost it.
"""

from __future__ import annotations

from numba import njit

from kmm.jitcache import guard
from kmm.kalshi.fees import CENT_MONEY, CENTICENT_MONEY
from kmm.messages.units import PRICE_SCALE

guard()  # numba's cache knows only this file: drop it when a module compiled in here changed

_ONE = PRICE_SCALE


@njit(cache=True, nogil=True, inline="always")
def trade_fee(num: int, den: int, price: int, count: int) -> int:
    """rate·C·P·(1−P) in µ$ rounded up to $0.0001 (``kmm.kalshi.fees.trade_fee``)."""
    if num == 0:
        return 0
    raw_num = num * count * price * (_ONE - price)
    raw_den = den * _ONE * CENTICENT_MONEY
    return -((-raw_num) // raw_den) * CENTICENT_MONEY


@njit(cache=True, nogil=True, inline="always")
def trade_revenue(position: int, buy: bool, price: int, count: int) -> int:
    """The simulator's cash delta before fees for a trade of ``count`` at ``price`` by a holder of ``position``."""
    if buy:
        closing = min(count, -position) if position < 0 else 0
        opening = count - closing
        return (_ONE - price) * closing - price * opening
    closing = min(count, position) if position > 0 else 0
    opening = count - closing
    return price * closing - (_ONE - price) * opening


@njit(cache=True, nogil=True, inline="always")
def fill_fee(revenue: int, fee: int, accumulator: int, balance_step: int) -> tuple[int, int]:
    """(net fee, new accumulator) of one fill (``kmm.kalshi.fees.fill_fee``)."""
    change = revenue - fee
    floored = (change // balance_step) * balance_step
    rounding = change - floored
    accumulator += rounding
    rebate = (accumulator // CENT_MONEY) * CENT_MONEY
    accumulator -= rebate
    return fee + rounding - rebate, accumulator
