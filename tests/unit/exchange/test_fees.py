"""Kalshi fee formulas and fixed-point fee rounding, pinned by hand (kalshi-api.md §9)."""

from kmm.kalshi.fees import (
    COMBO_MAKER_RATE,
    MAKER_RATE,
    TAKER_RATE,
    fee_ceil_cent,
    fill_fee,
    maker_fee,
    maker_rate,
    taker_fee,
    trade_fee,
)


def test_taker_fee_one_contract_at_50c_is_2c() -> None:
    # 0.07 × 1 × 0.5 × 0.5 = 0.0175 → $0.02
    assert taker_fee(5000, 100) == 20_000


def test_taker_fee_100_contracts_at_50c_is_175() -> None:
    # 0.07 × 100 × 0.25 = 1.75 exactly: no rounding
    assert taker_fee(5000, 10_000) == 1_750_000


def test_taker_fee_rounds_up_to_the_cent() -> None:
    # 0.07 × 4 × 0.42 × 0.58 = 0.068208 → 0.07;  0.07 × 10 × 0.03 × 0.97 = 0.02037 → 0.03
    assert taker_fee(4200, 400) == 70_000
    assert taker_fee(300, 1000) == 30_000


def test_maker_fee_is_a_quarter_of_taker_and_only_on_maker_series() -> None:
    # 0.0175 × 100 × 0.25 = 0.4375 → 0.44
    assert maker_fee(5000, 10_000) == 440_000
    assert maker_fee(5000, 10_000, "quadratic") == 0
    # combo: 0.035 × 100 × 0.25 = 0.875 → 0.88
    assert maker_fee(5000, 10_000, "quadratic_with_combo_maker_fees") == 880_000
    assert maker_rate("quadratic_with_maker_fees") == MAKER_RATE
    assert maker_rate("quadratic_with_combo_maker_fees") == COMBO_MAKER_RATE


def test_fee_is_zero_at_the_edges_and_for_zero_count() -> None:
    assert taker_fee(5000, 0) == 0
    assert fee_ceil_cent(TAKER_RATE, 0, 100) == 0


def test_trade_fee_rounds_up_to_the_centicent() -> None:
    assert trade_fee(TAKER_RATE, 5000, 100) == 17_500  # 0.0175 exact
    # 0.07 × 1 × 0.055 × 0.945 = 0.00363825 → 0.0037
    assert trade_fee(TAKER_RATE, 550, 100) == 3_700
    # fractional: 0.07 × 0.37 × 0.5 × 0.5 = 0.006475 → 0.0065
    assert trade_fee(TAKER_RATE, 5000, 37) == 6_500


def test_fill_fee_buyer_balance_floored_to_cent() -> None:
    # buy 1 @ 0.50: revenue −0.50, trade fee 0.0175 → change −0.5175 → −0.52, rounding 0.0025
    f = fill_fee(-500_000, 17_500, 0)
    assert (f.trade_fee, f.rounding_fee, f.rebate, f.accumulator) == (17_500, 2_500, 0, 2_500)
    assert f.balance_delta == -520_000
    assert f.net_fee == 20_000


def test_fill_fee_seller_subpenny_revenue() -> None:
    # sell at 0.4213 ×1 (revenue +0.4213), fee 0.07×0.4213×0.5787 = 0.017066… → 0.0171
    fee = trade_fee(TAKER_RATE, 4213, 100)
    assert fee == 17_100
    f = fill_fee(421_300, fee, 0)
    # 0.4213 − 0.0171 = 0.4042 → 0.40; rounding 0.0042
    assert f.balance_delta == 400_000
    assert f.rounding_fee == 4_200


def test_accumulator_makes_split_fills_cost_what_one_fill_costs() -> None:
    # four fills of 1 @ 0.50 vs one fill of 4 @ 0.50 (0.07 × 4 × 0.25 = 0.07 exactly)
    acc, total = 0, 0
    for _ in range(4):
        f = fill_fee(-500_000, trade_fee(TAKER_RATE, 5000, 100), acc)
        acc = f.accumulator
        total += f.net_fee
    single = fill_fee(-2_000_000, trade_fee(TAKER_RATE, 5000, 400), 0)
    assert total == single.net_fee == 70_000
    assert acc == 0


def test_rebate_is_whole_cents_and_net_fee_sums_match_balance() -> None:
    f = fill_fee(-500_000, 17_500, 9_000)  # accumulator 0.009 + 0.0025 → rebate 0.01, carry 0.0015
    assert f.rebate == 10_000
    assert f.accumulator == 1_500
    assert f.balance_delta == -510_000
    assert -500_000 - f.net_fee == f.balance_delta


def test_direct_member_precision_centicent() -> None:
    f = fill_fee(-421_300, 17_100, 0, balance_step=100)
    assert f.rounding_fee == 0
    assert f.balance_delta == -438_400
