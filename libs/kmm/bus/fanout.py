"""Fan-out reader for market-data streams: plain XREAD (no group, no ack), latest state per key.

Every reader sees every entry. ``FanoutReader`` hands decoded messages to a handler in batches;
with ``coalesce`` it keeps only the last message per key (e.g. per market) within each batch, so a
slow consumer quotes the latest book instead of working through stale deltas.

Nothing good is lost to one bad message: undecodable entries go to the reader's dead-letter stream
at decode, and when the batch handler raises, the batch is handled again one message at a time
and each message whose handling raises is dead-lettered (stream, entry id and the exception as
reason) while the rest are kept. Messages before the bad one are therefore handled twice; fan-out
handlers keep latest state, so that is harmless.

A Redis outage is ridden out with a capped backoff. After a reconnection (and every
``check_interval_s``) each stream's last read id is compared with the stream's last entry: if the
reader is beyond it, Redis came back without the data, and the reader resets to read the new
entries.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable

import redis.asyncio as aioredis

from kmm.chassis.metrics import HANDLER_SECONDS, MESSAGE_AGE_SECONDS, MESSAGES_CONSUMED
from kmm.messages import DecodeError, Message, decode

from .consumer import dead_letter
from .ownconn import OwnConnection, xread_args
from .publisher import FIELD
from .retry import Backoff, is_connection_error

log = logging.getLogger(__name__)

BatchHandler = Callable[[str, list[Message]], Awaitable[None]]
KeyFn = Callable[[Message], Hashable]
_Item = tuple[Message, str, bytes]  # message, entry id, payload


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``, as redis-py returns it or as text) as a comparable pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class FanoutReader:
    def __init__(
        self,
        redis: aioredis.Redis,
        service: str,
        streams: tuple[str, ...],
        handler: BatchHandler,
        start: str = "$",
        coalesce: dict[str, KeyFn] | None = None,
        batch: int = 1000,
        block_ms: int = 1000,
        check_interval_s: float = 5.0,
    ) -> None:
        self.redis = redis
        self.service = service
        self.handler = handler
        self.coalesce = coalesce or {}
        self.batch = batch
        self.block_ms = block_ms
        self.check_interval_s = check_interval_s
        self.last_ids: dict[str, str] = {s: start for s in streams}
        self._stopping = asyncio.Event()
        self._read_task: asyncio.Task | None = None
        self._conn = OwnConnection(redis)  # the reads go on a connection of the reader's own
        self.handled = 0
        self.dead_lettered = 0
        self.resets = 0
        self.last_read = time.monotonic()
        self.backoff = Backoff(f"fan-out {service} on {','.join(streams)}", log)

    def stop(self) -> None:
        self._stopping.set()
        if self._read_task is not None and not self._read_task.done():
            self._read_task.cancel()

    async def _resolve_dollar(self) -> None:
        """Turn a ``$`` start into a concrete id, so entries published meanwhile are not skipped."""
        for s, last in list(self.last_ids.items()):
            if last == "$":
                info = await self.redis.xrevrange(s, count=1)
                self.last_ids[s] = info[0][0].decode() if info else "0-0"

    async def check_last_ids(self) -> list[str]:
        """Reset every stream whose last read id is beyond its last entry; return those streams."""
        reset = []
        for s, last in list(self.last_ids.items()):
            if last == "$":
                continue
            rows = await self.redis.xrevrange(s, count=1)
            top = rows[0][0].decode() if rows else "0-0"
            if parse_id(last) > parse_id(top):
                log.warning("%s: last read id %s is beyond the stream's last entry %s (Redis lost data); "
                            "reading the new entries", s, last, top)
                self.last_ids[s] = top
                self.resets += 1
                reset.append(s)
        return reset

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._conn.close()

    async def _run(self) -> None:
        check_at = 0.0  # check at once: a restarted Redis may have lost what a given start id names
        while not self._stopping.is_set():
            try:
                await self._resolve_dollar()
                if time.monotonic() >= check_at:
                    await self.check_last_ids()
                    check_at = time.monotonic() + self.check_interval_s
                reply = await self._read()
                self.backoff.succeeded()
                if reply is None:
                    break
                self.last_read = time.monotonic()
                for stream_raw, entries in reply:
                    stream = stream_raw.decode() if isinstance(stream_raw, bytes) else stream_raw
                    await self._handle(stream, entries)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                await self.backoff.wait(exc, self._stopping)
                check_at = 0.0

    async def _read(self) -> list | None:
        self._read_task = asyncio.create_task(self._conn.read([xread_args(self.last_ids, self.batch, self.block_ms)]))
        try:
            return await self._read_task
        except asyncio.CancelledError:
            if self._stopping.is_set():
                return None
            raise
        finally:
            self._read_task = None

    async def _handle(self, stream: str, entries: list) -> None:
        items: list[_Item] = []
        for entry_id, fields in entries:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            payload = fields.get(FIELD) if fields else None
            try:
                if payload is None:
                    raise DecodeError(f"entry has no {FIELD.decode()!r} field")
                items.append((decode(payload), eid, payload))
            except DecodeError as exc:
                await dead_letter(self.redis, self.service, stream, eid, 1, str(exc), payload or b"")
                self.dead_lettered += 1
        if items and items[-1][0].ts_init:
            age = max(time.time_ns() - items[-1][0].ts_init, 0) / 1e9
            MESSAGE_AGE_SECONDS.labels(self.service, stream).observe(age)
        key_fn = self.coalesce.get(stream)
        if key_fn is not None and len(items) > 1:
            latest: dict[Hashable, _Item] = {}
            for item in items:
                key = key_fn(item[0])
                latest.pop(key, None)
                latest[key] = item
            items = list(latest.values())
        if items:
            await self._dispatch(stream, items)
        if entries:  # only now: an outage before this point re-reads the batch
            last = entries[-1][0]
            self.last_ids[stream] = last.decode() if isinstance(last, bytes) else last

    async def _dispatch(self, stream: str, items: list[_Item]) -> None:
        t0 = time.perf_counter()
        try:
            await self.handler(stream, [m for m, _, _ in items])
        except Exception as exc:
            if is_connection_error(exc):
                raise  # Redis is down, not the batch: back off and read it again
            log.warning("fan-out handler failed on %d messages from %s (%r); handling them one at a time",
                        len(items), stream, exc)
            await self._one_by_one(stream, items)
            return
        HANDLER_SECONDS.labels(self.service, stream).observe(time.perf_counter() - t0)
        MESSAGES_CONSUMED.labels(self.service, stream).inc(len(items))
        self.handled += len(items)

    async def _one_by_one(self, stream: str, items: list[_Item]) -> None:
        handled = 0
        for msg, eid, payload in items:
            try:
                await self.handler(stream, [msg])
            except Exception as exc:
                if is_connection_error(exc):
                    raise
                await dead_letter(self.redis, self.service, stream, eid, 1, f"handler raised {exc!r}", payload)
                self.dead_lettered += 1
                continue
            handled += 1
        MESSAGES_CONSUMED.labels(self.service, stream).inc(handled)
        self.handled += handled
