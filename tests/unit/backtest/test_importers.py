"""Importers on generated data (both WS dialects, REST JSON/CSV, md messages) and on shared real data."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.eventlog import ASK, BID, BOOK, SNAPSHOT, TRADE, EventLog
from kmm.backtest.importers import (
    import_md_records,
    import_rest_trades,
    import_ws_jsonl,
    rfc3339_ns,
    skip_report,
)
from kmm.messages import BookUpdate, MarketInfo, Trade, encode
from kmm.messages.units import NS_PER_MS, NS_PER_S

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def write_lines(path: Path, objs: list[object], blank_between: bool = False) -> Path:
    sep = "\n\n" if blank_between else "\n"
    path.write_text(sep.join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n")
    return path


def current_dialect(tmp_path: Path) -> Path:
    t = "KXA-26JAN01-T1"
    return write_lines(tmp_path / "ws.jsonl", [
        {"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}},
        {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {
            "market_ticker": t, "yes_dollars_fp": [["0.4100", "10.00"], ["0.4200", "13.50"]],
            "no_dollars_fp": [["0.5600", "17.00"]]}},
        {"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {
            "market_ticker": t, "price_dollars": "0.4200", "delta_fp": "-3.25", "side": "yes", "ts_ms": 1000}},
        {"type": "orderbook_delta", "sid": 1, "seq": 3, "msg": {
            "market_ticker": t, "price_dollars": "0.5600", "delta_fp": "-99.00", "side": "no", "ts_ms": 1001}},
        {"type": "trade", "sid": 2, "msg": {"market_ticker": t, "yes_price_dollars": "0.4300", "count_fp": "2.50",
                                             "taker_outcome_side": "no", "ts_ms": 1002}},
        {"type": "orderbook_delta", "sid": 1, "seq": 5, "msg": {
            "market_ticker": t, "price_dollars": "0.4100", "delta_fp": "1.00", "side": "yes", "ts_ms": 1003}},
        {"type": "orderbook_snapshot", "sid": 1, "seq": 6, "msg": {
            "market_ticker": t, "yes_dollars_fp": [["0.4000", "1.00"]]}},
        "not json",
        {"type": "market_lifecycle_v2", "sid": 3, "msg": {"market_ticker": t, "event_type": "determined",
                                                           "result": "yes"}},
    ], blank_between=True)


def test_current_ws_dialect_is_exact_and_reports_what_it_skipped(tmp_path: Path) -> None:
    log = import_ws_jsonl([current_dialect(tmp_path)])
    ev = log.events
    skipped = log.meta["skipped"]
    assert skipped["delta makes level negative"] == 1
    assert skipped["invalid JSON line"] == 1
    assert skipped["seq gap (books of that subscription reset until next snapshot)"] == 1
    assert skipped["delta before first snapshot"] == 1  # the delta after the gap
    assert skipped["subscribed message (not market data)"] == 1
    book = ev[ev["kind"] == BOOK]
    # snapshot: two bids, one ask at 1 − 0.56 = 0.44 ; delta −3.25 on the 0.42 bid → 10.25 left
    assert [(r["side"], r["price"], r["qty"], r["flags"]) for r in book[:4]] == [
        (BID, 4100, 1000, SNAPSHOT), (BID, 4200, 1350, SNAPSHOT), (ASK, 4400, 1700, SNAPSHOT),
        (BID, 4200, 1025, 0)]
    trade = ev[ev["kind"] == TRADE][0]
    assert (trade["price"], trade["qty"], trade["side"], trade["ts"]) == (4300, 250, BID, 1002 * NS_PER_MS)
    # second snapshot resets: old levels zeroed, new one written
    last = book[-4:]
    assert [(r["side"], r["price"], r["qty"]) for r in last] == [(BID, 4100, 0), (BID, 4200, 0), (BID, 4000, 100),
                                                                (ASK, 4400, 0)]
    assert log.markets[0].result == "yes"
    assert "skipped" in skip_report(log)


def test_legacy_cents_dialect_with_wrapper_timestamps(tmp_path: Path) -> None:
    t = "INXD-23AUG31-B4512"
    p = tmp_path / "l2.jsonl.gz"
    lines = [
        {"seq": 1, "ts": 1693488611.1, "type": "orderbook_snapshot", "msg": {"market_ticker": t,
                                                                           "yes": [[2, 400]], "no": [[50, 5]]}},
        {"seq": 2, "ts": 1693488611.2, "type": "orderbook_delta", "msg": {"market_ticker": t, "price": 2,
                                                                        "delta": -100, "side": "yes"}},
        {"seq": 3, "ts": 1693488611.3, "type": "orderbook_snapshot",
         "msg": {"market_ticker": t, "yes": [[3, 1]], "no": [], "recorder_synthesized": True}},
    ]
    with gzip.open(p, "wt") as fh:
        fh.write("\n".join(json.dumps(x) for x in lines))
    log = import_ws_jsonl([p])
    ev = log.events
    assert ev["ts"][0] == 1693488611_100_000_000
    assert [(r["side"], r["price"], r["qty"]) for r in ev] == [
        (BID, 200, 40000), (ASK, 5000, 500), (BID, 200, 30000), (BID, 200, 0), (BID, 300, 100), (ASK, 5000, 0)]
    assert log.meta["skipped"] == {}


def test_rest_trades_json_and_csv_agree_and_skip_duplicates(tmp_path: Path) -> None:
    rows = [
        {"trade_id": "a", "ticker": "KXB-1", "count_fp": "25.00", "yes_price_dollars": "0.4300",
         "taker_outcome_side": "yes", "created_time": "2026-11-24T15:00:00.123456Z"},
        {"trade_id": "b", "ticker": "KXB-1", "count_fp": "1.00", "yes_price_dollars": "0.4200",
         "taker_outcome_side": "no", "created_time": "2026-11-24T14:59:59Z"},
        {"trade_id": "a", "ticker": "KXB-1", "count_fp": "25.00", "yes_price_dollars": "0.4300",
         "taker_outcome_side": "yes", "created_time": "2026-11-24T15:00:00.123456Z"},
        {"trade_id": "c", "ticker": "KXB-1", "count_fp": "1.00", "yes_price_dollars": "1.4200",
         "taker_outcome_side": "no", "created_time": "2026-11-24T14:59:59Z"},
    ]
    jp = tmp_path / "t.json"
    jp.write_text(json.dumps({"trades": rows, "cursor": ""}))
    cp = tmp_path / "t.csv"
    cp.write_text(",trade_id,ticker,count,created_time,yes_price,no_price,taker_side\n"
                  "0,a,KXB-1,25,2026-11-24T15:00:00.123456Z,43,57,yes\n"
                  "1,b,KXB-1,1,2026-11-24T14:59:59Z,42,58,no\n"
                  "2,a,KXB-1,25,2026-11-24T15:00:00.123456Z,43,57,yes\n"
                  "3,c,KXB-1,1,2026-11-24T14:59:59Z,142,58,no\n")
    lj = import_rest_trades([jp])
    lc = import_rest_trades([cp])
    assert np.array_equal(lj.events, lc.events)
    assert lj.meta["skipped"] == {"duplicate trade_id": 1, "trade price out of range": 1}
    assert [(r["price"], r["qty"], r["side"]) for r in lj.events] == [(4200, 100, BID), (4300, 2500, ASK)]
    assert lj.events["ts"][1] == rfc3339_ns("2026-11-24T15:00:00Z") + 123_456_000


def test_md_messages_round_trip_into_the_log() -> None:
    """Every md:book message is the complete top of the book, so each one replaces the last."""
    t = "KXC-1"
    payloads = [
        encode(MarketInfo(market=t, series="KXC", close_ts=5 * NS_PER_S, result="no", maker_fees=True, ts_init=1)),
        encode(BookUpdate(market=t, bids=((4000, 500),), asks=((4200, 700),), snapshot=True, ts_init=2)),
        encode(BookUpdate(market=t, bids=((4100, 300),), asks=((4200, 700),), snapshot=False, ts_init=3)),
        encode(Trade(market=t, trade_id="x", price=4200, count=100, taker_side="yes", ts_init=4)),
        b"garbage",
    ]
    log = import_md_records(payloads)
    assert [(r["ts"], r["kind"], r["side"], r["price"], r["qty"]) for r in log.events] == [
        (2, BOOK, BID, 4000, 500), (2, BOOK, ASK, 4200, 700),
        (3, BOOK, BID, 4000, 0), (3, BOOK, BID, 4100, 300), (3, BOOK, ASK, 4200, 700),  # 4000 left the book
        (4, TRADE, ASK, 4200, 100)]
    assert log.markets[0].result == "no" and log.markets[0].maker_fees and log.markets[0].close_ts == 5 * NS_PER_S
    assert sum(log.meta["skipped"].values()) == 1


def test_event_log_save_load_select_split(tmp_path: Path) -> None:
    from kmm.backtest.synthetic import generate

    log = generate(seed=1, n_markets=2, events_per_market=500, duration_s=100)
    p = log.save(tmp_path / "x.npz")
    back = EventLog.load(p)
    assert np.array_equal(back.events, log.events)
    assert [m.__dict__ for m in back.markets] == [m.__dict__ for m in log.markets]
    one = log.select([log.markets[1].ticker])
    assert set(one.events["market"].tolist()) == {0} and one.markets[0].ticker == log.markets[1].ticker
    cut = int(log.events["ts"][len(log) // 2])
    a, b = log.split_time(cut)
    assert (a.events["ts"] < cut).all() and (b.events["ts"] >= cut).all()
    assert (b.events["flags"][: (b.events["flags"] == 1).sum()] == 1).all()


def test_synthetic_is_deterministic() -> None:
    from kmm.backtest.synthetic import generate

    assert np.array_equal(generate(seed=9, events_per_market=800).events, generate(seed=9, events_per_market=800).events)
    assert not np.array_equal(generate(seed=9, events_per_market=800).events,
                              generate(seed=10, events_per_market=800).events)


# --- real data (skipped when /work/shared/data is absent) ---------------------------------------------


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


def test_real_l2_file_imports_every_message() -> None:
    log = import_ws_jsonl([need(SHARED / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz")])
    assert log.meta["accepted"]["snapshot"] == 40
    assert log.meta["accepted"]["book"] == 110_476
    assert log.meta["skipped"] == {}
    assert len(log.markets) == 10
    assert (log.events["qty"] >= 0).all()


def test_real_ws_fixtures_and_trade_tape() -> None:
    ws = import_ws_jsonl([need(SHARED / "ws_fixtures" / "DEMO_env_ws_session_2026-07-01.jsonl.gz"),
                          need(SHARED / "ws_fixtures" / "prod_trade_msgs_2026-02-12.jsonl")])
    assert ws.meta["accepted"] == {"book": 2885, "snapshot": 5, "trade": 10, "market": 0}
    assert ws.meta["skipped"]["fill message (not market data)"] == 2
    tape = import_rest_trades([need(SHARED / "trades" / "trade_level_data_payrolls.csv.gz")])
    assert tape.meta["accepted"]["trade"] + sum(tape.meta["skipped"].values()) == 16_281
    assert len(tape.markets) == 166
