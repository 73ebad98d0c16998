"""The binary adaptations of the quotes: resolution risk (jump floor, close rules), the rounded-fee floor
and the adverse-selection guard's effect on a side."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.kalshi.fees import COMBO_MAKER_RATE, rate_float
from kmm.strategy.quoting import (
    ASK_GUARD,
    BID_GUARD,
    CLOSE_REDUCE,
    CLOSE_STOP,
    JUMP_FLOOR,
    LOGIT_SPACE,
    MAKER_FEE_RATE,
    MIN_SPREAD,
    MarketState,
    ParamGrid,
    QuoteParams,
    quote_arrays,
    quote_one,
)
from kmm.strategy.ticks import tick_grid

CENT = tick_grid()
FINE = tick_grid(((0, 10_000, 1),))
H = 5.0 / 60.0
MIN = 1.0 / 60.0

# The case: 75% long (150 of 200 contracts), σ = 10 ¢/√h, book 45/55, γ 0.3, κ 1.5 (quoter defaults).
LONG = dict(fair=5000.0, best_bid=4500, best_ask=5500, position=15_000, sigma=10.0)


def live(**kw: float) -> QuoteParams:
    """The quoter's γ, κ with only the rules under test switched on (the defaults have them all on)."""
    off = {"jump_frac": 0.0, "reduce_before_h": 0.0, "stop_before_h": 0.0, "toxic_c": math.inf,
           "flow_threshold": math.inf}
    return QuoteParams(gamma=0.3, kappa=1.5, max_position=20_000, **{**off, **kw})


def test_skew_and_spread_do_not_vanish_into_the_close() -> None:
    # the textbook τ → 0 gave r = 50.00 and quotes 49/51 at 0 s (bidding 3c higher while long)
    at5, at0 = (quote_one(MarketState(**LONG, tau_h=t), live(), CENT) for t in (5 * MIN, 0.0))
    assert at5.reservation_c == pytest.approx(50.0 - 0.75 * 0.3 * 100.0 * H)  # 48.125
    assert at0.reservation_c == at5.reservation_c and at0.spread_c == at5.spread_c
    assert (at0.bid_price, at0.ask_price) == (4600, 5000)


def test_the_jump_floor_takes_over_inside_the_last_horizon() -> None:
    # j = 0.01 of P(100 − P) = 25 c² > σ²h = 8.33 c²: r = 50 − 0.75·0.3·25 = 44.375
    params = live(jump_frac=0.01)
    for tau in (5 * MIN, 2 * MIN, 0.0):
        q = quote_one(MarketState(**LONG, tau_h=tau), params, CENT)
        assert q.reservation_c == pytest.approx(44.375)
        assert JUMP_FLOOR & q.mask
        assert q.bid_count and q.bid_price <= 4000 and q.ask_price == 4900  # sells below mid, bids far away
    # an hour out the floor is 25·(5/60) = 2.1 c² < 8.33: no effect
    far = quote_one(MarketState(**LONG, tau_h=1.0), params, CENT)
    assert far.reservation_c == pytest.approx(48.125) and not JUMP_FLOOR & far.mask
    # logit space at p = ½: the mapped floor equals the price-space one
    lq = quote_one(MarketState(**LONG, tau_h=0.0), params, FINE, space=LOGIT_SPACE)
    assert lq.reservation_c == pytest.approx(100.0 / (1.0 + math.exp(0.75 * 0.3 * 25.0 / 25.0)))


@settings(max_examples=300, deadline=None)
@given(fair=st.floats(200.0, 9800.0), pos=st.integers(-20_000, 20_000), sigma=st.floats(0.0, 60.0),
       jump=st.floats(0.0, 1.0), horizon=st.floats(1 / 120, 2.0), t1=st.floats(0.0, 48.0), t2=st.floats(0.0, 48.0))
def test_skew_and_spread_never_shrink_as_the_close_approaches(fair, pos, sigma, jump, horizon, t1, t2) -> None:
    near, far = sorted((t1, t2))
    params = ParamGrid.from_params([QuoteParams(gamma=0.3, kappa=1.5, max_position=20_000, horizon_h=horizon,
                                                jump_frac=jump)])
    state = MarketState(fair=fair, position=pos, sigma=sigma, tau_h=np.array([near, far]))
    res = quote_arrays(state, params, FINE, post_only=False)
    skew = np.abs(res.reservation_c - fair / 100.0)
    assert skew[0] >= skew[1] - 1e-9
    assert res.spread_c[0] >= res.spread_c[1] - 1e-9


