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
