"""A recorded session → session.npz (our orders out of the books), fills.csv, session.json, and its report."""

import csv
import json
from pathlib import Path

import pytest
import redis

from kmm.backtest.eventlog import BID, BOOK, EventLog
from kmm.backtest.recorder import (
    _FRAME,
    SESSION_STREAMS,
    SNAPSHOT_REASON,
    SessionJournal,
    journal_dropped,
    journal_files,
    md_segments,
    read_journal,
)
from kmm.bus.publisher import FIELD
from kmm.bus.topology import EXEC_REPORT, MD_BOOK, MD_MARKET
from kmm.cli import main as kmm
from kmm.messages import ApprovalStatus, BookUpdate, Fill, MarketInfo, Message, OrderAck, decode, encode
from kmm.messages.units import NS_PER_S
from kmm.runner.session import (
    JOURNAL,
    agree_with_venue,
    is_session_dir,
    live_parameters,
    replay,
    report_lines,
    write_session,
)
from tests.helpers import eventually

T0 = 1_800_000_000 * NS_PER_S


def journal(path: Path, entries: list[tuple[str, Message]], torn: bool = False, mode: str = "wb") -> None:
    with open(path, mode) as f:
        for stream, msg in entries:
            payload = encode(msg)
            f.write(_FRAME.pack(SESSION_STREAMS.index(stream), len(payload)) + payload)
        if torn:
            f.write(_FRAME.pack(0, 100) + b"short")  # a run killed mid-write


def session(tmp_path: Path) -> dict:
    journal(tmp_path / JOURNAL, [
        (MD_MARKET, MarketInfo(market="M", event="E", ts_init=T0)),
        (MD_BOOK, BookUpdate(market="M", bids=((4000, 1000),), asks=((4200, 1000),), ts_init=T0 + 1)),
        (EXEC_REPORT, OrderAck(client_order_id="c1", order_id="o1", market="M", side="bid", price=4000, count=500,
                               ts_init=T0 + NS_PER_S)),
        (MD_BOOK, BookUpdate(market="M", bids=((4000, 1500),), asks=((4200, 1000),), ts_init=T0 + 2 * NS_PER_S)),
        (EXEC_REPORT, Fill(fill_id="f1", order_id="o1", client_order_id="c1", market="M", side="bid", price=4000,
                           count=500, fee=10_000, seq=1, origin_ts=T0 + 3 * NS_PER_S, ts_init=T0 + 3 * NS_PER_S + 5)),
        (EXEC_REPORT, Fill(fill_id="f1", order_id="o1", client_order_id="c1", market="M", side="bid", price=4000,
                           count=500, fee=10_000, seq=1, origin_ts=T0 + 3 * NS_PER_S, ts_init=T0 + 3 * NS_PER_S + 9)),
        (MD_BOOK, BookUpdate(market="M", bids=((4100, 800),), asks=((4300, 900),), ts_init=T0 + 3_500_000_000)),
    ], torn=True)
    return write_session(tmp_path, "sim")


def test_journal_to_session_files(tmp_path: Path) -> None:
    s = session(tmp_path)
    assert is_session_dir(tmp_path) and not (tmp_path / JOURNAL).exists()
    log = EventLog.load(tmp_path / "session.npz")
    assert log.tickers == ["M"] and log.meta["source"] == "kmm run" and log.meta["live"]["gamma"] > 0
    book = log.events[log.events["kind"] == BOOK]
    at_2s = book[(book["ts"] == T0 + 2 * NS_PER_S) & (book["side"] == BID) & (book["price"] == 4000)]
    assert at_2s["qty"].tolist() == [1000]  # our 5 resting contracts taken out of the 15 at $0.40
    rows = list(csv.DictReader(open(tmp_path / "fills.csv")))
    assert [(r["fill_id"], r["side"], r["price_usd"], r["count_contracts"]) for r in rows] == [
        ("f1", "bid", "0.4", "5.0")]  # the duplicate report counted once
    o = s["overall"]
    # bought 5 at $0.40, fee $0.01, marked at the last mid $0.42: 5 × 0.02 − 0.01
    assert (o["fills"], o["pnl_usd"], o["fees_usd"]) == (1, 0.09, 0.01)
    assert o["markout_1s_usd"] == 0.1  # (0.42 − 0.40) × 5, a second after the fill
    assert json.loads((tmp_path / "session.json").read_text())["per_market"][0]["position_contracts"] == 5.0


def test_torn_journal_frame_is_ignored(tmp_path: Path) -> None:
    journal(tmp_path / "j", [(MD_MARKET, MarketInfo(market="M"))], torn=True)
    assert [s for s, _ in read_journal(tmp_path / "j")] == [MD_MARKET]


