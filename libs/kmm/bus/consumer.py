"""Consumer-group runner: at-least-once delivery with replay, reclaim, dead-lettering and dedupe.

Life of a runner:
1. ensure its group exists on every stream (``XGROUP CREATE <stream> <group> 0 MKSTREAM``,
   BUSYGROUP ignored), then replay this consumer's own pending entries (``XREADGROUP ... 0``) —
   what it held when it died;
2. read new entries (``>``) in batches, hand each decoded message to the handler, yield once (so
   work the batch woke — a task that launches requests — runs before the next read is sent), ack the
   batch (pipelined with the next read, so a batch costs one round trip);
3. every ``claim_interval`` move entries delivered ``max_deliveries`` times to ``dlq:<service>``
   (with stream, id, delivery count and reason) and ``XAUTOCLAIM`` the rest of the idle ones,
   carrying the returned cursor;
4. on stop, finish the batch in hand, ack it, and return.

Undecodable payloads go to the DLQ at once. A message whose ``msg_id`` was already handled (a
producer retry) is acked without calling the handler. A handler that raises leaves the entry
pending: it is redelivered after ``claim_idle_ms`` until it reaches ``max_deliveries``.

Faults the runner rides out without exiting: a connection error (Redis down or restarting, in the
runner's own calls or raised by the handler) waits a capped backoff and starts again at step 1,
acks not yet sent kept; NOGROUP (Redis came back
empty, or the group was destroyed) recreates the group at ``0`` and carries on — entries already
handled by this process are deduped on ``msg_id``.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from kmm.chassis.metrics import (
    HANDLER_SECONDS,
    MESSAGE_AGE_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
)
from kmm.messages import DeadLetter, DecodeError, Message, decode, encode

from .bootstrap import ensure_group
from .ids import new_id
from .ownconn import Command, OwnConnection, xreadgroup_args
from .publisher import FIELD
from .retry import Backoff, is_connection_error
from .topology import dlq_stream

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    stream: str
    entry_id: str
    delivery_count: int  # 1 on first delivery; 0 when unknown (replayed own pending)


Handler = Callable[[Message, Delivery], Awaitable[None]]


class Dedupe:
    """Bounded memory of handled msg_ids (LRU)."""

    def __init__(self, size: int = 200_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def seen(self, msg_id: str) -> bool:
        if not msg_id:
            return False
        if msg_id in self._seen:
            self._seen.move_to_end(msg_id)
            return True
        return False

    def add(self, msg_id: str) -> None:
        if not msg_id:
            return
        self._seen[msg_id] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)


@dataclass
class ConsumerConfig:
    batch: int = 500
    block_ms: int = 1000
    max_deliveries: int = 5
    claim_idle_ms: int = 10_000
    claim_interval_s: float = 1.0
    dedupe_size: int = 200_000


@dataclass
class _Stats:
    handled: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    failed: int = 0
    last_read: float = field(default_factory=time.monotonic)


async def dead_letter(
    redis: aioredis.Redis, service: str, stream: str, entry_id: str, count: int, reason: str, payload: bytes
) -> None:
    letter = DeadLetter(
        msg_id=new_id(), ts_init=time.time_ns(), service=service, stream=stream, entry_id=entry_id,
        delivery_count=count, reason=reason[:1000], payload=payload,
    )
    await redis.xadd(dlq_stream(service), {FIELD: encode(letter)}, maxlen=100_000, approximate=True)
    MESSAGES_DEAD_LETTERED.labels(service, stream).inc()
    log.warning("dead-lettered %s %s after %d deliveries: %s", stream, entry_id, count, reason[:200])


class GroupConsumer:
    """Reads ``streams`` as consumer ``consumer`` of group ``group`` (the service name)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        service: str,
        streams: tuple[str, ...],
        handler: Handler,
        consumer: str | None = None,
        config: ConsumerConfig | None = None,
        group: str | None = None,
    ) -> None:
        self.redis = redis
        self.service = service
        self.group = group or service
        self.consumer = consumer or service
        self.streams = streams
        self.handler = handler
        self.config = config or ConsumerConfig()
        self.dedupe = Dedupe(self.config.dedupe_size)
        self.stats = _Stats()
        self._stopping = asyncio.Event()
        self._claim_cursor: dict[str, str] = {s: "0-0" for s in streams}
        self._read_task: asyncio.Task | None = None
        self._conn = OwnConnection(redis)  # acks and reads go on a connection of the runner's own
        self._acks: dict[str, list[bytes]] = {}  # handled, to be acked with the next read
        self.backoff = Backoff(f"consumer {self.group} on {','.join(streams)}", log)
        self._metrics = {
            s: (MESSAGES_CONSUMED.labels(service, s), HANDLER_SECONDS.labels(service, s),
                MESSAGE_AGE_SECONDS.labels(service, s))
            for s in streams
        }

    def stop(self) -> None:
        """Ask the runner to stop after the batch in hand (cancels a blocked read)."""
        self._stopping.set()
        if self._read_task is not None and not self._read_task.done():
            self._read_task.cancel()

    async def ensure_groups(self) -> list[str]:
        """Create the group on every stream where it is missing; return those streams."""
        created = [s for s in self.streams if await ensure_group(self.redis, s, self.group)]
        if created:
            log.info("created group %s on %s", self.group, ", ".join(created))
        return created

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._conn.close()

    async def _run(self) -> None:
        last_claim = 0.0
        recover = True  # (re)start: ensure the groups and replay own pending entries first
        lost_groups = 0
        while not self._stopping.is_set():
            try:
                if recover:
                    await self.ensure_groups()
                    self._claim_cursor = dict.fromkeys(self.streams, "0-0")
                    await self._replay_own_pending()
                    recover = False
                now = time.monotonic()
                if now - last_claim >= self.config.claim_interval_s:
                    last_claim = now
                    await self.reclaim()
                reply = await self._read()
                self.backoff.succeeded()
                lost_groups = 0
                if reply is None:
                    break
                self.stats.last_read = time.monotonic()
                if reply:
                    await self._handle_reply(reply, delivery_count=1)
                    await asyncio.sleep(0)  # what the batch woke goes before the next read's pipeline
            except Exception as exc:
                if is_connection_error(exc):
                    await self.backoff.wait(exc, self._stopping)
                elif _is_nogroup(exc):
                    lost_groups += 1
                    log.warning("group %s missing on %s (%s): recreating it", self.group, self.streams, exc)
                    if lost_groups > 1:  # recreated and lost again at once: do not spin
                        await self._pause(min(0.1 * lost_groups, 2.0))
                else:
                    raise
                recover = True
        try:
            await self._flush_acks()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning("could not ack %d handled entries at stop (Redis unreachable); they will be "
                        "delivered again", sum(len(v) for v in self._acks.values()))

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _read(self) -> list | None:
        """Send pending acks and read the next batch; None when stopped while blocked."""
        acks, self._acks = self._acks, {}
        self._read_task = asyncio.create_task(self._ack_and_read(acks))
        try:
            return await self._read_task
        except asyncio.CancelledError:
            self._merge_acks(acks)  # XACK is idempotent: resend whatever may not have gone out
            if self._stopping.is_set():
                return None
            raise
        except BaseException:
            self._merge_acks(acks)
            raise
        finally:
            self._read_task = None

    async def _ack_and_read(self, acks: dict[str, list[bytes]]) -> list:
        """The previous batch's XACKs and the next XREADGROUP in one round trip."""
        commands: list[Command] = [(b"XACK", stream, self.group, *ids) for stream, ids in acks.items() if ids]
        commands.append(xreadgroup_args(self.group, self.consumer, self.streams, self.config.batch,
                                        self.config.block_ms))
        return await self._conn.read(commands)

    def _merge_acks(self, acks: dict[str, list[bytes]]) -> None:
        for stream, ids in acks.items():
            self._acks.setdefault(stream, []).extend(ids)

    async def _flush_acks(self) -> None:
        acks, self._acks = self._acks, {}
        try:
            for stream, ids in acks.items():
                if ids:
                    await self.redis.xack(stream, self.group, *ids)
        except BaseException:
            self._merge_acks(acks)  # XACK is idempotent: the ones that went out may go again
            raise

    async def _replay_own_pending(self) -> None:
        for stream in self.streams:
            start = "0"
            while True:
                reply = await self.redis.xreadgroup(
                    self.group, self.consumer, {stream: start}, count=self.config.batch
                )
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                await self._handle_entries(stream, entries, delivery_count=0)
                await self._flush_acks()
                start = entries[-1][0]

    async def _handle_reply(self, reply: list, delivery_count: int) -> None:
        for stream_raw, entries in reply:
            stream = stream_raw.decode() if isinstance(stream_raw, bytes) else stream_raw
            await self._handle_entries(stream, entries, delivery_count)

    async def _handle_entries(self, stream: str, entries: list, delivery_count: int) -> None:
        to_ack = self._acks.setdefault(stream, [])  # appended as we go: an outage mid-batch keeps them
        consumed, seconds, age = self._metrics[stream]
        oldest = 0  # ts_init of the batch's first message: its age is the batch's worst
        handled = 0
        for entry_id, fields in entries:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if fields is None:  # replayed id whose entry was trimmed away
                to_ack.append(entry_id)
                continue
            payload = fields.get(FIELD) if fields else None
            try:
                if payload is None:
                    raise DecodeError(f"entry has no {FIELD.decode()!r} field")
                msg = decode(payload)
            except DecodeError as exc:
                await dead_letter(self.redis, self.service, stream, eid, delivery_count, str(exc), payload or b"")
                self.stats.dead_lettered += 1
                to_ack.append(entry_id)
                continue
            if self.dedupe.seen(msg.msg_id):
                self.stats.duplicates += 1
                to_ack.append(entry_id)
                continue
            if not oldest and msg.ts_init:
                oldest = msg.ts_init
            t0 = time.perf_counter()
            try:
                await self.handler(msg, Delivery(stream, eid, delivery_count))
            except Exception as exc:  # the entry stays pending and is retried, then dead-lettered
                if is_connection_error(exc):
                    raise  # Redis is down, not the message: back off, then replay what is pending
                self.stats.failed += 1
                log.warning("handler failed on %s %s: %r", stream, eid, exc)
                continue
            seconds.observe(time.perf_counter() - t0)
            handled += 1
            self.dedupe.add(msg.msg_id)
            to_ack.append(entry_id)
        if handled:
            consumed.inc(handled)
            self.stats.handled += handled
        if oldest:
            age.observe(max(time.time_ns() - oldest, 0) / 1e9)

    async def reclaim(self) -> None:
        """Dead-letter over-delivered entries, then XAUTOCLAIM idle ones (carrying the cursor)."""
        cfg = self.config
        for stream in self.streams:
            try:
                pending = await self.redis.xpending_range(
                    stream, self.group, min="-", max="+", count=cfg.batch, idle=cfg.claim_idle_ms
                )
            except ResponseError as exc:
                if _is_nogroup(exc):
                    raise
                log.error("XPENDING %s failed: %s", stream, exc)
                continue
            for p in pending:
                if p["times_delivered"] >= cfg.max_deliveries:
                    eid = p["message_id"]
                    rows = await self.redis.xrange(stream, min=eid, max=eid)
                    payload = rows[0][1].get(FIELD, b"") if rows else b""
                    reason = f"handler failed {p['times_delivered']} times"
                    sid = eid.decode() if isinstance(eid, bytes) else eid
                    await dead_letter(self.redis, self.service, stream, sid, p["times_delivered"], reason, payload)
                    self.stats.dead_lettered += 1
                    await self.redis.xack(stream, self.group, eid)
            cursor = self._claim_cursor[stream]
            reply = await self.redis.xautoclaim(
                stream, self.group, self.consumer, cfg.claim_idle_ms, start_id=cursor, count=cfg.batch
            )
            next_cursor, claimed = reply[0], reply[1]
            self._claim_cursor[stream] = next_cursor.decode() if isinstance(next_cursor, bytes) else next_cursor
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:
                log.warning("%d pending entries of %s were trimmed before delivery", len(deleted), stream)
            if claimed:
                await self._handle_entries(stream, claimed, delivery_count=2)
                await self._flush_acks()


def _is_nogroup(exc: BaseException) -> bool:
    """NOGROUP, alone or as a pipeline's "Command # n (...) caused error: ('NOGROUP ...',)"."""
    return isinstance(exc, ResponseError) and "NOGROUP" in str(exc)
