"""The service base class: Redis connection, publisher, consumers, background tasks, readiness.

A service subclasses :class:`Service`, sets ``name`` and ``settings_cls``, and in ``on_start``
registers what it consumes (``consume_group``, ``consume_fanout``) and its long-lived loops
(``spawn``). The chassis runs them, stops them gracefully (the batch in hand is finished and
acked), and exits the process non-zero if a long-lived loop ends, so a supervisor restarts it.
Once ``on_start`` is done, everything allocated so far (imports, the compiled quoting core,
reference data) is frozen out of the garbage collector's sight (``gc.freeze``): full collections
then scan only what the service builds while it runs (they were 7–12% of marketdata's and the
quoter's CPU).
A service whose event loop stops running for ``KMM_LOOP_STALL_EXIT_S`` (default 20 s, after start-up)
exits with every thread's stack on stderr, so Compose or systemd restart it too (:mod:`.stall`).
One-off work (``spawn_task``) is never fatal: a failure is logged and counted in
``kmm_task_failures_total``. With ``KMM_PARENT_PID`` set (the local runner does), the service
stops gracefully and exits 0 when that process is no longer its parent.
"""

import asyncio
import gc
import logging
import os
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
from kmm.bus.retry import is_connection_error
from kmm.bus.topology import dlq_stream, group_inputs, group_stream
from kmm.messages import Message

from . import metrics
from .settings import ServiceSettings
from .stall import LoopStallWatchdog

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
        self._oneoffs: set[asyncio.Task] = set()  # spawn_task: supervised, never fatal
        self._stopping = False
        self.started_at = time.monotonic()
        self.exit_code = 0
        # Asks the process to exit with the given code (the CLI stops uvicorn gracefully).
        self.on_fatal: Callable[[int], None] = lambda code: None
        self.stall_watchdog: LoopStallWatchdog | None = None

    # --- wiring used by subclasses ------------------------------------------------------------
    def consume_group(self, streams: tuple[str, ...], handler: Handler) -> GroupConsumer:
        """Read the logical ``streams`` through this service's group (copies resolved: ``Delivery.stream``
        is the physical stream, e.g. ``exec:report:quoter``)."""
        assert self.redis is not None
        cfg = ConsumerConfig(max_deliveries=self.settings.max_deliveries, claim_idle_ms=self.settings.claim_idle_ms)
        physical = tuple(group_stream(s, self.name) for s in streams)
        c = GroupConsumer(self.redis, self.name, physical, handler, consumer=self.settings.consumer_name, config=cfg)
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
        """Run a long-lived loop: if it ever ends (returns or raises), the process exits 1."""
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def spawn_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run one-off work. An exception is logged and counted in ``kmm_task_failures_total{task}``
        (``task`` = ``name`` up to the first ``:``); it never stops the service. Cancelled at stop."""
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._oneoffs.add(task)
        task.add_done_callback(self._oneoff_done)
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
        gc.freeze()  # no gc.collect() first: it held the loop ~0.1-0.2 s just as a restarted gateway's dead-man check was due
        for c in self._group_consumers:
            self._reader_tasks.add(self.spawn(c.run(), f"group:{','.join(c.streams)}"))
        for f in self._fanouts:
            self._reader_tasks.add(self.spawn(f.run(), f"fanout:{','.join(f.last_ids)}"))
        self.spawn(self._housekeeping(), "housekeeping")
        if s.parent_pid is not None:
            self.spawn(self._watch_parent(s.parent_pid), "parent")
        if s.loop_stall_exit_s > 0:  # only now: the quoter compiles its core on the loop at start-up
            self.stall_watchdog = LoopStallWatchdog(self.name, s.loop_stall_exit_s)
            self.stall_watchdog.start(asyncio.get_running_loop())
        log.info("%s started", self.name)

    async def stop(self) -> None:
        self._stopping = True
        if self.stall_watchdog is not None:
            self.stall_watchdog.stop()
        for c in self._group_consumers:
            c.stop()
        for f in self._fanouts:
            f.stop()
        for t in self._tasks:
            if t not in self._reader_tasks:
                t.cancel()
        oneoffs = list(self._oneoffs)
        for t in oneoffs:
            t.cancel()
        await asyncio.gather(*self._tasks, *oneoffs, return_exceptions=True)
        try:
            await self.on_stop()
        finally:
            if self.publisher is not None:
                try:
                    await self.publisher.close(timeout=5)
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

    def _oneoff_done(self, task: asyncio.Task) -> None:
        self._oneoffs.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        name = task.get_name().removeprefix(f"{self.name}:")
        metrics.TASK_FAILURES.labels(self.name, name.split(":", 1)[0]).inc()
        log.error("one-off task %s failed: %r", name, exc, exc_info=exc)

    async def _watch_parent(self, parent_pid: int) -> None:
        """Stop gracefully (exit 0) once ``parent_pid`` is no longer our parent (it died: we were reparented)."""
        asked = False
        while True:
            if not asked and os.getppid() != parent_pid:
                log.warning("parent process %d is gone; stopping", parent_pid)
                asked = True
                self.on_fatal(0)
            await asyncio.sleep(0.5)

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
                if is_connection_error(exc):
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
            return {"redis": (False, f"down: {type(exc).__name__}")}
        inputs = group_inputs(self.name)
        if inputs:
            try:
                missing = await missing_groups(self.redis, inputs, self.name)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                return {"redis": (False, f"down: {type(exc).__name__}")}
            checks["groups"] = (not missing, "ok" if not missing else f"missing on {', '.join(missing)}")
        checks.update(await self.ready_checks())
        return checks