def test_kmm_report_of_a_run_workdir(tmp_path: Path, capsys) -> None:
    session(tmp_path)
    assert kmm(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kmm run session" in out and "fills 1" in out and "P&L $0.0900" in out and "markouts 1 s $0.1000" in out
    for f in ("pnl.png", "inventory.png", "report.html"):
        assert (tmp_path / f).stat().st_size > 1000
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()


def test_kmm_report_builds_the_session_of_a_killed_run_first(tmp_path: Path, capsys) -> None:
    journal(tmp_path / JOURNAL, [
        (MD_MARKET, MarketInfo(market="M", ts_init=T0)),
        (MD_BOOK, BookUpdate(market="M", bids=((4000, 1000),), asks=((4200, 1000),), ts_init=T0 + 1)),
    ], torn=True)
    assert kmm(["report", str(tmp_path)]) == 0
    assert is_session_dir(tmp_path) and "fills 0" in capsys.readouterr().out


def test_a_killed_runs_report_uses_the_parameters_the_run_started_with(
        tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The run records its live parameters in the journal as it starts; ``kmm report`` of the killed
    run's journal, from a shell without the run's KMM_GAMMA, still replays with them."""
    for var in ("KMM_CONFIG", "KMM_KAPPA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KMM_GAMMA", "0.5")
    recorder = SessionJournal(redis_url, tmp_path / JOURNAL, meta={"live": live_parameters()})  # as kmm run does
    recorder.start()
    recorder.stop()
    journal(tmp_path / JOURNAL, [  # what it recorded before the kill -9
        (MD_MARKET, MarketInfo(market="M", ts_init=T0)),
        (MD_BOOK, BookUpdate(market="M", bids=((4000, 1000),), asks=((4200, 1000),), ts_init=T0 + 1)),
    ], torn=True, mode="ab")
    monkeypatch.delenv("KMM_GAMMA")  # the report is made elsewhere: default γ here
    assert live_parameters()["gamma"] != 0.5
    assert kmm(["report", str(tmp_path), "--replay"]) == 0
    assert "live parameters: γ=0.5 " in capsys.readouterr().out
    log = EventLog.load(tmp_path / "session.npz")
    assert log.meta["live"]["gamma"] == 0.5 and log.tickers == ["M"]
    assert json.loads((tmp_path / "session.json").read_text())["live"]["gamma"] == 0.5


def test_a_capped_recording_keeps_the_latest_window_every_fill_and_our_resting_orders(
        tmp_path: Path, redis_url: str) -> None:
    """A run left going must not fill its disk: past the cap the oldest book and trade data and order
    reports go, the fills and markets stay, the session says what was dropped, and an order acked
    before the kept window and still resting is still taken out of the window's books."""
    r = redis.Redis.from_url(redis_url)

    def book(i: int) -> BookUpdate:
        return BookUpdate(market="M", bids=((4000, 1000 + i),), asks=((4200, 1000),), ts_init=T0 + (i + 1) * NS_PER_S)

    def info(c: int) -> MarketInfo:  # republished by marketdata every few seconds
        return MarketInfo(market="M", event="E", ts_init=T0 + c * chunk * NS_PER_S)

    def status(c: int) -> ApprovalStatus:  # an order report of the chunk's time
        return ApprovalStatus(intent_id=f"i{c}", market="M", status="applied", ts_init=T0 + c * chunk * NS_PER_S + 2)

    chunk = 50  # book updates, after the market's description
    chunk_bytes = _FRAME.size + len(encode(info(0))) + sum(_FRAME.size + len(encode(book(i))) for i in range(chunk))
    recorder = SessionJournal(redis_url, tmp_path / JOURNAL, max_md_bytes=3 * chunk_bytes, block_ms=20)
    recorder.start()
    r.xadd(EXEC_REPORT, {FIELD: encode(OrderAck(client_order_id="c1", order_id="o1", market="M", side="bid",
                                                price=4000, count=800, ts_init=T0))})
    r.xadd(EXEC_REPORT, {FIELD: encode(Fill(fill_id="f1", order_id="o1", client_order_id="c1", market="M", side="bid",
                                            price=4000, count=500, seq=1, ts_init=T0 + 1))})  # 3 contracts rest on
    for c in range(6):  # every second chunk passes half the cap: the segment rotates, dropping the one before
        with r.pipeline(transaction=True) as tx:  # the chunk lands at once: one read takes it whole
            tx.xadd(MD_MARKET, {FIELD: encode(info(c))})
            for i in range(c * chunk, (c + 1) * chunk):
                tx.xadd(MD_BOOK, {FIELD: encode(book(i))})
            tx.xadd(EXEC_REPORT, {FIELD: encode(status(c))})
            tx.execute()
        eventually(lambda c=c: recorder.counts[MD_BOOK] == (c + 1) * chunk, what="the recorder caught up")
    recorder.stop()
    assert all(f.exists() for f in md_segments(tmp_path / JOURNAL))
    # chunks 0–3 with their statuses, the first ack, and the resting-order ack heading the second segment
    dropped = 4 * (chunk + 2) + 1 + 1
    assert journal_dropped(tmp_path / JOURNAL)["frames"] == dropped and recorder.dropped["frames"] == dropped
    recorded = [(stream, decode(p)) for stream, p in read_journal(tmp_path / JOURNAL)]
    streams = [stream for stream, _ in recorded]
    assert streams.count(MD_BOOK) == 2 * chunk and streams.count(MD_MARKET) == 2  # the latest two chunks: ≤ the cap
    reports = [m for stream, m in recorded if stream == EXEC_REPORT]
    assert [m.intent_id for m in reports if isinstance(m, ApprovalStatus)] == ["i4", "i5"]
    assert sum(isinstance(m, Fill) for m in reports) == 1  # every fill is kept
    rest = [m for m in reports if isinstance(m, OrderAck)]  # each kept segment opens with what rests
    assert [(m.client_order_id, m.price, m.count, m.intent_id) for m in rest] == [("c1", 4000, 300, SNAPSHOT_REASON)] * 2
    s = write_session(tmp_path, "sim")
    assert s["market_data_dropped"]["frames"] == dropped and s["overall"]["fills"] == 1
    log = EventLog.load(tmp_path / "session.npz")
    assert log.events["ts"].min() >= T0 + (4 * chunk + 1) * NS_PER_S
    bids = log.events[(log.events["kind"] == BOOK) & (log.events["side"] == BID) & (log.events["price"] == 4000)]
    assert bids["qty"].tolist() == [1000 + i - 300 for i in range(4 * chunk, 6 * chunk)]  # our 3 taken out
    assert journal_files(tmp_path / JOURNAL) == []
    assert any("not kept" in line and f"{dropped} entries" in line for line in report_lines(s))


def test_the_replay_of_a_capped_recording_compares_only_the_fills_within_its_market_data(
        tmp_path: Path, capsys) -> None:
    """A capped recording's market data starts after the run did: the live fills before it cannot be
    replayed, so the comparison leaves them out and says how many."""
    journal(tmp_path / JOURNAL, [
        (EXEC_REPORT, Fill(fill_id="early", order_id="o0", client_order_id="c0", market="M", side="bid", price=4000,
                           count=500, seq=1, ts_init=T0 - NS_PER_S)),  # its market data was dropped at the cap
        (MD_MARKET, MarketInfo(market="M", event="E", ts_init=T0)),
        (MD_BOOK, BookUpdate(market="M", bids=((4000, 1000),), asks=((4200, 1000),), ts_init=T0 + 1)),
        (EXEC_REPORT, Fill(fill_id="f1", order_id="o1", client_order_id="c1", market="M", side="ask", price=4200,
                           count=300, seq=2, ts_init=T0 + NS_PER_S)),
        (MD_BOOK, BookUpdate(market="M", bids=((4100, 800),), asks=((4300, 900),), ts_init=T0 + 2 * NS_PER_S)),
    ])
    write_session(tmp_path, "sim")
    rows, left_out = replay(tmp_path, EventLog.load(tmp_path / "session.npz"))
    assert left_out == 1 and sum(r["fills_live"] for r in rows) == 1
    assert kmm(["report", str(tmp_path), "--replay"]) == 0
    assert "(1 earlier fill left out)" in capsys.readouterr().out


def venue_row(ticker: str, position: str, volume: str, settled: bool = False) -> dict:
    return {"ticker": ticker, "position_fp": position, "volume_fp": volume, "settled": settled}


def fill(market: str, side: str, count: int, fill_id: str) -> Fill:
    return Fill(fill_id=fill_id, order_id="o", client_order_id="c", market=market, side=side, price=4000, count=count)


def test_fills_agree_with_the_exchanges_record_per_market() -> None:
    fills = [fill("A", "bid", 1000, "1"), fill("A", "ask", 300, "2"), fill("B", "ask", 200, "3")]
    v = agree_with_venue(fills, [venue_row("A", "7.00", "13.00"), venue_row("B", "-2.00", "2.00"),
                                 venue_row("C", "0.00", "0.00")])
    assert v == {"agrees": True, "markets": 3, "contracts_traded": 15.0, "mismatches": []}
    settled = agree_with_venue(fills, [venue_row("A", "0.00", "13.00", settled=True), venue_row("B", "-2.00", "2.00")])
    assert settled["agrees"]  # a settled market's position is gone at the exchange: volume still counts


def test_a_fill_the_session_missed_or_invented_is_a_mismatch() -> None:
    fills = [fill("A", "bid", 1000, "1")]
    missed = agree_with_venue(fills, [venue_row("A", "13.00", "13.00")])
    assert missed["mismatches"] == [{"market": "A", "what": "contracts traded", "session": 10.0, "exchange": 13.0}]
    unknown = agree_with_venue([], [venue_row("B", "1.00", "1.00")])
    assert not unknown["agrees"] and unknown["mismatches"][0]["market"] == "B"
    wrong_side = agree_with_venue(fills, [venue_row("A", "-10.00", "10.00")])
    assert wrong_side["mismatches"] == [{"market": "A", "what": "position", "session": 10.0, "exchange": -10.0}]
