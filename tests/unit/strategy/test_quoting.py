"""Avellaneda–Stoikov quoting: hand-computed values, binary adaptations and vector/scalar identity."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.strategy.quoting import (
    LOGIT_SPACE,
    MAKER_FEE_RATE,
    MIN_SPREAD,
    PRICE_SPACE,
    REDUCE_ONLY_LONG,
    VARIANCE_CAP,
    MarketState,
    ParamGrid,
    QuoteParams,
    maker_fee_cents,
    quote_arrays,
    quote_one,
    quote_row,
)
from kmm.strategy.ticks import TickGrid, tick_grid

CENT_GRID = tick_grid()
TAPERED = tick_grid(((0, 1000, 10), (1000, 9000, 100), (9000, 10_000, 10)))
GRIDS = [CENT_GRID, TAPERED, tick_grid(((0, 10_000, 10),)), tick_grid(((0, 10_000, 1),))]

# --- hand-computed values ---------------------------------------------------------------------


def test_textbook_values_at_the_money() -> None:
    # s = 50¢, σ = 10 ¢/√h, h = 5 min → v = 100/12 ¢²; γ = 0.1/¢, κ = 1/¢; q = 0.3 (no jump floor)
    params = QuoteParams(gamma=0.1, kappa=1.0, max_position=10_000, jump_frac=0.0)
    state = MarketState(fair=5000.0, position=3000, sigma=10.0, tau_h=1.0)
    quote = quote_one(state, params, CENT_GRID)
    v = 100.0 / 12.0
    r = 50.0 - 0.3 * 0.1 * v  # 49.75
    delta = 0.1 * v + (2 / 0.1) * math.log(1 + 0.1 / 1.0)  # 0.8333 + 1.9062 = 2.7395
    assert quote.reservation_c == pytest.approx(49.75)
    assert quote.reservation_c == pytest.approx(r)
    assert quote.spread_c == pytest.approx(delta)
    assert quote.spread_c == pytest.approx(2.7395369, abs=1e-6)
    # bid 48.38¢ rounds down to 48¢, ask 51.12¢ rounds up to 52¢
    assert (quote.bid_price, quote.ask_price) == (4800, 5200)
    assert (quote.bid_count, quote.ask_count) == (1000, 1000)


def test_grid_corners_give_spreads_of_a_few_cents() -> None:
    grid = ParamGrid.product([0.05, 1.0], [0.5, 5.0], QuoteParams(jump_frac=0.0))
    res = quote_arrays(MarketState(fair=5000.0, sigma=10.0, tau_h=1.0), grid, CENT_GRID)
    expected = [
        0.05 * 100 / 12 + 40 * math.log(1 + 0.1),  # γ=0.05 κ=0.5: 4.229
        0.05 * 100 / 12 + 40 * math.log(1 + 0.01),  # γ=0.05 κ=5: 0.815
        1.0 * 100 / 12 + 2 * math.log(1 + 2.0),  # γ=1 κ=0.5: 10.53
        1.0 * 100 / 12 + 2 * math.log(1 + 0.2),  # γ=1 κ=5: 8.698
    ]
    assert res.spread_c == pytest.approx(expected)
    assert list(res.ask_price - res.bid_price) == [600, 200, 1200, 1000]


def test_variance_is_capped_at_p_one_minus_p() -> None:
    # s = 2¢, σ = 100 ¢/√h over 1 h: σ²τ = 10_000 ¢² but p(1−p) = 2·98 = 196 ¢²
    params = QuoteParams(gamma=0.01, kappa=1.0, horizon_h=1.0, max_position=10_000)
    quote = quote_one(MarketState(fair=200.0, position=5000, sigma=100.0, tau_h=1.0), params, CENT_GRID)
    assert VARIANCE_CAP & quote.mask
    assert quote.reservation_c == pytest.approx(2.0 - 0.5 * 0.01 * 196.0)


def test_maker_fee_sets_the_minimum_spread() -> None:
    params = QuoteParams(gamma=0.01, kappa=50.0, min_edge_c=0.25)  # model spread ≈ 0.04¢
    state = MarketState(fair=5000.0, sigma=1.0, tau_h=1.0, maker_fee_rate=MAKER_FEE_RATE)
    quote = quote_one(state, params, tick_grid(((0, 10_000, 1),)), post_only=False)
    assert MIN_SPREAD & quote.mask
    assert maker_fee_cents(50.0) == pytest.approx(0.4375)
    # a 10-lot at 50c pays 4.375c → 5c: 0.5c a contract on each side (not the unrounded 0.4375c)
    assert quote.spread_c == pytest.approx(2 * 0.5 + 0.25)
    assert quote.ask_price - quote.bid_price >= 125  # 1.25¢ in $0.0001, snapped outward
    no_fee = quote_one(MarketState(fair=5000.0, sigma=1.0, tau_h=1.0), params, tick_grid(((0, 10_000, 1),)))
    assert no_fee.spread_c == pytest.approx(0.25)


def test_post_only_never_touches_the_opposite_best() -> None:
    params = QuoteParams(gamma=0.5, kappa=1.0, max_position=1000)
    # long at the limit side: the reservation price is far below the book
    state = MarketState(fair=5000.0, best_bid=4950 // 100 * 100, best_ask=5000, position=-700, sigma=30.0, tau_h=1.0)
    quote = quote_one(state, params, CENT_GRID)
    assert 0 < quote.bid_price < 5000


def test_reduce_only_near_the_limit() -> None:
    params = QuoteParams(gamma=0.1, kappa=1.0, max_position=10_000, reduce_only_at=0.8, base_count=5000)
    quote = quote_one(MarketState(fair=5000.0, position=8500, sigma=10.0), params, CENT_GRID)
    assert quote.bid_count == 0 and quote.bid_price == 0
    assert quote.ask_count == 5000
    assert REDUCE_ONLY_LONG & quote.mask
    small = quote_one(MarketState(fair=5000.0, position=8500, sigma=10.0),
                      QuoteParams(max_position=10_000, reduce_only_at=0.8, base_count=20_000), CENT_GRID)
    assert small.ask_count == 8500  # reduce-only never flips the position


def test_size_shape_eta() -> None:
    params = QuoteParams(eta=1.0, base_count=10_000, max_position=100_000, reduce_only_at=1.0)
    quote = quote_one(MarketState(fair=5000.0, position=50_000, sigma=5.0), params, CENT_GRID)
    assert quote.bid_count == math.floor(10_000 * math.exp(-0.5) / 100) * 100  # 6000
    assert quote.ask_count == 10_000


def test_quotes_leave_a_side_rather_than_move_towards_r() -> None:
    # reservation far below 1¢: no valid bid, the ask is quoted
    params = QuoteParams(gamma=1.0, kappa=1.0, horizon_h=1.0, max_position=100, reduce_only_at=2.0)
    quote = quote_one(MarketState(fair=150.0, position=90, sigma=50.0, tau_h=1.0), params, CENT_GRID)
    assert quote.bid_count == 0 and "no_bid" in quote.reasons
    assert quote.ask_price >= 100


def test_bad_input_gives_no_quote() -> None:
    quote = quote_one(MarketState(fair=float("nan"), sigma=1.0), QuoteParams(), CENT_GRID)
    assert quote.bid_count == quote.ask_count == 0 and "bad_input" in quote.reasons


def test_param_validation() -> None:
    with pytest.raises(ValueError):
        QuoteParams(gamma=0.0)
    with pytest.raises(ValueError):
        ParamGrid.of(kappa=[1.0, -1.0])
    with pytest.raises(ValueError):
        quote_one(MarketState(fair=5000.0), QuoteParams(), CENT_GRID, space="cents")


def test_tick_grid_tapered() -> None:
    assert TAPERED.floor1(905.5) == 900 and TAPERED.ceil1(1001.0) == 1100
    assert TAPERED.floor1(0.5) == 0 and TAPERED.ceil1(9995.0) == 10_000
    assert TAPERED.below1(1000) == 990 and TAPERED.above1(1000) == 1100
    assert TAPERED.contains(9010) and not TAPERED.contains(5050)
    with pytest.raises(ValueError):
        TickGrid(((0, 0, 1),))


# --- properties -------------------------------------------------------------------------------

prices = st.integers(min_value=1, max_value=9999)
states = st.builds(
    MarketState,
    fair=st.floats(min_value=-100.0, max_value=10_100.0, allow_nan=False),
    best_bid=st.integers(min_value=0, max_value=9999),
    best_ask=st.integers(min_value=1, max_value=10_000),
    position=st.integers(min_value=-30_000, max_value=30_000),
    sigma=st.floats(min_value=0.0, max_value=500.0) | st.just(float("inf")),
    tau_h=st.floats(min_value=-1.0, max_value=1000.0) | st.just(math.inf),
    maker_fee_rate=st.sampled_from([0.0, MAKER_FEE_RATE, 0.035, 0.00875]),
    bid_guard=st.sampled_from([0.0, 1.0]),
    ask_guard=st.sampled_from([0.0, 1.0]),
)
params_st = st.builds(
    QuoteParams,
    gamma=st.floats(min_value=0.01, max_value=2.0),
    kappa=st.floats(min_value=0.1, max_value=10.0),
    eta=st.floats(min_value=0.0, max_value=3.0),
    base_count=st.integers(min_value=0, max_value=50_000),
    max_position=st.integers(min_value=1, max_value=20_000),
    horizon_h=st.floats(min_value=0.0, max_value=100.0),
    min_edge_c=st.floats(min_value=0.0, max_value=3.0),
    reduce_only_at=st.floats(min_value=0.05, max_value=1.5),
    jump_frac=st.floats(min_value=0.0, max_value=1.0),
    reduce_before_h=st.sampled_from([0.0, 0.25, 2.0]),
    stop_before_h=st.sampled_from([0.0, 0.1]),
    guard_widen_c=st.floats(min_value=0.0, max_value=5.0),
    guard_size=st.floats(min_value=0.0, max_value=1.0),
) | st.builds(QuoteParams, horizon_h=st.just(math.inf), jump_frac=st.floats(min_value=0.0, max_value=1.0))
spaces = st.sampled_from([PRICE_SPACE, LOGIT_SPACE])
grids = st.sampled_from(GRIDS)


@settings(max_examples=400, deadline=None)
@given(states, params_st, grids, spaces, st.booleans(), st.sampled_from([1, 100]))
def test_scalar_path_equals_vector_path(state, params, grid, space, post_only, step) -> None:
    one = quote_one(state, params, grid, space=space, post_only=post_only, count_step=step)
    vec = quote_row(quote_arrays(state, ParamGrid.from_params([params]), grid, space=space, post_only=post_only,
                                 count_step=step))
    assert one.mask == vec.mask
    assert (one.bid_price, one.bid_count, one.ask_price, one.ask_count) == (
        vec.bid_price, vec.bid_count, vec.ask_price, vec.ask_count)
    assert one.reasons == vec.reasons
    assert one.reservation_c == vec.reservation_c or (math.isnan(one.reservation_c) and math.isnan(vec.reservation_c))


@settings(max_examples=30, deadline=None)
@given(states, st.lists(params_st, min_size=2, max_size=40), grids, spaces)
def test_each_row_of_a_grid_equals_its_single_call(state, plist, grid, space) -> None:
    res = quote_arrays(state, ParamGrid.from_params(plist), grid, space=space)
    for i, params in enumerate(plist):
        one = quote_one(state, params, grid, space=space)
        assert (one.bid_price, one.bid_count, one.ask_price, one.ask_count, one.mask) == (
            int(res.bid_price[i]), int(res.bid_count[i]), int(res.ask_price[i]), int(res.ask_count[i]),
            int(res.reasons[i]))


@settings(max_examples=300, deadline=None)
@given(states, params_st, grids, spaces, st.booleans())
def test_quotes_are_on_grid_inside_and_never_cross(state, params, grid, space, post_only) -> None:
    q = quote_one(state, params, grid, space=space, post_only=post_only)
    for price, count in ((q.bid_price, q.bid_count), (q.ask_price, q.ask_count)):
        assert (count == 0) == (price == 0)
        if count:
            assert 0 < price < 10_000 and grid.contains(price)
            assert count > 0
    if q.bid_count and q.ask_count:
        assert q.bid_price < q.ask_price
    if post_only:
        if q.bid_count:
            assert q.bid_price < state.best_ask
        if q.ask_count:
            assert q.ask_price > state.best_bid


@settings(max_examples=300, deadline=None)
@given(states, params_st, grids, spaces)
def test_counts_never_take_the_position_past_its_limit(state, params, grid, space) -> None:
    q = quote_one(state, params, grid, space=space)
    if q.bid_count:
        assert state.position + q.bid_count <= max(params.max_position, 0)
    if q.ask_count:
        assert state.position - q.ask_count >= -params.max_position
    assert q.bid_count >= 0 and q.ask_count >= 0


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=100.0, max_value=9900.0), st.integers(-10_000, 10_000), st.integers(-10_000, 10_000),
       params_st, st.floats(min_value=0.0, max_value=80.0), spaces)
def test_reservation_price_moves_against_inventory(fair, pos_a, pos_b, params, sigma, space) -> None:
    lo, hi = sorted((pos_a, pos_b))
    grid = ParamGrid.from_params([params])
    state = MarketState(fair=np.array([fair, fair]), position=np.array([lo, hi]), sigma=sigma, tau_h=1.0)
    r = quote_arrays(state, grid, CENT_GRID, space=space).reservation_c
    assert r[1] <= r[0]
    saturated = r[0] >= 100.0 or r[1] <= 0.0  # the logit map saturates in float64 at the bounds
    if hi > lo and sigma > 1.0 and params.horizon_h > 0.01 and max(-lo, hi) <= params.max_position and not saturated:
        assert r[1] < r[0]


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=500.0, max_value=9500.0), params_st, st.floats(0.0, 100.0), st.floats(0.0, 100.0),
       spaces, grids)
def test_spread_widens_with_sigma(fair, params, s1, s2, space, grid) -> None:
    lo, hi = sorted((s1, s2))
    state = MarketState(fair=fair, position=0, sigma=np.array([lo, hi]), tau_h=1.0)
    res = quote_arrays(state, ParamGrid.from_params([params]), grid, space=space, post_only=False)
    assert res.spread_c[1] >= res.spread_c[0]
    both = (res.bid_count > 0) & (res.ask_count > 0)
    if both.all():
        assert res.ask_price[1] - res.bid_price[1] >= res.ask_price[0] - res.bid_price[0]


def test_logit_quotes_tighten_near_the_bounds() -> None:
    params = QuoteParams(gamma=0.1, kappa=1.0)
    mid = quote_one(MarketState(fair=5000.0, sigma=20.0, tau_h=1.0), params, tick_grid(((0, 10_000, 1),)),
                    space=LOGIT_SPACE)
    edge = quote_one(MarketState(fair=300.0, sigma=20.0, tau_h=1.0), params, tick_grid(((0, 10_000, 1),)),
                     space=LOGIT_SPACE)
    assert edge.spread_c < mid.spread_c / 3
    assert 0 < edge.bid_price < 300 < edge.ask_price
