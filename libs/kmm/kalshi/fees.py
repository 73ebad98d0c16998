"""Kalshi trading fees in exact integer math (kalshi-api.md §9): the one home of the fee rules, used by
the simulator, the backtester and the quoter.

fee = multiplier × rate × C × P × (1 − P), with C contracts and P the price in dollars. In our units
(count in 0.01 contract, price in $0.0001, money in µ$): fee_µ$ = rate × count × price × (10⁴ − price)
/ 10⁴. Rates are exact fractions: taker 7/100; maker 175/10_000 (series ``quadratic_with_maker_fees``);
combo maker 35/1_000 (``quadratic_with_combo_maker_fees``); no maker fee on ``quadratic`` series. A
series' ``fee_multiplier`` (kept as an integer in parts per million) scales the rate exactly.

**Unknown fee type → maker fees apply at the standard rate.** A series we could not look up (``""``),
``flat`` (a fee table we have not modelled) or a fee type Kalshi adds later all get 0.0175: quoting as
if fees were charged costs a little spread when they are not; the opposite loses money on every fill.

Two roundings are offered:
- :func:`fee_ceil_cent` — the classic per-fill fee, rounded up to the cent;
- :func:`fill_fee` — the current fixed-point procedure (docs ``getting_started/fee_rounding``):
  trade fee rounded up to $0.0001; the balance change (revenue − trade fee) floored to the
  member's balance precision ($0.01 by default), the excess being a *rounding fee*; a per-order
  accumulator of rounding fees pays back whole cents so that an order's fills cost in total what one
  equivalent fill would (we rebate when the accumulator reaches $0.01, which makes that exact).
For whole-cent prices and whole contracts the two agree on a single fill.

numpy is imported only where an array is handled (an array argument means it is loaded already): the
gateway, which parses fees on every fill, starts without it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from kmm.messages.units import MONEY_SCALE, PRICE_SCALE

CENT_MONEY = MONEY_SCALE // 100
CENTICENT_MONEY = MONEY_SCALE // 10_000

PPM = 1_000_000  # fee multipliers are integers in parts per million (1.0 = 1_000_000)

TAKER_RATE = (7, 100)
MAKER_RATE = (175, 10_000)
COMBO_MAKER_RATE = (35, 1_000)
ZERO_RATE = (0, 1)

QUADRATIC = "quadratic"
QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
KNOWN_FEE_TYPES = (QUADRATIC, QUADRATIC_WITH_MAKER_FEES, QUADRATIC_WITH_COMBO_MAKER_FEES)

_MAKER_RATES = {
    QUADRATIC: ZERO_RATE,
    QUADRATIC_WITH_MAKER_FEES: MAKER_RATE,
    QUADRATIC_WITH_COMBO_MAKER_FEES: COMBO_MAKER_RATE,
}


def _scaled(rate: tuple[int, int], multiplier_ppm: int) -> tuple[int, int]:
    if multiplier_ppm < 0:
        raise ValueError(f"fee multiplier must be >= 0, got {multiplier_ppm} ppm")
    if multiplier_ppm == PPM:
        return rate
    num, den = rate[0] * multiplier_ppm, rate[1] * PPM
    g = math.gcd(num, den) or 1
    return num // g, den // g


def maker_rate(fee_type: str = "", multiplier_ppm: int = PPM) -> tuple[int, int]:
    """The maker rate of a series (exact fraction): zero on ``quadratic`` series, 0.0175 on maker-fee
    series, 0.035 on combo-maker series, and **0.0175 for any other or unknown fee type** (the safe
    assumption), times the series' ``fee_multiplier`` in ppm."""
    return _scaled(_MAKER_RATES.get(fee_type, MAKER_RATE), multiplier_ppm)


def taker_rate(multiplier_ppm: int = PPM) -> tuple[int, int]:
    """The taker rate 0.07 times the series' ``fee_multiplier`` in ppm."""
    return _scaled(TAKER_RATE, multiplier_ppm)


def rate_float(rate: tuple[int, int]) -> float:
    """A rate as the float the quoting math takes (for :func:`fee_ceil_cent_float`)."""
    return rate[0] / rate[1]


