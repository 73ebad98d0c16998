"""RiskEngine keeps exposure and value as running totals: after any sequence of inputs they equal the
figures computed from scratch, and the state machine sees the same breaches."""

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.messages import APPLIED, ASK, BID, EXPIRED, REFUSED, MarketInfo, QuoteIntent
from kmm.risk.engine import RiskEngine, RiskLimits

NS = 1_000_000_000
MARKETS = ("EV-A", "EV-B", "EV-C", "SOLO", "LONE")

op = st.one_of(
    st.tuples(st.just("info"), st.sampled_from(MARKETS), st.sampled_from(["EV", "EV2", ""]), st.booleans()),
    st.tuples(st.just("book"), st.sampled_from(MARKETS), st.integers(1, 97)),
    st.tuples(st.just("intent"), st.sampled_from(MARKETS), st.integers(1, 97), st.integers(0, 50),
              st.integers(1, 5), st.integers(0, 50)),
    st.tuples(st.just("fill"), st.sampled_from(MARKETS), st.sampled_from([BID, ASK]), st.integers(1, 99),
              st.integers(1, 30)),
    st.tuples(st.just("order"), st.sampled_from(MARKETS), st.sampled_from(["o1", "o2"]),
              st.sampled_from([BID, ASK]), st.integers(1, 99), st.integers(0, 30)),
    st.tuples(st.just("done"), st.sampled_from(MARKETS), st.sampled_from(["o1", "o2"])),
    st.tuples(st.just("status"), st.sampled_from(MARKETS), st.integers(0, 10),
              st.sampled_from([APPLIED, EXPIRED, REFUSED])),
    st.tuples(st.just("position"), st.sampled_from(MARKETS), st.integers(-40, 40)),
    st.tuples(st.just("settle"), st.sampled_from(MARKETS), st.sampled_from(["yes", "no"])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=60))
def test_running_totals_equal_a_recomputation(ops: list[tuple]) -> None:
    now = [1_700_000_000 * NS]
    e = RiskEngine(RiskLimits(position_limit=2_000, max_exposure=10**12, max_daily_loss=10**12),
                   lambda: now[0])
    for name in MARKETS:
        e.on_market(MarketInfo(market=name, event="EV" if name.startswith("EV") else name,
                               mutually_exclusive=name.startswith("EV")))
    n = 0
    for o in ops:
        now[0] += NS
        kind, market = o[0], o[1]
        if kind == "info":
            e.on_market(MarketInfo(market=market, event=o[2], mutually_exclusive=o[3]))
        elif kind == "book":
            e.on_book(market, o[2] * 100, (o[2] + 2) * 100)
        elif kind == "intent":
            n += 1
            _, _, bid, bc, width, ac = o
            e.check(QuoteIntent(intent_id=f"i{n}", market=market, bid_price=bid * 100, bid_count=bc * 100,
                                ask_price=min(bid + width, 99) * 100, ask_count=ac * 100))
        elif kind == "fill":
            e.on_fill(market, o[2], o[3] * 100, o[4] * 100)
        elif kind == "order":
            e.on_order(market, o[2], o[3], o[4] * 100, o[5] * 100)
        elif kind == "done":
            e.on_order_done(market, o[2])
        elif kind == "status":
            e.on_approval_status(market, f"i{o[2]}", o[3])
        elif kind == "position":
            e.on_position(market, o[2] * 100)
        else:
            e.on_settlement(market, o[2])
        assert e.totals() == e.recomputed(), o
        assert e.exposure() == e.recomputed()["holdings"] + e.recomputed()["orders"]


def test_a_restored_ledger_counts_in_the_totals() -> None:
    e = RiskEngine(RiskLimits(), lambda: 1_700_000_000 * NS)
    e.on_market(MarketInfo(market="SOLO"))
    e.restore({"cash": -5_000_000}, {"SOLO": {"position": 1000, "cost": 5_000_000, "mark": 5000}})
    e.restore_approval("SOLO", "i1", 4800, 1000, 5200, 1000)
    assert e.totals() == e.recomputed()
    assert e.holdings_exposure() == 5_000_000 and e.exposure() > e.holdings_exposure()
