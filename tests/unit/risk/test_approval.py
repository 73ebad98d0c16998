"""The approval rule, played out the way the gateway and the exchange act, not the way risk models them.

The property test runs the risk engine and the gateway's :class:`Allowance` against a model exchange
(one resting order per side, a position) with every message delayed in its queue: approvals reach the
gateway late, fills and approval reports reach risk late, the gateway syncs its orders to its allowance
whenever it likes. Whatever the interleaving, the exchange's position never passes the limit.
"""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kmm.messages import APPLIED, ASK, BID, EXPIRED, HALTED, REFUSED, MarketInfo, QuoteIntent
from kmm.risk.approval import STALE, Allowance, Permits
from kmm.risk.engine import RiskEngine, RiskLimits
from tests.unit.risk.support import NS, Clock

LIMIT = 10_000  # 100 contracts


class Exchange:
    """One market: our resting order per side and our position, as the venue holds them."""

    def __init__(self) -> None:
        self.resting = {BID: (0, 0), ASK: (0, 0)}
        self.position = 0
        self.max_abs_position = 0

    def fill(self, side: str, frac: float) -> tuple[int, int]:
        price, count = self.resting[side]
        n = int(count * frac) // 100 * 100
        if n:
            self.resting[side] = (price, count - n) if count > n else (0, 0)
            self.position += n if side == BID else -n
            self.max_abs_position = max(self.max_abs_position, abs(self.position))
        return price, n


ops = st.lists(
    st.one_of(
        st.tuples(st.just("intent"), st.integers(10, 80), st.integers(0, 8_000), st.integers(0, 8_000)),
        st.tuples(st.just("to_gateway")),
        st.tuples(st.just("sync")),
        st.tuples(st.just("fill"), st.sampled_from([BID, ASK]), st.floats(0.1, 1.0)),
        st.tuples(st.just("to_risk")),
        st.tuples(st.just("vol"), st.floats(1.0, 30.0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_the_exchange_position_never_passes_the_limit(sequence) -> None:
    clock = Clock()
    engine = RiskEngine(RiskLimits(position_limit=LIMIT, max_exposure=10**15, max_daily_loss=10**15,
                                   rate_capacity=1e9, rate_per_s=1e9), clock)
    engine.on_market(MarketInfo(market="M"))
    engine.on_book("M", 4000, 9000)
    gateway = Allowance()
    exchange = Exchange()
    to_gateway: list = []
    to_risk: list = []
    n = 0
    for op in sequence:
        clock.now += NS
        kind = op[0]
        if kind == "intent":
            n += 1
            _, bid_c, bc, ac = op
            d = engine.check(QuoteIntent(intent_id=f"i{n}", market="M", bid_price=bid_c * 50,
                                         bid_count=bc // 100 * 100, ask_price=9000, ask_count=ac // 100 * 100))
            if d.approved:
                to_gateway.append(d.to_approval(QuoteIntent(intent_id=f"i{n}", market="M"), clock.now))
        elif kind == "to_gateway" and to_gateway:
            a = to_gateway.pop(0)
            why = gateway.accept(a.intent_id, a.fill_seq, a.bid_price, a.bid_count, a.ask_price, a.ask_count)
            if why:
                assert why.startswith(STALE)
                to_risk.append(("status", a.intent_id, REFUSED))
        elif kind == "sync":  # the gateway moves its orders to what its allowance lets rest
            for side in (BID, ASK):
                exchange.resting[side] = gateway.target(side)
            if gateway.intent_id:
                to_risk.append(("status", gateway.intent_id, APPLIED))
        elif kind == "fill":
            _, side, frac = op
            price, count = exchange.fill(side, frac)
            if count:
                seq = gateway.on_fill(side, count)
                to_risk.append(("fill", side, price, count, seq))
        elif kind == "to_risk" and to_risk:
            msg = to_risk.pop(0)
            if msg[0] == "fill":
                engine.on_fill("M", msg[1], msg[2], msg[3], seq=msg[4])
            else:
                engine.on_approval_status("M", msg[1], msg[2])
        elif kind == "vol":
            engine.on_volatility("M", op[1])
        assert exchange.max_abs_position <= LIMIT
        assert engine.state != HALTED


def test_allowance_refuses_an_approval_older_than_the_fills_it_has_seen() -> None:
    a = Allowance()
    assert a.accept("i1", 0, 4000, 1000, 6000, 1000) == ""
    assert a.on_fill(BID, 400) == 1
    assert a.target(BID) == (4000, 600)  # a fill never makes room for more
    assert a.accept("i2", 0, 4000, 1000, 6000, 1000).startswith(STALE)
    assert a.target(BID) == (4000, 600) and a.intent_id == "i1"
    assert a.accept("i3", 1, 4100, 1000, 6000, 0) == ""
    assert a.target(BID) == (4100, 1000) and a.target(ASK) == (0, 0)
    a.on_fill(BID, 1000)
    assert a.target(BID) == (0, 0)


def test_permits_retire_on_the_gateways_reports() -> None:
    p = Permits()
    for i, count in enumerate((1000, 500, 800)):
        p.issue(f"i{i}", 4000, count, 0, 0)
    assert p.worst(BID) == [(4000, 1000), (4000, 500), (4000, 800)]
    p.on_status("i1", APPLIED)
    assert [x.intent_id for x in p.items] == ["i1", "i2"]
    p.on_status("i2", REFUSED)
    assert [x.intent_id for x in p.items] == ["i1"]
    p.issue("i3", 4000, 100, 0, 0)
    p.on_status("i3", EXPIRED)
    assert p.items == []
    p.issue("i4", 4000, 100, 0, 0)
    p.on_fill(BID, 300)
    assert p.worst(BID) == [] and replace(p.items[0].bid).price == 0
