"""RiskEngine: check order, limits, exposure across exclusive brackets, daily loss, rate, state machine."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.messages import ACTIVE, ASK, BID, HALTED, REDUCING, MarketInfo, QuoteIntent
from kmm.messages.units import MONEY_SCALE
from kmm.risk.bucket import TokenBucket
from kmm.risk.engine import (
    AT_POSITION_LIMIT,
    BID_CROSSES_BOOK,
    DAILY_LOSS_BREACH,
    EXPOSURE_LIMIT,
    MARKET_CLOSED,
    MARKET_UNKNOWN,
    NEAR_POSITION_LIMIT,
    OFF_GRID,
    POSITION_BREACH,
    RATE_LIMITED,
    REDUCING_ONLY,
    SELF_CROSSED,
    VOL_SIZE,
    RiskEngine,
    RiskLimits,
)
from kmm.risk.exposure import event_worst_loss, opening_order_loss

NS = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000 * NS

    def __call__(self) -> int:
        return self.now


def make_engine(**limits: object) -> tuple[RiskEngine, Clock]:
    clock = Clock()
    engine = RiskEngine(replace(RiskLimits(), **limits), clock)
    for name in ("EV-B1", "EV-B2", "EV-B3"):
        engine.on_market(MarketInfo(market=name, event="EV", mutually_exclusive=True))
    engine.on_market(MarketInfo(market="SOLO", event="OTHER"))
    for name in ("EV-B1", "EV-B2", "EV-B3", "SOLO"):
        engine.on_book(name, 4900, 5100)
    return engine, clock


def intent(market: str = "SOLO", bp: int = 4800, bc: int = 1000, ap: int = 5200, ac: int = 1000) -> QuoteIntent:
    return QuoteIntent(intent_id="i", market=market, bid_price=bp, bid_count=bc, ask_price=ap, ask_count=ac)


def test_plain_approval_and_messages() -> None:
    engine, clock = make_engine()
    d = engine.check(intent())
    assert d.approved and (d.bid_price, d.bid_count, d.ask_price, d.ask_count) == (4800, 1000, 5200, 1000)
    approval = d.to_approval(intent(), ts_init=clock.now)
    assert approval.bid_count == 1000 and approval.state == ACTIVE
    denial = engine.check(intent(market="NOPE")).to_denial(intent(market="NOPE"), ts_init=1)
    assert denial.code == MARKET_UNKNOWN


def test_market_known_open_grid_and_crossing_in_order() -> None:
    engine, clock = make_engine()
    engine.on_market(MarketInfo(market="SHUT", status="closed"))
    assert engine.check(intent(market="SHUT")).code == MARKET_CLOSED
    engine.on_market(MarketInfo(market="LATE", close_ts=clock.now))
    assert engine.check(intent(market="LATE")).code == MARKET_CLOSED
    assert engine.check(intent(bp=4850)).code == OFF_GRID
    assert engine.check(intent(bp=5200, ap=5200)).code == SELF_CROSSED
    crossing = engine.check(intent(bp=5100, ap=5300))
    assert crossing.approved and crossing.bid_count == 0 and BID_CROSSES_BOOK in crossing.reasons


def test_position_limit_near_and_at() -> None:
    engine, _ = make_engine(position_limit=10_000)
    engine.on_fill("SOLO", BID, 5000, 8000)  # 80 contracts: near (80 %)
    d = engine.check(intent(bc=5000, ac=5000))
    assert d.bid_count == 0 and d.ask_count == 5000 and NEAR_POSITION_LIMIT in d.reasons
    engine.on_fill("SOLO", BID, 5000, 2000)  # at the limit
    d = engine.check(intent(bc=5000, ac=5000))
    assert d.bid_count == 0 and AT_POSITION_LIMIT in d.reasons
    engine.on_fill("SOLO", ASK, 5000, 9000)
    d = engine.check(intent(bc=50_000, ac=0))
    assert d.bid_count == 10_000 - 1000  # capped at the room left


def test_volatility_scales_limit_and_size() -> None:
    engine, _ = make_engine(position_limit=10_000, sigma_ref=5.0)
    engine.on_volatility("SOLO", 10.0)  # spike: half the limit, half the size
    assert engine.position_limit("SOLO") == 5000
    d = engine.check(intent(bc=2000, ac=2000))
    assert (d.bid_count, d.ask_count) == (1000, 1000) and VOL_SIZE in d.reasons
    engine.on_volatility("SOLO", 2.5)  # calm: double size, limit unchanged (vol_limit_max = 1)
    d = engine.check(intent(bc=2000, ac=2000))
    assert (d.bid_count, d.ask_count) == (4000, 4000)


def test_worst_case_counts_exclusive_brackets_once() -> None:
    # long NO 10 contracts on two brackets at 0.40 NO each: cost $8, but at least one NO pays $10
    holdings = [(-1000, 4000 * 1000), (-1000, 4000 * 1000)]
    assert event_worst_loss(holdings) == (8 - 10) * MONEY_SCALE  # a locked-in gain of $2
    assert event_worst_loss([(-1000, 4_000_000), (-1000, 4_000_000), (-1000, 4_000_000)]) == (12 - 20) * MONEY_SCALE
    assert event_worst_loss([(1000, 6_000_000), (1000, 3_000_000)]) == 9 * MONEY_SCALE  # both YES: ≤ one pays
    assert opening_order_loss(500, 4000, 1000, 6000, 800) == 4000 * 1000 + 4000 * 300
    engine, _ = make_engine()
    engine.on_fill("EV-B1", ASK, 6000, 1000)
    engine.on_fill("EV-B2", ASK, 6000, 1000)
    engine.on_fill("EV-B3", ASK, 6000, 1000)
    assert engine.exposure() == (12 - 20) * MONEY_SCALE
    engine.on_fill("SOLO", BID, 3000, 1000)
    assert engine.exposure() == (12 - 20 + 3) * MONEY_SCALE


def test_exposure_headroom_shrinks_opening_sides_and_reducing_state() -> None:
    engine, _ = make_engine(max_exposure=10 * MONEY_SCALE)
    d = engine.check(intent(bp=4000, bc=5000, ap=6000, ac=5000))  # opening loss $20 + $20 > $10
    assert EXPOSURE_LIMIT in d.reasons
    assert 4000 * d.bid_count + 4000 * d.ask_count <= 10 * MONEY_SCALE
    engine.on_fill("SOLO", BID, 5000, 1700)  # $8.50 at risk: ≥ 80 % of $10 → REDUCING
    assert engine.state == REDUCING
    d = engine.check(intent(bp=4000, bc=5000, ap=6000, ac=5000))
    assert d.bid_count == 0 and d.ask_count == 1700 and REDUCING_ONLY in d.reasons


def test_daily_loss_halts_and_resume_is_refused_until_a_new_day() -> None:
    engine, clock = make_engine(max_daily_loss=5 * MONEY_SCALE)
    engine.on_fill("SOLO", BID, 5000, 2000)  # 20 contracts at 50¢
    engine.drain_events()
    engine.on_book("SOLO", 2400, 2600)  # marked at 25¢: −$5
    assert engine.state == HALTED and engine.state_reason == DAILY_LOSS_BREACH
    (event,) = engine.drain_events()
    assert event.cancel_all and event.previous == ACTIVE and event.reason == DAILY_LOSS_BREACH
    assert engine.check(intent()).code == "halted"
    engine.resume()
    assert engine.state == HALTED and engine.drain_events()[0].reason.startswith("resume_refused")
    clock.now += 86_400 * NS
    engine.resume()
    assert engine.state == ACTIVE


def test_reconciliation_breach_halts_and_manual_halt_resume() -> None:
    engine, _ = make_engine(position_limit=10_000)
    engine.on_position("SOLO", 12_000)
    assert engine.state == HALTED and engine.state_reason == POSITION_BREACH
    engine.on_position("SOLO", 0)
    assert engine.state == HALTED  # latched
    engine.resume()
    assert engine.state == ACTIVE
    engine.halt("operator")
    assert engine.state == HALTED and engine.check(intent()).reasons == ("operator",)
    engine.resume()
    states = [(e.previous, e.state) for e in engine.drain_events()]
    assert states == [(ACTIVE, HALTED), (HALTED, ACTIVE), (ACTIVE, HALTED), (HALTED, ACTIVE)]


def test_rate_budget() -> None:
    engine, clock = make_engine(rate_capacity=3.0, rate_per_s=1.0)
    assert engine.check(intent(bp=4800)).approved  # 2 tokens
    assert engine.check(intent(bp=4800)).approved  # unchanged target: free
    d = engine.check(intent(bp=4700, ap=5300))
    assert not d.approved and d.code == RATE_LIMITED
    clock.now += 1 * NS
    assert engine.check(intent(bp=4700, ap=5300)).approved
    bucket = TokenBucket(2, 0)
    assert bucket.try_take(0, 2) and not bucket.try_take(10**12, 1)


# --- properties --------------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("intent"), st.integers(1, 98), st.integers(0, 30_000), st.integers(1, 5),
                  st.integers(0, 30_000)),
        st.tuples(st.just("fill"), st.sampled_from([BID, ASK]), st.floats(0.0, 1.0)),
        st.tuples(st.just("vol"), st.floats(0.5, 40.0)),
        st.tuples(st.just("book"), st.integers(1, 98)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_no_approved_order_can_take_a_position_past_its_limit(sequence) -> None:
    engine, clock = make_engine(position_limit=10_000, max_exposure=10**12, max_daily_loss=10**12)
    for op in sequence:
        clock.now += NS
        m = engine.markets["SOLO"]
        if op[0] == "intent":
            _, bid_c, bc, width, ac = op
            d = engine.check(intent(bp=bid_c * 100, bc=bc // 100 * 100, ap=min(bid_c + width, 99) * 100,
                                    ac=ac // 100 * 100))
            if d.approved:
                limit = engine.position_limit("SOLO")
                if d.bid_count:
                    assert m.position + d.bid_count <= max(limit, 0)
                if d.ask_count:
                    assert m.position - d.ask_count >= -limit
        elif op[0] == "fill":
            _, side, frac = op
            bp, bc, ap, ac = m.target
            count = int((bc if side == BID else ac) * frac) // 100 * 100
            if count:
                engine.on_fill("SOLO", side, bp if side == BID else ap, count)
        elif op[0] == "vol":
            engine.on_volatility("SOLO", op[1])
        else:
            engine.on_book("SOLO", op[1] * 100, (op[1] + 1) * 100)
        assert abs(m.position) <= engine.limits.position_limit
        assert engine.state != HALTED


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["halt", "resume", "check"]), max_size=30))
def test_halt_and_resume_follow_the_state_machine(commands) -> None:
    engine, _ = make_engine()
    for cmd in commands:
        if cmd == "halt":
            engine.halt("test")
            assert engine.state == HALTED
        elif cmd == "resume":
            engine.resume()
            assert engine.state == ACTIVE
        else:
            d = engine.check(intent())
            assert d.approved == (engine.state != HALTED)
    for event in engine.drain_events():
        assert event.previous != event.state
        assert event.cancel_all == (event.state == HALTED)


def test_market_pnl_splits_realized_unrealized_and_fees() -> None:
    e, _ = make_engine()
    e.on_fill("SOLO", BID, 4000, 1000, fee=70_000)  # buy 10 @ $0.40, fee $0.07
    e.on_fill("SOLO", ASK, 4500, 400)  # sell 4 @ $0.45: realized 4 × $0.05
    e.on_book("SOLO", 4900, 5100)  # mark $0.50: 6 held at $0.40 → unrealized 6 × $0.10
    assert e.market_pnl("SOLO") == {"realized": 200_000, "unrealized": 600_000, "fees": 70_000}
    e.on_position("SOLO", 800)  # 2 unexplained contracts appear: costed at the mark, P&L unchanged
    assert e.market_pnl("SOLO") == {"realized": 200_000, "unrealized": 600_000, "fees": 70_000}
