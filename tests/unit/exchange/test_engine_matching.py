"""Matching-engine cases computed by hand: priority, time in force, post-only, self-trade prevention."""

import pytest

from kmm_services.exchange.engine import BookDelta, ExchangeError, FillEvent, OrderUpdate
from kmm_services.exchange.orders import (
    ASK,
    BID,
    CANCELED,
    EXECUTED,
    FOK,
    IOC,
    R_POST_ONLY_CROSS,
    RESTING,
    STP_MAKER,
    CreateOrder,
)

from .engine_support import TICKER, Recorder, make_exchange, n, order, usd


def test_price_then_time_priority_and_trades_at_resting_price() -> None:
    ex, _ = make_exchange(users=("a", "b", "c", "d"))
    a = ex.create_order("a", order(BID, 40, 5))
    b = ex.create_order("b", order(BID, 41, 3))
    ex.create_order("c", order(BID, 41, 2))
    ack = ex.create_order("d", order(ASK, 40, 8, time_in_force=IOC))
    assert (ack.status, ack.fill_count, ack.remaining_count) == (EXECUTED, n(8), 0)
    # 3 @ .41 (b), 2 @ .41 (c), 3 @ .40 (a)
    assert ack.fill_cost == 4100 * n(3) + 4100 * n(2) + 4000 * n(3)
    assert [(f.price, f.count) for f in reversed(ex.fills("d").items)] == [(4100, n(3)), (4100, n(2)), (4000, n(3))]
    assert ex.get_order("b", b.order_id).status == EXECUTED
    assert ex.get_order("a", a.order_id).remaining == n(2)
    assert ex.book(TICKER).yes == [(4000, n(2))]
    assert ex.position("d", TICKER).position == -n(8)
    ex.check_invariants()


def test_incoming_bid_trades_at_the_resting_ask_price() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(ASK, 45, 10))
    ack = ex.create_order("b", order(BID, 50, 4))
    assert ack.fill_cost == 4500 * n(4)
    trade = ex.trades(ticker=TICKER).items[0]
    assert (trade.price, trade.count, trade.taker_side, trade.taker_book_side) == (4500, n(4), "yes", BID)
    # taker fee 0.07×4×.45×.55 = 0.0693 → 0.07; maker pays none on a plain series
    assert ack.fees == usd(0.07)
    assert ex.balance("b").cash == usd(1000) - usd(1.80) - usd(0.07)
    assert ex.balance("a").cash == usd(1000) - usd(4 * 0.55)
    ex.check_invariants()


def test_gtc_remainder_rests_and_ioc_remainder_is_canceled() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(ASK, 60, 3))
    gtc = ex.create_order("b", order(BID, 60, 5))
    assert (gtc.status, gtc.fill_count, gtc.remaining_count) == (RESTING, n(3), n(2))
    assert ex.book(TICKER).yes == [(6000, n(2))]
    ex.create_order("a", order(ASK, 70, 3))
    ioc = ex.create_order("c", order(BID, 70, 5, time_in_force=IOC))
    assert (ioc.status, ioc.fill_count, ioc.remaining_count) == (CANCELED, n(3), 0)
    assert ex.book(TICKER).no == []
    ex.check_invariants()


def test_ioc_without_liquidity_acks_canceled_with_nothing_filled() -> None:
    ex, _ = make_exchange()
    ack = ex.create_order("a", order(BID, 50, 5, time_in_force=IOC))
    assert (ack.status, ack.fill_count, ack.remaining_count) == (CANCELED, 0, 0)
    assert ex.get_order("a", ack.order_id).status == CANCELED
    assert ex.book(TICKER).yes == []


def test_fok_is_all_or_nothing() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(ASK, 50, 3))
    ex.create_order("b", order(ASK, 52, 3))
    short = ex.create_order("c", order(BID, 52, 7, time_in_force=FOK))
    assert (short.status, short.fill_count) == (CANCELED, 0)
    assert ex.book(TICKER).no == [(4800, n(3)), (5000, n(3))]
    full = ex.create_order("c", order(BID, 52, 6, time_in_force=FOK))
    assert (full.status, full.fill_count) == (EXECUTED, n(6))
    assert ex.book(TICKER).no == []
    ex.check_invariants()


def test_fok_does_not_count_own_orders_under_taker_at_cross() -> None:
    ex, _ = make_exchange()
    ex.create_order("c", order(ASK, 50, 3))
    ex.create_order("a", order(ASK, 51, 3))
    ack = ex.create_order("c", order(BID, 51, 3, time_in_force=FOK))
    assert (ack.status, ack.fill_count) == (CANCELED, 0)


def test_post_only_that_would_cross_is_rejected_in_reject_mode() -> None:
    ex, _ = make_exchange(post_only_cross="reject")
    ex.create_order("a", order(ASK, 50, 3))
    with pytest.raises(ExchangeError) as err:
        ex.create_order("b", order(BID, 50, 1, post_only=True))
    assert (err.value.status, err.value.code) == (400, "post_only_rejected")
    ok = ex.create_order("b", order(BID, 49, 1, post_only=True))
    assert ok.status == RESTING
    with pytest.raises(ExchangeError):
        ex.create_order("c", order(ASK, 49, 1, post_only=True))
    assert len(ex.open_orders("b")) == 1 and ex.open_orders("c") == []


