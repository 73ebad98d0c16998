"""The compiled risk engine (kmm.backtest.krisk) and the live ``RiskEngine`` make the same decisions and
keep the same state on random input sequences, driven the way the backtest drives them: every approval
reported APPLIED at once, EXPIRED after a halt's cancel-all, settlements with the payout in the
engine's cash convention, the write budget small enough that sides fall back to their previous approval.
"""

import math
import random
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.backtest import krisk as R
from kmm.messages import APPLIED, ASK, BID, EXPIRED, HALTED, MarketInfo, QuoteIntent
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, NS_PER_S
from kmm.risk.engine import RiskEngine, RiskLimits
from kmm.risk.reasons import RATE_LIMITED
from kmm.strategy.ticks import LINEAR_CENT, TickGrid

C = COUNT_SCALE
# two requests of burst, one more every second: quotes that move often are rate limited
LIMITS = RiskLimits(position_limit=20 * C, max_exposure=40 * MONEY_SCALE, max_daily_loss=8 * MONEY_SCALE,
                    rate_capacity=20.0, rate_per_s=10.0, request_cost=10.0)
TICKERS = ["KXA-1", "KXA-2", "KXB-1"]
GRID = TickGrid(LINEAR_CENT)
T0 = 1_700_000_000 * NS_PER_S
DAY = 86_400 * NS_PER_S



def random_limits(rng: random.Random) -> RiskLimits:
    """Which limit binds first varies: tight position, tight exposure (REDUCING early), tight daily loss."""
    return replace(LIMITS, position_limit=rng.choice([12, 40, 150]) * C,
                   max_exposure=rng.choice([10, 40, 400]) * MONEY_SCALE,
                   max_daily_loss=rng.choice([3, 8, 100]) * MONEY_SCALE, daily_loss_unlatch=rng.random() < 0.5)


def random_ops(rng: random.Random, n: int) -> list[tuple]:
    """(time step, input): mostly quick succession (the write budget binds), sometimes minutes or a day."""
    ops: list[tuple] = []
    for _ in range(n):
        r = rng.random()
        dt = (rng.randint(0, 1_500) * NS_PER_MS if r < 0.8 else rng.randint(0, 400) * NS_PER_S if r < 0.97 else DAY)
        m = rng.randint(0, 2)
        k = rng.random()
        if k < 0.2:
            bb = rng.randint(1, 99) * 100
            o: tuple = ("book", m, bb, min(bb + rng.randint(1, 10) * 100, 10_000))
        elif k < 0.25:
            o = ("vol", m, rng.choice([math.nan, rng.uniform(0.5, 40.0)]))
        elif k < 0.42:
            cnt = rng.randint(1, 8) * C if rng.random() < 0.8 else rng.randint(1, 800)  # some fractional
            o = ("fill", m, rng.random() < 0.5, rng.randint(1, 99) * 100, cnt, rng.randint(0, 3) * 10_000)
        elif k < 0.45:
            o = ("cancel", m, rng.random() < 0.5, rng.randint(1, 15) * C)
        elif k < 0.47:
            o = ("expire", m)
        elif k < 0.5:
            o = ("settle", m, rng.choice(["yes", "no", ""]), rng.randint(1, 99) * 100)
        else:
            bp = rng.randint(1, 98) * 100
            o = ("check", m, bp, rng.randint(0, 15) * C, min(bp + rng.randint(1, 8) * 100, 9900), rng.randint(0, 15) * C)
        ops.append((dt, o))
    return ops


class Kernel:
    def __init__(self, limits: RiskLimits, resume: bool = False) -> None:
        self.li, self.lf = R.limits_arrays(limits, resume_next_day=resume)
        self.rc, self.rcf, self.rm = R.new_state(len(TICKERS), 1, self.lf)
        self.bb = [0] * 3
        self.ba = [10_000] * 3
        self.sigma = [math.nan] * 3


def permit_of(e: RiskEngine, t: str) -> tuple[int, int, int, int]:
    items = e.markets[t].permits.items
    assert len(items) <= 1  # APPLIED at once: only the newest approval stays outstanding
    if not items:
        return (0, 0, 0, 0)
    p = items[0]
    return (p.bid.price, p.bid.count, p.ask.price, p.ask.count)


