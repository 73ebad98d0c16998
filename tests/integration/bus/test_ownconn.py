"""A loop's own connection against a real Redis: replies in order with errors in place, the stream
replies shaped as redis-py's client shapes them, a closed connection opened again, a cancelled read
leaving nothing out of step."""

import asyncio

import pytest
from redis.exceptions import ResponseError

from kmm.bus.connection import connect
from kmm.bus.ownconn import OwnConnection, stream_reply, xread_args, xreadgroup_args
from tests.helpers import aeventually


@pytest.fixture
async def r(redis_url: str):
    client = connect(redis_url)
    yield client
    await client.aclose()


async def test_replies_in_order_with_an_error_in_place(r) -> None:
    conn = OwnConnection(r)
    replies = await conn.run([(b"XADD", "s", b"*", b"m", b"a"), (b"INCR", "s"), (b"XLEN", "s")])
    assert isinstance(replies[0], bytes) and b"-" in replies[0]
    assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
    assert replies[2] == 1
    await conn.close()


async def test_stream_replies_match_the_clients(r) -> None:
    for i in range(3):
        await r.xadd("a", {b"m": b"x%d" % i})
    await r.xadd("b", {b"m": b"y", b"k": b"v"})
    conn = OwnConnection(r)
    (raw,) = await conn.run([xread_args({"a": "0-0", "b": "0-0"}, 2, None)])
    assert stream_reply(raw) == await r.xread({"a": "0-0", "b": "0-0"}, count=2)
    (empty,) = await conn.run([xread_args({"a": "$"}, 10, 10)])  # the block runs out: nil
    assert stream_reply(empty) == []
    await r.xgroup_create("a", "g", id="0")
    (raw,) = await conn.run([xreadgroup_args("g", "c1", ("a",), 10, 10)])
    got = stream_reply(raw)
    assert [(e[1][b"m"]) for e in got[0][1]] == [b"x0", b"x1", b"x2"]
    await r.xtrim("a", maxlen=0)  # pending ids whose entries are gone come back with nil fields
    (raw,) = await conn.run([(b"XREADGROUP", b"GROUP", "g", "c1", b"STREAMS", "a", b"0")])
    assert all(fields is None for _, fields in stream_reply(raw)[0][1])
    await conn.close()


async def test_a_dropped_connection_is_retried_once_on_a_fresh_one_as_the_clients_commands_are(r) -> None:
    conn = OwnConnection(r)
    assert await conn.run([(b"PING",)]) == [b"PONG"]
    await r.client_kill_filter(_type="normal", skipme=True)  # Redis drops every other client
    assert await conn.run([(b"PING",)]) == [b"PONG"]  # the dead socket's error, then a new connection
    await conn.close()


async def test_the_readers_call_raises_the_first_error_reply(r) -> None:
    conn = OwnConnection(r)
    with pytest.raises(ResponseError, match="NOGROUP"):
        await conn.read([(b"XACK", "nostream", "g", "1-0"), xreadgroup_args("g", "c", ("nostream",), 1, None)])
    await r.xadd("s", {b"m": b"a"})
    assert await conn.read([xread_args({"s": "0-0"}, 1, None)]) == await r.xread({"s": "0-0"}, count=1)
    await conn.close()


async def test_a_cancelled_blocking_read_leaves_nothing_out_of_step(r) -> None:
    conn = OwnConnection(r)
    task = asyncio.create_task(conn.run([xread_args({"q": "$"}, 1, 10_000)]))

    async def blocked() -> bool:
        return any(c.get("cmd") == "xread" for c in await r.client_list(_type="normal"))

    await aeventually(blocked, what="the XREAD blocked in Redis")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await r.xadd("q", {b"m": b"after"})
    assert await conn.run([(b"XLEN", "q")]) == [1]  # the reply to this command, not to the read
    await conn.close()
