"""Vectorized book tops equal a naive dict replay of the same rows."""

from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.book import book_tops, future_mid2, mids2
from kmm.backtest.eventlog import BOOK, EventLog
from kmm.backtest.importers import import_ws_jsonl
from kmm.backtest.synthetic import generate

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def naive(log: EventLog) -> tuple[np.ndarray, np.ndarray]:
    ev = log.events
    books: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    bb = np.zeros(len(ev), np.int64)
    ba = np.full(len(ev), 10_000, np.int64)
    for i, (k, s, m, p, q) in enumerate(zip(ev["kind"].tolist(), ev["side"].tolist(), ev["market"].tolist(),
                                            ev["price"].tolist(), ev["qty"].tolist(), strict=True)):
        b = books.setdefault(m, ({}, {}))
        if k == BOOK:
            if q:
                b[s][p] = q
            else:
                b[s].pop(p, None)
        bb[i] = max(b[0]) if b[0] else 0
        ba[i] = min(b[1]) if b[1] else 10_000
    return bb, ba


def test_book_tops_match_a_naive_replay_on_synthetic_data() -> None:
    log = generate(seed=4, n_markets=3, events_per_market=4000)
    bb, ba = book_tops(log.events, 3)
    nb, na = naive(log)
    assert np.array_equal(bb, nb) and np.array_equal(ba, na)
    assert not ((bb >= ba) & (bb > 0) & (ba < 10_000)).any()  # the generator never crosses its book


def test_book_tops_match_a_naive_replay_on_the_real_l2_day() -> None:
    path = SHARED / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz"
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    log = import_ws_jsonl([path])
    bb, ba = book_tops(log.events, len(log.markets))
    nb, na = naive(log)
    assert np.array_equal(bb, nb) and np.array_equal(ba, na)


def test_mids_and_future_mids() -> None:
    log = generate(seed=4, n_markets=1, events_per_market=500, duration_s=100)
    bb, ba = book_tops(log.events, 1)
    m2 = mids2(log.events, bb, ba, 1)
    two = (bb > 0) & (ba < 10_000)
    assert np.array_equal(m2[two], (bb + ba)[two])
    fut = future_mid2(log.events, m2, 1, 10**9)
    ts = log.events["ts"]
    for i in (0, 100, 400):
        j = np.searchsorted(ts, ts[i] + 10**9, side="right") - 1
        assert fut[i] == m2[j]
