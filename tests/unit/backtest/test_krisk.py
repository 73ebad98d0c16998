"""The compiled risk engine (kmm.backtest.krisk) and the live ``RiskEngine`` make the same decisions and
keep the same state on random input sequences; settlement and the daily halt reset (kernel-only)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.backtest import krisk as R
from kmm.messages import ASK, BID, MarketInfo, QuoteIntent
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S
from kmm.risk.engine import HALTED, RiskEngine, RiskLimits
from kmm.strategy.ticks import LINEAR_CENT, TickGrid

C = COUNT_SCALE
LIMITS = RiskLimits(position_limit=20 * C, max_exposure=40 * MONEY_SCALE, max_daily_loss=8 * MONEY_SCALE,
                    rate_capacity=4.0, rate_per_s=2.0)
TICKERS = ["KXA-1", "KXA-2", "KXB-1"]
GRID = TickGrid(LINEAR_CENT)
T0 = 1_700_000_000 * NS_PER_S

cent = st.integers(1, 99).map(lambda c: c * 100)
op = st.one_of(
    st.tuples(st.just("book"), st.integers(0, 2), cent, st.integers(1, 10)),
    st.tuples(st.just("vol"), st.integers(0, 2), st.one_of(st.floats(0.5, 40.0), st.just(math.nan))),
    st.tuples(st.just("fill"), st.integers(0, 2), st.booleans(), cent, st.integers(1, 15), st.integers(0, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 2), st.booleans(), st.integers(1, 15)),
    st.tuples(st.just("check"), st.integers(0, 2), cent, st.integers(0, 15), st.integers(0, 8), st.integers(0, 15)),
)


class Kernel:
    def __init__(self) -> None:
        self.li, self.lf = R.limits_arrays(LIMITS)
        self.rc, self.rcf, self.rm = R.new_state(len(TICKERS), 1, self.lf)
        self.bb = [0] * 3
        self.ba = [10_000] * 3
        self.sigma = [math.nan] * 3


def state_of(e: RiskEngine, k: Kernel) -> tuple[tuple, tuple]:
    py = (e.state, e.cash, e.exposure(), e.value(),
          tuple((e.markets[t].position, e.markets[t].cost, e.markets[t].target) for t in TICKERS))
    rc, rm = k.rc[0], k.rm[:, 0]
    kk = (R.STATE_NAMES[rc[R.RC_STATE]], int(rc[R.RC_CASH]), int(rc[R.RC_EXPO]),
          int(rc[R.RC_CASH] + rc[R.RC_POSMARK]),
          tuple((int(rm[m, R.RM_POS]), int(rm[m, R.RM_COST]), tuple(int(x) for x in rm[m, R.RM_TBP:R.RM_TAN + 1]))
                for m in range(3)))
    return py, kk


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=60), steps=st.lists(st.integers(0, 40_000), min_size=60, max_size=60))
def test_kernel_risk_equals_the_live_engine(ops: list[tuple], steps: list[int]) -> None:
    now = [T0]
    e = RiskEngine(LIMITS, lambda: now[0])
    for t in TICKERS:
        e.on_market(MarketInfo(market=t, event=t[:4], series="KX", status="open", tick_ranges=LINEAR_CENT))
    k = Kernel()
    R.evaluate(k.rc, k.li, k.lf, 0, T0, 0, False, False)  # as on_market evaluates at the start
    for step, o in zip(steps, ops, strict=False):
        now[0] += step * 10_000_000  # up to 400 s between inputs: days roll over long sequences
        t = now[0]
        kind, m = o[0], o[1]
        name = TICKERS[m]
        if kind == "book":
            bb, ba = o[2], min(o[2] + o[3] * 100, 10_000)
            e.on_book(name, bb, ba)
            k.bb[m], k.ba[m] = bb, ba
            R.on_book(k.rc, k.rm, k.li, k.lf, 0, m, bb, ba, t, False)
        elif kind == "vol":
            e.on_volatility(name, o[2])
            k.sigma[m] = o[2]
        elif kind == "fill":
            _, _, bid, price, n, fee = o
            e.on_fill(name, BID if bid else ASK, price, n * C, fee * 10_000)
            R.on_fill(k.rc, k.rm, k.li, k.lf, 0, m, bid, price, n * C, fee * 10_000, t, False)
        elif kind == "cancel":
            _, _, bid, n = o
            e.on_cancel(name, BID if bid else ASK, n * C)
            R.on_cancel(k.rc, k.rm, m, 0, bid, n * C)
        else:
            _, _, bp, bn, width, an = o
            ap = min(bp + width * 100, 9900)
            d = e.check(QuoteIntent(intent_id="i", market=name, bid_price=bp, bid_count=bn * C, ask_price=ap,
                                    ask_count=an * C))
            got = R.check(k.rc, k.rcf, k.rm, k.li, k.lf, 0, m, t, bp, bn * C, ap, an * C, k.bb[m], k.ba[m],
                          k.sigma[m], 0, GRID._floor, False)
            assert got[0] == d.approved
            if d.approved:
                assert got[1:5] == (d.bid_price, d.bid_count, d.ask_price, d.ask_count)
            else:
                assert R.DENIAL_NAMES[got[5]] == d.code
        py, kk = state_of(e, k)
        assert py == kk, (kind, o)


def test_settlement_books_the_payout_and_releases_exposure() -> None:
    li, lf = R.limits_arrays(RiskLimits())
    rc, rcf, rm = R.new_state(1, 1, lf)
    R.on_book(rc, rm, li, lf, 0, 0, 8900, 9100, T0, True)
    R.on_fill(rc, rm, li, lf, 0, 0, True, 9000, 100 * C, 0, T0, True)  # buy 100 @ 90c
    assert rc[0, R.RC_EXPO] == 90 * MONEY_SCALE
    R.settle(rc, rm, li, lf, 0, 0, 0, T0 + NS_PER_S, True)  # settles NO
    assert rc[0, R.RC_EXPO] == 0 and rm[0, 0, R.RM_POS] == 0
    assert rc[0, R.RC_CASH] + rc[0, R.RC_POSMARK] == -90 * MONEY_SCALE  # the $90 loss is in P&L
    # the day's loss ($90) is past "near" ($80) but under the $100 limit: reducing, not halted
    assert R.STATE_NAMES[rc[0, R.RC_STATE]] == "REDUCING" and R.REASON_NAMES[rc[0, R.RC_REASON]] == "near_daily_loss"


def test_a_halt_resets_at_the_next_day_unless_latched() -> None:
    for latch in (False, True):
        li, lf = R.limits_arrays(RiskLimits(max_daily_loss=10 * MONEY_SCALE), latch=latch)
        rc, rcf, rm = R.new_state(1, 1, lf)
        R.on_book(rc, rm, li, lf, 0, 0, 4900, 5100, T0, True)
        R.on_fill(rc, rm, li, lf, 0, 0, True, 6000, 100 * C, 0, T0, True)  # marked at 50c: −$10 → halt
        assert rc[0, R.RC_STATE] == R.HALTED and rc[0, R.RC_HALT1_REASON] == R.R_DAILY_LOSS
        assert rc[0, R.RC_HALT1_TS] == T0 and rc[0, R.RC_HALT1_MARKET] == 0
        R.settle(rc, rm, li, lf, 0, 0, 5000, T0 + NS_PER_S, True)
        R.evaluate(rc, li, lf, 0, T0 + 86_400 * NS_PER_S, 0, False, True)
        assert (rc[0, R.RC_STATE] == R.HALTED) == latch
        assert rc[0, R.RC_NRESET] == (0 if latch else 1)


def test_latched_python_engine_agrees_without_reset() -> None:
    """The live engine latches a halt for good; the kernel does the same with reset_halts=False."""
    now = [T0]
    e = RiskEngine(RiskLimits(max_daily_loss=10 * MONEY_SCALE), lambda: now[0])
    e.on_market(MarketInfo(market="KXA-1", status="open", tick_ranges=LINEAR_CENT))
    e.on_book("KXA-1", 4900, 5100)
    e.on_fill("KXA-1", BID, 6000, 100 * C, 0)
    now[0] += 86_400 * NS_PER_S
    e.on_book("KXA-1", 4900, 5100)
    assert e.state == HALTED
    li, lf = R.limits_arrays(RiskLimits(max_daily_loss=10 * MONEY_SCALE))
    rc, rcf, rm = R.new_state(1, 1, lf)
    R.evaluate(rc, li, lf, 0, T0, 0, False, False)
    R.on_book(rc, rm, li, lf, 0, 0, 4900, 5100, T0, False)
    R.on_fill(rc, rm, li, lf, 0, 0, True, 6000, 100 * C, 0, T0, False)
    R.on_book(rc, rm, li, lf, 0, 0, 4900, 5100, now[0], False)
    assert rc[0, R.RC_STATE] == R.HALTED
    assert np.int64(rc[0, R.RC_NHALT]) == 1
