"""Order management: amend priority rules, decrease, cancel, batches, order groups, validation errors."""

import pytest

from kmm_services.exchange.engine import AmendOrder, BookDelta, ExchangeError, OrderUpdate
from kmm_services.exchange.orders import ASK, BID, CANCELED, EXECUTED, GTC, IOC, RESTING, CreateOrder

from .engine_support import TICKER, Recorder, S, c, make_exchange, n, order, usd


def _err(fn, *args, **kw) -> ExchangeError:
    with pytest.raises(ExchangeError) as err:
        fn(*args, **kw)
    return err.value


# ---- amend -------------------------------------------------------------------------------------
def test_amend_decreasing_size_at_same_price_keeps_priority() -> None:
    ex, _ = make_exchange()
    first = ex.create_order("a", order(BID, 40, 10))
    second = ex.create_order("b", order(BID, 40, 5))
    ack = ex.amend_order("a", first.order_id, AmendOrder(price=c(40), count=n(6)))
    assert (ack.status, ack.remaining_count) == (RESTING, n(6))
    assert ex.queue_position("b", second.order_id) == n(6)
    assert ex.book(TICKER).yes == [(4000, n(11))]


def test_amend_increasing_size_goes_to_the_back() -> None:
    ex, _ = make_exchange()
    first = ex.create_order("a", order(BID, 40, 10))
    second = ex.create_order("b", order(BID, 40, 5))
    ex.amend_order("a", first.order_id, AmendOrder(price=c(40), count=n(12)))
    assert ex.queue_position("b", second.order_id) == 0
    assert ex.queue_position("a", first.order_id) == n(5)
    assert ex.book(TICKER).yes == [(4000, n(17))]


def test_amend_price_change_goes_to_back_and_count_is_total_including_fills() -> None:
    ex, _ = make_exchange()
    first = ex.create_order("a", order(BID, 40, 10))
    ex.create_order("c", order(ASK, 40, 4, time_in_force=IOC))  # a filled 4, 6 left
    other = ex.create_order("b", order(BID, 41, 5))
    ack = ex.amend_order("a", first.order_id, AmendOrder(price=c(41), count=n(10)))
    assert ack.remaining_count == n(6)
    o = ex.get_order("a", first.order_id)
    assert (o.price, o.fill_count, o.remaining, o.initial_count) == (4100, n(4), n(6), n(10))
    assert ex.queue_position("a", first.order_id) == n(5)
    assert ex.queue_position("b", other.order_id) == 0
    assert _err(ex.amend_order, "a", first.order_id, AmendOrder(price=c(41), count=n(4))).code == "invalid_parameters"


def test_amend_that_crosses_executes() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 45, 3))
    mine = ex.create_order("a", order(BID, 40, 5))
    ack = ex.amend_order("a", mine.order_id, AmendOrder(price=c(46), count=n(5)))
    assert (ack.fill_count, ack.remaining_count, ack.fill_cost) == (n(3), n(2), 4500 * n(3))
    assert ex.book(TICKER).yes == [(4600, n(2))]
    ex.check_invariants()


def test_amend_post_only_that_would_cross_is_rejected_and_order_unchanged_in_reject_mode() -> None:
    ex, _ = make_exchange(post_only_cross="reject")
    ex.create_order("b", order(ASK, 45, 3))
    mine = ex.create_order("a", order(BID, 40, 5, post_only=True))
    assert _err(ex.amend_order, "a", mine.order_id, AmendOrder(price=c(45), count=n(5))).code == "post_only_rejected"
    o = ex.get_order("a", mine.order_id)
    assert (o.price, o.remaining, o.status) == (4000, n(5), RESTING)


