"""RiskEngine: a settled market we never traded is forgotten, with its share of the running totals; one
we traded keeps its ledger."""

from kmm.messages import BID, MARKET_SETTLED, MarketInfo, QuoteIntent
from kmm.risk.engine import RiskEngine, RiskLimits
from tests.unit.risk.support import NS, Clock


def engine(clock: Clock | None = None) -> RiskEngine:
    e = RiskEngine(RiskLimits(), clock or Clock())
    for name in ("EV-B1", "EV-B2"):
        e.on_market(MarketInfo(market=name, event="EV", mutually_exclusive=True))
    e.on_market(MarketInfo(market="SOLO", event="OTHER"))
    for name in ("EV-B1", "EV-B2", "SOLO"):
        e.on_book(name, 4900, 5100)
    return e


def approve(e: RiskEngine, market: str) -> None:
    d = e.check(QuoteIntent(intent_id=f"i-{market}", market=market, bid_price=4800, bid_count=1000,
                            ask_price=5200, ask_count=1000))
    assert d.bid_count and d.ask_count, d


def settled(e: RiskEngine, market: str, event: str = "", exclusive: bool = False) -> None:
    e.on_market(MarketInfo(market=market, event=event, mutually_exclusive=exclusive, status=MARKET_SETTLED))


def assert_totals_hold(e: RiskEngine) -> None:
    assert e.totals() == e.recomputed()


def test_a_settled_market_never_traded_is_forgotten_and_its_approval_released() -> None:
    e = engine()
    approve(e, "SOLO")
    assert e.exposure() > 0
    settled(e, "SOLO", "OTHER")
    assert "SOLO" not in e.markets
    assert e.exposure() == 0
    assert_totals_hold(e)


def test_a_settled_member_of_an_exclusive_event_leaves_the_event_and_the_rest_stays_exact() -> None:
    e = engine()
    approve(e, "EV-B1")
    approve(e, "EV-B2")
    settled(e, "EV-B1", "EV", exclusive=True)
    assert "EV-B1" not in e.markets and "EV-B2" in e.markets
    assert_totals_hold(e)
    settled(e, "EV-B2", "EV", exclusive=True)
    assert not e.markets.keys() & {"EV-B1", "EV-B2"}
    assert e._event_markets == {} and e._event_loss == {}
    assert_totals_hold(e)


def test_a_market_we_traded_keeps_its_ledger_after_it_settled() -> None:
    e = engine()
    e.on_fill("SOLO", BID, 4800, 1000, fee=10_000, seq=1)
    e.on_settlement("SOLO", "yes")
    pnl = e.market_pnl("SOLO")
    settled(e, "SOLO", "OTHER")
    assert e.markets["SOLO"].fills == 1 and e.markets["SOLO"].info is not None
    assert e.market_pnl("SOLO") == pnl and e.fills_booked() == 1
    assert_totals_hold(e)


def test_a_market_with_an_order_resting_is_kept() -> None:
    e = engine()
    e.on_order("SOLO", "c1", BID, 4800, 1000)
    settled(e, "SOLO", "OTHER")
    assert "SOLO" in e.markets


def test_markets_listed_and_settled_for_days_leave_nothing_behind() -> None:
    clock = Clock()
    e = engine(clock)
    before = set(e.markets)
    for day in range(30):
        clock.now += 3600 * NS
        names = [f"KXDAY-{day}-T{i}" for i in range(50)]
        for n in names:
            e.on_market(MarketInfo(market=n, event=f"KXDAY-{day}", mutually_exclusive=True))
            e.on_book(n, 4900, 5100)
        approve(e, names[0])
        for n in names:
            settled(e, n, f"KXDAY-{day}", exclusive=True)
    assert set(e.markets) == before
    assert not any(ev.startswith("KXDAY") for ev in e._event_markets)
    assert_totals_hold(e)


def test_the_engine_still_denies_a_market_it_forgot() -> None:
    e = engine()
    settled(e, "SOLO", "OTHER")
    d = e.check(QuoteIntent(intent_id="late", market="SOLO", bid_price=4800, bid_count=1000, ask_price=5200,
                            ask_count=1000))
    assert not d.bid_count and not d.ask_count


def test_late_reports_for_a_forgotten_market_do_not_bring_it_back() -> None:
    e = engine()
    approve(e, "SOLO")
    settled(e, "SOLO", "OTHER")
    e.on_approval_status("SOLO", "i-SOLO", "expired")
    e.on_order_done("SOLO", "c1")
    e.on_order("SOLO", "c1", BID, 4800, 0)
    e.on_cancel("SOLO", BID, 1000)
    assert "SOLO" not in e.markets
    assert_totals_hold(e)
