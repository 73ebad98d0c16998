"""Series fee rates (multiplier, unknown types), the float twin the quoter uses, and one order's fills."""

import numpy as np
import pytest

from kmm.kalshi.fees import (
    CENT_MONEY,
    COMBO_MAKER_RATE,
    MAKER_RATE,
    PPM,
    TAKER_RATE,
    ZERO_RATE,
    fee_ceil_cent,
    fee_ceil_cent_float,
    fill_fee,
    maker_fee,
    maker_rate,
    order_fill_fee,
    parse_multiplier_ppm,
    rate_float,
    taker_rate,
    trade_fee,
)


def test_unknown_or_unmodelled_fee_types_assume_the_standard_maker_rate() -> None:
    assert maker_rate("quadratic") == ZERO_RATE
    assert maker_rate("quadratic_with_maker_fees") == MAKER_RATE
    assert maker_rate("quadratic_with_combo_maker_fees") == COMBO_MAKER_RATE
    for unknown in ("", "flat", "something_new"):
        assert maker_rate(unknown) == MAKER_RATE
    # a 1-lot at 50c on a series we could not look up pays 1c, as on a maker-fee series
    assert maker_fee(5000, 100, "") == CENT_MONEY


def test_the_fee_multiplier_scales_the_rate_exactly() -> None:
    assert maker_rate("quadratic_with_maker_fees", PPM // 2) == (7, 800)  # 0.00875
    assert maker_rate("quadratic_with_combo_maker_fees", 2 * PPM) == (7, 100)
    assert maker_rate("quadratic", 3 * PPM) == (0, 1)
    assert taker_rate(PPM) == TAKER_RATE and taker_rate(PPM // 2) == (7, 200)
    # 100 @ 50c at half the maker rate: 0.00875 × 100 × 0.25 = 0.21875 → $0.22
    assert maker_fee(5000, 10_000, "quadratic_with_maker_fees", PPM // 2) == 220_000
    with pytest.raises(ValueError):
        maker_rate("quadratic_with_maker_fees", -1)


@pytest.mark.parametrize(("text", "ppm"), [(1, PPM), ("1", PPM), ("0.5", 500_000), (1.25, 1_250_000), ("0", 0),
                                          ("2.000001", 2_000_001)])
def test_parse_multiplier(text, ppm) -> None:
    assert parse_multiplier_ppm(text) == ppm


@pytest.mark.parametrize("bad", [None, True, "x", "-1", "nan", "inf", "0.0000001", ""])
def test_parse_multiplier_rejects_bad_values(bad) -> None:
    with pytest.raises(ValueError):
        parse_multiplier_ppm(bad)


def test_float_twin_equals_the_exact_fee_on_every_price() -> None:
    prices = np.arange(1, 10_000, dtype=np.int64)
    for rate in (MAKER_RATE, COMBO_MAKER_RATE, TAKER_RATE, maker_rate("", PPM // 2), maker_rate("", 1_250_000)):
        rf = rate_float(rate)
        for contracts in (*range(1, 26), 37, 99, 100, 250, 1000):
            exact = np.array([fee_ceil_cent(rate, p, contracts * 100) for p in prices.tolist()]) // CENT_MONEY
            assert np.array_equal(fee_ceil_cent_float(rf, prices / 100.0, float(contracts)), exact), (rate, contracts)
    # scalar and array inputs give the same value (the live and the grid path)
    assert fee_ceil_cent_float(0.0175, 50.0, 1.0) == 1.0 == float(fee_ceil_cent_float(0.0175, np.array([50.0]), 1.0)[0])
    assert fee_ceil_cent_float(0.0175, 50.0, 16.0) == 7.0  # 0.0175 × 16 × 0.25 = 0.07 exactly: not 8c


def test_order_fill_fee_is_trade_fee_then_fill_fee() -> None:
    # a 10-lot maker bid at 50c filled 3 then 7: the accumulator rebates what per-fill ceilings overcharge
    acc, net = 0, []
    for qty in (300, 700):
        f = order_fill_fee(MAKER_RATE, 5000, qty, -5000 * qty, acc)
        assert f == fill_fee(-5000 * qty, trade_fee(MAKER_RATE, 5000, qty), acc)
        acc = f.accumulator
        net.append(f.net_fee)
    assert net == [20_000, 30_000]  # 1.3125c → 2c, then 3.0625c + 0.93c rounding − 1c rebate → 3c
    assert sum(net) == maker_fee(5000, 1000) == 50_000  # what one 10-lot fill costs
    assert maker_fee(5000, 300) + maker_fee(5000, 700) == 60_000  # the per-fill ceiling the backtest used to charge


def test_revenue_only_matters_modulo_the_balance_step() -> None:
    # YES-denominated cash (−p·n for a buy) and the exchange's cash for closing a short ((1 − p)·n)
    for price, qty in ((4213, 137), (5000, 100), (150, 3300)):
        a = order_fill_fee(MAKER_RATE, price, qty, -price * qty, 4_000)
        b = order_fill_fee(MAKER_RATE, price, qty, (10_000 - price) * qty, 4_000)
        assert a.net_fee == b.net_fee and a.accumulator == b.accumulator
