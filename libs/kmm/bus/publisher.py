"""Pipelined async publisher: every message queued while a pipeline is in flight goes in the next one.

``await publish(stream, msg)`` returns once Redis has the entry (its id); ``publish_nowait`` queues
and returns at once. XADD uses the stream's ``MAXLEN ~`` from the topology table.
"""

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from kmm.chassis.metrics import MESSAGES_PUBLISHED
from kmm.messages import Message, encode

from .topology import BY_NAME

log = logging.getLogger(__name__)
FIELD = b"m"


@dataclass(slots=True)
class _Pending:
    stream: str
    payload: bytes
    future: asyncio.Future[bytes] | None


class Publisher:
    def __init__(self, redis: aioredis.Redis, service: str, max_batch: int = 1000) -> None:
        self._redis = redis
        self._service = service
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._counters: dict[str, object] = {}

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"publisher:{self._service}")

    async def publish(self, stream: str, msg: Message) -> bytes:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(stream, encode(msg), fut))
        return await fut

    def publish_nowait(self, stream: str, msg: Message) -> None:
        self._enqueue(_Pending(stream, encode(msg), None))

    async def publish_raw(self, stream: str, payload: bytes) -> bytes:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(stream, payload, fut))
        return await fut

    def _enqueue(self, item: _Pending) -> None:
        if self._closed:
            raise RuntimeError("publisher is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"publisher:{self._service}")
        self._queue.append(item)
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything queued so far is in Redis (a barrier entry rides the queue)."""
        if self._queue:
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._enqueue(_Pending("", b"", fut))
            await fut

    async def close(self) -> None:
        if self._task is not None:
            await self.flush()
            self._closed = True
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _counter(self, stream: str):  # noqa: ANN202 - prometheus child type is private
        c = self._counters.get(stream)
        if c is None:
            c = self._counters[stream] = MESSAGES_PUBLISHED.labels(self._service, stream)
        return c

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._send(batch)

    async def _send(self, batch: list[_Pending]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        real = [p for p in batch if p.stream]
        for p in real:
            spec = BY_NAME.get(p.stream)
            maxlen = spec.trim.maxlen if spec is not None and spec.trim.maxlen else None
            pipe.xadd(p.stream, {FIELD: p.payload}, maxlen=maxlen, approximate=True)
        try:
            ids = await pipe.execute(raise_on_error=False) if real else []
        except Exception as exc:  # connection-level failure: every waiter gets it
            log.warning("publish pipeline failed: %s", exc)
            for p in batch:
                if p.future is not None and not p.future.done():
                    p.future.set_exception(exc)
            return
        results = iter(ids)
        for p in batch:
            res = next(results) if p.stream else b""
            if isinstance(res, Exception):
                if p.future is not None and not p.future.done():
                    p.future.set_exception(res)
                else:
                    log.error("publish to %s failed: %s", p.stream, res)
                continue
            if p.stream:
                self._counter(p.stream).inc()
            if p.future is not None and not p.future.done():
                p.future.set_result(res)
