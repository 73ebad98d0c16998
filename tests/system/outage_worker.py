"""A process for the Redis-outage test: a group consumer, a fan-out reader and a publisher, as a
service runs them, that must ride out a Redis crash without exiting.

Env: REDIS_URL. Reads group stream ``test:in`` (group ``worker``) with an idempotent effect per
msg_id (hash ``effects``; ``invocations`` counts handler calls), fans out ``test:fan`` (appends each
msg_id to the list ``fanned``), and publishes a numbered ``Trade`` to ``test:out`` every 20 ms
(``seq`` is its trade_id). Writes ``ready`` once everything runs.
"""

import asyncio
import os

from kmm.bus.connection import connect
from kmm.bus.consumer import ConsumerConfig, Delivery, GroupConsumer
from kmm.bus.fanout import FanoutReader
from kmm.bus.publisher import Publisher
from kmm.messages import Message, Trade

EFFECT = """
redis.call('HINCRBY', 'invocations', ARGV[1], 1)
if redis.call('SET', 'done:' .. ARGV[1], 1, 'NX') then
  redis.call('HINCRBY', 'effects', ARGV[1], 1)
end
return 1
"""


async def main() -> None:
    r = connect(os.environ["REDIS_URL"])
    effect = r.register_script(EFFECT)

    async def on_group(msg: Message, d: Delivery) -> None:
        await effect(args=[msg.msg_id])

    async def on_fan(stream: str, msgs: list[Message]) -> None:
        await r.rpush("fanned", *[m.msg_id for m in msgs])

    cfg = ConsumerConfig(batch=50, block_ms=200, claim_idle_ms=500, claim_interval_s=0.2)
    consumer = GroupConsumer(r, "worker", ("test:in",), on_group, config=cfg)
    fan = FanoutReader(r, "worker", ("test:fan",), on_fan, start="0", block_ms=200, check_interval_s=0.5)
    pub = Publisher(r, "worker")

    async def ticker() -> None:
        seq = 0
        while True:
            seq += 1
            pub.publish_nowait("test:out", Trade(msg_id=f"t{seq}", market="M", trade_id=str(seq), price=1,
                                                 count=1, taker_side="yes"))
            await asyncio.sleep(0.02)  # the publishing rate

    tasks = [asyncio.create_task(c) for c in (consumer.run(), fan.run(), ticker())]
    await pub.publish("test:ready", Trade(msg_id="ready", market="M", trade_id="0", price=1, count=1,
                                          taker_side="yes"))
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in done:
        t.result()  # a task that ended is a failure of the test: surface it
    raise SystemExit(3)


if __name__ == "__main__":
    asyncio.run(main())
