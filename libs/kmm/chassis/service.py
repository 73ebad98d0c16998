"""The service base class: Redis connection, publisher, consumers, background tasks, readiness.

A service subclasses :class:`Service`, sets ``name`` and ``settings_cls``, and in ``on_start``
registers what it consumes (``consume_group``, ``consume_fanout``) and its background loops
(``spawn``). The chassis runs them, stops them gracefully (the batch in hand is finished and
acked), and exits the process non-zero if one of them dies, so a supervisor restarts it.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, ClassVar

import redis.asyncio as aioredis
from fastapi import FastAPI

from kmm.bus.bootstrap import missing_groups
from kmm.bus.connection import connect
from kmm.bus.consumer import ConsumerConfig, GroupConsumer, Handler
from kmm.bus.fanout import BatchHandler, FanoutReader
from kmm.bus.publisher import Publisher
from kmm.bus.topology import dlq_stream, group_inputs
from kmm.messages import Message

from . import metrics
from .settings import ServiceSettings

log = logging.getLogger(__name__)
Check = tuple[bool, str]


class Service:
    name: ClassVar[str] = "service"
    settings_cls: ClassVar[type[ServiceSettings]] = ServiceSettings

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.redis: aioredis.Redis | None = None
        self.publisher: Publisher | None = None
        self._group_consumers: list[GroupConsumer] = []
        self._fanouts: list[FanoutReader] = []
        self._tasks: list[asyncio.Task] = []
        self._reader_tasks: set[asyncio.Task] = set()  # stopped gracefully, not cancelled
        self._oneoffs: set[asyncio.Task] = set()
        self._stopping = False
        self.started_at = time.monotonic()
        self.exit_code = 0
        self.on_fatal: Callable[[int], None] = lambda code: None

    # --- wiring used by subclasses ------------------------------------------------------------
    def consume_group(self, streams: tuple[str, ...], handler: Handler) -> GroupConsumer:
        assert self.redis is not None
        cfg = ConsumerConfig(max_deliveries=self.settings.max_deliveries, claim_idle_ms=self.settings.claim_idle_ms)
        c = GroupConsumer(self.redis, self.name, streams, handler, consumer=self.settings.consumer_name, config=cfg)
        self._group_consumers.append(c)
        return c

    def consume_fanout(
        self,
        streams: tuple[str, ...],
        handler: BatchHandler,
        start: str = "$",
        coalesce: dict[str, Callable[[Message], Hashable]] | None = None,
    ) -> FanoutReader:
        assert self.redis is not None
        r = FanoutReader(self.redis, self.name, streams, handler, start=start, coalesce=coalesce)
        self._fanouts.append(r)
        return r

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        """A long-lived loop: its end is fatal (the process exits and the supervisor restarts it)."""
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def spawn_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """One-off work (resolve an order, a poll): a failure is logged and counted, never fatal."""
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._oneoffs.add(task)

        def done(t: asyncio.Task) -> None:
            self._oneoffs.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                metrics.TASK_FAILURES.labels(self.name, name.split(":", 1)[0]).inc()
                log.error("one-off task %s failed: %r", name, exc, exc_info=exc)

        task.add_done_callback(done)
        return task

    async def publish(self, stream: str, msg: Message) -> bytes:
        assert self.publisher is not None
        return await self.publisher.publish(stream, msg)

    def publish_nowait(self, stream: str, msg: Message) -> None:
        assert self.publisher is not None
        self.publisher.publish_nowait(stream, msg)

    # --- hooks ----------------------------------------------------------------------------------
    async def on_start(self) -> None:
        """Register consumers and loops; load state."""

    async def on_stop(self) -> None:
        """Release service resources (after consumers have stopped)."""

    async def ready_checks(self) -> dict[str, Check]:
        """Service-specific readiness conditions."""
        return {}

    def routes(self, app: FastAPI) -> None:
        """Add service-specific HTTP endpoints."""

    def status(self) -> dict[str, Any]:
        """A small JSON summary for the local runner's status table."""
        return {}

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.redis = connect(s.redis_url, s.redis_username or self.name, s.password())
        self.publisher = Publisher(self.redis, self.name)
        await self.publisher.start()
        metrics.init_labels(self.name)
        await self.on_start()
        for c in self._group_consumers:
            self._reader_tasks.add(self.spawn(c.run(), f"group:{','.join(c.streams)}"))
        for f in self._fanouts:
            self._reader_tasks.add(self.spawn(f.run(), f"fanout:{','.join(f.last_ids)}"))
        self.spawn(self._housekeeping(), "housekeeping")
        log.info("%s started", self.name)

    async def stop(self) -> None:
        self._stopping = True
        for c in self._group_consumers:
            c.stop()
        for f in self._fanouts:
            f.stop()
        for t in self._tasks:
            if t not in self._reader_tasks:
                t.cancel()
        for t in self._oneoffs:
            t.cancel()
        await asyncio.gather(*self._tasks, *self._oneoffs, return_exceptions=True)
        try:
            await self.on_stop()
        finally:
            if self.publisher is not None:
                try:
                    await asyncio.wait_for(self.publisher.close(), 5)
                except Exception as exc:
                    log.warning("publisher close: %s", exc)
            if self.redis is not None:
                await self.redis.aclose()
        log.info("%s stopped", self.name)

    def _task_done(self, task: asyncio.Task) -> None:
        if self._stopping or task.cancelled():
            return
        exc = task.exception()
        log.critical("task %s died: %r; exiting so the supervisor restarts us", task.get_name(), exc,
                     exc_info=exc)
        self.exit_code = 1
        self.on_fatal(1)

    async def _housekeeping(self) -> None:
        """Export consumer lag/pending and DLQ length."""
        assert self.redis is not None
        while True:
            try:
                for stream in group_inputs(self.name):
                    for g in await self.redis.xinfo_groups(stream):
                        gname = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
                        if gname == self.name:
                            metrics.CONSUMER_PENDING.labels(stream, gname).set(g.get("pending", 0) or 0)
                            metrics.CONSUMER_LAG.labels(stream, gname).set(g.get("lag", 0) or 0)
                metrics.DLQ_LENGTH.labels(self.name).set(await self.redis.xlen(dlq_stream(self.name)))
                metrics.REDIS_UP.set(1)
            except Exception as exc:
                metrics.REDIS_UP.set(0)
                log.warning("housekeeping: %s", exc)
            await asyncio.sleep(2.0)

    async def readiness(self) -> dict[str, Check]:
        checks: dict[str, Check] = {}
        if self.redis is None:
            return {"redis": (False, "not connected")}
        try:
            await asyncio.wait_for(self.redis.ping(), 1.0)
            checks["redis"] = (True, "ok")
        except Exception as exc:
            return {"redis": (False, type(exc).__name__)}
        inputs = group_inputs(self.name)
        if inputs:
            missing = await missing_groups(self.redis, inputs, self.name)
            checks["groups"] = (not missing, "ok" if not missing else f"missing on {', '.join(missing)}")
        checks.update(await self.ready_checks())
        return checks
