"""Fixed-point units used on the bus and in every ledger.

- price: integer units of $0.0001 (``PRICE_SCALE`` per dollar); a binary contract's price lies
  in [0, 10_000].
- count: integer units of 0.01 contract (``COUNT_SCALE`` per contract).
- money: integer units of $0.000001 (``MONEY_SCALE`` per dollar) = one price unit times one count
  unit, so ``price * count`` is exact money with no rounding.
- time: integer nanoseconds since the Unix epoch.

Decimal is used only to cross the JSON edge (Kalshi's dollar strings); floats never.
"""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

PRICE_SCALE = 10_000
COUNT_SCALE = 100
MONEY_SCALE = PRICE_SCALE * COUNT_SCALE
ONE_DOLLAR = PRICE_SCALE
CENT = PRICE_SCALE // 100
NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class UnitError(ValueError):
    """A value that cannot be represented exactly in our fixed-point units."""


def _decimal(value: str | int | Decimal) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise UnitError(f"refusing float/bool {value!r}: pass a string, int or Decimal")
    try:
        d = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise UnitError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise UnitError(f"not finite: {value!r}")
    return d


def _scaled(value: str | int | Decimal, scale: int, what: str) -> int:
    d = _decimal(value) * scale
    if d != d.to_integral_value():
        raise UnitError(f"{what} {value!r} is finer than 1/{scale}")
    return int(d)


def dollars_to_price(value: str | int | Decimal) -> int:
    """``"0.5600"`` → 5600. Exact; a finer value raises :class:`UnitError`."""
    return _scaled(value, PRICE_SCALE, "price")


def price_to_dollars(price: int) -> str:
    """5600 → ``"0.5600"`` (4 decimals, as Kalshi emits)."""
    sign = "-" if price < 0 else ""
    p = abs(price)
    return f"{sign}{p // PRICE_SCALE}.{p % PRICE_SCALE:04d}"


def cents_to_price(cents: int) -> int:
    """Legacy integer cents → price units."""
    return int(cents) * CENT


def fp_to_count(value: str | int | Decimal) -> int:
    """``"10.00"`` → 1000 (0.01-contract units). Exact."""
    return _scaled(value, COUNT_SCALE, "count")


def contracts_to_count(contracts: int) -> int:
    """Legacy whole contracts → count units."""
    return int(contracts) * COUNT_SCALE


def count_to_fp(count: int) -> str:
    """1000 → ``"10.00"``."""
    sign = "-" if count < 0 else ""
    c = abs(count)
    return f"{sign}{c // COUNT_SCALE}.{c % COUNT_SCALE:02d}"


def dollars_to_money(value: str | int | Decimal) -> int:
    """``"12.345678"`` → 12_345_678 (µ$). Exact."""
    return _scaled(value, MONEY_SCALE, "money")


def money_to_dollars(money: int, places: int = 4) -> str:
    """µ$ → a dollar string with ``places`` decimals (truncation is refused: use round_money)."""
    q = Decimal(money) / MONEY_SCALE
    s = q.quantize(Decimal(1).scaleb(-places))
    if s != q:
        raise UnitError(f"money {money} does not fit {places} decimals")
    return f"{s:f}"


def cents_to_money(cents: int) -> int:
    return int(cents) * (MONEY_SCALE // 100)


def money_to_cents_floor(money: int) -> int:
    return money // (MONEY_SCALE // 100)


def notional(price: int, count: int) -> int:
    """Money for ``count`` contracts at ``price``: exact, in µ$."""
    return price * count


def round_money_up(money: int, step: int) -> int:
    """Round µ$ up to a multiple of ``step`` µ$ (fees are rounded up to the cent)."""
    return -((-money) // step) * step


def quantize_price(value: Decimal, step: int, up: bool) -> int:
    """Snap a Decimal dollar price onto a grid of ``step`` price units (up or down)."""
    units = _decimal(value) * PRICE_SCALE / step
    rounded = units.to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
    return int(rounded) * step
