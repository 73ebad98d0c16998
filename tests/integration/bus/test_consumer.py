"""Consumer-group runner semantics against a real Redis: replay, DLQ, reclaim, dedupe, stop."""

import asyncio

import pytest

from kmm.bus.connection import connect
from kmm.bus.consumer import ConsumerConfig, Delivery, GroupConsumer
from kmm.bus.fanout import FanoutReader
from kmm.bus.publisher import FIELD, Publisher
from kmm.messages import BookUpdate, DeadLetter, Message, Trade, decode, encode
from tests.helpers import aeventually

STREAM = "test:jobs"
FAST = ConsumerConfig(batch=50, block_ms=50, max_deliveries=3, claim_idle_ms=30, claim_interval_s=0.02)


def trade(i: int, msg_id: str | None = None) -> Trade:
    return Trade(msg_id=msg_id or f"id-{i}", market="M", trade_id=str(i), price=5000, count=100, taker_side="yes")


@pytest.fixture
async def r(redis_url: str):
    client = connect(redis_url)
    await client.xgroup_create(STREAM, "svc", id="0", mkstream=True)
    yield client
    await client.aclose()


async def run_consumer(c: GroupConsumer) -> asyncio.Task:
    return asyncio.create_task(c.run())


async def stop(c: GroupConsumer, task: asyncio.Task) -> None:
    c.stop()
    await asyncio.wait_for(task, 5)


async def dlq_entries(r) -> list[DeadLetter]:
    rows = await r.xrange("dlq:svc")
    return [decode(f[FIELD]) for _, f in rows]  # type: ignore[misc]


async def test_handles_and_acks_everything(r) -> None:
    pub = Publisher(r, "producer")
    for i in range(120):
        pub.publish_nowait(STREAM, trade(i))
    await pub.flush()
    seen: list[str] = []

    async def handler(msg: Message, d: Delivery) -> None:
        seen.append(msg.msg_id)

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=FAST)
    task = await run_consumer(c)
    await aeventually(lambda: _true(len(seen) == 120))
    await stop(c, task)
    assert seen == [f"id-{i}" for i in range(120)]
    assert (await r.xpending(STREAM, "svc"))["pending"] == 0
    await pub.close()


async def _true(v: bool) -> bool:
    return v


class LoggedReads(GroupConsumer):
    def __init__(self, *args, log: list[str], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.log = log

    async def _ack_and_read(self, acks: dict[str, list[bytes]]) -> list:
        self.log.append("read")
        return await super()._ack_and_read(acks)


async def test_work_a_batch_wakes_runs_before_the_next_read(r) -> None:
    """As in the gateway: the handler wakes a loop, which launches a request task; both go before the
    consumer's next read (without the consumer's yield the read's pipeline ran between them)."""
    log: list[str] = []
    woken = asyncio.Event()

    async def planner() -> None:
        while True:
            await woken.wait()
            woken.clear()
            asyncio.create_task(_append(log, "request"))

    async def handler(msg: Message, d: Delivery) -> None:
        log.append(msg.msg_id)
        woken.set()

    pub = Publisher(r, "producer")
    c = LoggedReads(r, "svc", (STREAM,), handler, config=ConsumerConfig(block_ms=50, claim_interval_s=60), log=log)
    loop_task = asyncio.create_task(planner())
    task = await run_consumer(c)
    await aeventually(lambda: "read" in log)
    pub.publish_nowait(STREAM, trade(0))
    await pub.flush()
    await aeventually(lambda: log.count("read") >= 2 and "request" in log)
    await stop(c, task)
    loop_task.cancel()
    after = log[log.index("id-0"):]
    assert after[:3] == ["id-0", "request", "read"], log
    await pub.close()


async def _append(log: list[str], what: str) -> None:
    log.append(what)


async def test_poison_goes_to_dlq_and_stream_keeps_flowing(r) -> None:
    await r.xadd(STREAM, {FIELD: b"\xc1\xc1 not msgpack"})
    await r.xadd(STREAM, {b"other": b"x"})
    await r.xadd(STREAM, {FIELD: encode(trade(1))})
    seen: list[str] = []

    async def handler(msg: Message, d: Delivery) -> None:
        seen.append(msg.msg_id)

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=FAST)
    task = await run_consumer(c)
    await aeventually(lambda: _true(seen == ["id-1"]))
    letters = await aeventually(lambda: _len_at_least(dlq_entries(r), 2))
    await stop(c, task)
    assert {letter.stream for letter in letters} == {STREAM}
    assert "undecodable" in letters[0].reason and letters[0].payload.startswith(b"\xc1")
    assert "no 'm' field" in letters[1].reason
    assert (await r.xpending(STREAM, "svc"))["pending"] == 0


