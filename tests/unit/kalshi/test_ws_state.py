"""ws FeedState (sans-IO): seq per sid incl. acks, error codes that force a resubscribe, gaps elsewhere."""

from kmm import messages as m
from kmm.kalshi.ws import FeedState, Resnapshot, SeqGap, WsError


def snap(sid, seq, ticker="T"):
    return {"type": "orderbook_snapshot", "sid": sid, "seq": seq,
            "msg": {"market_ticker": ticker, "yes_dollars_fp": [["0.4000", "1.00"]]}}


def delta(sid, seq, d="1.00", ticker="T"):
    return {"type": "orderbook_delta", "sid": sid, "seq": seq,
            "msg": {"market_ticker": ticker, "price_dollars": "0.4000", "delta_fp": d, "side": "yes"}}


def test_acks_consume_seq_and_deltas_apply():
    st = FeedState()
    st.handle({"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}})
    st.handle({"type": "ok", "id": 2, "sid": 1, "seq": 1, "msg": {"market_tickers": ["T"]}})
    st.handle(snap(1, 2))
    (upd,) = st.handle(delta(1, 3))
    assert isinstance(upd, m.BookUpdate) and upd.bids == ((4000, 200),) and not upd.snapshot
    assert st.pending_resnapshots == {}


def test_delta_before_snapshot_is_ignored_and_negative_level_resnapshots():
    st = FeedState()
    assert st.handle(delta(1, 1)) == []
    st.handle(snap(1, 2))
    (ev,) = st.handle(delta(1, 3, d="-5.00"))
    assert isinstance(ev, Resnapshot) and ev.tickers == ("T",)
    assert not st.books["T"].valid


def test_error_25_on_a_fill_sid_asks_for_resubscribe_without_books():
    st = FeedState()
    st.handle({"type": "subscribed", "id": 1, "msg": {"channel": "fill", "sid": 4}})
    evs = st.handle({"type": "error", "sid": 4, "msg": {"code": 25, "msg": "buffer overflow"}})
    assert isinstance(evs[0], WsError) and evs[0].code == 25
    assert isinstance(evs[1], Resnapshot) and evs[1].tickers == () and 4 in st.pending_resnapshots
    assert st.handle({"type": "error", "id": 9, "msg": {"code": 6, "msg": "already"}})[0].code == 6


def test_gap_on_trade_channel_is_reported_not_resnapshotted():
    st = FeedState()
    st.handle({"type": "subscribed", "id": 1, "msg": {"channel": "trade", "sid": 2}})
    trade = {"trade_id": "x", "market_ticker": "T", "yes_price_dollars": "0.5000", "count_fp": "1.00",
             "taker_side": "yes", "ts": 1}
    st.handle({"type": "trade", "sid": 2, "seq": 1, "msg": trade})
    evs = st.handle({"type": "trade", "sid": 2, "seq": 3, "msg": trade})
    assert isinstance(evs[0], SeqGap) and evs[0].expected == 2 and len(evs) == 2
    assert st.pending_resnapshots == {}


def test_private_frames_become_typed_events_with_sending_ts_ms():
    from kmm.kalshi import wire

    st = FeedState()
    fill = {"trade_id": "t1", "order_id": "o1", "client_order_id": "kmm-1", "market_ticker": "T",
            "exchange_index": 1, "is_taker": False, "side": "yes", "outcome_side": "yes", "book_side": "bid",
            "action": "buy", "yes_price_dollars": "0.4200", "count_fp": "3.00", "fee_cost": "0.0100",
            "post_position_fp": "3.00", "ts": 1_800_000_000, "ts_ms": 1_800_000_000_123, "subaccount": 0}
    (f,) = st.handle({"type": "fill", "sid": 1, "msg": fill, "sending_ts_ms": 1_700_000_000_500})
    assert isinstance(f, wire.Fill) and f.sending_ts_ms == 1_700_000_000_500
    assert (f.trade_id, f.order_id, f.client_order_id, f.ticker, f.exchange_index) == ("t1", "o1", "kmm-1", "T", 1)
    assert (f.side, f.price, f.count, f.fee, f.post_position, f.is_taker) == ("bid", 4200, 300, 10_000, 300, False)
    assert f.ts == 1_800_000_000_123 * 1_000_000
    order = {"order_id": "o1", "client_order_id": "kmm-1", "ticker": "T", "status": "resting", "book_side": "ask",
             "yes_price_dollars": "0.6000", "fill_count_fp": "1.00", "remaining_count_fp": "4.00",
             "initial_count_fp": "5.00", "taker_fees_dollars": "0.0000", "maker_fees_dollars": "0.0100",
             "order_group_id": "g1", "created_ts_ms": 1_000, "last_updated_ts_ms": 2_000}
    (o,) = st.handle({"type": "user_order", "sid": 2, "msg": order, "sending_ts_ms": 7})
    assert isinstance(o, wire.Order) and o.sending_ts_ms == 7
    assert (o.side, o.price, o.status, o.fill_count, o.remaining_count, o.initial_count) == (
        "ask", 6000, "resting", 100, 400, 500)
    assert (o.order_group_id, o.maker_fees, o.created_ts, o.updated_ts) == ("g1", 10_000, 10**9, 2 * 10**9)
    pos = {"market_ticker": "T", "position_fp": "-2.00", "position_cost_dollars": "0.8000",
           "realized_pnl_dollars": "0.1000", "fees_paid_dollars": "0.0200", "volume_fp": "9.00"}
    (p,) = st.handle({"type": "market_position", "sid": 3, "msg": pos})
    assert isinstance(p, wire.Position) and (p.position, p.market_exposure, p.realized_pnl, p.fees_paid,
                                             p.sending_ts_ms) == (-200, 800_000, 100_000, 20_000, 0)
    st.handle({"type": "subscribed", "id": 4, "msg": {"channel": "order_group_updates", "sid": 4}})
    group = {"event_type": "triggered", "order_group_id": "g1", "contracts_limit_fp": "50.00", "ts_ms": 5}
    (g,) = st.handle({"type": "order_group_updates", "sid": 4, "seq": 1, "msg": group, "sending_ts_ms": 9})
    assert g == wire.OrderGroupUpdate("g1", "triggered", 5000, 5_000_000, 9)
    gap = st.handle({"type": "order_group_updates", "sid": 4, "seq": 3, "msg": group})
    assert isinstance(gap[0], SeqGap) and isinstance(gap[1], wire.OrderGroupUpdate)
    assert st.handle({"type": "order_group_updates", "sid": 4, "seq": 4, "msg": {"event_type": "reset"}}) == []
    assert st.parse_errors == 1
