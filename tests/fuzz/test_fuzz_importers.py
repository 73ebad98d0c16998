"""Fuzz the backtest importers: any file content gives an event log (what cannot be used exactly is
skipped and counted by reason), or a clear ``UnsupportedFormat`` / ``ValueError`` naming the problem —
never a crash, and never an event outside our units (prices inside (0, $1), counts positive)."""

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from kmm.backtest.eventlog import EventLog
from kmm.backtest.importers import (
    UnsupportedFormat,
    import_md_records,
    import_rest_trades,
    import_ws_jsonl,
    read_markets_file,
)
from tests.fuzz.harness import fuzz, json_values, numberish, shaped
from tests.fuzz.test_fuzz_messages import mutated, near_valid

WS_KEYS = ["market_ticker", "price", "price_dollars", "delta", "delta_fp", "side", "yes", "no", "yes_dollars",
           "no_dollars", "yes_dollars_fp", "no_dollars_fp", "yes_price", "yes_price_dollars", "count", "count_fp",
           "taker_side", "ts", "ts_ms", "result"]
level = st.lists(numberish(), min_size=0, max_size=3)
ws_msg = shaped(WS_KEYS, st.one_of(numberish(), st.lists(level, max_size=3), st.sampled_from(["yes", "no", "M"])))
ws_line = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["orderbook_snapshot", "orderbook_delta", "trade",
                                                    "market_lifecycle_v2", "ticker", "x"])},
                          optional={"sid": st.integers(0, 3), "seq": st.integers(0, 6), "msg": ws_msg,
                                    "ts": numberish(), "recv_ts": numberish()}).map(lambda d: json.dumps(d, default=str)),
    json_values.map(json.dumps), st.text(max_size=20))
TRADE_KEYS = ["trade_id", "ticker", "market_ticker", "created_time", "yes_price", "yes_price_dollars", "count",
              "count_fp", "taker_side"]
trade_row = shaped(TRADE_KEYS, st.one_of(numberish(), st.sampled_from(["2024-05-01T12:00:00Z", "yes", "no", "M"])))


def sane(log: EventLog) -> None:
    assert isinstance(log, EventLog)
    skipped = log.meta.get("skipped", {})
    assert all(isinstance(k, str) and k and n > 0 for k, n in skipped.items())
    ev = log.events
    if len(ev):
        assert int(ev["price"].min()) >= 0 and int(ev["price"].max()) <= 10_000
        assert int(ev["qty"].min()) >= 0
        assert int(ev["market"].max()) < len(log.markets)


def write(suffix: str, text: str | bytes) -> Path:
    d = Path(tempfile.mkdtemp(prefix="kmm-fuzz-"))
    p = d / f"input{suffix}"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


@fuzz(st.lists(ws_line, max_size=12), examples=300)
def test_fuzz_ws_log_import(lines: list[str]) -> None:
    sane(import_ws_jsonl([write(".jsonl", "\n".join(lines))]))


@fuzz(st.tuples(st.sampled_from([".json", ".jsonl", ".csv", ".txt"]),
                st.one_of(st.lists(trade_row, max_size=6), json_values), st.booleans()), examples=300)
def test_fuzz_rest_trade_import(case: tuple[str, Any, bool]) -> None:
    suffix, rows, paged = case
    if suffix == ".csv" and isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        keys = sorted({k for r in rows for k in r if isinstance(k, str) and k.isidentifier()})
        text = ",".join(keys) + "\n" + "\n".join(",".join(str(r.get(k, "")).replace(",", " ").replace("\n", " ")
                                                           for k in keys) for r in rows)
    else:
        text = json.dumps({"trades": rows} if paged else rows, default=str)
    try:
        sane(import_rest_trades([write(suffix, text)]))
    except UnsupportedFormat as exc:
        assert suffix == ".txt" or "UTF-8" in str(exc)


@fuzz(st.lists(st.one_of(near_valid(), mutated(), st.binary(max_size=40)), max_size=12), examples=300)
def test_fuzz_recorded_md_import(payloads: list[bytes]) -> None:
    sane(import_md_records(payloads))


@fuzz(st.lists(st.tuples(st.text(max_size=8), st.sampled_from(["yes", "no", "", "maybe"]),
                         st.one_of(numberish().map(str), st.sampled_from(["2024-05-01T12:00:00Z", "", "T"]))),
               max_size=5), examples=200)
def test_fuzz_markets_file(rows: list[tuple[str, str, str]]) -> None:
    text = "ticker,result,close_time\n" + "\n".join(",".join(c.replace(",", " ").replace("\n", " ")
                                                             .replace("\r", " ").replace('"', "")
                                                             for c in r) for r in rows)
    try:
        metas = read_markets_file(write(".csv", text))
    except ValueError as exc:
        assert str(exc)
        return
    assert all(m.ticker for m in metas)