def state_of(e: RiskEngine, k: Kernel) -> tuple[tuple, tuple]:
    py = (e.state, e.state_reason, e._latched, e.cash, e.exposure(), e.holdings_exposure(), e.value(),
          e._day_start_value,
          tuple((m.position, m.cost, permit_of(e, t), m.mark, bool(m.settled), m.fill_seq, m.cash, m.fees)
                for t in TICKERS for m in [e.markets[t]]))
    rc, rm = k.rc[0], k.rm[:, 0]
    kk = (R.STATE_NAMES[rc[R.RC_STATE]], R.REASON_NAMES[rc[R.RC_REASON]], R.REASON_NAMES[rc[R.RC_LATCH]],
          int(rc[R.RC_CASH]), int(rc[R.RC_EXPO]), int(rc[R.RC_HOLD]), int(rc[R.RC_CASH] + rc[R.RC_POSMARK]),
          int(rc[R.RC_DAY_START]),
          tuple((int(rm[m, R.RM_POS]), int(rm[m, R.RM_COST]), tuple(int(x) for x in rm[m, R.RM_TBP:R.RM_TAN + 1]),
                 int(rm[m, R.RM_MARK]), bool(rm[m, R.RM_SETTLED]), int(rm[m, R.RM_FILL_SEQ]), int(rm[m, R.RM_CASH]),
                 int(rm[m, R.RM_FEES]))
                for m in range(3)))
    return py, kk


def replay(seed: int, n_ops: int, seen: Counter) -> None:
    """Drive both engines with one random sequence, asserting equal decisions and state at every step;
    count the paths the sequence went through in ``seen``."""
    rng = random.Random(seed)
    limits = random_limits(rng)
    resume = rng.random() < 0.5
    now = [T0]
    e = RiskEngine(limits, lambda: now[0])
    for t in TICKERS:
        e.on_market(MarketInfo(market=t, event=t[:4], series="KX", status="open", tick_ranges=LINEAR_CENT))
    k = Kernel(limits, resume)
    R.evaluate(k.rc, k.li, k.lf, 0, T0, 0)  # as on_market evaluates at the start
    for n, (dt, o) in enumerate(random_ops(rng, n_ops)):
        now[0] += dt
        t = now[0]
        kind, m = o[0], o[1]
        name = TICKERS[m]
        evaluates = kind in ("book", "fill", "check") or (kind == "settle" and not e.markets[name].settled)
        new_day = (t - limits.day_offset_ns) // DAY != e._day
        if resume and evaluates and new_day and e.state == HALTED:
            e.resume()  # the backtest's operator: the first input of a new day finds the engine halted
            seen["resumed"] += e.state != HALTED
        if kind == "book":
            _, _, bb, ba = o
            e.on_book(name, bb, ba)
            k.bb[m], k.ba[m] = bb, ba
            R.on_book(k.rc, k.rm, k.li, k.lf, 0, m, bb, ba, t)
        elif kind == "vol":
            e.on_volatility(name, o[2])
            k.sigma[m] = o[2]
        elif kind == "fill":
            _, _, bid, price, cnt, fee = o
            assert e.on_fill(name, BID if bid else ASK, price, cnt, fee)
            R.on_fill(k.rc, k.rm, k.li, k.lf, 0, m, bid, price, cnt, fee, t)
        elif kind == "cancel":
            _, _, bid, cnt = o
            e.on_cancel(name, BID if bid else ASK, cnt)
            R.on_cancel(k.rc, k.rm, m, 0, bid, cnt)
        elif kind == "expire":
            latest = e.markets[name].permits.latest()
            if latest is not None:
                e.on_approval_status(name, latest.intent_id, EXPIRED)
            R.expire(k.rc, k.rm, m, 0)
        elif kind == "settle":
            _, _, result, mid = o
            px = {"yes": 10_000, "no": 0, "": mid}[result]
            revenue = e.markets[name].position * px
            booked = e.on_settlement(name, result, payout=revenue)
            assert R.settle(k.rc, k.rm, k.li, k.lf, 0, m, result == "yes", revenue, t) == booked
            seen["settled"] += booked
        else:
            _, _, bp, bn, ap, an = o
            mk = e.markets[name]
            latest = mk.permits.latest()
            prev = (latest.bid.price, latest.bid.count, latest.ask.price, latest.ask.count) if latest else (0, 0, 0, 0)
            intent_id = f"i{n}"
            d = e.check(QuoteIntent(intent_id=intent_id, market=name, bid_price=bp, bid_count=bn, ask_price=ap,
                                    ask_count=an))
            if d.approved:
                e.on_approval_status(name, intent_id, APPLIED)
            got = R.check(k.rc, k.rcf, k.rm, k.li, k.lf, 0, m, t, bp, bn, ap, an, k.bb[m], k.ba[m], k.sigma[m], 0,
                          GRID._floor)
            assert got[0] == d.approved, (d, got)
            if d.approved:
                assert got[1:5] == (d.bid_price, d.bid_count, d.ask_price, d.ask_count), (d, got)
                assert got[7] == (RATE_LIMITED in d.reasons), (d, got)
                if got[7]:
                    seen["rate_limited"] += 1
                    seen["kept_cut_to_room"] += (0 < d.bid_count < prev[1] and d.bid_price == prev[0]) or (
                        0 < d.ask_count < prev[3] and d.ask_price == prev[2])
                    seen["kept_dropped_crossing"] += (prev[1] > 0 and prev[0] >= mk.best_ask) or (
                        prev[3] > 0 and prev[2] <= mk.best_bid)
                seen[f"approved_{d.state}"] += 1
            else:
                assert R.DENIAL_NAMES[got[5]] == d.code
                seen[f"denied_{d.code}"] += 1
        py, kk = state_of(e, k)
        assert py == kk, (seed, n, o)
        if e.state_reason:
            seen[f"state_{e.state_reason}"] += 1
    assert int(k.rc[0, R.RC_NRESET]) == sum(1 for ev in e.events if ev.previous == HALTED and ev.state != HALTED)
    seen["unlatched"] += sum(1 for ev in e.events if ev.previous == HALTED and ev.state != HALTED) > 0 and not resume
    assert abs(k.rcf[0, R.RCF_TOKENS] - e.bucket._tokens) < 1e-9


