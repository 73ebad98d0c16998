"""Parser tests on REAL Kalshi WS messages from /work/shared/data/ws_fixtures (skipped when absent)."""

import gzip
from pathlib import Path

import pytest

from kmm import messages as m
from kmm.kalshi import wire
from kmm.kalshi.ws import CommandOk, FeedState, Resnapshot, Subscribed

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ws_fixtures"
DEMO = FIXTURES / "DEMO_env_ws_session_2026-07-01.jsonl.gz"


def _lines(path: Path) -> list[str]:
    if not path.exists():
        pytest.skip(f"real fixture {path.name} not available")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [ln for ln in fh.read().splitlines() if ln.strip()]


@pytest.mark.parametrize("name,kind", [("prod_trade_msgs_2026-02-12.jsonl", wire.PublicTrade),
                                       ("prod_ticker_msgs_2026-02-12.jsonl", wire.Ticker)])
def test_every_prod_line_parses_and_dialects_agree(name, kind):
    lines = _lines(FIXTURES / name)
    state = FeedState()
    for ln in lines:
        frame = wire.loads(ln)
        events = state.handle(frame)
        typed = [e for e in events if isinstance(e, kind)]
        assert len(typed) == 1, ln
        ev, msg = typed[0], frame["msg"]
        # these recordings carry both cents and fixed-point fields: both readings must agree
        if kind is wire.PublicTrade:
            assert ev.price == msg["yes_price"] * 100 == wire.dollars(msg["yes_price_dollars"])
            assert ev.count == msg["count"] * 100 and ev.taker_side in ("yes", "no") and ev.ts > 0
        else:
            assert ev.yes_bid == msg["yes_bid"] * 100 == wire.dollars(msg["yes_bid_dollars"])
            assert ev.volume == wire.count(msg["volume_fp"])
    assert state.parse_errors == 0


def test_demo_session_every_line_parses_and_books_rebuild_without_negative_levels():
    lines = _lines(DEMO)
    state = FeedState()
    counts: dict[type, int] = {}
    for ln in lines:
        for ev in state.handle(wire.loads(ln)):
            counts[type(ev)] = counts.get(type(ev), 0) + 1
            assert not isinstance(ev, Resnapshot), f"unexpected resnapshot: {ev}"
            if isinstance(ev, m.BookUpdate):
                assert all(c > 0 for _, c in ev.bids + ev.asks)
                assert [p for p, _ in ev.bids] == sorted((p for p, _ in ev.bids), reverse=True)
    assert state.parse_errors == 0
    assert counts[m.BookUpdate] == 5 + 2885
    assert counts[wire.Fill] == 2 and counts[Subscribed] == 2 and counts[CommandOk] == 4
    assert len(state.books) == 5 and all(b.valid for b in state.books.values())
    for b in state.books.values():
        assert all(n > 0 for n in b.yes.values()) and all(n > 0 for n in b.no.values())


def test_demo_session_with_a_dropped_delta_triggers_resnapshot():
    lines = _lines(DEMO)
    drop = next(i for i, ln in enumerate(lines) if '"orderbook_delta"' in ln and i > 20)
    state = FeedState()
    resnaps = []
    for i, ln in enumerate(lines):
        if i == drop:
            continue
        resnaps += [e for e in state.handle(wire.loads(ln)) if isinstance(e, Resnapshot)]
    assert len(resnaps) == 1 and resnaps[0].sid == 1 and len(resnaps[0].tickers) == 5
    assert state.pending_resnapshots == {1: resnaps[0].reason}
    assert not any(b.valid for b in state.books.values())
