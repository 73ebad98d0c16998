"""Record our own ``md:book``, ``md:trade`` and ``md:market`` streams from Redis into an event log.

Plain XREAD (no consumer group: recording never disturbs the services' delivery), starting at
``$`` (new entries) or ``0`` (everything still in the streams), until a duration, a message count
or a stop flag is reached. Payloads are msgpack ``kmm.messages`` decoded by the md importer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from kmm.bus.publisher import FIELD
from kmm.bus.topology import MD_BOOK, MD_MARKET, MD_TRADE

from .eventlog import EventLog, EventLogBuilder
from .importers import add_md_message

MD_STREAMS = (MD_MARKET, MD_BOOK, MD_TRADE)


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