def test_kernel_risk_equals_the_live_engine() -> None:
    seen: Counter = Counter()
    for seed in range(300):
        replay(seed, 150, seen)
    # the equality holds on sequences that go through every path of the port
    for path in ("rate_limited", "kept_cut_to_room", "kept_dropped_crossing", "settled", "unlatched", "resumed",
                 "approved_ACTIVE", "approved_REDUCING", "denied_halted", "denied_market_closed",
                 "state_position_breach", "state_exposure_breach", "state_daily_loss_breach", "state_near_exposure",
                 "state_near_daily_loss"):
        assert seen[path] > 0, (path, seen)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(300, 2**32))
def test_kernel_risk_equals_the_live_engine_on_more_sequences(seed: int) -> None:
    replay(seed, 150, Counter())


def test_settlement_books_the_payout_and_releases_exposure() -> None:
    li, lf = R.limits_arrays(RiskLimits())
    rc, rcf, rm = R.new_state(1, 1, lf)
    R.on_book(rc, rm, li, lf, 0, 0, 8900, 9100, T0)
    R.on_fill(rc, rm, li, lf, 0, 0, True, 9000, 100 * C, 0, T0)  # buy 100 @ 90c
    assert rc[0, R.RC_EXPO] == rc[0, R.RC_HOLD] == 90 * MONEY_SCALE
    assert R.settle(rc, rm, li, lf, 0, 0, False, 0, T0 + NS_PER_S)  # settles NO: pays nothing
    assert not R.settle(rc, rm, li, lf, 0, 0, False, 0, T0 + NS_PER_S)  # once
    assert rc[0, R.RC_EXPO] == 0 and rm[0, 0, R.RM_POS] == 0
    assert rc[0, R.RC_CASH] + rc[0, R.RC_POSMARK] == -90 * MONEY_SCALE  # the $90 loss is in P&L
    # the day's loss ($90) is past "near" ($80) but under the $100 limit: reducing, not halted
    assert R.STATE_NAMES[rc[0, R.RC_STATE]] == "REDUCING" and R.REASON_NAMES[rc[0, R.RC_REASON]] == "near_daily_loss"
    got = R.check(rc, rcf, rm, li, lf, 0, 0, T0 + 2 * NS_PER_S, 5000, C, 5100, C, 4900, 5200, math.nan, 0,
                  GRID._floor)
    assert not got[0] and R.DENIAL_NAMES[got[5]] == "market_closed"


