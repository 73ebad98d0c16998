"""The adverse-selection guard: toxic markouts guard a side for a while, one-sided flow while it lasts."""

import math

import numpy as np
import pytest

from kmm.strategy.guard import ASK_SIDE, BID_SIDE, AdverseGuard
from kmm.strategy.quoting import ParamGrid, QuoteParams

S = 1_000_000_000


def test_a_toxic_fill_guards_its_side_for_guard_s() -> None:
    g = AdverseGuard(toxic_c=1.0, markout_s=10.0, guard_s=60.0)
    g.on_fill(0, BID_SIDE, 0, 5000)  # bought at 50c
    assert g.update1(5 * S, 4800.0) == (0.0, 0.0)  # markout not due yet
    assert g.update1(10 * S, 4800.0) == (1.0, 0.0)  # −2c < −1c: the bid is guarded
    assert g.update1(69 * S, 5000.0) == (1.0, 0.0)
    assert g.update1(70 * S, 5000.0) == (0.0, 0.0)  # for 60 s from when it was scored


def test_a_fill_with_a_good_markout_guards_nothing_and_asks_mirror_bids() -> None:
    g = AdverseGuard(toxic_c=1.0, markout_s=10.0, guard_s=60.0)
    g.on_fill(0, ASK_SIDE, 0, 5000)  # sold at 50c, the mid fell: a good fill
    g.on_fill(0, BID_SIDE, 0, 5000)  # bought at 50c, the mid fell 0.5c: within the threshold
    assert g.update1(10 * S, 4950.0) == (0.0, 0.0)
    g.on_fill(20 * S, ASK_SIDE, 0, 5000)  # sold at 50c and the mid rose 3c
    assert g.update1(31 * S, 5300.0) == (0.0, 1.0)


def test_an_unknown_mid_defers_the_score() -> None:
    g = AdverseGuard(toxic_c=1.0, markout_s=10.0, guard_s=60.0)
    g.on_fill(0, BID_SIDE, 0, 5000)
    assert g.update1(11 * S, math.nan) == (0.0, 0.0)
    assert g.update1(12 * S, 4700.0) == (1.0, 0.0)


def test_thresholds_are_per_parameter_set() -> None:
    grid = ParamGrid.of(toxic_c=[0.5, 1.5, math.inf], guard_s=[30.0, 60.0, 60.0])
    g = AdverseGuard.from_params(grid)
    g.on_fill(0, BID_SIDE, [0, 1, 2], [5000, 5000, 5000])
    bid, ask = g.update(10 * S, 4900.0)  # markout −1c
    assert bid.tolist() == [1.0, 0.0, 0.0] and ask.tolist() == [0.0, 0.0, 0.0]
    assert g.update(41 * S, 4900.0)[0].tolist() == [0.0, 0.0, 0.0]
    assert AdverseGuard.from_params(QuoteParams()).n == 1


def test_one_sided_flow_guards_the_side_being_taken_while_it_lasts() -> None:
    g = AdverseGuard(flow_threshold=0.6, flow_half_life_s=60.0, flow_min=50.0)
    g.on_trade(0, True, 3_000)  # 30 contracts bought: below flow_min
    assert g.update1(S, 5000.0) == (0.0, 0.0)
    g.on_trade(2 * S, True, 4_000)
    assert g.update1(3 * S, 5000.0) == (0.0, 1.0)  # takers lifting asks: guard our ask
    g.on_trade(4 * S, False, 6_000)  # balanced again
    assert g.update1(5 * S, 5000.0) == (0.0, 0.0)
    g.on_trade(6 * S, False, 30_000)
    assert g.update1(7 * S, 5000.0) == (1.0, 0.0)
    assert g.update1(7 * S + 3600 * S, 5000.0) == (0.0, 0.0)  # decayed below flow_min


def test_inf_switches_the_triggers_off_and_bad_values_are_refused() -> None:
    g = AdverseGuard.from_params(QuoteParams(toxic_c=math.inf, flow_threshold=math.inf))
    g.on_fill(0, BID_SIDE, 0, 5000)
    g.on_trade(0, True, 1_000_000)
    assert g.update1(100 * S, 1000.0) == (0.0, 0.0)
    with pytest.raises(ValueError):
        AdverseGuard(markout_s=0.0)
    assert np.all(AdverseGuard(4).until[0] == 0)
