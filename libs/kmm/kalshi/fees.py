"""Kalshi trading fees in exact integer math (kalshi-api.md §9), shared by the simulator and backtester.

fee = rate × C × P × (1 − P), with C contracts and P the price in dollars. In our units (count in
0.01 contract, price in $0.0001, money in µ$): fee_µ$ = rate × count × price × (10⁴ − price) / 10⁴.
Rates are exact fractions: taker 7/100; maker 175/10_000 (series ``quadratic_with_maker_fees``);
combo maker 35/1_000 (``quadratic_with_combo_maker_fees``); no maker fee otherwise.

Two roundings are offered:
- :func:`fee_ceil_cent` — the classic per-fill fee, rounded up to the cent;
- :func:`fill_fee` — the current fixed-point procedure (docs ``getting_started/fee_rounding``):
  trade fee rounded up to $0.0001; the balance change (revenue − trade fee) floored to the
  member's balance precision ($0.01 by default), the excess being a *rounding fee*; a per-order
  accumulator of rounding fees pays back whole cents so that an order's fills cost in total what one
  equivalent fill would (we rebate when the accumulator reaches $0.01, which makes that exact).
For whole-cent prices and whole contracts the two agree on a single fill.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmm.messages.units import MONEY_SCALE, PRICE_SCALE

CENT_MONEY = MONEY_SCALE // 100
CENTICENT_MONEY = MONEY_SCALE // 10_000

TAKER_RATE = (7, 100)
MAKER_RATE = (175, 10_000)
COMBO_MAKER_RATE = (35, 1_000)
ZERO_RATE = (0, 1)

_MAKER_RATES = {
    "quadratic_with_maker_fees": MAKER_RATE,
    "quadratic_with_combo_maker_fees": COMBO_MAKER_RATE,
}


def maker_rate(fee_type: str) -> tuple[int, int]:
    """The maker rate of a series ``fee_type`` (zero unless the series charges makers)."""
    return _MAKER_RATES.get(fee_type, ZERO_RATE)


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def fee_exact_ceil(rate: tuple[int, int], price: int, count: int, step: int) -> int:
    """rate·C·P·(1−P) in µ$, rounded up to a multiple of ``step`` µ$ (exact rational math)."""
    num, den = rate
    raw_num = num * count * price * (PRICE_SCALE - price)
    raw_den = den * PRICE_SCALE
    return _ceil_div(raw_num, raw_den * step) * step


def fee_ceil_cent(rate: tuple[int, int], price: int, count: int) -> int:
    """Classic fee: rounded up to the next cent. 1 @ $0.50 taker → 20_000 µ$ ($0.02)."""
    return fee_exact_ceil(rate, price, count, CENT_MONEY)


def taker_fee(price: int, count: int) -> int:
    """Classic taker fee, ceil to cent, µ$."""
    return fee_ceil_cent(TAKER_RATE, price, count)


def maker_fee(price: int, count: int, fee_type: str = "quadratic_with_maker_fees") -> int:
    """Classic maker fee, ceil to cent, µ$ (0 on series without maker fees)."""
    return fee_ceil_cent(maker_rate(fee_type), price, count)


def trade_fee(rate: tuple[int, int], price: int, count: int) -> int:
    """Fixed-point trade fee: rounded up to $0.0001 (µ$)."""
    return fee_exact_ceil(rate, price, count, CENTICENT_MONEY)


@dataclass(frozen=True, slots=True)
class FillFee:
    """Fee components of one fill (µ$). ``balance_delta`` = revenue − net fee."""

    trade_fee: int
    rounding_fee: int
    rebate: int
    accumulator: int
    balance_delta: int

    @property
    def net_fee(self) -> int:
        return self.trade_fee + self.rounding_fee - self.rebate


def fill_fee(
    revenue: int, fee: int, accumulator: int, balance_step: int = CENT_MONEY
) -> FillFee:
    """Apply the fixed-point rounding to one fill.

    ``revenue`` is the signed cash the fill moves before fees (negative for a buyer), ``fee`` the
    trade fee (already rounded to $0.0001), ``accumulator`` the order's rounding carried so far.
    Returns the components and the new accumulator.
    """
    change = revenue - fee
    floored = (change // balance_step) * balance_step
    rounding = change - floored
    accumulator += rounding
    rebate = (accumulator // CENT_MONEY) * CENT_MONEY
    accumulator -= rebate
    return FillFee(fee, rounding, rebate, accumulator, floored + rebate)