def test_amend_post_only_that_would_cross_cancels_the_order_by_default() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 45, 3))
    mine = ex.create_order("a", order(BID, 40, 5, post_only=True, client_order_id="old"))
    ex.create_order("c", order(ASK, 40, 1, time_in_force=IOC))  # a filled 1, 4 left
    rec = Recorder()
    ex.add_listener(rec)
    ack = ex.amend_order("a", mine.order_id, AmendOrder(price=c(45), count=n(5), updated_client_order_id="new"))
    assert (ack.status, ack.fill_count, ack.remaining_count, ack.client_order_id) == (CANCELED, 0, 0, "new")
    o = ex.get_order("a", mine.order_id)
    assert (o.status, o.remaining, o.fill_count, o.price, o.last_update_reason) == (
        CANCELED, 0, n(1), 4500, "post_only_cross_cancel")
    assert [(d.side, d.price, d.delta) for d in rec.of(BookDelta)] == [("yes", 4000, -n(4))]
    assert [(u.kind, u.order.remaining) for u in rec.of(OrderUpdate)] == [(CANCELED, 0)]
    assert ex.book(TICKER).yes == [] and ex.book(TICKER).no == [(5500, n(3))]
    assert ex.open_orders("a") == [] and ex.balance("a").locked == 0
    assert _err(ex.amend_order, "a", mine.order_id, AmendOrder(price=c(41), count=n(5))).code == "not_found"
    ex.create_order("a", order(BID, 39, 1, client_order_id="new"))  # the id is free again
    ex.check_invariants()


def test_amend_updated_client_order_id() -> None:
    ex, _ = make_exchange()
    mine = ex.create_order("a", order(BID, 40, 5, client_order_id="x1"))
    ex.create_order("a", order(BID, 39, 5, client_order_id="x2"))
    dup = _err(ex.amend_order, "a", mine.order_id, AmendOrder(c(40), n(5), updated_client_order_id="x2"))
    assert (dup.status, dup.code) == (409, "duplicate_client_order_id")
    ex.amend_order("a", mine.order_id, AmendOrder(c(40), n(5), updated_client_order_id="x3"))
    assert ex.get_order("a", mine.order_id).client_order_id == "x3"
    ex.create_order("a", order(BID, 38, 1, client_order_id="x1"))  # x1 is free again


# ---- decrease / cancel -------------------------------------------------------------------------
def test_decrease_by_and_to_keep_priority_and_zero_cancels() -> None:
    ex, _ = make_exchange()
    first = ex.create_order("a", order(BID, 40, 10))
    second = ex.create_order("b", order(BID, 40, 5))
    assert ex.decrease_order("a", first.order_id, reduce_by=n(3)).remaining_count == n(7)
    assert ex.decrease_order("a", first.order_id, reduce_to=n(2)).remaining_count == n(2)
    assert ex.queue_position("b", second.order_id) == n(2)
    assert _err(ex.decrease_order, "a", first.order_id, reduce_to=n(3)).code == "invalid_parameters"
    assert _err(ex.decrease_order, "a", first.order_id).code == "invalid_parameters"
    ack = ex.decrease_order("a", first.order_id, reduce_by=n(5))
    assert (ack.status, ack.remaining_count) == (CANCELED, 0)
    assert ex.book(TICKER).yes == [(4000, n(5))]


def test_cancel_reports_reduced_by_and_404_afterwards() -> None:
    ex, _ = make_exchange()
    mine = ex.create_order("a", order(BID, 40, 10))
    ex.create_order("b", order(ASK, 40, 4, time_in_force=IOC))
    assert ex.cancel_order("a", mine.order_id).reduced_by == n(6)
    again = _err(ex.cancel_order, "a", mine.order_id)
    assert (again.status, again.code) == (404, "not_found")
    assert _err(ex.cancel_order, "b", mine.order_id).status == 404
    o = ex.get_order("a", mine.order_id)
    assert (o.status, o.fill_count, o.remaining) == (CANCELED, n(4), 0)
    assert ex.balance("a").locked == 0


def test_batch_create_and_cancel_give_per_item_results() -> None:
    ex, _ = make_exchange()
    res = ex.batch_create("a", [order(BID, 40, 1), order(BID, 140, 1), order(ASK, 60, 2)])
    assert isinstance(res[1], ExchangeError) and res[1].code == "invalid_price"
    ids = [res[0].order_id, "nope", res[2].order_id]
    out = ex.batch_cancel("a", ids)
    assert [getattr(r, "reduced_by", None) for r in out] == [n(1), None, n(2)]
    assert isinstance(out[1], ExchangeError) and out[1].status == 404