async def _len_at_least(coro, n: int):
    v = await coro
    return v if len(v) >= n else None


async def test_failing_handler_is_retried_then_dead_lettered(r) -> None:
    await r.xadd(STREAM, {FIELD: encode(trade(1, "bad"))})
    await r.xadd(STREAM, {FIELD: encode(trade(2, "good"))})
    calls: dict[str, int] = {}

    async def handler(msg: Message, d: Delivery) -> None:
        calls[msg.msg_id] = calls.get(msg.msg_id, 0) + 1
        if msg.msg_id == "bad":
            raise RuntimeError("boom")

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=FAST)
    task = await run_consumer(c)
    letters = await aeventually(lambda: _len_at_least(dlq_entries(r), 1))
    await stop(c, task)
    assert calls["good"] == 1
    assert calls["bad"] == FAST.max_deliveries
    assert letters[0].delivery_count == FAST.max_deliveries and "failed" in letters[0].reason
    assert decode(letters[0].payload).msg_id == "bad"
    assert (await r.xpending(STREAM, "svc"))["pending"] == 0


async def test_replays_its_own_pending_entries_after_a_crash(r) -> None:
    for i in range(5):
        await r.xadd(STREAM, {FIELD: encode(trade(i))})
    taken = await r.xreadgroup("svc", "svc", {STREAM: ">"}, count=3)  # read, then "crash" before ack
    assert len(taken[0][1]) == 3
    seen: list[tuple[str, int]] = []

    async def handler(msg: Message, d: Delivery) -> None:
        seen.append((msg.msg_id, d.delivery_count))

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=ConsumerConfig(block_ms=50, claim_idle_ms=60_000))
    task = await run_consumer(c)
    await aeventually(lambda: _true(len(seen) == 5))
    await stop(c, task)
    assert [s[0] for s in seen] == [f"id-{i}" for i in range(5)]
    assert [s[1] for s in seen[:3]] == [0, 0, 0]  # replayed from the PEL
    assert (await r.xpending(STREAM, "svc"))["pending"] == 0


async def test_duplicate_msg_ids_are_handled_once(r) -> None:
    for _ in range(3):
        await r.xadd(STREAM, {FIELD: encode(trade(1, "same"))})
    await r.xadd(STREAM, {FIELD: encode(trade(2, "other"))})
    seen: list[str] = []

    async def handler(msg: Message, d: Delivery) -> None:
        seen.append(msg.msg_id)

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=FAST)
    task = await run_consumer(c)
    await aeventually(lambda: _true(c.stats.handled + c.stats.duplicates == 4))
    await stop(c, task)
    assert seen == ["same", "other"] and c.stats.duplicates == 2


async def test_stop_while_blocked_returns(r) -> None:
    async def handler(msg: Message, d: Delivery) -> None:
        raise AssertionError("no messages expected")

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=ConsumerConfig(block_ms=10_000))
    task = await run_consumer(c)
    await aeventually(lambda: _true(c._read_task is not None))
    await stop(c, task)
    assert task.done() and task.exception() is None


