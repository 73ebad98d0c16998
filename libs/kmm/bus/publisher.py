"""Pipelined async publisher: every message queued while a pipeline is in flight goes in the next one.

``await publish(stream, msg)`` returns once Redis has the entry (its id); ``publish_nowait`` queues
and returns at once. XADD uses the stream's ``MAXLEN ~`` from the topology table.

A message published to a stream that has copies (``topology.copies``) is written to the stream and
every copy in one MULTI/EXEC inside the same pipeline, so a group reading a copy sees exactly what
the stream's own group sees. The id returned is the entry's id in the stream itself.

Redis outages never lose a queued message: on a connection error the batch stays at the head of the
queue and is resent after a capped backoff (the waiters keep waiting). A pipeline that failed half
way may then write some entries twice; consumers dedupe on ``msg_id``, so a resend is safe.
"""

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from kmm.chassis.metrics import MESSAGES_PUBLISHED
from kmm.messages import Message, encode

from .ownconn import Command, OwnConnection
from .retry import Backoff, is_connection_error
from .topology import BY_NAME, copies

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
        self._queue: list[_Pending] = []  # the batch in flight stays at the head until Redis has it
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._counters: dict[str, object] = {}
        self._targets: dict[str, tuple[tuple[str, int | None], ...]] = {}
        self.backoff = Backoff(f"publisher {service}", log)
        self._conn = OwnConnection(redis)  # the batches go on a connection of the publisher's own

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

    @property
    def queued(self) -> int:
        """Messages not yet in Redis (the batch in flight included)."""
        return sum(1 for p in self._queue if p.stream)

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

    async def close(self, timeout: float | None = None) -> None:
        """Flush (waiting at most ``timeout`` seconds), then stop; what could not be sent is logged."""
        if self._task is None:
            self._closed = True
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.error("publisher %s closed with %d messages not sent (Redis unreachable)", self._service,
                      self.queued)
        finally:
            self._closed = True
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
            await self._conn.close()

    def _counter(self, stream: str):  # noqa: ANN202 - prometheus child type is private
        c = self._counters.get(stream)
        if c is None:
            c = self._counters[stream] = MESSAGES_PUBLISHED.labels(self._service, stream)
        return c

    def _targets_of(self, stream: str) -> tuple[tuple[str, int | None], ...]:
        """(stream, maxlen) for the stream and each of its copies."""
        t = self._targets.get(stream)
        if t is None:
            out = []
            for name in (stream, *copies(stream)):
                spec = BY_NAME.get(name)
                out.append((name, spec.trim.maxlen if spec is not None and spec.trim.maxlen else None))
            t = self._targets[stream] = tuple(out)
        return t

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                try:
                    await self._send(batch)
                except Exception as exc:
                    if is_connection_error(exc):
                        await self.backoff.wait(exc)  # the batch stays queued and goes again
                        continue
                    log.error("publish pipeline failed: %r", exc)
                    for p in batch:
                        if p.future is not None and not p.future.done():
                            p.future.set_exception(exc)
                else:
                    self.backoff.succeeded()
                del self._queue[: len(batch)]

    async def _send(self, batch: list[_Pending]) -> None:
        commands: list[Command] = []
        real = [p for p in batch if p.stream]
        for p in real:
            targets = self._targets_of(p.stream)
            if len(targets) == 1:
                commands.append(_xadd(p.stream, targets[0][1], p.payload))
                continue
            commands.append((b"MULTI",))
            for name, maxlen in targets:
                commands.append(_xadd(name, maxlen, p.payload))
            commands.append((b"EXEC",))
        replies = await self._conn.run(commands) if commands else []
        results = iter(replies)
        for p in batch:
            res: bytes | BaseException = b""
            if p.stream:
                targets = self._targets_of(p.stream)
                if len(targets) == 1:
                    res = next(results)
                else:
                    queued = [next(results) for _ in range(len(targets) + 1)]  # MULTI's OK, each QUEUED
                    res = _transaction_result(next(results), queued)
            if isinstance(res, BaseException):
                if p.future is not None and not p.future.done():
                    p.future.set_exception(res)
                else:
                    log.error("publish to %s failed: %s", p.stream, res)
                continue
            if p.stream:
                for name, _ in self._targets_of(p.stream):
                    self._counter(name).inc()
            if p.future is not None and not p.future.done():
                p.future.set_result(res)


def _xadd(stream: str, maxlen: int | None, payload: bytes) -> Command:
    if maxlen:
        return (b"XADD", stream, b"MAXLEN", b"~", maxlen, b"*", FIELD, payload)
    return (b"XADD", stream, b"*", FIELD, payload)


def _transaction_result(reply: object, queued: list[object]) -> bytes | BaseException:
    """The stream's entry id from an EXEC reply, or the error that stopped the transaction."""
    if isinstance(reply, BaseException):  # EXECABORT: the reason is the command refused when queued
        return next((q for q in queued if isinstance(q, BaseException)), reply)
    if not isinstance(reply, list | tuple) or not reply:
        return RuntimeError(f"unexpected EXEC reply {reply!r}")
    failed = next((r for r in reply if isinstance(r, BaseException)), None)
    return failed if failed is not None else reply[0]
