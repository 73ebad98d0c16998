"""Replay of recorded orderbook logs (both dialects) into the engine, with our orders matching."""

import gzip
import json
from pathlib import Path

import pytest

from kmm.messages.units import COUNT_SCALE, NS_PER_S
from kmm_services.exchange.engine import Exchange
from kmm_services.exchange.orders import BID, IOC, CreateOrder
from kmm_services.exchange.replay import Replayer, read_log

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
T0 = 1_795_000_000 * NS_PER_S

LEGACY = [
    {"seq": 1, "ts": 100.0, "type": "orderbook_snapshot",
     "msg": {"market_ticker": "KXR-1", "yes": [[40, 10], [41, 5]], "no": [[57, 7]]}},
    {"seq": 2, "ts": 101.0, "type": "orderbook_delta", "msg": {"market_ticker": "KXR-1", "price": 41, "delta": 3, "side": "yes"}},
    {"seq": 3, "ts": 102.5, "type": "orderbook_delta", "msg": {"market_ticker": "KXR-1", "price": 57, "delta": -7, "side": "no"}},
]
CURRENT = [
    {"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}},
    {"type": "orderbook_snapshot", "sid": 1, "seq": 1,
     "msg": {"market_ticker": "KXR-2", "yes_dollars_fp": [["0.4000", "10.00"]], "no_dollars_fp": [["0.5700", "7.50"]]}},
    {"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {"market_ticker": "KXR-2", "price_dollars": "0.5700",
                                                              "delta_fp": "-2.50", "side": "no", "ts_ms": 5000}},
]


def write(tmp: Path, rows: list[dict[str, object]], gz: bool) -> Path:
    p = tmp / ("log.jsonl.gz" if gz else "log.jsonl")
    text = "\n\n".join(json.dumps(r) for r in rows) + "\n"
    if gz:
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


def test_legacy_log_replays_on_the_virtual_clock(tmp_path: Path) -> None:
    clock = [T0]
    ex = Exchange(lambda: clock[0])
    r = Replayer.from_file(ex, write(tmp_path, LEGACY, gz=True), start_ns=T0)
    assert r.play_until(T0) == 1
    assert ex.book("KXR-1").yes == [(4000, 1000), (4100, 500)] and ex.book("KXR-1").no == [(5700, 700)]
    clock[0] = T0 + 2 * NS_PER_S
    assert r.play_until(clock[0]) == 1
    assert ex.book("KXR-1").yes[-1] == (4100, 800)
    assert r.play_until(T0 + 3 * NS_PER_S) == 1 and r.done
    assert ex.book("KXR-1").no == []


def test_our_order_matches_the_replayed_book_and_later_deltas_clamp(tmp_path: Path) -> None:
    clock = [T0]
    ex = Exchange(lambda: clock[0])
    ex.open_account("us", 10**12)
    timed = [dict(row) for row in CURRENT]
    timed[1] = {**CURRENT[1], "msg": {**CURRENT[1]["msg"], "ts_ms": 1000}}  # type: ignore[dict-item]
    r = Replayer.from_file(ex, write(tmp_path, timed, gz=False), start_ns=T0)
    assert r.play_until(T0) == 1
    # Lift 6 of the 7.50 offered at YES 0.43 (= NO bid 0.57)
    ack = ex.create_order("us", CreateOrder("KXR-2", BID, 4300, 6 * COUNT_SCALE, time_in_force=IOC))
    assert ack.fill_count == 6 * COUNT_SCALE
    r.play_until(T0 + 10 * NS_PER_S)  # the recording removes 2.50, only 1.50 was left
    assert ex.book("KXR-2").no == []
    ex.check_invariants()


@pytest.mark.skipif(not (DATA / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz").exists(),
                    reason="shared data not present")
def test_real_legacy_file_parses() -> None:
    msgs = []
    for m in read_log(DATA / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz"):
        msgs.append(m)
        if len(msgs) >= 500:
            break
    assert msgs[0].kind == "snapshot" and any(m.kind == "delta" for m in msgs)


def test_untimed_snapshots_play_at_the_first_recorded_time(tmp_path: Path) -> None:
    ex = Exchange(lambda: T0)
    r = Replayer.from_file(ex, write(tmp_path, CURRENT, gz=False), start_ns=T0)
    assert r.play_until(T0) == 2 and r.done
