"""Fan-out reader for market-data streams: plain XREAD (no group, no ack), latest state per key.

Every reader sees every entry. ``FanoutReader`` hands decoded messages to a handler in batches;
with ``coalesce`` it keeps only the last message per key (e.g. per market) within each batch, so a
slow consumer quotes the latest book instead of working through stale deltas. Undecodable entries
go to the reader's dead-letter stream.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable

import redis.asyncio as aioredis

from kmm.chassis.metrics import HANDLER_SECONDS, MESSAGE_AGE_SECONDS, MESSAGES_CONSUMED
from kmm.messages import DecodeError, Message, decode

from .consumer import dead_letter
from .publisher import FIELD

log = logging.getLogger(__name__)

BatchHandler = Callable[[str, list[Message]], Awaitable[None]]
KeyFn = Callable[[Message], Hashable]


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
    ) -> None:
        self.redis = redis
        self.service = service
        self.handler = handler
        self.coalesce = coalesce or {}
        self.batch = batch
        self.block_ms = block_ms
        self.last_ids: dict[str, str] = {s: start for s in streams}
        self._stopping = asyncio.Event()
        self._read_task: asyncio.Task | None = None
        self.handled = 0
        self.last_read = time.monotonic()

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

    async def run(self) -> None:
        await self._resolve_dollar()
        while not self._stopping.is_set():
            self._read_task = asyncio.create_task(
                self.redis.xread(dict(self.last_ids), count=self.batch, block=self.block_ms)
            )
            try:
                reply = await self._read_task
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    break
                raise
            finally:
                self._read_task = None
            self.last_read = time.monotonic()
            for stream_raw, entries in reply or []:
                stream = stream_raw.decode() if isinstance(stream_raw, bytes) else stream_raw
                await self._handle(stream, entries)

    async def _handle(self, stream: str, entries: list) -> None:
        msgs: list[Message] = []
        for entry_id, fields in entries:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            self.last_ids[stream] = eid
            payload = fields.get(FIELD) if fields else None
            try:
                if payload is None:
                    raise DecodeError(f"entry has no {FIELD.decode()!r} field")
                msgs.append(decode(payload))
            except DecodeError as exc:
                await dead_letter(self.redis, self.service, stream, eid, 1, str(exc), payload or b"")
        if msgs and msgs[-1].ts_init:
            MESSAGE_AGE_SECONDS.labels(self.service, stream).observe(max(time.time_ns() - msgs[-1].ts_init, 0) / 1e9)
        key_fn = self.coalesce.get(stream)
        if key_fn is not None and len(msgs) > 1:
            latest: dict[Hashable, Message] = {}
            for m in msgs:
                latest.pop(key_fn(m), None)
                latest[key_fn(m)] = m
            msgs = list(latest.values())
        if not msgs:
            return
        t0 = time.perf_counter()
        try:
            await self.handler(stream, msgs)
        except Exception:
            log.exception("fan-out handler failed on %s (%d messages)", stream, len(msgs))
            return
        HANDLER_SECONDS.labels(self.service, stream).observe(time.perf_counter() - t0)
        MESSAGES_CONSUMED.labels(self.service, stream).inc(len(msgs))
        self.handled += len(msgs)
