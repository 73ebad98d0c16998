"""The compiled quoting core equals the live ``quote_one`` (and so ``quote_arrays``) on random inputs:
bit for bit in price space; in logit space the quotes are equal and the float diagnostics agree to
1e-12 (the kernel's exp/log are libm's, quote_one's numpy's)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.backtest.kquote import hold_side1, quote_core
from kmm.strategy.quoting import MarketState, QuoteParams, hold_quote, quote_one
from kmm.strategy.ticks import LINEAR_CENT, TickGrid

GRIDS = [TickGrid(LINEAR_CENT), TickGrid(((0, 1000, 10), (1000, 9000, 100), (9000, 10_000, 10)))]


@settings(max_examples=400, deadline=None)
@given(fair=st.floats(0.0, 10_000.0), bb=st.integers(0, 9999), spread=st.integers(1, 3000),
       pos=st.integers(-20_000, 20_000), sigma=st.floats(0.0, 80.0), tau=st.one_of(st.floats(0.0, 2.0), st.just(math.inf)),
       fee=st.sampled_from([0.0, 0.0175, 0.035]), gamma=st.floats(0.01, 2.0), kappa=st.floats(0.1, 10.0),
       eta=st.floats(0.0, 3.0), base=st.integers(0, 5000), max_pos=st.integers(100, 20_000),
       edge=st.floats(0.0, 3.0), ro=st.floats(0.1, 1.5), logit=st.booleans(), post=st.booleans(),
       g=st.integers(0, 1))
def test_quote_core_equals_quote_one(fair: float, bb: int, spread: int, pos: int, sigma: float, tau: float, fee: float,
                                     gamma: float, kappa: float, eta: float, base: int, max_pos: int, edge: float,
                                     ro: float, logit: bool, post: bool, g: int) -> None:
    grid = GRIDS[g]
    ba = min(bb + spread, 10_000)
    p = QuoteParams(gamma=gamma, kappa=kappa, eta=eta, base_count=base, max_position=max_pos, min_edge_c=edge,
                    reduce_only_at=ro)
    live = quote_one(MarketState(fair=fair, best_bid=bb, best_ask=ba, position=pos, sigma=sigma, tau_h=tau,
                                 maker_fee_rate=fee), p, grid, space="logit" if logit else "price", post_only=post)
    got = quote_core(fair, bb, ba, pos, sigma, tau, fee, gamma, kappa, eta, base, max_pos, p.horizon_h, edge, ro,
                     p.liq_c, grid._floor, grid._ceil, logit, post, 100)
    assert got[:5] == (live.bid_price, live.bid_count, live.ask_price, live.ask_count, live.mask)
    if not logit:  # price space: + − × ÷ only, bit for bit
        assert (got[5], got[6]) == (live.reservation_c, live.spread_c)
    else:  # exp/log: libm in the kernel, numpy's in quote_one (equal once quote_one calls quote_core)
        assert math.isclose(got[5], live.reservation_c, rel_tol=1e-12, abs_tol=1e-12)


@given(prev=st.tuples(st.integers(0, 9999), st.integers(0, 3000), st.integers(0, 9999), st.integers(0, 3000)),
       new=st.tuples(st.integers(0, 9999), st.integers(0, 3000), st.integers(0, 9999), st.integers(0, 3000)),
       tol=st.integers(0, 300), size_tol=st.floats(0.0, 1.0))
def test_hold_side_equals_the_live_hold(prev: tuple[int, int, int, int], new: tuple[int, int, int, int], tol: int,
                                        size_tol: float) -> None:
    live = hold_quote(prev, new, tol, size_tol)
    assert hold_side1(prev[0], prev[1], new[0], new[1], tol, size_tol) == live[:2]
    assert hold_side1(prev[2], prev[3], new[2], new[3], tol, size_tol) == live[2:]