def test_post_only_that_would_cross_is_acked_and_canceled_by_default() -> None:
    ex, _ = make_exchange()
    assert ex.post_only_cross == "cancel"
    ex.create_order("a", order(ASK, 50, 3))
    rec = Recorder()
    ex.add_listener(rec)
    free = ex.balance("b").available
    ack = ex.create_order("b", order(BID, 50, 2, post_only=True, client_order_id="po-1"))
    assert (ack.status, ack.fill_count, ack.remaining_count, ack.client_order_id) == (CANCELED, 0, 0, "po-1")
    o = ex.get_order("b", ack.order_id)
    assert (o.status, o.remaining, o.fill_count, o.price) == (CANCELED, 0, 0, 5000)
    assert o.last_update_reason == R_POST_ONLY_CROSS == "post_only_cross_cancel"
    assert [(u.kind, u.order.status, u.order.last_update_reason) for u in rec.of(OrderUpdate)] == [
        (CANCELED, CANCELED, "post_only_cross_cancel")]
    assert rec.of(BookDelta) == [] and rec.of(FillEvent) == []
    assert ex.book(TICKER).yes == [] and ex.book(TICKER).no == [(5000, n(3))]
    assert ex.open_orders("b") == [] and ex.balance("b").available == free
    assert ex.create_order("b", order(BID, 49, 2, post_only=True, client_order_id="po-1")).status == RESTING
    ex.check_invariants()


def test_unknown_post_only_cross_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="post_only_cross"):
        make_exchange(post_only_cross="ignore")


def test_stp_taker_at_cross_cancels_the_incoming_order_partial_fills_stand() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 49, 2))
    own = ex.create_order("a", order(ASK, 50, 5))
    ex.create_order("b", order(ASK, 51, 5))
    ack = ex.create_order("a", order(BID, 52, 10))
    assert (ack.status, ack.fill_count, ack.remaining_count) == (CANCELED, n(2), 0)
    assert ex.get_order("a", own.order_id).status == RESTING
    assert ex.get_order("a", ack.order_id).last_update_reason == "self_trade_prevented"
    assert ex.book(TICKER).no == [(4900, n(5)), (5000, n(5))]
    ex.check_invariants()


def test_stp_maker_cancels_the_resting_self_order_and_keeps_matching() -> None:
    ex, _ = make_exchange()
    ex.create_order("b", order(ASK, 49, 2))
    own = ex.create_order("a", order(ASK, 50, 5))
    ex.create_order("b", order(ASK, 51, 5))
    ack = ex.create_order("a", order(BID, 52, 10, self_trade_prevention=STP_MAKER))
    assert (ack.status, ack.fill_count, ack.remaining_count) == (RESTING, n(7), n(3))
    assert ex.get_order("a", own.order_id).status == CANCELED
    assert ex.book(TICKER).yes == [(5200, n(3))]
    assert ex.book(TICKER).no == []
    assert ex.position("a", TICKER).position == n(7)
    ex.check_invariants()


def test_book_shows_yes_bids_and_no_bids_ascending_best_last() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(BID, 41, 10))
    ex.create_order("a", order(BID, 42, 13))
    ex.create_order("b", order(ASK, 44, 17))
    ex.create_order("b", order(ASK, 45, 3))
    book = ex.book(TICKER)
    assert book.yes == [(4100, n(10)), (4200, n(13))]
    assert book.no == [(5500, n(3)), (5600, n(17))]
    assert ex.book(TICKER, depth=1).no == [(5600, n(17))]
    assert ex.best_bid_ask(TICKER) == (4200, 4400)
    stats = ex.market_stats(TICKER)
    assert (stats.yes_bid, stats.yes_bid_size, stats.yes_ask, stats.yes_ask_size) == (4200, n(13), 4400, n(17))


def test_queue_position_counts_contracts_ahead_at_the_same_price() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(BID, 40, 5))
    ex.create_order("b", order(BID, 41, 100))
    ex.create_order("b", order(BID, 40, 7))
    mine = ex.create_order("c", order(BID, 40, 1))
    assert ex.queue_position("c", mine.order_id) == n(12)
    ex.create_order("d", order(ASK, 40, 102, time_in_force=IOC))
    assert ex.queue_position("c", mine.order_id) == n(10)


def test_fractional_counts_and_subpenny_grid() -> None:
    from kmm_services.exchange.markets import TAPERED_DECI_CENT

    ex, _ = make_exchange(price_ranges=TAPERED_DECI_CENT)
    ex.create_order("a", CreateOrder(TICKER, ASK, 550, 37))
    ack = ex.create_order("b", CreateOrder(TICKER, BID, 600, 25))
    assert (ack.fill_count, ack.fill_cost) == (25, 550 * 25)
    with pytest.raises(ExchangeError) as err:
        ex.create_order("b", CreateOrder(TICKER, BID, 1550, 100))
    assert err.value.code == "invalid_price"
    ex.check_invariants()
