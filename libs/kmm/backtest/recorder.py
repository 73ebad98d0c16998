"""Record our own ``md:book``, ``md:trade`` and ``md:market`` streams from Redis into an event log.

Plain XREAD (no consumer group: recording never disturbs the services' delivery), starting at
``$`` (new entries) or ``0`` (everything still in the streams), until a duration, a message count
or a stop flag is reached. Payloads are msgpack ``kmm.messages`` decoded by the md importer.

:class:`SessionJournal` is the same follower for a whole ``kmm run``: ``md:*`` and ``exec:report``
from their first entry, appended to a journal file as they arrive (``md:book`` is capped in Redis,
so it must be read as it goes); :func:`session_log` turns the journal into the backtester's event
log with our own resting orders taken out of the books (:func:`without_own_orders`), so a replay
queues only behind other traders — the fidelity check's input. The journal's first frame may be
the run's own description (:data:`META`, JSON: the live parameters as the run started with them),
read back by :func:`journal_meta`; a journal without it reads as before.

A journal may be capped (``max_md_bytes``, ``kmm run --record-max-mb``) so a run left going for days
does not fill its disk: the ``md:*`` streams and the order reports (acks, cancels, rejects, approval
statuses, position and balance reports) then go to ``<journal>.md`` (see :func:`md_segments`), which
becomes ``<journal>.md.old`` at half the cap, dropping the one before. The latest half to whole cap
is kept (marketdata republishes every market's ``md:market`` every 5 s, so the window has each
market's description); each segment opens with our resting orders as of its start (acks rebuilt
from the reports, :data:`SNAPSHOT_REASON`), so the kept window's books lose our own size from its first
entry. Every fill and settlement (:data:`KEPT_WHOLE`) and the run's description stay whole in the
journal itself, which records what was dropped (a :data:`DROPPED` frame, read by :func:`journal_dropped`).
"""

from __future__ import annotations

import heapq
import json
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import redis

from kmm.bus.publisher import FIELD
from kmm.bus.topology import EXEC_REPORT, MD_BOOK, MD_MARKET, MD_TRADE
from kmm.messages import (
    BookUpdate,
    DecodeError,
    Fill,
    Message,
    OrderAck,
    OrderCancel,
    OrderReject,
    Settlement,
    decode,
    encode,
)
from kmm.strategy.own_orders import OwnOrders

from .eventlog import EventLog, EventLogBuilder
from .importers import add_md, add_md_message

MD_STREAMS = (MD_MARKET, MD_BOOK, MD_TRADE)
SESSION_STREAMS = (*MD_STREAMS, EXEC_REPORT)
_FRAME = struct.Struct(">BI")  # stream index, payload length
META = 0xFF  # the stream index of a frame about the run itself (JSON), not a stream's entry
DROPPED = 0xFE  # a frame saying how much (market data, order reports) a capped journal has dropped so far (JSON)
SEGMENTED = MD_STREAMS  # the streams a capped journal keeps only the latest of
KEPT_WHOLE = frozenset({Fill.TYPE, Settlement.TYPE})  # exec:report messages a capped journal keeps whole
SNAPSHOT_REASON = "resting at the segment's start"  # the intent_id of a segment's resting-order acks


@dataclass
class Recording:
    builder: EventLogBuilder = field(default_factory=lambda: EventLogBuilder("md"))
    messages: int = 0
    per_stream: dict[str, int] = field(default_factory=dict)


def record(url: str, *, streams: tuple[str, ...] = MD_STREAMS, from_start: bool = False,
           duration_s: float | None = None, max_messages: int | None = None,
           stop: threading.Event | None = None, block_ms: int = 200,
           on_batch: Callable[[int], None] | None = None) -> EventLog:
    """Read ``streams`` until a limit, then build the event log (with what was skipped and why)."""
    client = redis.Redis.from_url(url, decode_responses=False)
    rec = Recording()
    ids: dict[str, bytes | str] = {s: ("0-0" if from_start else "$") for s in streams}
    if not from_start:
        # Resolve "$" once so entries added between reads are not lost.
        for s in streams:
            info = client.xinfo_stream(s) if client.exists(s) else None
            ids[s] = info["last-generated-id"] if info else "0-0"
    deadline = time.monotonic() + duration_s if duration_s is not None else None
    try:
        while True:
            if stop is not None and stop.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if max_messages is not None and rec.messages >= max_messages:
                break
            reply = client.xread(ids, count=1000, block=block_ms)  # type: ignore[arg-type]
            for stream, entries in reply or []:
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    ids[name] = entry_id
                    payload = fields.get(FIELD)
                    if payload is None:
                        rec.builder.skip(f"entry without {FIELD!r} field")
                        continue
                    add_md_message(rec.builder, payload)
                    rec.messages += 1
                    rec.per_stream[name] = rec.per_stream.get(name, 0) + 1
            if on_batch is not None:
                on_batch(rec.messages)
    finally:
        client.close()
    return rec.builder.build(streams=list(streams), messages=rec.messages, per_stream=rec.per_stream)


