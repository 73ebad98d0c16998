"""Fixed-point conversions at the JSON edge are exact or refuse."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmm.messages import units as u


def test_dollar_strings() -> None:
    assert u.dollars_to_price("0.5600") == 5600
    assert u.dollars_to_price("0.56") == 5600
    assert u.dollars_to_price("1") == 10_000
    assert u.price_to_dollars(5600) == "0.5600"
    assert u.price_to_dollars(-5) == "-0.0005"
    assert u.cents_to_price(42) == 4200


def test_counts() -> None:
    assert u.fp_to_count("10.00") == 1000
    assert u.fp_to_count("2.5") == 250
    assert u.fp_to_count(3) == 300
    assert u.count_to_fp(1005) == "10.05"
    assert u.contracts_to_count(7) == 700


@pytest.mark.parametrize("bad", ["0.00001", "abc", "NaN", "Infinity"])
def test_inexact_or_garbage_refused(bad: str) -> None:
    with pytest.raises(u.UnitError):
        u.dollars_to_price(bad)


def test_float_refused() -> None:
    with pytest.raises(u.UnitError):
        u.dollars_to_price(0.56)  # type: ignore[arg-type]


def test_money() -> None:
    assert u.notional(5600, 1000) == 5_600_000  # 10 contracts at $0.56 = $5.60
    assert u.money_to_dollars(5_600_000) == "5.6000"
    assert u.dollars_to_money("0.000001") == 1
    assert u.round_money_up(10_001, 10_000) == 20_000
    assert u.cents_to_money(150) == 1_500_000
    with pytest.raises(u.UnitError):
        u.money_to_dollars(1, places=4)


@given(st.integers(-10**9, 10**9))
def test_price_string_round_trip(p: int) -> None:
    assert u.dollars_to_price(u.price_to_dollars(p)) == p


@given(st.integers(-10**9, 10**9))
def test_count_string_round_trip(c: int) -> None:
    assert u.fp_to_count(u.count_to_fp(c)) == c


def test_quantize_price() -> None:
    assert u.quantize_price(Decimal("0.4237"), 100, up=False) == 4200
    assert u.quantize_price(Decimal("0.4237"), 100, up=True) == 4300
