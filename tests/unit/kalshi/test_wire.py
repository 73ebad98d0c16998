"""wire: both dialects into fixed-point ints, exactness, conversions into kmm.messages."""

from decimal import Decimal

import pytest

from kmm import messages as m
from kmm.kalshi import wire

MARKET = {
    "ticker": "KXDEMO-26DEC31-T50", "event_ticker": "KXDEMO-26DEC31", "market_type": "binary",
    "title": "t", "close_time": "2026-12-31T21:00:00Z", "open_time": "2026-11-01T14:00:00Z",
    "status": "active", "yes_bid_dollars": "0.4200", "yes_bid_size_fp": "13.00", "yes_ask_dollars": "0.4400",
    "yes_ask_size_fp": "17.00", "last_price_dollars": "0.4300", "volume_fp": "1520.00",
    "volume_24h_fp": "300.00", "open_interest_fp": "800.00", "result": "",
    "price_level_structure": "tapered_deci_cent",
    "price_ranges": [{"start": "0.0000", "end": "0.1000", "step": "0.0010"},
                     {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
                     {"start": "0.9000", "end": "1.0000", "step": "0.0010"}],
}


def test_market_current_dialect_and_market_info():
    mk = wire.parse_market(MARKET)
    assert (mk.yes_bid, mk.yes_ask, mk.last_price) == (4200, 4400, 4300)
    assert (mk.volume_24h, mk.open_interest, mk.yes_bid_size) == (30_000, 80_000, 1300)
    assert mk.series == "KXDEMO"
    assert mk.close_ts == 1_798_750_800 * 10**9
    assert mk.tick_ranges == ((0, 1000, 10), (1000, 9000, 100), (9000, 10_000, 10))
    info = mk.to_market_info(maker_fees=True)
    assert isinstance(info, m.MarketInfo)
    assert info.status == "open" and info.tick_ranges == mk.tick_ranges and info.maker_fees


def test_market_legacy_cents_dialect():
    legacy = {"ticker": "INXD-23AUG31-B4512", "event_ticker": "INXD-23AUG31", "status": "active",
              "yes_bid": 42, "yes_ask": 44, "last_price": 43, "volume_24h": 300, "open_interest": 8,
              "close_time": "2023-08-31T20:00:00Z"}
    mk = wire.parse_market(legacy)
    assert (mk.yes_bid, mk.yes_ask, mk.last_price, mk.volume_24h, mk.open_interest) == (
        4200, 4400, 4300, 30_000, 800)
    assert mk.tick_ranges == wire.DEFAULT_TICKS


def test_numbers_strings_and_exactness():
    assert wire.dollars("0.56") == 5600
    assert wire.dollars(Decimal("0.56")) == 5600
    assert wire.dollars(1) == 10_000
    assert wire.dollars(0.5) == 5000  # exactly representable float
    with pytest.raises(wire.WireError):
        wire.dollars(0.56)  # not exact in binary
    with pytest.raises(wire.WireError):
        wire.dollars("0.56001")
    with pytest.raises(wire.WireError):
        wire.count("1.005")
    with pytest.raises(wire.WireError):
        wire.dollars(True)
    assert wire.count("10") == 1000 and wire.count(10) == 1000 and wire.count("2.50") == 250
    assert wire.money("0.054600") == 54_600
    assert wire.loads('{"a": 0.56}')["a"] == Decimal("0.56")


def test_rfc3339_keeps_sub_second_digits():
    assert wire.rfc3339_ns("2026-07-01T02:31:45.308599Z") == 1_782_873_105_308_599_000
    assert wire.rfc3339_ns("1970-01-01T00:00:01+00:00") == 10**9
    with pytest.raises(wire.WireError):
        wire.rfc3339_ns("yesterday")


def test_orderbook_rest_current_and_legacy():
    cur = {"orderbook_fp": {"yes_dollars": [["0.4100", "10.00"], ["0.4200", "13.00"]],
                            "no_dollars": [["0.5500", "3.00"], ["0.5600", "17.00"]]}}
    book = wire.parse_orderbook("T", cur)
    assert book.bids == ((4200, 1300), (4100, 1000))
    assert book.asks == ((4400, 1700), (4500, 300))
    legacy = {"orderbook": {"yes": [[41, 10], [42, 13]], "no": [[55, 3], [56, 17]]}}
    assert wire.parse_orderbook("T", legacy) == book
    upd = book.to_book_update(seq=3)
    assert isinstance(upd, m.BookUpdate) and upd.bids == book.bids and upd.seq == 3


def test_order_both_dialects_agree_on_side_and_price():
    cur = {"order_id": "o1", "client_order_id": "c1", "ticker": "T", "outcome_side": "no", "book_side": "ask",
           "status": "resting", "yes_price_dollars": "0.4200", "no_price_dollars": "0.5800",
           "fill_count_fp": "3.00", "remaining_count_fp": "7.00", "initial_count_fp": "10.00",
           "taker_fees_dollars": "0.0100", "maker_fees_dollars": "0.0000", "created_time": "2026-11-24T15:00:00Z"}
    legacy = {"order_id": "o1", "client_order_id": "c1", "ticker": "T", "side": "no", "action": "buy",
              "status": "resting", "no_price": 58, "fill_count": 3, "remaining_count": 7, "taker_fees": 1}
    a, b = wire.parse_order(cur), wire.parse_order(legacy)
    assert (a.side, a.price, a.fill_count, a.remaining_count, a.initial_count) == ("ask", 4200, 300, 700, 1000)
    assert (b.side, b.price, b.fill_count, b.remaining_count, b.initial_count) == ("ask", 4200, 300, 700, 1000)
    assert a.taker_fees == b.taker_fees == 10_000
    assert wire.book_side({"side": "no", "action": "sell"}) == "bid"
    assert wire.book_side({"side": "yes", "action": "sell"}) == "ask"


def test_fill_position_balance_settlement_and_ack():
    f = wire.parse_fill({"fill_id": "f1", "trade_id": "t1", "order_id": "o1", "market_ticker": "T",
                         "book_side": "ask", "outcome_side": "no", "yes_price_dollars": "0.1600",
                         "count_fp": "1.16", "fee_cost": "0.011000", "is_taker": True, "ts_ms": 1782873396915})
    assert (f.side, f.price, f.count, f.fee, f.ts) == ("ask", 1600, 116, 11_000, 1782873396915 * 10**6)
    msg = f.to_fill()
    assert isinstance(msg, m.Fill) and msg.fee == 11_000 and msg.is_taker
    p = wire.parse_position({"ticker": "T", "position_fp": "-5.00", "market_exposure_dollars": "2.5000",
                             "realized_pnl_dollars": "-1.2500", "fees_paid_dollars": "0.0700"})
    assert (p.position, p.market_exposure, p.realized_pnl, p.fees_paid) == (-500, 2_500_000, -1_250_000, 70_000)
    assert wire.parse_position({"ticker": "T", "position": -5, "realized_pnl": -125}).realized_pnl == -1_250_000
    assert p.to_report().position == -500
    bal = wire.parse_balance({"balance": 100000, "balance_dollars": "1000.0000", "portfolio_value": 5000,
                              "updated_ts": 1795558161})
    assert (bal.balance, bal.portfolio_value) == (1_000_000_000, 50_000_000)
    assert wire.parse_balance({"balance": 150}).balance == 1_500_000
    s = wire.parse_settlement({"ticker": "T", "market_result": "yes", "yes_count_fp": "10.00", "revenue": 1000,
                               "value": 100, "fee_cost": "0.0000", "settled_time": "2026-11-24T15:00:00Z"})
    assert (s.yes_count, s.revenue, s.value) == (1000, 10_000_000, 10_000)
    ack = wire.parse_write_ack({"order_id": "o", "client_order_id": "c", "fill_count": "0.00",
                                "remaining_count": "10.00", "ts_ms": 1795558161020})
    assert (ack.remaining_count, ack.ts) == (1000, 1795558161020 * 10**6)


def test_an_ack_of_an_order_filled_at_several_prices_reads_its_average_off_the_price_grid():
    """A taker order filled 2 at 4c and 1 at 5c averages 4.3333c: finer than the price grid, read to the µ$
    (the client raised ProtocolError on it, after the exchange had executed the order)."""
    ack = wire.parse_write_ack({"order_id": "o", "fill_count": "3.00", "remaining_count": "0.00",
                                "average_fill_price": "0.043333", "average_fee_paid": "0.004567"})
    assert (ack.fill_count, ack.average_fill_price, ack.average_fee_paid) == (300, 43_333, 4_567)
    assert wire.parse_write_ack({"average_fill_price": "0.5800"}).average_fill_price == 580_000
    assert wire.parse_write_ack({"order_id": "o"}).average_fill_price is None


def test_trade_and_book_delta_dialects():
    cur = wire.parse_trade({"trade_id": "t", "market_ticker": "T", "yes_price_dollars": "0.3600",
                            "count_fp": "136.00", "taker_outcome_side": "no", "ts": 1669149841})
    old = wire.parse_trade({"trade_id": "t", "ticker": "T", "yes_price": 36, "count": 136, "taker_side": "no",
                            "created_time": "2022-11-22T20:44:01Z"})
    assert (cur.price, cur.count, cur.taker_side, cur.ts) == (3600, 13_600, "no", 1669149841 * 10**9)
    assert (old.price, old.count, old.taker_side, old.ts) == (3600, 13_600, "no", 1669149841 * 10**9)
    assert cur.to_trade().taker_side == "no"
    d1 = wire.parse_book_delta({"market_ticker": "T", "price_dollars": "0.7400", "delta_fp": "-1.84", "side": "no"})
    d2 = wire.parse_book_delta({"market_ticker": "T", "price": 74, "delta": -2, "side": "no"})
    assert (d1.price, d1.delta) == (7400, -184) and (d2.price, d2.delta) == (7400, -200)
    with pytest.raises(wire.WireError):
        wire.parse_book_delta({"market_ticker": "T", "price": 74, "delta": 1, "side": "maybe"})


def test_candle_and_order_group_and_status():
    candle = wire.parse_candle({"end_period_ts": 1795558200, "price": {"open_dollars": "0.4000", "high_dollars":
                                "0.4500", "low_dollars": "0.3900", "close_dollars": "0.4400"},
                                "yes_bid": {"close_dollars": "0.4300"}, "yes_ask": {"close_dollars": "0.4500"},
                                "volume_fp": "12.00", "open_interest_fp": "30.00"})
    assert (candle.open, candle.close, candle.yes_ask_close, candle.volume) == (4000, 4400, 4500, 1200)
    assert wire.parse_candle({"end_period_ts": 1, "price": {}}).close is None
    g = wire.parse_order_group({"order_group_id": "g1", "contracts_limit_fp": "10.00", "orders": ["a"]})
    assert (g.order_group_id, g.contracts_limit, g.order_ids) == ("g1", 1000, ("a",))
    st = wire.parse_exchange_status({"exchange_active": True, "trading_active": False})
    assert st.exchange_active and not st.trading_active


def test_series_fee_fields():
    se = wire.parse_series(wire.loads('{"ticker": "KXA", "fee_type": "quadratic_with_maker_fees", "fee_multiplier": 0.5}'))
    assert (se.fee_type, se.fee_multiplier_ppm, se.maker_fees) == ("quadratic_with_maker_fees", 500_000, True)
    assert wire.parse_series({"ticker": "KXB", "fee_type": "quadratic"}).fee_multiplier_ppm == 1_000_000
    with pytest.raises(wire.WireError):
        wire.parse_series({"ticker": "KXC", "fee_multiplier": "-1"})
    info = wire.parse_market(MARKET).to_market_info(fee_type=se.fee_type, fee_multiplier_ppm=se.fee_multiplier_ppm)
    assert (info.fee_type, info.fee_multiplier_ppm) == ("quadratic_with_maker_fees", 500_000)