class SessionJournal:
    """Follow ``streams`` from their first entry in a thread, appending each payload to ``path``
    (framed: stream index, length, msgpack bytes). :meth:`stop` reads what is left, then returns."""

    def __init__(self, url: str, path: Path, *, username: str | None = None, password: str | None = None,
                 streams: tuple[str, ...] = SESSION_STREAMS, block_ms: int = 200,
                 meta: dict[str, Any] | None = None, max_md_bytes: int = 0) -> None:
        self.url, self.path, self.streams, self.block_ms = url, path, streams, block_ms
        self.meta = meta  # written first (a META frame): what a later report needs to know about the run
        self.username, self.password = username, password
        self.counts: dict[str, int] = dict.fromkeys(streams, 0)
        self.error = ""
        self.max_md_bytes = max_md_bytes  # 0: one journal, nothing dropped
        self.dropped = {"frames": 0, "bytes": 0, "until_ns": 0}  # what was dropped at the cap
        self._segment = {"frames": 0, "bytes": 0}  # in <journal>.md
        self._old: dict[str, int] | None = None  # <journal>.md.old, and when it ended
        self._own = OwnOrders()  # our resting orders, written at the head of each new segment
        self._report_k = streams.index(EXEC_REPORT) if EXEC_REPORT in streams else -1
        self._reports_ts = 0  # the latest report's ts_init: the resting orders' snapshot time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-journal", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.meta is not None:
            payload = json.dumps(self.meta).encode()
            with open(self.path, "ab") as out:
                out.write(_FRAME.pack(META, len(payload)) + payload)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url, username=self.username, password=self.password)
        ids: dict[str, bytes | str] = dict.fromkeys(self.streams, "0-0")
        index = {s: i for i, s in enumerate(self.streams)}
        capped = {index[s] for s in SEGMENTED if s in index} if self.max_md_bytes > 0 else set()
        reports = self._report_k if capped else -1  # split: fills whole, the rest segmented
        out = open(self.path, "ab")
        md = self._open_segments() if capped else out
        try:
            while True:
                stopping = self._stop.is_set()
                try:
                    reply = client.xread(ids, count=1000, block=None if stopping else self.block_ms)  # type: ignore[arg-type]
                except redis.RedisError as exc:  # Redis restarting: the AOF brings the streams back
                    self.error = f"{type(exc).__name__}: {exc}"
                    if stopping:
                        break
                    self._stop.wait(0.5)
                    continue
                for stream, entries in reply or []:
                    name = stream.decode() if isinstance(stream, bytes) else stream
                    k = index[name]
                    for eid, fields in entries:
                        ids[name] = eid
                        payload = fields.get(FIELD) or b""
                        frame = _FRAME.pack(k, len(payload)) + payload
                        if k in capped or (k == reports and not self._kept_whole(payload)):
                            self._to_segment(md, frame)
                        else:
                            out.write(frame)
                        self.counts[name] += 1
                if capped and self._segment["bytes"] >= self.max_md_bytes // 2:
                    md.close()
                    md = self._rotate(out)
                out.flush()
                md.flush()
                if stopping and not reply:
                    break
        finally:
            if md is not out:
                md.close()
            out.close()
            client.close()

    def _open_segments(self) -> BinaryIO:
        """Open <journal>.md for appending; a reused workdir's segments count towards the cap."""
        md_path, old_path = md_segments(self.path)
        self._segment = {"frames": sum(1 for _ in _frames(md_path)) if md_path.exists() else 0,
                         "bytes": md_path.stat().st_size if md_path.exists() else 0}
        self._old = {"frames": sum(1 for _ in _frames(old_path)), "bytes": old_path.stat().st_size,
                     "ended_ns": old_path.stat().st_mtime_ns} if old_path.exists() else None
        return open(md_path, "ab")

    def _rotate(self, out: BinaryIO) -> BinaryIO:
        """<journal>.md (closed) becomes <journal>.md.old, dropping the segment before it, which the
        journal records; returns the new <journal>.md."""
        md_path, old_path = md_segments(self.path)
        if self._old is not None:
            self.dropped["frames"] += self._old["frames"]
            self.dropped["bytes"] += self._old["bytes"]
            self.dropped["until_ns"] = self._old["ended_ns"]
            payload = json.dumps(self.dropped).encode()
            out.write(_FRAME.pack(DROPPED, len(payload)) + payload)
        os.replace(md_path, old_path)
        self._old = {**self._segment, "ended_ns": time.time_ns()}
        self._segment = {"frames": 0, "bytes": 0}
        md = open(md_path, "ab")
        for coid, (market, side, price, count) in self._own.orders.items():  # empty without exec:report
            payload = encode(OrderAck(client_order_id=coid, order_id="", market=market, side=side, price=price,
                                      count=count, intent_id=SNAPSHOT_REASON, ts_init=self._reports_ts))
            self._to_segment(md, _FRAME.pack(self._report_k, len(payload)) + payload)
        return md

    def _to_segment(self, md: BinaryIO, frame: bytes) -> None:
        md.write(frame)
        self._segment["frames"] += 1
        self._segment["bytes"] += len(frame)

    def _kept_whole(self, payload: bytes) -> bool:
        """Whether a report stays in the journal (a fill, a settlement, or one that does not decode:
        nothing is lost to the cap that the session's figures need); follows our resting orders."""
        try:
            msg = decode(payload)
        except DecodeError:
            return True
        self._own.on_report(msg)
        self._reports_ts = max(self._reports_ts, msg.ts_init)
        return msg.TYPE in KEPT_WHOLE