def test_reduce_only_then_stop_before_the_close() -> None:
    params = live(reduce_before_h=30 * MIN, stop_before_h=2 * MIN)
    early = quote_one(MarketState(**LONG, tau_h=31 * MIN), params, CENT)
    assert early.bid_count and early.ask_count and not CLOSE_REDUCE & early.mask
    reducing = quote_one(MarketState(**LONG, tau_h=20 * MIN), params, CENT)
    assert reducing.bid_count == 0 and reducing.ask_count == 1000 and CLOSE_REDUCE & reducing.mask
    big = quote_one(MarketState(**LONG, tau_h=20 * MIN), live(reduce_before_h=0.5, base_count=50_000), CENT)
    assert big.ask_count == 15_000  # capped at the position: never flips
    flat = quote_one(MarketState(**{**LONG, "position": 0}, tau_h=20 * MIN), params, CENT)
    assert flat.bid_count == flat.ask_count == 0  # nothing to reduce
    short = quote_one(MarketState(**{**LONG, "position": -500}, tau_h=20 * MIN), params, CENT)
    assert short.ask_count == 0 and short.bid_count == 500
    stopped = quote_one(MarketState(**LONG, tau_h=MIN), params, CENT)
    assert stopped.bid_count == stopped.ask_count == 0 and CLOSE_STOP & stopped.mask
    unknown = quote_one(MarketState(**LONG), params, CENT)  # close unknown: the rules never fire
    assert unknown.bid_count and unknown.ask_count


def test_min_spread_uses_the_rounded_fee_at_the_quoted_size() -> None:
    tiny = QuoteParams(gamma=0.01, kappa=50.0, base_count=100)  # model spread ≈ 0.04c, 1-lot
    state = MarketState(fair=5000.0, sigma=1.0, maker_fee_rate=MAKER_FEE_RATE)
    one = quote_one(state, tiny, FINE, post_only=False)
    # a 1-lot at 50c pays 0.4375c → 1c a side: 49/51 (the unrounded fee allowed 49.56/50.44)
    assert (one.bid_price, one.ask_price) == (4900, 5100) and MIN_SPREAD & one.mask
    ten = quote_one(state, QuoteParams(gamma=0.01, kappa=50.0, base_count=1000), FINE, post_only=False)
    assert (ten.bid_price, ten.ask_price) == (4950, 5050)  # 4.375c → 5c for ten: 0.5c a contract
    combo = quote_one(MarketState(fair=5000.0, sigma=1.0, maker_fee_rate=rate_float(COMBO_MAKER_RATE)),
                      QuoteParams(gamma=0.01, kappa=50.0, base_count=1000), FINE, post_only=False)
    assert (combo.bid_price, combo.ask_price) == (4910, 5090)  # 8.75c → 9c: 0.9c a contract
    free = quote_one(MarketState(fair=5000.0, sigma=1.0, maker_fee_rate=0.0), tiny, FINE, post_only=False)
    assert not MIN_SPREAD & free.mask and free.ask_price - free.bid_price <= 6


def test_a_guarded_side_moves_out_and_shrinks() -> None:
    params = QuoteParams(gamma=0.1, kappa=1.0, guard_widen_c=2.0, guard_size=0.5)
    base = quote_one(MarketState(fair=5000.0, sigma=10.0), params, CENT)
    bid_guarded = quote_one(MarketState(fair=5000.0, sigma=10.0, bid_guard=1.0), params, CENT)
    assert bid_guarded.bid_price == base.bid_price - 200 and bid_guarded.bid_count == base.bid_count // 2
    assert (bid_guarded.ask_price, bid_guarded.ask_count) == (base.ask_price, base.ask_count)
    assert BID_GUARD & bid_guarded.mask and not ASK_GUARD & bid_guarded.mask
    pulled = quote_one(MarketState(fair=5000.0, sigma=10.0, ask_guard=1.0), QuoteParams(guard_size=0.0), CENT)
    assert pulled.ask_count == 0 and pulled.bid_count == base.bid_count and ASK_GUARD & pulled.mask


def test_new_parameters_are_validated_and_sweepable() -> None:
    for bad in ({"jump_frac": 1.5}, {"guard_size": -0.1}, {"reduce_before_h": -1.0}, {"markout_s": 0.0}):
        with pytest.raises(ValueError):
            QuoteParams(**bad)
    grid = ParamGrid.product([0.1, 0.2], [1.0], QuoteParams(), jump_frac=[0.0, 0.01, 0.05])
    assert len(grid) == 6 and list(grid.jump_frac) == [0.0, 0.01, 0.05] * 2
    assert grid.params(4) == QuoteParams(gamma=0.2, kappa=1.0, jump_frac=0.01)
    assert grid.close_h == QuoteParams().reduce_before_h == 0.5  # the default: reduce-only 30 min before
    assert ParamGrid.of(reduce_before_h=[0.0, 0.25], stop_before_h=[1.0, 0.0]).close_h == 1.0