def test_cancel_all_by_ticker() -> None:
    ex, _ = make_exchange()
    ex.create_market("KXT-26DEC31-B", "KXT-26DEC31")
    ex.create_order("a", order(BID, 40, 1))
    ex.create_order("a", CreateOrder("KXT-26DEC31-B", BID, c(40), n(1)))
    assert len(ex.cancel_all("a", TICKER)) == 1
    assert [o.ticker for o in ex.open_orders("a")] == ["KXT-26DEC31-B"]
    assert len(ex.cancel_all("a")) == 1


def test_expiration_cancels_on_time() -> None:
    ex, clock = make_exchange()
    mine = ex.create_order("a", order(BID, 40, 1, expiration_ns=clock.t + 10 * S))
    clock.advance(9 * S)
    ex.tick()
    assert ex.get_order("a", mine.order_id).status == RESTING
    clock.advance(1 * S)
    ex.tick()
    assert ex.get_order("a", mine.order_id).status == CANCELED
    assert ex.book(TICKER).yes == []


# ---- validation --------------------------------------------------------------------------------
def test_duplicate_client_order_id_among_open_orders_is_409() -> None:
    ex, _ = make_exchange()
    mine = ex.create_order("a", order(BID, 40, 1, client_order_id="k"))
    err = _err(ex.create_order, "a", order(BID, 41, 1, client_order_id="k"))
    assert (err.status, err.code) == (409, "duplicate_client_order_id")
    ex.create_order("b", order(BID, 41, 1, client_order_id="k"))  # another user may
    ex.cancel_order("a", mine.order_id)
    ex.create_order("a", order(BID, 41, 1, client_order_id="k"))  # closed order frees it


def test_off_grid_and_out_of_range_prices_are_invalid_price() -> None:
    ex, _ = make_exchange()
    for price in (4050, 0, 10_000, 10_100, -100):
        assert _err(ex.create_order, "a", CreateOrder(TICKER, BID, price, n(1))).code == "invalid_price"


def test_bad_parameters() -> None:
    ex, clock = make_exchange()
    bad = [
        order(BID, 40, 0),
        CreateOrder(TICKER, "buy", c(40), n(1)),
        order(BID, 40, 1, time_in_force="gtt"),
        order(BID, 40, 1, self_trade_prevention="none"),
        order(BID, 40, 1, reduce_only=True, time_in_force=GTC),
        order(BID, 40, 1, time_in_force=IOC, expiration_ns=clock.t + S),
        order(BID, 40, 1, expiration_ns=clock.t - S),
        order(BID, 40, 1, post_only=True, time_in_force=IOC),
    ]
    for req in bad:
        assert _err(ex.create_order, "a", req).code == "invalid_parameters", req
    assert _err(ex.create_order, "a", CreateOrder("NOPE", BID, c(40), n(1))).status == 404


def test_insufficient_balance_but_selling_inventory_needs_no_cash() -> None:
    ex, _ = make_exchange(balance=usd(100))
    ex.open_account("poor", usd(5))
    # 10 @ .50 = $5 plus a $0.18 taker fee
    err = _err(ex.create_order, "poor", order(BID, 50, 10))
    assert (err.status, err.code) == (400, "insufficient_balance")
    ex.create_order("poor", order(BID, 50, 9, post_only=True))  # $4.50, no maker fee
    assert ex.balance("poor").available == usd(0.50)
    assert _err(ex.create_order, "poor", order(BID, 10, 6)).code == "insufficient_balance"
    ex.create_order("a", order(ASK, 50, 9, time_in_force=IOC))
    assert ex.position("poor", TICKER).position == n(9)
    assert ex.balance("poor").cash == usd(0.50)
    # selling the 9 YES back (ask) releases money instead of needing it
    ex.create_order("b", order(BID, 60, 9))
    ack = ex.create_order("poor", order(ASK, 60, 9, time_in_force=IOC))
    assert ack.fill_count == n(9)
    # proceeds 5.40, taker fee 0.07×9×.6×.4 = 0.1512 → 0.16
    assert ex.balance("poor").cash == usd(0.50) + usd(5.40) - usd(0.16)
    ex.check_invariants()