def _frames(path: Path) -> Iterator[tuple[int, bytes]]:
    """(stream index, payload) in the order written; a torn last frame (a killed run) is ignored. The
    file is mapped, not read: several passes over a large journal do not each hold a copy of it."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            i = 0
            while i + _FRAME.size <= len(data):
                k, n = _FRAME.unpack_from(data, i)
                i += _FRAME.size
                if i + n > len(data):
                    return
                yield k, data[i:i + n]
                i += n


def md_segments(path: Path) -> tuple[Path, Path]:
    """A capped journal's market-data segments: the one being written and the one before it."""
    return path.with_name(path.name + ".md"), path.with_name(path.name + ".md.old")


def journal_files(path: Path) -> list[Path]:
    """The journal and whichever of its market-data segments exist."""
    return [f for f in (path, *md_segments(path)) if f.exists()]


def read_journal(path: Path, streams: tuple[str, ...] = SESSION_STREAMS) -> Iterator[tuple[str, bytes]]:
    """(stream, payload) in the order recorded (a capped journal: the journal, then its older and its
    newer market-data segment), without the run's META and DROPPED frames; a torn last frame (a killed
    run) is ignored."""
    md, old = md_segments(path)
    for f in (path, old, md):
        if not f.exists():
            continue
        for k, payload in _frames(f):
            if k in (META, DROPPED):
                continue
            if k >= len(streams):
                break
            yield streams[k], payload


def journal_dropped(path: Path) -> dict[str, int]:
    """What a capped journal dropped: ``frames``, ``bytes`` and ``until_ns`` (wall time the newest
    dropped segment ended); zeros when nothing was."""
    dropped = {"frames": 0, "bytes": 0, "until_ns": 0}
    if path.exists():
        for k, payload in _frames(path):
            if k == DROPPED:
                try:
                    dropped = {key: int(v) for key, v in json.loads(payload).items()}
                except (ValueError, TypeError, AttributeError):
                    continue
    return dropped


def journal_meta(path: Path) -> dict[str, Any]:
    """What the run wrote about itself (its META frame; the last one if a reused workdir holds several),
    or ``{}`` for a journal from before runs did."""
    meta: dict[str, Any] = {}
    for k, payload in _frames(path):
        if k == META:
            try:
                meta = json.loads(payload)
            except ValueError:
                continue
    return meta


def without_own_orders(md: Iterable[Message], reports: list[Message]) -> Iterator[Message]:
    """The recorded books minus our own resting orders (as the live quoter sees them, and so the
    replay's queues hold only other traders), applying reports in ``ts_init`` order."""
    own = OwnOrders()
    events = sorted((m for m in reports if isinstance(m, OrderAck | OrderCancel | OrderReject | Fill)),
                    key=lambda m: m.ts_init)
    i = 0
    for m in md:
        while i < len(events) and events[i].ts_init <= m.ts_init:
            own.on_report(events[i])
            i += 1
        if isinstance(m, BookUpdate):
            bids, asks = own.strip(m)
            m = replace(m, bids=bids, asks=asks)
        yield m


def session_log(path: Path, **meta: Any) -> tuple[EventLog, list[Message]]:
    """The journal as (event log of the market data without our orders, every exec:report message).

    Each stream's entries are in the order it was written, so the market data is merged by
    ``ts_init`` one stream at a time, decoding as it goes: memory grows with the event log (35 bytes an
    event), not with the journal's messages."""
    skipped = 0

    def decoded(name: str) -> Iterator[Message]:
        nonlocal skipped
        for stream, payload in read_journal(path):
            if stream == name:
                try:
                    yield decode(payload)
                except DecodeError:
                    skipped += 1

    reports = list(decoded(EXEC_REPORT))
    md = heapq.merge(*(decoded(s) for s in MD_STREAMS), key=lambda m: m.ts_init)
    b = EventLogBuilder("kmm run")
    messages = 0
    for m in without_own_orders(md, reports):
        add_md(b, m)
        messages += 1
    if skipped:
        b.skip("undecodable journal entry", skipped)
    return b.build(messages=messages, reports=len(reports), **meta), reports
