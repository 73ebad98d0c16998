"""A Redis connection of one bus loop's own, for the commands on the order path (publish, read, ack).

redis-py's client checks a connection out of its pool for each command, health-checks it, runs the
reply through its callbacks, and a ``Pipeline`` adds its own stack on top: ~30 µs of CPU a round trip
more than sending the packed commands and reading the replies (measured on a private Redis), paid by
every hop of the order path once per message. :class:`OwnConnection` sends a batch of commands in one
write on a connection out of the client's pool (same address, credentials and parser) and reads every
reply; the rest of the bus (setup, scans, claims, dead letters) keeps the client.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

Command = tuple[bytes | str | int, ...]


class OwnConnection:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._conn: AbstractConnection | None = None

    async def run(self, commands: list[Command]) -> list[Any]:
        """Every command's reply in order, an error reply as its exception in place. A connection error,
        or a cancellation while the replies are read, closes the connection (its replies would be out of
        step); a connection error is retried as the client retries its commands (the connection's
        ``retry``, :func:`kmm.bus.connection.connect`: once, on a fresh connection)."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._redis.connection_pool.make_connection()
        return await conn.retry.call_with_retry(lambda: self._once(conn, commands),
                                                lambda _err: conn.disconnect(nowait=True))

    async def read(self, commands: list[Command]) -> list[list[Any]]:
        """``commands`` ending in an XREAD or XREADGROUP (acks before it, say): its reply as the client
        shapes it (:func:`stream_reply`); the first error reply of any of them is raised."""
        replies = await self.run(commands)
        failed = next((r for r in replies if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
        return stream_reply(replies[-1])

    @staticmethod
    async def _once(conn: AbstractConnection, commands: list[Command]) -> list[Any]:
        try:
            await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response(disable_decoding=True))
                except ResponseError as exc:
                    replies.append(exc)
            return replies
        except BaseException:
            await conn.disconnect(nowait=True)
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.disconnect()
            self._conn = None


def stream_reply(raw: Any) -> list[list[Any]]:
    """An XREAD / XREADGROUP reply as redis-py's client returns it: [[stream, [(id, fields or None)]]]
    (nil when the block ran out: no streams)."""
    if not raw:
        return []
    out = []
    for stream, entries in raw:
        rows = []
        for eid, flat in entries:
            rows.append((eid, None if flat is None else dict(zip(flat[::2], flat[1::2], strict=True))))
        out.append([stream, rows])
    return out


def xread_args(last_ids: dict[str, str], count: int, block_ms: int | None) -> Command:
    """XREAD [COUNT n] [BLOCK ms] STREAMS s... id..."""
    head: list[bytes | str | int] = [b"XREAD", b"COUNT", count]
    if block_ms is not None:
        head += [b"BLOCK", block_ms]
    return (*head, b"STREAMS", *last_ids.keys(), *last_ids.values())


def xreadgroup_args(group: str, consumer: str, streams: tuple[str, ...], count: int, block_ms: int | None) -> Command:
    """XREADGROUP GROUP g c [COUNT n] [BLOCK ms] STREAMS s... >..."""
    head: list[bytes | str | int] = [b"XREADGROUP", b"GROUP", group, consumer, b"COUNT", count]
    if block_ms is not None:
        head += [b"BLOCK", block_ms]
    return (*head, b"STREAMS", *streams, *([b">"] * len(streams)))
