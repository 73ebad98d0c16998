"""The kernel's compiled two-scale σ and adverse-selection guard equal the live
``TwoScaleVolatility`` and ``AdverseGuard`` on random sequences (bit for bit: same operations, libm's
exp/log on both sides)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.backtest import ksignals as S
from kmm.messages.units import NS_PER_S
from kmm.strategy.estimators import TwoScaleVolatility, to_space
from kmm.strategy.guard import ASK_SIDE, BID_SIDE, AdverseGuard

# a mid path: (ns since the last observation, mid in $0.0001) with repeats and a two-price flicker
mids = st.lists(st.tuples(st.integers(0, 30 * NS_PER_S), st.sampled_from([4950.0, 5000.0, 5050.0, 5100.0])
                          | st.floats(100.0, 9900.0)), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(path=mids, lag=st.integers(2, 12), space=st.sampled_from(["price", "logit"]), prior=st.floats(0.0, 20.0))
def test_compiled_two_scale_sigma_equals_the_live_estimator(path: list[tuple[int, float]], lag: int, space: str,
                                                            prior: float) -> None:
    live = TwoScaleVolatility(lag=lag, prior_sigma=prior, space=space)
    ti, tf, rt, rx = S.tsrv_state(2, lag)
    t = 1_700_000_000 * NS_PER_S
    for dt, mid in path:
        t += dt
        live.update(t, mid)
        S.tsrv_update(ti, tf, rt, rx, 1, live._beta, t, to_space(mid, space))
        assert S.tsrv_sigma(tf, 1, live._prior_var, live._prior_w) == live.sigma
    assert ti[1, S.TI_N] == live.n
    assert ti[0, S.TI_COUNT] == 0  # the other market is untouched


def test_a_flicker_reads_no_volatility_in_the_kernel_either() -> None:
    live = TwoScaleVolatility(prior_sigma=5.0)
    ti, tf, rt, rx = S.tsrv_state(1, live.lag)
    for k in range(3000):
        mid = 5000.0 if k % 2 else 5050.0
        S.tsrv_update(ti, tf, rt, rx, 0, live._beta, k * 10 * NS_PER_S, mid / 100.0)
    assert tf[0, S.TF_SK] <= tf[0, S.TF_S1]  # the slow scale sees less than the fast one: no data variance
    assert S.tsrv_sigma(tf, 0, live._prior_var, live._prior_w) < 0.5 * 5.0  # the prior's share fades


# guard steps: ("fill", dt, cell, side, price) | ("trade", dt, bought, count) | ("update", dt, mid or NaN)
steps = st.lists(st.one_of(
    st.tuples(st.just("fill"), st.integers(0, 5 * NS_PER_S), st.integers(0, 2), st.sampled_from([BID_SIDE, ASK_SIDE]),
              st.integers(3000, 7000)),
    st.tuples(st.just("trade"), st.integers(0, 5 * NS_PER_S), st.booleans(), st.integers(1, 5000)),
    st.tuples(st.just("update"), st.integers(0, 20 * NS_PER_S), st.floats(2500.0, 7500.0) | st.just(math.nan)),
), min_size=1, max_size=150)


@settings(max_examples=150, deadline=None)
@given(seq=steps, toxic=st.lists(st.sampled_from([0.0, 0.5, 2.0, math.inf]), min_size=3, max_size=3),
       markout=st.lists(st.sampled_from([1.0, 5.0, 10.0]), min_size=3, max_size=3),
       guard_s=st.lists(st.sampled_from([0.0, 10.0, 60.0]), min_size=3, max_size=3),
       flow=st.lists(st.sampled_from([0.3, 0.7, math.inf]), min_size=3, max_size=3),
       half_life=st.sampled_from([10.0, 600.0]), flow_min=st.sampled_from([0.0, 5.0, 50.0]))
def test_compiled_guard_equals_the_live_guard(seq: list[tuple], toxic: list[float], markout: list[float],
                                              guard_s: list[float], flow: list[float], half_life: float,
                                              flow_min: float) -> None:
    n = 3
    kw = {"toxic_c": np.array(toxic), "markout_s": np.array(markout), "guard_s": np.array(guard_s),
          "flow_threshold": np.array(flow), "flow_half_life_s": np.full(n, half_life), "flow_min": np.full(n, flow_min)}
    live = AdverseGuard(n, **kw)
    gp, gpi = S.guard_params(**kw)
    gi, gf, gq, gh = S.guard_state(2, n, 4)
    gmax = np.zeros(1, dtype=np.int64)
    min_markout = int(gpi[:, S.GPI_MARKOUT].min())
    m = 1
    t = 1_700_000_000 * NS_PER_S
    for step in seq:
        t += step[1]
        if step[0] == "fill":
            _, _, c, side, px = step
            live.on_fill(t, side, [c], px)
            if math.isfinite(toxic[c]):
                gq = S.grow_queue(gq, gh, gmax, 1)
                S.guard_fill(gq, gh, gpi, gmax, m, c, side, t, px)
        elif step[0] == "trade":
            live.on_trade(t, step[2], step[3])
            S.guard_trade(gi, gf, gp, m, t, step[2], step[3])
        else:
            bid, ask = live.update(t, step[2])
            S.guard_update(gi, gf, gq, gh, gp, gpi, m, -1, t, step[2], min_markout)
            flags = gi[m, :, S.GI_FLAGS]
            assert ((flags & 1) > 0).tolist() == (bid > 0).tolist()
            assert ((flags & 2) > 0).tolist() == (ask > 0).tolist()
            assert gi[m, :, S.GI_UNTIL_B].tolist() == live.until[BID_SIDE].tolist()
            assert gi[m, :, S.GI_UNTIL_A].tolist() == live.until[ASK_SIDE].tolist()
            for c in range(n):
                if math.isfinite(flow[c]):
                    assert gf[m, c, S.GF_BOUGHT] == live._bought[c] and gf[m, c, S.GF_SOLD] == live._sold[c]


def test_a_cells_own_update_scores_only_its_own_fills() -> None:
    gp, gpi = S.guard_params(np.zeros(2), np.full(2, 10.0), np.full(2, 60.0), np.full(2, np.inf), np.full(2, 600.0),
                             np.zeros(2))
    gi, gf, gq, gh = S.guard_state(1, 2, 8)
    gmax = np.zeros(1, dtype=np.int64)
    t = 1_000 * NS_PER_S
    for c in range(2):
        S.guard_fill(gq, gh, gpi, gmax, 0, c, BID_SIDE, t, 5000)  # bought at 50c
    S.guard_update(gi, gf, gq, gh, gp, gpi, 0, 1, t + 11 * NS_PER_S, 4800.0, 10 * NS_PER_S)  # cell 1 only
    assert gi[0, :, S.GI_FLAGS].tolist() == [0, 1]
    S.guard_update(gi, gf, gq, gh, gp, gpi, 0, -1, t + 12 * NS_PER_S, 5200.0, 10 * NS_PER_S)  # 52c: not toxic
    assert gi[0, :, S.GI_FLAGS].tolist() == [0, 1] and gh[0, 0] == gh[0, 1] == 2


@given(close=st.integers(0, 2**62), now=st.integers(0, 2**62))
def test_the_kernels_tau_is_the_live_quoters(close: int, now: int) -> None:
    from kmm.backtest.kernel import tau_hours
    from kmm.strategy.estimators import hours_to_close

    assert tau_hours(close, now) == hours_to_close(close, now)
