"""Bus benchmark: publish and consume messages/s and publish→handler hop latency, on a private Redis.

- publish: one process, the pipelined Publisher, N QuoteIntent messages;
- consume: one process, GroupConsumer with a no-op handler draining the N messages;
- hop latency: a paced producer (1,000 msg/s) stamps ts_init; a consumer process records
  handler time − ts_init.
Last line: one JSON object with the figures. Targets: ≥ 50,000 msg/s consumed; hop p99 ≤ 1 ms.
"""

import asyncio
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmm.bus.connection import connect  # noqa: E402
from kmm.bus.consumer import ConsumerConfig, Delivery, GroupConsumer  # noqa: E402
from kmm.bus.publisher import Publisher  # noqa: E402
from kmm.messages import Message, QuoteIntent  # noqa: E402
from kmm.runner.redis_proc import start_redis  # noqa: E402

N = 200_000
HOP_N = 5_000


def intent(i: int) -> QuoteIntent:
    return QuoteIntent(msg_id=f"{i:x}", intent_id=f"i{i}", market="KXBENCH-26DEC31-T50", bid_price=4200,
                       bid_count=1000, ask_price=4400, ask_count=1000, expires_at_ns=i, ts_init=time.time_ns())


async def publish_all(url: str, stream: str, n: int) -> float:
    r = connect(url)
    pub = Publisher(r, "bench")
    t0 = time.perf_counter()
    for i in range(n):
        pub.publish_nowait(stream, intent(i))
        if i % 5000 == 4999:
            await pub.flush()
    await pub.flush()
    dt = time.perf_counter() - t0
    await pub.close()
    await r.aclose()
    return n / dt


def consume_proc(url: str, stream: str, n: int, out: "mp.Queue[float]") -> None:
    async def go() -> float:
        r = connect(url)
        count = 0
        done = asyncio.Event()
        t0 = 0.0

        async def handler(msg: Message, d: Delivery) -> None:
            nonlocal count, t0
            if count == 0:
                t0 = time.perf_counter()
            count += 1
            if count >= n:
                done.set()

        c = GroupConsumer(r, "bench", (stream,), handler, config=ConsumerConfig(batch=1000, block_ms=100))
        task = asyncio.create_task(c.run())
        await done.wait()
        dt = time.perf_counter() - t0
        c.stop()
        await task
        await r.aclose()
        return n / dt

    out.put(asyncio.run(go()))


def hop_proc(url: str, stream: str, n: int, out: "mp.Queue[list[int]]") -> None:
    async def go() -> list[int]:
        r = connect(url)
        lat: list[int] = []
        done = asyncio.Event()

        async def handler(msg: Message, d: Delivery) -> None:
            lat.append(time.time_ns() - msg.ts_init)
            if len(lat) >= n:
                done.set()

        c = GroupConsumer(r, "bench", (stream,), handler, config=ConsumerConfig(batch=100, block_ms=1000))
        task = asyncio.create_task(c.run())
        await r.set("hop-ready", 1)
        await done.wait()
        c.stop()
        await task
        await r.aclose()
        return lat

    out.put(asyncio.run(go()))


async def paced(url: str, stream: str, n: int, rate: float) -> None:
    r = connect(url)
    pub = Publisher(r, "bench")
    while not await r.get("hop-ready"):
        await asyncio.sleep(0.01)
    start = time.perf_counter()
    for i in range(n):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await pub.publish(stream, intent(i))
    await pub.close()
    await r.aclose()


def pct(values: list[int], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] / 1e6


def main() -> None:
    rp = start_redis()
    try:
        import redis

        admin = redis.Redis.from_url(rp.url)
        for s in ("bench:thru", "bench:hop"):
            admin.xgroup_create(s, "bench", id="0", mkstream=True)
        pub_rate = asyncio.run(publish_all(rp.url, "bench:thru", N))
        q: mp.Queue = mp.Queue()
        p = mp.Process(target=consume_proc, args=(rp.url, "bench:thru", N, q))
        p.start()
        consume_rate = q.get(timeout=300)
        p.join()
        hq: mp.Queue = mp.Queue()
        h = mp.Process(target=hop_proc, args=(rp.url, "bench:hop", HOP_N, hq))
        h.start()
        asyncio.run(paced(rp.url, "bench:hop", HOP_N, 1000.0))
        lat = hq.get(timeout=300)
        h.join()
    finally:
        rp.stop()
    result = {
        "bench": "bus",
        "messages": N,
        "publish_msgs_per_s": round(pub_rate),
        "consume_msgs_per_s": round(consume_rate),
        "hop_latency_p50_ms": round(pct(lat, 50), 3),
        "hop_latency_p99_ms": round(pct(lat, 99), 3),
        "target_consume_msgs_per_s": 50_000,
        "target_hop_p99_ms": 1.0,
    }
    print(f"publish {result['publish_msgs_per_s']}/s, consume {result['consume_msgs_per_s']}/s, "
          f"hop p50 {result['hop_latency_p50_ms']} ms p99 {result['hop_latency_p99_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
