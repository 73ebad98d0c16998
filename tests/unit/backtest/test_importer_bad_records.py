"""Importers skip (and count) a record of the wrong shape instead of aborting the whole import; a bad
time in a markets file is a ValueError naming the row (what tests/fuzz/test_fuzz_importers.py found)."""

import json
from pathlib import Path

import pytest

from kmm.backtest.importers import (
    BadRecord,
    import_rest_trades,
    import_ws_jsonl,
    read_markets_file,
    seconds_to_ns,
)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "abc", True])
def test_a_bad_timestamp_is_a_bad_record(value: object) -> None:
    with pytest.raises(BadRecord):
        seconds_to_ns(value)


def test_ws_records_of_the_wrong_shape_are_skipped_and_counted(tmp_path: Path) -> None:
    lines = [
        {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": "M", "yes": 5, "no": []}},
        {"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {"market_ticker": "M", "price": [1], "delta": 1,
                                                                "side": "yes"}},
        {"type": "trade", "msg": {"market_ticker": "M", "yes_price": 50, "count": 1, "taker_side": "yes",
                                  "ts": [1]}},
        {"type": "trade", "msg": {"market_ticker": "M", "yes_price": 50, "count": 3, "taker_side": "yes",
                                  "ts": 1700000000}},
    ]
    p = tmp_path / "ws.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines))
    log = import_ws_jsonl([p])
    assert len(log.trades()) == 1
    assert sum(log.meta["skipped"].values()) == 3


def test_a_trade_row_of_the_wrong_shape_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "trades.json"
    p.write_text(json.dumps({"trades": [{"ticker": "M", "created_time": "2024-05-01T12:00:00Z", "yes_price": [50],
                                         "count": 1, "taker_side": "yes"}]}))
    log = import_rest_trades([p])
    assert len(log) == 0 and sum(log.meta["skipped"].values()) == 1


def test_an_infinite_close_time_names_its_row(tmp_path: Path) -> None:
    p = tmp_path / "markets.csv"
    p.write_text("ticker,result,close_time\nM,yes,Infinity\n")
    with pytest.raises(ValueError, match="2"):
        read_markets_file(p)