def test_reduce_only_is_capped_at_the_position() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 50, 3))
    ex.create_order("a", order(BID, 50, 3))
    ex.create_order("c", order(BID, 49, 10))
    ack = ex.create_order("a", order(ASK, 49, 10, time_in_force=IOC, reduce_only=True))
    assert (ack.fill_count, ack.status) == (n(3), EXECUTED)
    assert ex.position("a", TICKER).position == 0
    nothing = ex.create_order("a", order(ASK, 49, 10, time_in_force=IOC, reduce_only=True))
    assert (nothing.fill_count, nothing.status) == (0, CANCELED)


# ---- order groups ------------------------------------------------------------------------------
def test_order_group_triggers_at_its_limit_and_blocks_until_reset() -> None:
    ex, _ = make_exchange()
    g = ex.create_order_group("a", n(5))
    bid = ex.create_order("a", order(BID, 40, 10, order_group_id=g.order_group_id))
    ask = ex.create_order("a", order(ASK, 60, 10, order_group_id=g.order_group_id))
    ex.create_order("b", order(ASK, 40, 5, time_in_force=IOC))
    assert ex.order_group("a", g.order_group_id).triggered
    assert ex.get_order("a", bid.order_id).status == CANCELED
    assert ex.get_order("a", ask.order_id).status == CANCELED
    assert ex.get_order("a", bid.order_id).fill_count == n(5)
    err = _err(ex.create_order, "a", order(BID, 40, 1, order_group_id=g.order_group_id))
    assert err.code == "order_group_triggered"
    ex.reset_order_group("a", g.order_group_id)
    assert ex.create_order("a", order(BID, 40, 1, order_group_id=g.order_group_id)).status == RESTING
    ex.check_invariants()


def test_order_group_window_is_rolling_15_seconds() -> None:
    ex, clock = make_exchange()
    g = ex.create_order_group("a", n(5))
    ex.create_order("a", order(BID, 40, 10, order_group_id=g.order_group_id))
    ex.create_order("b", order(ASK, 40, 3, time_in_force=IOC))
    clock.advance(15 * S)
    ex.create_order("b", order(ASK, 40, 3, time_in_force=IOC))
    assert not ex.order_group("a", g.order_group_id).triggered
    clock.advance(14 * S)
    ex.create_order("b", order(ASK, 40, 2, time_in_force=IOC))
    assert ex.order_group("a", g.order_group_id).triggered


def test_taker_in_triggered_group_stops_matching() -> None:
    ex, _ = make_exchange()
    g = ex.create_order_group("a", n(2))
    ex.create_order("b", order(ASK, 40, 1))
    ex.create_order("b", order(ASK, 41, 1))
    ex.create_order("b", order(ASK, 42, 1))
    ack = ex.create_order("a", order(BID, 45, 5, order_group_id=g.order_group_id))
    assert (ack.fill_count, ack.status) == (n(2), CANCELED)
    assert ex.book(TICKER).no == [(5800, n(1))]


def test_order_group_manual_trigger_limit_and_delete() -> None:
    ex, _ = make_exchange()
    g = ex.create_order_group("a", n(100))
    mine = ex.create_order("a", order(BID, 40, 10, order_group_id=g.order_group_id))
    assert [o.order_id for o in ex.order_group_orders("a", g.order_group_id)] == [mine.order_id]
    ex.trigger_order_group("a", g.order_group_id)
    assert ex.get_order("a", mine.order_id).status == CANCELED
    ex.reset_order_group("a", g.order_group_id)
    ex.create_order("a", order(BID, 40, 10, order_group_id=g.order_group_id))
    ex.create_order("b", order(ASK, 40, 3, time_in_force=IOC))
    ex.set_order_group_limit("a", g.order_group_id, n(3))
    assert ex.order_group("a", g.order_group_id).triggered
    ex.delete_order_group("a", g.order_group_id)
    assert _err(ex.order_group, "a", g.order_group_id).status == 404
    assert ex.open_orders("a") == []