async def test_fanout_coalesces_latest_book_per_market(r) -> None:
    got: list[BookUpdate] = []

    async def handler(stream: str, msgs: list[Message]) -> None:
        got.extend(msgs)  # type: ignore[arg-type]

    reader = FanoutReader(r, "svc", ("md:book",), handler, start="0",
                          coalesce={"md:book": lambda m: m.market}, block_ms=50)
    for seq in range(10):
        for mkt in ("A", "B"):
            await r.xadd("md:book", {FIELD: encode(BookUpdate(market=mkt, seq=seq))})
    await r.xadd("md:book", {FIELD: b"junk"})
    task = asyncio.create_task(reader.run())
    await aeventually(lambda: _true(bool(got)))
    reader.stop()
    await asyncio.wait_for(task, 5)
    assert sorted((b.market, b.seq) for b in got) == [("A", 9), ("B", 9)]
    assert len(await dlq_entries(r)) == 1


async def test_a_consumer_creates_its_missing_group(redis_url: str) -> None:
    client = connect(redis_url)
    await client.xadd("test:fresh", {FIELD: encode(trade(1))})  # published before any group exists
    seen: list[str] = []

    async def handler(msg: Message, d: Delivery) -> None:
        seen.append(msg.msg_id)

    c = GroupConsumer(client, "svc", ("test:fresh", "test:never-written"), handler, config=FAST)
    task = await run_consumer(c)
    await aeventually(lambda: _true(seen == ["id-1"]))
    assert await c.ensure_groups() == []  # idempotent: BUSYGROUP is not an error
    await stop(c, task)
    for stream in ("test:fresh", "test:never-written"):
        assert [g["name"] for g in await client.xinfo_groups(stream)] == [b"svc"]
    await client.aclose()


async def test_a_lost_group_is_recreated_and_consumption_carries_on(r) -> None:
    seen: list[str] = []

    async def handler(msg: Message, d: Delivery) -> None:
        seen.append(msg.msg_id)

    c = GroupConsumer(r, "svc", (STREAM,), handler, config=FAST)
    task = await run_consumer(c)
    await r.xadd(STREAM, {FIELD: encode(trade(1))})
    await aeventually(lambda: _true(seen == ["id-1"]))
    await r.xgroup_destroy(STREAM, "svc")  # what a Redis restarted without its data looks like
    await r.xadd(STREAM, {FIELD: encode(trade(2))})
    await aeventually(lambda: _true(seen == ["id-1", "id-2"]))  # id-1 comes again and is deduped
    await stop(c, task)
    assert not task.exception()
    assert c.stats.duplicates == 1
    assert (await r.xpending(STREAM, "svc"))["pending"] == 0


async def test_publisher_writes_a_stream_and_its_copies_in_one_transaction(redis_url: str) -> None:
    from kmm.bus import topology as t
    from kmm.messages import Fill, OrderAck

    client = connect(redis_url)
    pub = Publisher(client, "gateway", max_batch=7)
    ids = []
    for i in range(20):
        stream = t.EXEC_REPORT if i % 3 else t.ORD_APPROVED  # plain XADDs and transactions in one pipeline
        msg = OrderAck(msg_id=f"a{i}", client_order_id=f"c{i}", order_id=f"o{i}", market="M", side="bid",
                       price=100, count=100)
        if i % 5 == 0:
            ids.append((stream, await pub.publish(stream, msg)))
        else:
            pub.publish_nowait(stream, msg)
    await pub.flush()
    main = await client.xrange(t.EXEC_REPORT)
    copy = await client.xrange(t.EXEC_REPORT_QUOTER)
    assert [f[FIELD] for _, f in main] == [f[FIELD] for _, f in copy]
    assert [decode(f[FIELD]).msg_id for _, f in main] == [f"a{i}" for i in range(20) if i % 3]
    assert await client.xlen(t.ORD_APPROVED) == 7
    for stream, entry_id in ids:  # the id returned is the entry's id in the stream itself
        assert (await client.xrange(stream, min=entry_id, max=entry_id))
    # A copy that cannot be written fails that message only; the stream gets nothing for it either.
    await client.delete(t.EXEC_REPORT_QUOTER)
    await client.set(t.EXEC_REPORT_QUOTER, "not a stream")
    bad = Fill(msg_id="f", fill_id="f", order_id="o", client_order_id="c", market="M", side="bid", price=1, count=1)
    with pytest.raises(Exception, match="WRONGTYPE"):
        await pub.publish(t.EXEC_REPORT, bad)
    assert await pub.publish(t.ORD_APPROVED, bad)
    await pub.close()
    await client.aclose()


