"""RiskEngine: check order, limits, exposure across exclusive brackets, daily loss, rate, state machine."""

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.messages import ACTIVE, APPLIED, ASK, BID, HALTED, REDUCING, MarketInfo, QuoteIntent
from kmm.messages.units import MONEY_SCALE
from kmm.risk import fill_seq
from kmm.risk.bucket import TokenBucket
from kmm.risk.engine import RiskEngine, RiskLimits, cash_from_exchange, payout_from_exchange
from kmm.risk.exposure import event_worst_loss, opening_order_loss
from kmm.risk.reasons import (
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
    STALE_BOOK,
    VOL_SIZE,
)
from tests.unit.risk.support import NS, Clock


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
    engine.on_market(MarketInfo(market="SHUT", status="paused"))
    assert engine.check(intent(market="SHUT")).code == MARKET_CLOSED
    engine.on_market(MarketInfo(market="ENDED", status="closed"))  # never traded: forgotten
    assert engine.check(intent(market="ENDED")).code == MARKET_UNKNOWN
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
    assert engine.limits.opening_exposure_cap == 7_500_000  # where REDUCING would end: 75 % of $10
    assert 0 < 4000 * d.bid_count + 4000 * d.ask_count <= 7_500_000
    engine.on_fill("SOLO", BID, 5000, 1700)  # $8.50 at risk: ≥ 80 % of $10 → REDUCING
    assert engine.state == REDUCING
    d = engine.check(intent(bp=4000, bc=5000, ap=6000, ac=5000))
    assert d.bid_count == 0 and d.ask_count == 1700 and REDUCING_ONLY in d.reasons


def test_resting_orders_alone_never_take_the_engine_into_reducing() -> None:
    """The soak's flapping at 200 markets: approvals filled worst-case exposure to its maximum, REDUCING
    (entered at 80 %) pulled the opening orders, ACTIVE (under 75 %) placed them again, every 1–4 s."""
    engine, _ = make_engine(max_exposure=10 * MONEY_SCALE)
    for _ in range(5):
        d = engine.check(intent(bp=4000, bc=5000, ap=6000, ac=5000))
        engine.on_order("SOLO", "kmm-b", BID, 4000, d.bid_count)  # what the gateway then rests
        engine.on_order("SOLO", "kmm-a", ASK, 6000, d.ask_count)
        assert engine.state == ACTIVE and d.bid_count > 0 and d.ask_count > 0
    assert engine.exposure() <= engine.limits.opening_exposure_cap


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


def test_write_budget_charges_opening_sides_and_never_refuses_a_reduction() -> None:
    engine, clock = make_engine(rate_capacity=20.0, rate_per_s=10.0, request_cost=10.0)
    d = engine.check(intent(bp=4800))  # two sides open: 20 tokens
    assert d.approved and (d.bid_count, d.ask_count) == (1000, 1000) and RATE_LIMITED not in d.reasons
    assert engine.check(intent(bp=4800)).reasons == ()  # unchanged target: free
    d = engine.check(intent(bp=4700, ap=5300))  # both sides move, no tokens: both keep the old approval
    assert d.approved and RATE_LIMITED in d.reasons
    assert (d.bid_price, d.bid_count, d.ask_price, d.ask_count) == (4800, 1000, 5200, 1000)
    d = engine.check(intent(bp=4800, bc=500, ap=0, ac=0))  # a decrease and a cancel: free, approved as asked
    assert (d.bid_price, d.bid_count, d.ask_count) == (4800, 500, 0) and RATE_LIMITED not in d.reasons
    clock.now += 1 * NS  # 10 tokens: one side may move
    d = engine.check(intent(bp=4700, ap=5300))
    assert (d.bid_price, d.bid_count) == (4700, 1000) and (d.ask_price, d.ask_count) == (0, 0)
    bucket = TokenBucket(2, 0)
    assert bucket.try_take(0, 2) and not bucket.try_take(10**12, 1)


def test_stale_book_may_only_reduce() -> None:
    engine, clock = make_engine(max_book_age_ns=5 * NS)
    fresh = replace(intent(), book_ts=clock.now - 1 * NS)
    assert engine.check(fresh).approved
    stale = replace(intent(bp=4700), book_ts=clock.now - 6 * NS)
    d = engine.check(stale)
    assert not d.approved and d.code == STALE_BOOK
    pull = replace(intent(bp=4800, bc=500, ac=0), book_ts=clock.now - 60 * NS)
    assert engine.check(pull).approved