def parse_multiplier_ppm(value: object) -> int:
    """A ``fee_multiplier`` as Kalshi sends it (number or decimal string, e.g. ``1``, ``"0.5"``) → ppm.

    Raises ValueError on anything that is not a finite non-negative decimal with at most 6 places."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"fee_multiplier {value!r} is not a number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"fee_multiplier {value!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"fee_multiplier {value!r} must be a finite number >= 0")
    ppm = d * PPM
    if ppm != ppm.to_integral_value():
        raise ValueError(f"fee_multiplier {value!r} has more than 6 decimal places")
    return int(ppm)


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def fee_exact_ceil(rate: tuple[int, int], price: Any, count: Any, step: int) -> Any:
    """rate·C·P·(1−P) in µ$, rounded up to a multiple of ``step`` µ$ (exact rational math).

    ``price`` and ``count`` may be int64 arrays (the backtester's cells); products that could overflow
    int64 are done in Python integers, so the result is exact either way."""
    num, den = rate
    np = sys.modules.get("numpy")
    if np is not None and (isinstance(price, np.ndarray) or isinstance(count, np.ndarray)):
        price, count = np.asarray(price, np.int64), np.asarray(count, np.int64)
        if num * max(int(np.max(count, initial=0)), 1) * (PRICE_SCALE * PRICE_SCALE // 4) >= 2**62:
            price, count = price.astype(object), count.astype(object)
    raw_num = num * count * price * (PRICE_SCALE - price)
    raw_den = den * PRICE_SCALE
    return _ceil_div(raw_num, raw_den * step) * step


def fee_ceil_cent(rate: tuple[int, int], price: int, count: int) -> int:
    """Classic fee: rounded up to the next cent. 1 @ $0.50 taker → 20_000 µ$ ($0.02)."""
    return fee_exact_ceil(rate, price, count, CENT_MONEY)


def taker_fee(price: int, count: int) -> int:
    """Classic taker fee, ceil to cent, µ$."""
    return fee_ceil_cent(TAKER_RATE, price, count)


def maker_fee(price: int, count: int, fee_type: str = QUADRATIC_WITH_MAKER_FEES, multiplier_ppm: int = PPM) -> int:
    """Classic maker fee, ceil to cent, µ$ (0 on ``quadratic`` series)."""
    return fee_ceil_cent(maker_rate(fee_type, multiplier_ppm), price, count)


def fee_unit_c(rate: float, price_c: Any) -> Any:
    """rate × P × (1 − P) per contract, in cents, unrounded (float; ``price_c`` in cents)."""
    return rate * price_c * (100.0 - price_c) / 100.0


def fee_ceil_cent_float(rate: float, price_c: Any, contracts: Any) -> Any:
    """The classic per-fill fee rounded up to the cent, **in cents**, as floats (scalars or numpy
    arrays): the quoting math's twin of :func:`fee_ceil_cent` (``rate`` from :func:`rate_float`,
    ``price_c`` in cents, ``contracts`` in contracts). Equal to :func:`ceil_fee_c` of
    :func:`fee_unit_c`, which the quoter calls in two steps.

    The ceil allows 1e-9 ¢ of float error, so a fee that is a whole number of cents exactly is not
    rounded up a cent more; for every price on the $0.0001 grid and whole-contract counts it equals
    :func:`fee_ceil_cent` (tested). Only ``*``, ``/``, ``-`` and a ceil, so scalar and array
    results agree bit for bit.
    """
    return ceil_fee_c(fee_unit_c(rate, price_c), contracts)


def ceil_fee_c(unit_c: Any, contracts: Any) -> Any:
    """``unit_c`` × ``contracts`` rounded up to the cent (float cents), see :func:`fee_ceil_cent_float`."""
    raw = unit_c * contracts
    if isinstance(raw, float):
        v = raw - 1e-9
        return float(math.ceil(v)) if math.isfinite(v) else v  # NaN and ±inf pass through, as np.ceil
    import numpy as np

    return np.ceil(raw - 1e-9)


def trade_fee(rate: tuple[int, int], price: Any, count: Any) -> Any:
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
    revenue: Any, fee: Any, accumulator: Any, balance_step: int = CENT_MONEY
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


def order_fill_fee(rate: tuple[int, int], price: Any, count: Any, revenue: Any, accumulator: Any,
                   balance_step: int = CENT_MONEY) -> FillFee:
    """The fee of one fill of an order, as Kalshi charges it: :func:`trade_fee` at ``rate`` then
    :func:`fill_fee` with the order's rounding ``accumulator``. The simulator (maker and taker
    legs) and the backtester (our maker fills) both call this.

    ``revenue`` is the signed cash the fill moves before fees; only its value modulo the balance step
    matters, so YES-denominated cash (−price × count for a buy) and the exchange's position-aware
    cash (which differs by whole dollars × count) give the same fee. Every argument but the rate may
    be an int64 array (one fill per backtest cell); the fields of the result are then arrays.
    """
    return fill_fee(revenue, trade_fee(rate, price, count), accumulator, balance_step)
