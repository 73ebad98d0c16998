"""Holding a resting quote: close moves on the safe side keep the queue place; the scalar and vector
paths agree."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.strategy.quoting import hold_quote, hold_side

prices = st.integers(0, 10_000)
counts = st.integers(0, 10_000)
quotes = st.tuples(prices, counts, prices, counts)


def test_a_one_tick_move_keeps_the_resting_price_only_on_the_safe_side() -> None:
    # the model moved up a tick: the resting bid (below the model's) is safe and kept; the resting ask
    # (below the model's, i.e. more aggressive) is not
    assert hold_quote((4200, 1000, 4400, 1000), (4300, 1000, 4500, 1000), 100, 0.5) == (4200, 1000, 4500, 1000)
    # ... and down a tick: now the ask is kept and the bid follows
    assert hold_quote((4200, 1000, 4400, 1000), (4100, 1000, 4300, 1000), 100, 0.5) == (4100, 1000, 4400, 1000)


def test_the_hold_never_cancels_inventory_skew() -> None:
    # long: the skew lowers both quotes by 2c (1.9c rounded out); a 1c-symmetric hold kept the old bid
    # 1c above the model (buying more while long); only the safe ask is held, and only within 1c
    prev, skewed = (4800, 1000, 5200, 1000), (4600, 1000, 5100, 1000)
    assert hold_quote(prev, skewed, 100, 0.5) == (4600, 1000, 5200, 1000)
    assert hold_quote(prev, (4700, 1000, 5100, 1000), 100, 0.5) == (4700, 1000, 5200, 1000)


def test_a_two_tick_move_requotes() -> None:
    assert hold_quote((4200, 1000, 4400, 1000), (4400, 1000, 4600, 1000), 100, 0.5) == (4400, 1000, 4600, 1000)


def test_smaller_sizes_are_taken_larger_ones_only_past_the_tolerance() -> None:
    assert hold_quote((4200, 1000, 4400, 1000), (4200, 600, 4400, 1400), 100, 0.5) == (4200, 600, 4400, 1000)
    assert hold_quote((4200, 1000, 4400, 1000), (4200, 1000, 4400, 1600), 100, 0.5) == (4200, 1000, 4400, 1600)


def test_a_side_that_goes_or_comes_is_never_held() -> None:
    assert hold_quote((4200, 1000, 4400, 1000), (4200, 0, 4400, 1000), 100, 0.5) == (4200, 0, 4400, 1000)
    assert hold_quote((0, 0, 4400, 1000), (4200, 500, 4400, 1000), 100, 0.5) == (4200, 500, 4400, 1000)


@settings(max_examples=300, deadline=None)
@given(quotes, quotes, st.integers(0, 300), st.floats(0.0, 2.0))
def test_scalar_and_vector_paths_agree(prev, new, tol, size_tol) -> None:
    bp, bc = hold_side(np.array([prev[0]]), np.array([prev[1]]), np.array([new[0]]), np.array([new[1]]), tol, size_tol,
                       bid=True)
    ap, ac = hold_side(np.array([prev[2]]), np.array([prev[3]]), np.array([new[2]]), np.array([new[3]]), tol, size_tol,
                       bid=False)
    assert hold_quote(prev, new, tol, size_tol) == (int(bp[0]), int(bc[0]), int(ap[0]), int(ac[0]))


@settings(max_examples=300, deadline=None)
@given(quotes, quotes, st.integers(0, 300), st.floats(0.0, 2.0))
def test_held_quotes_stay_near_the_model_and_never_exceed_its_size(prev, new, tol, size_tol) -> None:
    out = hold_quote(prev, new, tol, size_tol)
    for side in (0, 2):
        price, count = out[side], out[side + 1]
        assert (count > 0) == (new[side + 1] > 0)  # a side is quoted exactly when the model quotes it
        if count:
            assert abs(price - new[side]) <= tol
            assert count <= new[side + 1]  # never more than the model (and risk) allow
    # never more aggressive than the model: a bid at or below its bid, an ask at or above its ask
    if out[1]:
        assert out[0] <= new[0]
    if out[3]:
        assert out[2] >= new[2]