class _Boom(Exception):
    pass


async def test_fanout_handler_failure_dead_letters_only_the_bad_message(r) -> None:
    got: list[int] = []

    async def handler(stream: str, msgs: list[Message]) -> None:
        for m in msgs:
            if m.seq == 3:  # type: ignore[attr-defined]
                raise _Boom("bad book")
        got.extend(m.seq for m in msgs)  # type: ignore[attr-defined]

    for seq in range(6):
        await r.xadd("md:book", {FIELD: encode(BookUpdate(msg_id=f"b{seq}", market=f"M{seq}", seq=seq))})
    reader = FanoutReader(r, "svc", ("md:book",), handler, start="0", block_ms=50)
    task = asyncio.create_task(reader.run())
    await aeventually(lambda: _true(reader.dead_lettered == 1 and reader.handled == 5))
    reader.stop()
    await asyncio.wait_for(task, 5)
    assert sorted(got) == [0, 1, 2, 4, 5]
    (letter,) = await dlq_entries(r)
    assert letter.stream == "md:book" and "bad book" in letter.reason and "_Boom" in letter.reason
    assert decode(letter.payload).msg_id == "b3"
    rows = await r.xrange("md:book")
    assert letter.entry_id == rows[3][0].decode()


async def test_malformed_levels_are_dead_lettered_at_decode_and_the_batch_survives(r) -> None:
    import msgpack

    got: list[str] = []

    async def handler(stream: str, msgs: list[Message]) -> None:
        for m in msgs:
            _ = [p + c for p, c in m.bids]  # type: ignore[attr-defined]  # what the quoter does with levels
        got.extend(m.market for m in msgs)  # type: ignore[attr-defined]

    await r.xadd("md:book", {FIELD: encode(BookUpdate(market="A", bids=((5000, 100),)))})
    bad = msgpack.packb({"t": "book", "v": 1, "market": "B", "bids": [[5000, "100"]]})
    await r.xadd("md:book", {FIELD: bad})
    await r.xadd("md:book", {FIELD: encode(BookUpdate(market="C", bids=((4900, 200),)))})
    reader = FanoutReader(r, "svc", ("md:book",), handler, start="0", block_ms=50)
    task = asyncio.create_task(reader.run())
    await aeventually(lambda: _true(got == ["A", "C"]))
    reader.stop()
    await asyncio.wait_for(task, 5)
    (letter,) = await dlq_entries(r)
    assert letter.payload == bad and "bids" in letter.reason


async def test_fanout_reader_beyond_the_stream_resets_to_new_entries(r) -> None:
    got: list[int] = []

    async def handler(stream: str, msgs: list[Message]) -> None:
        got.extend(m.seq for m in msgs)  # type: ignore[attr-defined]

    await r.xadd("md:book", {FIELD: encode(BookUpdate(market="A", seq=1))}, id="99999999999999-0")
    reader = FanoutReader(r, "svc", ("md:book",), handler, start="0", block_ms=50, check_interval_s=0.05)
    task = asyncio.create_task(reader.run())
    await aeventually(lambda: _true(got == [1]))
    await r.delete("md:book")  # Redis came back without the stream: new entries get smaller ids
    await r.xadd("md:book", {FIELD: encode(BookUpdate(market="A", seq=2))})
    await aeventually(lambda: _true(reader.resets == 1))
    await r.xadd("md:book", {FIELD: encode(BookUpdate(market="A", seq=3))})
    await aeventually(lambda: _true(got[-1:] == [3]))
    reader.stop()
    await asyncio.wait_for(task, 5)
    assert got in ([1, 2, 3], [1, 3])  # seq 2 is read only if it landed before the check