def test_settlement_books_the_payout_and_releases_exposure() -> None:
    engine, clock = make_engine(max_daily_loss=1_000 * MONEY_SCALE, max_exposure=1_000 * MONEY_SCALE,
                                position_limit=1_000_000)
    engine.on_book("SOLO", 8900, 9100)
    engine.daily_pnl()  # the day starts flat
    engine.on_fill("SOLO", BID, 9000, 10_000)  # buy 100 @ 90c
    d = engine.check(intent(bp=8800, bc=1000, ac=0))
    assert d.approved and engine.exposure() == 90 * MONEY_SCALE + 8800 * 1000
    assert engine.on_settlement("SOLO", "no", payout=0, position=10_000)
    assert engine.daily_pnl() == -90 * MONEY_SCALE  # the payout ($0) reached P&L
    assert engine.exposure() == 0 and engine.markets["SOLO"].position == 0
    assert not engine.on_settlement("SOLO", "no", payout=0)  # idempotent
    assert engine.check(intent()).code == MARKET_CLOSED
    engine.on_fill("EV-B1", BID, 3000, 1000)  # a winner: computed payout when the exchange gives none
    engine.on_book("EV-B1", 2900, 3100)
    before = engine.daily_pnl()
    engine.on_settlement("EV-B1", "yes")
    assert engine.daily_pnl() - before == 10 * MONEY_SCALE - 3000 * 1000


def test_a_short_settles_at_the_true_profit_and_loss_from_the_exchanges_record() -> None:
    for result, revenue, profit in (("no", 100 * MONEY_SCALE, 40), ("yes", 0, -60)):
        engine, _ = make_engine(position_limit=1_000_000, max_daily_loss=10**12, max_exposure=10**12)
        engine.on_fill("SOLO", ASK, 4000, 10_000)  # sell 100 YES at 40c (= buy 100 NO at 60c)
        cash = engine.cash
        # the exchange pays $1 per NO contract when NO wins, nothing when YES wins
        payout = payout_from_exchange(revenue, -10_000)
        assert engine.on_settlement("SOLO", result, payout, position=-10_000)
        assert engine.cash - cash + 4000 * 10_000 == profit * MONEY_SCALE
        assert engine.markets["SOLO"].position == 0


def test_the_exchanges_balance_in_the_engines_convention_adds_back_a_dollar_per_short_contract() -> None:
    engine, _ = make_engine(position_limit=1_000_000, max_daily_loss=10**12, max_exposure=10**12)
    engine.on_fill("A", ASK, 4000, 10_000)  # sold 100 YES at 40c: the exchange took $60 for 100 NO
    engine.on_fill("B", BID, 3000, 500)  # bought 5 YES at 30c: $1.50 on both sides
    balance_change = -60 * MONEY_SCALE - 150 * MONEY_SCALE // 100
    assert cash_from_exchange(balance_change, [-10_000, 500]) == engine.cash == 385 * MONEY_SCALE // 10
    assert cash_from_exchange(balance_change, []) == balance_change


def test_reducing_ends_only_below_the_hysteresis_band() -> None:
    engine, _ = make_engine(max_exposure=10 * MONEY_SCALE, near_fraction=0.8, near_hysteresis=0.1)
    engine.on_fill("SOLO", BID, 5000, 1600)  # $8.00 at risk = 80 %: REDUCING
    assert engine.state == REDUCING
    engine.on_fill("SOLO", ASK, 5000, 100)  # $7.50: 75 %, inside the band
    assert engine.state == REDUCING
    engine.on_fill("SOLO", ASK, 5000, 100)  # $7.00: 70 %, below it
    assert engine.state == ACTIVE


