"""The backtester's one event-log format: a columnar, numpy-friendly record of book and trade events.

One ``.npz`` file holds:

- ``events``: a structured array (:data:`EVENT_DTYPE`), sorted by ``ts`` (stable: arrival order is
  kept for equal timestamps). Every row is either a BOOK row (``kind == BOOK``) that sets the
  *absolute* size of one level of the normalized YES book, or a TRADE row (``kind == TRADE``).
- ``markets_json``: the market metadata (:class:`MarketMeta`), indexed by ``events["market"]``.
- ``meta_json``: free-form provenance: source, importer, skipped counts and reasons.

Units are :mod:`kmm.messages.units`: prices in $0.0001, counts in 0.01 contract, times in ns.

BOOK rows: ``side`` is ``BID`` (YES bid) or ``ASK`` (YES ask = 1 − NO bid), ``qty`` the level's new
size (0 removes it), ``delta`` the signed change. A snapshot is written as absolute rows: zero rows
for every level that disappeared, then one row per level, all flagged ``SNAPSHOT``, so a consumer
never needs book state to interpret a row. TRADE rows: ``side`` is the *resting* side the taker hit
(``ASK`` when the taker bought YES, ``BID`` when the taker bought NO), ``price`` the YES price and
``qty`` the count.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kmm.messages.units import PRICE_SCALE

BOOK = 1
TRADE = 2
BID = 0
ASK = 1
SNAPSHOT = 1  # flag: row written from a snapshot (exact book reset)

ROWS_PER_CHUNK = 65_536  # an EventLogBuilder packs its rows into arrays this many at a time
EVENT_DTYPE = np.dtype(
    [
        ("ts", "i8"),
        ("kind", "u1"),
        ("flags", "u1"),
        ("side", "u1"),
        ("market", "i4"),
        ("price", "i4"),
        ("qty", "i8"),
        ("delta", "i8"),
    ]
)

FORMAT_VERSION = 1
_KEYS = ("events", "markets_json", "meta_json")
_RAW_SUFFIXES = (".csv", ".json", ".jsonl", ".parquet", ".gz")  # what kmm import reads


class EventLogError(ValueError):
    """A file that is not an event log this version reads; the message starts with the path and says
    how to make one."""


@dataclass
class MarketMeta:
    """What the backtester needs to know about one market. ``close_ts`` is ns (0 = unknown)."""

    ticker: str
    event: str = ""
    series: str = ""
    close_ts: int = 0
    result: str = ""  # "yes", "no" or "" (unknown → marked at the last mid and flagged)
    tick_ranges: list[tuple[int, int, int]] = field(default_factory=lambda: [(0, PRICE_SCALE, 100)])
    maker_fees: bool = False
    fee_type: str = ""  # the series' fee_type; "" = unknown (the standard maker fee is charged)
    fee_multiplier_ppm: int = 1_000_000  # the series' fee_multiplier in parts per million

    @staticmethod
    def from_dict(d: dict[str, Any]) -> MarketMeta:
        m = MarketMeta(**{k: v for k, v in d.items() if k in MarketMeta.__dataclass_fields__})
        m.tick_ranges = [tuple(int(x) for x in r) for r in m.tick_ranges]  # type: ignore[misc]
        return m


@dataclass
class EventLog:
    events: np.ndarray
    markets: list[MarketMeta]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.events.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have dtype EVENT_DTYPE, got {self.events.dtype}")

    def __len__(self) -> int:
        return int(self.events.shape[0])

    @property
    def tickers(self) -> list[str]:
        return [m.ticker for m in self.markets]

    def market_index(self, ticker: str) -> int:
        return self.tickers.index(ticker)

    def book(self) -> np.ndarray:
        return self.events[self.events["kind"] == BOOK]

    def trades(self) -> np.ndarray:
        return self.events[self.events["kind"] == TRADE]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta, format_version=FORMAT_VERSION)
        with open(path, "wb") as fh:
            np.savez(
                fh,
                events=self.events,
                markets_json=np.array(json.dumps([asdict(m) for m in self.markets])),
                meta_json=np.array(json.dumps(meta, sort_keys=True)),
            )
        return path

    @staticmethod
    def load(path: str | Path) -> EventLog:
        """Read a log written by :meth:`save`. A missing file raises FileNotFoundError; any other file
        raises :class:`EventLogError` saying it is not an event log and how to make one."""
        path = Path(path)
        if path.suffix.lower() in _RAW_SUFFIXES:
            kind = "trades" if "trade" in path.name.lower() or ".csv" in path.name.lower() else "trades|l2|ws"
            hint = f"`kmm import {kind} {path} --out {path.name.split('.')[0]}.npz`"
        else:
            hint = "`kmm import trades|l2|ws FILE --out LOG.npz` (or `kmm record`)"
        not_a_log = f"{path}: not an event log (the .npz kmm import and kmm record write); make one with {hint}"
        try:
            z = np.load(path, allow_pickle=False)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile):
            raise EventLogError(not_a_log) from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise EventLogError(not_a_log)
        with z:
            if any(k not in z.files for k in _KEYS):
                raise EventLogError(not_a_log)
            try:
                events = z["events"]
                markets = [MarketMeta.from_dict(d) for d in json.loads(str(z["markets_json"]))]
                meta = json.loads(str(z["meta_json"]))
            except (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise EventLogError(f"{path}: damaged event log ({type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            version = meta.get("format_version") if isinstance(meta, dict) else None
            raise EventLogError(f"{path}: unsupported event log version {version!r} (this kmm reads "
                                f"{FORMAT_VERSION}); import the data again with kmm import")
        if events.dtype != EVENT_DTYPE:
            raise EventLogError(f"{path}: damaged event log (events of dtype {events.dtype})")
        return EventLog(events=events, markets=markets, meta=meta)

    def select(self, tickers: list[str]) -> EventLog:
        """A log restricted to ``tickers`` (re-indexed)."""
        keep = [self.market_index(t) for t in tickers]
        remap = np.full(len(self.markets), -1, dtype=np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        ev = self.events[np.isin(self.events["market"], keep)].copy()
        ev["market"] = remap[ev["market"]]
        return EventLog(ev, [self.markets[i] for i in keep], dict(self.meta))

    def split_time(self, ts: int) -> tuple[EventLog, EventLog]:
        """(events before ``ts``, events from ``ts``) for walk-forward splits; books restart from state."""
        cut = int(np.searchsorted(self.events["ts"], ts, side="left"))
        return (
            EventLog(self.events[:cut].copy(), list(self.markets), dict(self.meta)),
            EventLog(_with_book_state(self.events, cut), list(self.markets), dict(self.meta)),
        )


def _with_book_state(events: np.ndarray, cut: int) -> np.ndarray:
    """Events from ``cut`` on, prefixed with snapshot rows of the book as it stood at ``cut``."""
    book: dict[tuple[int, int, int], int] = {}
    head = events[:cut]
    bm = head[head["kind"] == BOOK]
    for m, s, p, q in zip(bm["market"].tolist(), bm["side"].tolist(), bm["price"].tolist(), bm["qty"].tolist(),
                          strict=True):
        if q:
            book[(m, s, p)] = q
        else:
            book.pop((m, s, p), None)
    ts0 = int(events["ts"][cut]) if cut < len(events) else 0
    rows = np.zeros(len(book), dtype=EVENT_DTYPE)
    for i, ((m, s, p), q) in enumerate(sorted(book.items())):
        rows[i] = (ts0, BOOK, SNAPSHOT, s, m, p, q, q)
    return np.concatenate([rows, events[cut:]])


class EventLogBuilder:
    """Accumulates normalized events from any source, keeping book state to write absolute rows.

    Invalid input is never guessed at: it is skipped and counted by reason (``skipped``), so every
    importer can report exactly what it dropped.
    """

    def __init__(self, source: str = "") -> None:
        self.source = source
        self._rows: list[tuple[int, int, int, int, int, int, int, int]] = []  # rows not yet packed
        self._packed: list[np.ndarray] = []  # rows packed ROWS_PER_CHUNK at a time: 35 bytes a row, not ~200
        self._markets: dict[str, MarketMeta] = {}
        self._index: dict[str, int] = {}
        self._book: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
        self._seen_snapshot: set[int] = set()
        self._market_ts: dict[int, int] = {}
        self.last_ts = 0
        self.adjusted: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.accepted: dict[str, int] = {"book": 0, "snapshot": 0, "trade": 0, "market": 0}

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def market(self, ticker: str) -> int:
        idx = self._index.get(ticker)
        if idx is None:
            idx = self._index[ticker] = len(self._index)
            self._markets.setdefault(ticker, MarketMeta(ticker=ticker, event=_event_of(ticker),
                                                        series=_series_of(ticker)))
            self._book[idx] = ({}, {})
        return idx

    def set_market(self, meta: MarketMeta) -> None:
        self.market(meta.ticker)
        old = self._markets[meta.ticker]
        # Keep what an earlier record knew when the newer one leaves a field empty (e.g. result).
        for name in ("event", "series", "result", "fee_type"):
            if not getattr(meta, name):
                setattr(meta, name, getattr(old, name))
        if not meta.close_ts:
            meta.close_ts = old.close_ts
        meta.maker_fees = meta.maker_fees or old.maker_fees
        self._markets[meta.ticker] = meta
        self.accepted["market"] += 1

    def invalidate(self, ticker: str) -> None:
        """Forget the market's book (after a sequence gap): deltas are skipped until the next snapshot."""
        idx = self._index.get(ticker)
        if idx is not None:
            self._seen_snapshot.discard(idx)

    def _ts(self, m: int, ts: int) -> int:
        """Clamp so one market's book rows keep arrival order under the stable time sort."""
        last = self._market_ts.get(m, ts)
        if ts < last:
            self.adjusted["timestamp clamped to keep per-market order"] = (
                self.adjusted.get("timestamp clamped to keep per-market order", 0) + 1)
            ts = last
        self._market_ts[m] = ts
        self.last_ts = max(self.last_ts, ts)
        return ts

    def has_book(self, ticker: str) -> bool:
        idx = self._index.get(ticker)
        return idx is not None and idx in self._seen_snapshot

    def snapshot(self, ts: int, ticker: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """Replace the market's whole YES book (bids and asks as (price, count))."""
        for price, count in [*bids, *asks]:
            if not (0 < price < PRICE_SCALE) or count < 0:
                self.skip("snapshot level out of range")
                return
        m = self.market(ticker)
        ts = self._ts(m, ts)
        self._seen_snapshot.add(m)
        for side, levels in ((BID, bids), (ASK, asks)):
            book = self._book[m][side]
            new: dict[int, int] = {}
            for price, count in levels:
                if count > 0:
                    new[price] = new.get(price, 0) + count
            for price in sorted(set(book) - set(new)):
                self._rows.append((ts, BOOK, SNAPSHOT, side, m, price, 0, -book[price]))
            for price in sorted(new):
                self._rows.append((ts, BOOK, SNAPSHOT, side, m, price, new[price], new[price] - book.get(price, 0)))
            self._book[m] = (new, self._book[m][1]) if side == BID else (self._book[m][0], new)
        self.accepted["snapshot"] += 1
        if len(self._rows) >= ROWS_PER_CHUNK:
            self._pack()

    def delta(self, ts: int, ticker: str, side: int, price: int, delta: int) -> None:
        """Apply a signed size change at one level of the YES book."""
        if not (0 < price < PRICE_SCALE):
            self.skip("delta price out of range")
            return
        m = self._index.get(ticker)
        if m is None or m not in self._seen_snapshot:
            self.skip("delta before first snapshot")
            return
        book = self._book[m][side]
        new = book.get(price, 0) + delta
        ts = self._ts(m, ts)
        if new < 0:
            self.skip("delta makes level negative")
            return
        if new:
            book[price] = new
        else:
            book.pop(price, None)
        self._rows.append((ts, BOOK, 0, side, m, price, new, delta))
        self.accepted["book"] += 1
        if len(self._rows) >= ROWS_PER_CHUNK:
            self._pack()

    def level(self, ts: int, ticker: str, side: int, price: int, size: int) -> None:
        """Set one level to an absolute size (0 removes it)."""
        m = self._index.get(ticker)
        if m is None or m not in self._seen_snapshot:
            self.skip("level update before first snapshot")
            return
        old = self._book[m][side].get(price, 0)
        self.delta(ts, ticker, side, price, size - old)

    def trade(self, ts: int, ticker: str, price: int, count: int, taker_yes: bool) -> None:
        if not (0 < price < PRICE_SCALE):
            self.skip("trade price out of range")
            return
        if count <= 0:
            self.skip("trade count not positive")
            return
        m = self.market(ticker)
        self.last_ts = max(self.last_ts, ts)  # prints need no order clamp: they carry no book state
        self._rows.append((ts, TRADE, 0, ASK if taker_yes else BID, m, price, count, 0))
        self.accepted["trade"] += 1
        if len(self._rows) >= ROWS_PER_CHUNK:
            self._pack()

    def _pack(self) -> None:
        if self._rows:
            self._packed.append(np.array(self._rows, dtype=EVENT_DTYPE))
            self._rows = []

    def build(self, **meta: Any) -> EventLog:
        self._pack()
        events = np.concatenate(self._packed) if self._packed else np.zeros(0, EVENT_DTYPE)
        self._packed = [events]  # a second build sees the same rows
        order = np.argsort(events["ts"], kind="stable")
        markets = [self._markets[t] for t, _ in sorted(self._index.items(), key=lambda kv: kv[1])]
        info = {"source": self.source, "skipped": dict(sorted(self.skipped.items())),
                "accepted": dict(self.accepted), "adjusted": dict(self.adjusted), **meta}
        return EventLog(events=events[order], markets=markets, meta=info)


def _event_of(ticker: str) -> str:
    return ticker.rsplit("-", 1)[0] if "-" in ticker else ticker


def _series_of(ticker: str) -> str:
    return ticker.split("-", 1)[0]
