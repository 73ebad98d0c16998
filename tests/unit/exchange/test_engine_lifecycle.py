"""Exchange/market lifecycle, listener events and paginated queries of the engine."""

import pytest

from kmm_services.exchange.engine import (
    BookDelta,
    Exchange,
    ExchangeError,
    FillEvent,
    MarketLifecycle,
    OrderUpdate,
    PositionUpdate,
    SettlementEvent,
    TradePrint,
)
from kmm_services.exchange.markets import ACTIVE, CLOSED, INITIALIZED
from kmm_services.exchange.orders import ASK, BID, CANCELED, IOC, RESTING

from .engine_support import EVENT, TICKER, Clock, Recorder, S, c, make_exchange, n, order


def test_listener_sees_deltas_trades_fills_orders_positions_after_the_call() -> None:
    ex, _ = make_exchange()
    rec = Recorder()
    ex.add_listener(rec)
    ex.create_order("a", order(BID, 40, 5, client_order_id="q1"))
    ex.create_order("b", order(ASK, 40, 2, time_in_force=IOC))
    deltas = rec.of(BookDelta)
    assert [(d.side, d.price, d.delta, d.user) for d in deltas] == [("yes", 4000, n(5), "a"), ("yes", 4000, -n(2), "a")]
    assert deltas[0].client_order_id == "q1"
    (trade,) = rec.of(TradePrint)
    assert (trade.price, trade.count, trade.taker_side) == (4000, n(2), "no")
    fills = rec.of(FillEvent)
    assert {(f.user, f.fill.is_taker, f.fill.post_position) for f in fills} == {("a", False, n(2)), ("b", True, -n(2))}
    kinds = [(u.user, u.kind) for u in rec.of(OrderUpdate)]
    assert kinds == [("a", "created"), ("a", "updated"), ("b", "executed")]
    assert {(p.user, p.position.position) for p in rec.of(PositionUpdate)} == {("a", n(2)), ("b", -n(2))}
    ex.remove_listener(rec)
    ex.create_order("a", order(BID, 41, 1))
    assert len(rec.of(OrderUpdate)) == 3


def test_ask_deltas_are_shown_as_no_bids() -> None:
    ex, _ = make_exchange()
    rec = Recorder()
    ex.add_listener(rec)
    mine = ex.create_order("a", order(ASK, 44, 3))
    ex.cancel_order("a", mine.order_id)
    assert [(d.side, d.price, d.delta) for d in rec.of(BookDelta)] == [("no", 5600, n(3)), ("no", 5600, -n(3))]
    assert rec.of(OrderUpdate)[-1].kind == "canceled"


def test_listener_may_query_consistent_state() -> None:
    ex, _ = make_exchange()
    seen: list[list[tuple[int, int]]] = []

    class Peek:
        def on_trade(self, ev: TradePrint) -> None:
            seen.append(ex.book(TICKER).yes)

    ex.add_listener(Peek())
    ex.create_order("a", order(BID, 40, 5))
    ex.create_order("b", order(ASK, 40, 5, time_in_force=IOC))
    assert seen == [[]]


def test_pause_rejects_orders_and_cancels_cancel_on_pause_orders() -> None:
    ex, _ = make_exchange()
    keep = ex.create_order("a", order(BID, 40, 1))
    drop = ex.create_order("a", order(BID, 41, 1, cancel_order_on_pause=True))
    ex.set_trading_active(False)
    assert not ex.trading_active
    assert ex.get_order("a", drop.order_id).status == CANCELED
    assert ex.get_order("a", keep.order_id).status == RESTING
    with pytest.raises(ExchangeError) as err:
        ex.create_order("a", order(BID, 40, 1))
    assert (err.value.status, err.value.code) == (400, "trading_paused")
    ex.cancel_order("a", keep.order_id)  # cancels still work
    ex.set_trading_active(True)
    ex.create_order("a", order(BID, 40, 1))