def test_a_short_position_settles_in_the_engines_cash_convention() -> None:
    """Selling YES credits the YES price, so a short's payout is −$1 per contract when YES wins and $0
    when NO wins (the backtest passes revenue = position × settlement price)."""
    li, lf = R.limits_arrays(RiskLimits())
    for yes, pnl in ((True, -60), (False, 40)):
        rc, rcf, rm = R.new_state(1, 1, lf)
        R.on_book(rc, rm, li, lf, 0, 0, 3900, 4100, T0)
        R.on_fill(rc, rm, li, lf, 0, 0, False, 4000, 100 * C, 0, T0)  # sell 100 YES @ 40c
        R.settle(rc, rm, li, lf, 0, 0, yes, -100 * C * (10_000 if yes else 0), T0 + NS_PER_S)
        assert rc[0, R.RC_CASH] + rc[0, R.RC_POSMARK] == pnl * MONEY_SCALE


def test_only_a_daily_loss_halt_clears_at_the_next_day_and_only_when_asked() -> None:
    for unlatch in (False, True):
        li, lf = R.limits_arrays(RiskLimits(max_daily_loss=10 * MONEY_SCALE, daily_loss_unlatch=unlatch))
        rc, rcf, rm = R.new_state(1, 1, lf)
        R.evaluate(rc, li, lf, 0, T0, 0)
        R.on_book(rc, rm, li, lf, 0, 0, 4900, 5100, T0)
        R.on_fill(rc, rm, li, lf, 0, 0, True, 6000, 100 * C, 0, T0)  # marked at 50c: −$10 → halt
        assert rc[0, R.RC_STATE] == R.HALTED and rc[0, R.RC_HALT1_REASON] == R.R_DAILY_LOSS
        assert rc[0, R.RC_HALT1_TS] == T0 and rc[0, R.RC_HALT1_MARKET] == 0
        R.settle(rc, rm, li, lf, 0, 0, False, 0, T0 + NS_PER_S)
        R.evaluate(rc, li, lf, 0, T0 + DAY, 0)
        assert (rc[0, R.RC_STATE] == R.HALTED) != unlatch
        assert rc[0, R.RC_NRESET] == (1 if unlatch else 0)
    # a position breach latches whatever the option says
    li, lf = R.limits_arrays(RiskLimits(position_limit=10 * C, daily_loss_unlatch=True))
    rc, rcf, rm = R.new_state(1, 1, lf)
    R.evaluate(rc, li, lf, 0, T0, 0)
    R.on_fill(rc, rm, li, lf, 0, 0, True, 5000, 11 * C, 0, T0)
    R.on_fill(rc, rm, li, lf, 0, 0, False, 5000, 11 * C, 0, T0 + NS_PER_S)  # flat again
    R.evaluate(rc, li, lf, 0, T0 + DAY, 0)
    assert rc[0, R.RC_STATE] == R.HALTED and R.REASON_NAMES[rc[0, R.RC_LATCH]] == "position_breach"


def test_the_write_budget_keeps_the_previous_approval_instead_of_denying() -> None:
    li, lf = R.limits_arrays(RiskLimits(rate_capacity=20.0, rate_per_s=1e-9, request_cost=10.0))
    rc, rcf, rm = R.new_state(1, 1, lf)
    R.evaluate(rc, li, lf, 0, T0, 0)
    first = R.check(rc, rcf, rm, li, lf, 0, 0, T0, 4800, 5 * C, 5200, 5 * C, 4700, 5300, math.nan, 0, GRID._floor)
    assert first[:5] == (True, 4800, 5 * C, 5200, 5 * C) and first[6] and not first[7]
    moved = R.check(rc, rcf, rm, li, lf, 0, 0, T0 + NS_PER_S, 4700, 5 * C, 5100, 3 * C, 4600, 5200, math.nan, 0,
                    GRID._floor)
    # the bid moves (no tokens left): it keeps 48c × 5; the ask shrinks at a new price: also a request
    assert moved[:5] == (True, 4800, 5 * C, 5200, 5 * C) and moved[7] and not moved[6]
    smaller = R.check(rc, rcf, rm, li, lf, 0, 0, T0 + 2 * NS_PER_S, 4800, 2 * C, 0, 0, 4600, 5200, math.nan, 0,
                      GRID._floor)
    assert smaller[:5] == (True, 4800, 2 * C, 0, 0) and not smaller[7]  # reductions and cancels are free
    assert rc[0, R.RC_NRATE] == 1
