"""The compiled quoting core (which ``quote_one``, ``quote_arrays`` and the backtest kernel all run) equals
a pure-Python transcription of the math bit for bit, in both spaces, on random inputs; its safe-side hold
equals the live ``hold_quote``."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.strategy.quote_core import hold_side1, quote_core
from kmm.strategy.quoting import LOGIT_SPACE, PRICE_SPACE, MarketState, QuoteParams, hold_quote, quote_one
from kmm.strategy.ticks import LINEAR_CENT, TickGrid

from .reference_quoting import reference_quote

GRIDS = [TickGrid(LINEAR_CENT), TickGrid(((0, 1000, 10), (1000, 9000, 100), (9000, 10_000, 10)))]


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=600, deadline=None)
@given(fair=st.floats(-100.0, 10_100.0), bb=st.integers(0, 9999), spread=st.integers(1, 3000),
       pos=st.integers(-20_000, 20_000), sigma=st.floats(0.0, 500.0) | st.just(math.inf),
       tau=st.floats(-1.0, 5.0) | st.just(math.inf), fee=st.sampled_from([0.0, 0.0175, 0.035, 0.00875]),
       gamma=st.floats(0.01, 2.0), kappa=st.floats(0.1, 10.0), eta=st.floats(0.0, 3.0), base=st.integers(0, 5000),
       max_pos=st.integers(100, 20_000), horizon=st.floats(0.0, 10.0) | st.just(math.inf), edge=st.floats(0.0, 3.0),
       ro=st.floats(0.1, 1.5), jump=st.floats(0.0, 1.0), red=st.sampled_from([0.0, 0.25, 2.0]),
       stop=st.sampled_from([0.0, 0.1]), widen=st.floats(0.0, 5.0), gsize=st.floats(0.0, 1.0),
       bg=st.sampled_from([0.0, 1.0]), ag=st.sampled_from([0.0, 1.0]), logit=st.booleans(), post=st.booleans(),
       g=st.integers(0, 1), step=st.sampled_from([1, 100]))
def test_quote_core_equals_the_python_transcription(
        fair: float, bb: int, spread: int, pos: int, sigma: float, tau: float, fee: float, gamma: float, kappa: float,
        eta: float, base: int, max_pos: int, horizon: float, edge: float, ro: float, jump: float, red: float,
        stop: float, widen: float, gsize: float, bg: float, ag: float, logit: bool, post: bool, g: int,
        step: int) -> None:
    grid = GRIDS[g]
    ba = min(bb + spread, 10_000)
    p = QuoteParams(gamma=gamma, kappa=kappa, eta=eta, base_count=base, max_position=max_pos, horizon_h=horizon,
                    min_edge_c=edge, reduce_only_at=ro, jump_frac=jump, reduce_before_h=red, stop_before_h=stop,
                    guard_widen_c=widen, guard_size=gsize)
    state = MarketState(fair=fair, best_bid=bb, best_ask=ba, position=pos, sigma=sigma, tau_h=tau,
                        maker_fee_rate=fee, bid_guard=bg, ask_guard=ag)
    space = LOGIT_SPACE if logit else PRICE_SPACE
    ref = reference_quote(state, p, grid, space=space, post_only=post, count_step=step)
    got = quote_core(fair, bb, ba, pos, sigma, tau, fee, bg, ag, gamma, eta, base, max_pos, horizon, edge, ro, jump,
                     red, stop, widen, gsize, p.liq_c, grid._floor, grid._ceil, logit, post, step)
    assert got[:5] == (ref.bid_price, ref.bid_count, ref.ask_price, ref.ask_count, ref.mask)
    assert same(got[5], ref.reservation_c) and same(got[6], ref.spread_c)
    live = quote_one(state, p, grid, space=space, post_only=post, count_step=step)
    assert (live.bid_price, live.bid_count, live.ask_price, live.ask_count, live.mask) == got[:5]


@given(prev=st.tuples(st.integers(0, 9999), st.integers(0, 3000), st.integers(0, 9999), st.integers(0, 3000)),
       new=st.tuples(st.integers(0, 9999), st.integers(0, 3000), st.integers(0, 9999), st.integers(0, 3000)),
       tol=st.integers(0, 300), size_tol=st.floats(0.0, 1.0))
def test_hold_side_equals_the_live_safe_side_hold(prev: tuple[int, int, int, int], new: tuple[int, int, int, int],
                                                  tol: int, size_tol: float) -> None:
    live = hold_quote(prev, new, tol, size_tol)
    assert hold_side1(prev[0], prev[1], new[0], new[1], tol, size_tol, True) == live[:2]
    assert hold_side1(prev[2], prev[3], new[2], new[3], tol, size_tol, False) == live[2:]