def test_market_opens_and_closes_on_schedule_and_close_cancels_orders() -> None:
    clock = Clock()
    ex = Exchange(clock)
    rec = Recorder()
    ex.add_listener(rec)
    ex.open_account("a", 10**9)
    m = ex.create_market(TICKER, EVENT, open_ns=clock.t + 10 * S, close_ns=clock.t + 20 * S)
    assert m.status == INITIALIZED
    with pytest.raises(ExchangeError) as err:
        ex.create_order("a", order(BID, 40, 1))
    assert err.value.code == "market_closed"
    clock.advance(10 * S)
    ex.tick()
    assert m.status == ACTIVE
    mine = ex.create_order("a", order(BID, 40, 1))
    clock.advance(10 * S)
    ex.tick()
    assert m.status == CLOSED
    assert ex.get_order("a", mine.order_id).status == CANCELED
    ex.settle_market(TICKER, "yes")
    types = [e.event_type for e in rec.of(MarketLifecycle)]
    assert types == ["created", "opened", "closed", "determined", "settled"]  # opened/closed: not sent


def test_pause_market_and_close_time_update() -> None:
    ex, clock = make_exchange()
    rec = Recorder()
    ex.add_listener(rec)
    ex.pause_market(TICKER)
    with pytest.raises(ExchangeError):
        ex.create_order("a", order(BID, 40, 1))
    ex.open_market(TICKER)
    ex.set_close_time(TICKER, clock.t + 5 * S)
    clock.advance(5 * S)
    ex.tick()
    assert ex.market(TICKER).status == CLOSED
    assert [e.event_type for e in rec.of(MarketLifecycle)] == ["deactivated", "activated", "close_date_updated", "closed"]


def test_reactivating_a_paused_market_cancels_its_resting_orders() -> None:
    """Kalshi: inactive → active sends `activated`, and every resting order is cancelled."""
    ex, _ = make_exchange()
    mine = ex.create_order("a", order(BID, 40, 1))
    ex.pause_market(TICKER)
    assert ex.get_order("a", mine.order_id).status == RESTING  # a pause keeps them
    ex.open_market(TICKER)
    assert ex.market(TICKER).status == ACTIVE
    assert ex.get_order("a", mine.order_id).status == CANCELED


def test_an_early_close_moves_the_close_time_and_a_later_close_time_reopens() -> None:
    ex, clock = make_exchange()
    scheduled = clock.t + 3600 * S
    ex.set_close_time(TICKER, scheduled)
    rec = Recorder()
    ex.add_listener(rec)
    ex.close_market(TICKER)
    assert ex.market(TICKER).status == CLOSED and ex.market(TICKER).close_ns == clock.t < scheduled
    ex.set_close_time(TICKER, clock.t + 60 * S)
    assert ex.market(TICKER).status == ACTIVE
    assert [e.event_type for e in rec.of(MarketLifecycle)] == [
        "close_date_updated", "closed", "close_date_updated", "activated"]
    clock.advance(60 * S)
    ex.tick()
    assert ex.market(TICKER).status == CLOSED
    assert rec.of(MarketLifecycle)[-1].event_type == "closed"


def test_settlement_events() -> None:
    ex, _ = make_exchange()
    rec = Recorder()
    ex.create_order("a", order(BID, 40, 2))
    ex.create_order("b", order(ASK, 40, 2, time_in_force=IOC))
    ex.add_listener(rec)
    ex.settle_market(TICKER, "yes")
    assert {e.user for e in rec.of(SettlementEvent)} == {"a", "b"}
    assert {(p.user, p.position.position) for p in rec.of(PositionUpdate)} == {("a", 0), ("b", 0)}


