"""The exchange's own records tests assert against: every order ever created, the largest |position|
ever held, and what settlement does (kalshi-api.md §10)."""

from kmm_services.exchange.engine import MarketLifecycle, OrderUpdate, PositionUpdate, SettlementEvent
from kmm_services.exchange.orders import ASK, BID, CANCELED, EXECUTED, IOC, RESTING

from .engine_support import TICKER, Recorder, make_exchange, n, order, usd


def test_order_history_keeps_every_order_in_any_status() -> None:
    ex, _ = make_exchange()
    a = ex.create_order("a", order(BID, 40, 5, client_order_id="k-1"))
    b = ex.create_order("a", order(BID, 41, 2, client_order_id="k-2"))
    ex.cancel_order("a", a.order_id)
    ex.create_order("b", order(ASK, 41, 2, time_in_force=IOC))
    again = ex.create_order("a", order(BID, 39, 1, client_order_id="k-1"))  # a closed id may be reused
    history = ex.order_history("a")
    assert [(o.order_id, o.status) for o in history] == [
        (a.order_id, CANCELED), (b.order_id, EXECUTED), (again.order_id, RESTING)]
    assert [o.client_order_id for o in history].count("k-1") == 2
    assert ex.order_history("b")[0].fill_count == n(2)


def test_max_abs_position_is_the_largest_ever_held() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 50, 30))
    ex.create_order("a", order(BID, 50, 10, time_in_force=IOC))  # a +10
    ex.create_order("c", order(BID, 45, 30))
    ex.create_order("a", order(ASK, 45, 22, time_in_force=IOC))  # a 10 → −12
    pos = ex.position("a", TICKER)
    assert (pos.position, pos.max_abs_position) == (-n(12), n(12))
    ex.create_order("a", order(BID, 50, 12, time_in_force=IOC))  # back to 0
    assert (ex.position("a", TICKER).position, ex.position("a", TICKER).max_abs_position) == (0, n(12))
    assert ex.position("b", TICKER).max_abs_position == n(22)
    ex.settle_market(TICKER, "yes")
    assert ex.position("b", TICKER).position == 0 and ex.position("b", TICKER).max_abs_position == n(22)


def test_max_abs_position_sees_the_peak_inside_one_taker_order() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 50, 4))
    ex.create_order("c", order(ASK, 51, 6))
    ex.create_order("a", order(BID, 51, 10, time_in_force=IOC))  # two fills: +4, then +10
    assert ex.position("a", TICKER).max_abs_position == n(10)
    assert [f.post_position for f in reversed(ex.fills("a").items)] == [n(4), n(10)]


def test_settlement_pays_zeros_cancels_records_and_tells_listeners() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 70, 10))
    ex.create_order("a", order(BID, 70, 10, time_in_force=IOC))  # a long 10 YES at .70, b long 10 NO
    resting = ex.create_order("a", order(BID, 60, 3))
    cash = {u: ex.balance(u).cash for u in "ab"}
    rec = Recorder()
    ex.add_listener(rec)
    ex.settle_market(TICKER, "no")
    assert ex.get_order("a", resting.order_id).status == CANCELED
    assert [(u.order.order_id, u.kind) for u in rec.of(OrderUpdate)] == [(resting.order_id, CANCELED)]
    # settled before its close time: the close time moves to now (announced), then the silent close
    assert [e.event_type for e in rec.of(MarketLifecycle)] == ["close_date_updated", "closed", "determined", "settled"]
    assert {(p.user, p.position.position) for p in rec.of(PositionUpdate)} == {("a", 0), ("b", 0)}
    rows = {e.user: e.settlement for e in rec.of(SettlementEvent)}
    assert (rows["b"].no_count, rows["b"].no_total_cost, rows["b"].revenue, rows["b"].revenue_cents) == (
        n(10), usd(3), usd(10), 1000)
    assert (rows["a"].yes_count, rows["a"].yes_total_cost, rows["a"].revenue) == (n(10), usd(7), 0)
    assert ex.balance("b").cash == cash["b"] + usd(10) and ex.balance("a").cash == cash["a"]
    assert ex.balance("a").locked == 0
    assert ex.positions("a") == [] and ex.position("a", TICKER).settled
    ex.check_invariants()