def test_a_halt_and_the_day_survive_a_restart() -> None:
    engine, clock = make_engine(max_daily_loss=1_000 * MONEY_SCALE)
    engine.on_book("SOLO", 4900, 5100)
    engine.daily_pnl()
    engine.on_fill("SOLO", BID, 5000, 2000, fee=10_000, seq=1)
    engine.on_book("SOLO", 3900, 4100)
    engine.halt("operator")
    pnl = engine.daily_pnl()
    saved = engine.global_snapshot(), {"SOLO": engine.market_snapshot("SOLO")}
    reborn, _ = make_engine(max_daily_loss=1_000 * MONEY_SCALE)
    reborn.clock = clock
    reborn.restore(*saved)
    assert reborn.state == HALTED and reborn.state_reason == "operator"
    assert reborn.daily_pnl() == pnl and reborn.cash == engine.cash
    assert reborn.markets["SOLO"].fill_seq == 1
    assert reborn.fills_booked() == engine.fills_booked() == 1  # what the status line shows as fills
    assert not reborn.on_fill("SOLO", BID, 5000, 2000, seq=1)  # already applied before the restart


def test_fill_sequence_orders_fills_and_position_reports() -> None:
    engine, _ = make_engine()
    assert engine.on_fill("SOLO", BID, 5000, 1000, seq=1)
    assert not engine.on_fill("SOLO", BID, 5000, 1000, seq=1)
    assert not engine.on_position("SOLO", 2000, fill_seq=2)  # made after a fill not applied here yet
    assert engine.markets["SOLO"].position == 1000
    assert engine.on_position("SOLO", 1000, fill_seq=1)
    d = engine.check(intent())
    assert (d.fill_seq, d.position) == (1, 1000)


def test_a_fill_at_a_reused_sequence_is_applied_and_a_redelivery_is_not() -> None:
    """Redis lost the gateway's count after risk applied fill "f1" (seq 1): the restarted gateway
    numbers its next fill 1 again. The soak lost such fills when risk went by the sequence alone."""
    engine, _ = make_engine()
    assert engine.on_fill("SOLO", BID, 5000, 1000, seq=1, fill_id="f1") == fill_seq.NEW
    assert engine.on_fill("SOLO", BID, 5000, 500, seq=1, fill_id="f2") == fill_seq.REUSED
    assert engine.markets["SOLO"].position == 1500
    assert not engine.on_fill("SOLO", BID, 5000, 500, seq=1, fill_id="f2")  # redelivered
    assert not engine.on_fill("SOLO", BID, 5000, 1000, seq=2, fill_id="f1")  # re-found, numbered again
    assert engine.markets["SOLO"].position == 1500 and engine.markets["SOLO"].fill_seq == 2
    assert engine.markets["SOLO"].fills == 2
    assert engine.cash == -5000 * 1500 and engine.check(intent()).fill_seq == 2
    saved = engine.global_snapshot(), {"SOLO": json.loads(json.dumps(engine.market_snapshot("SOLO")))}
    reborn, _ = make_engine()
    reborn.restore(*saved)
    assert not reborn.on_fill("SOLO", BID, 5000, 500, seq=1, fill_id="f2")  # what it applied survives
    assert reborn.on_fill("SOLO", BID, 5000, 100, seq=2, fill_id="f3")
    assert (reborn.markets["SOLO"].position, reborn.markets["SOLO"].fills) == (1600, 3)


def test_outstanding_approvals_count_until_the_gateway_retires_them() -> None:
    engine, _ = make_engine(max_exposure=10**12, max_daily_loss=10**12)
    big = replace(intent(bp=4800, bc=5000, ac=0), intent_id="big")
    small = replace(intent(bp=4800, bc=1000, ac=0), intent_id="small")
    engine.check(big)
    engine.check(small)
    assert engine.order_exposure("SOLO") == 4800 * 5000  # the big one may still rest
    engine.on_fill("SOLO", BID, 4800, 2000)
    assert engine.order_exposure("SOLO") == 4800 * 3000  # fills consume every approval
    engine.on_approval_status("SOLO", "small", APPLIED)
    assert engine.order_exposure("SOLO") == 0  # small was consumed too: 1000 − 2000 → 0
    engine.on_order("SOLO", "kmm-adopted", BID, 4000, 700)
    assert engine.order_exposure("SOLO") == 4000 * 700  # a reported resting order counts as well
    engine.on_order_done("SOLO", "kmm-adopted")
    assert engine.order_exposure("SOLO") == 0


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
            latest = m.permits.latest()
            if latest is None:
                continue
            s = latest.side(side)
            count = int(s.count * frac) // 100 * 100
            if count:
                engine.on_fill("SOLO", side, s.price, count)
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