def test_trades_are_newest_first_with_cursor_pages() -> None:
    ex, clock = make_exchange()
    for i in range(5):
        ex.create_order("a", order(BID, 40 + i, 1))
        ex.create_order("b", order(ASK, 40 + i, 1, time_in_force=IOC))
        clock.advance(S)
    page = ex.trades(ticker=TICKER, limit=2)
    assert [t.price for t in page.items] == [c(44), c(43)]
    page2 = ex.trades(ticker=TICKER, limit=2, cursor=page.cursor)
    assert [t.price for t in page2.items] == [c(42), c(41)]
    page3 = ex.trades(limit=2, cursor=page2.cursor)
    assert ([t.price for t in page3.items], page3.cursor) == ([c(40)], "")
    window = ex.trades(min_ts_ns=page.items[1].ts_ns, max_ts_ns=page.items[0].ts_ns)
    assert len(window.items) == 2
    stats = ex.market_stats(TICKER)
    assert (stats.last_price, stats.volume, stats.volume_24h) == (c(44), n(5), n(5))
    clock.advance(86_400 * S)
    assert ex.market_stats(TICKER).volume_24h == 0


def test_orders_and_fills_queries_filter_and_page() -> None:
    ex, _ = make_exchange()
    ex.create_market("KXT-26DEC31-B", "KXT-26DEC31")
    ex.create_market("OTHER-1-X", "OTHER-1")
    first = ex.create_order("a", order(BID, 40, 1))
    ex.create_order("a", order(BID, 41, 1))
    ex.cancel_order("a", first.order_id)
    from kmm_services.exchange.orders import CreateOrder

    ex.create_order("a", CreateOrder("OTHER-1-X", BID, c(30), n(1)))
    assert len(ex.orders("a").items) == 3
    assert len(ex.orders("a", status=RESTING).items) == 2
    assert [o.order_id for o in ex.orders("a", status=CANCELED).items] == [first.order_id]
    assert len(ex.orders("a", event_ticker=EVENT).items) == 2
    assert len(ex.orders("a", tickers=["OTHER-1-X"]).items) == 1
    p1 = ex.orders("a", limit=2)
    p2 = ex.orders("a", limit=2, cursor=p1.cursor)
    assert len(p1.items) == 2 and len(p2.items) == 1 and p2.cursor == ""
    assert {o.order_id for o in p1.items + p2.items} == {o.order_id for o in ex.orders("a").items}
    ex.create_order("b", order(ASK, 41, 1, time_in_force=IOC))
    (fill,) = ex.fills("a", ticker=TICKER).items
    assert fill.price == c(41)
    assert ex.fills("a", order_id="nope").items == []
    with pytest.raises(ExchangeError):
        ex.orders("a", cursor="x")


def test_a_failing_listener_does_not_stop_the_others() -> None:
    ex, _ = make_exchange()

    class Broken:
        def on_order(self, ev: OrderUpdate) -> None:
            raise RuntimeError("boom")

    rec = Recorder()
    ex.add_listener(Broken())
    ex.add_listener(rec)
    ack = ex.create_order("a", order(BID, 40, 1))
    assert ack.status == RESTING
    assert [u.kind for u in rec.of(OrderUpdate)] == ["created"]


def test_determined_market_settles_after_its_settlement_timer() -> None:
    ex, clock = make_exchange()
    ex.market(TICKER).settlement_timer_seconds = 300
    ex.create_order("a", order(BID, 40, 2))
    ex.create_order("b", order(ASK, 40, 2, time_in_force=IOC))
    ex.determine_market(TICKER, "yes")
    clock.advance(299 * S)
    ex.tick()
    assert ex.market(TICKER).status == "determined"
    clock.advance(S)
    ex.tick()
    assert ex.market(TICKER).status == "finalized"
    assert [s.revenue for s in ex.settlements("a").items] == [n(2) * 10_000]


def test_previous_price_is_the_last_trade_before_the_24h_window() -> None:
    ex, clock = make_exchange()
    ex.create_order("a", order(BID, 40, 1))
    ex.create_order("b", order(ASK, 40, 1, time_in_force=IOC))
    clock.advance(3600 * S)
    ex.create_order("a", order(BID, 45, 1))
    ex.create_order("b", order(ASK, 45, 1, time_in_force=IOC))
    assert ex.market_stats(TICKER).previous_price is None
    clock.advance(86_400 * S - 3600 * S)
    stats = ex.market_stats(TICKER)
    assert (stats.previous_price, stats.last_price, stats.volume_24h) == (c(40), c(45), n(1))
