"""A consumer process for the crash tests: an idempotent handler behind the real GroupConsumer.

Env: REDIS_URL, CONSUMER, STREAM, GROUP, PAUSE_AFTER (hang mid-batch after handling N messages,
after setting key ``paused``), CLAIM_IDLE_MS.
"""

import asyncio
import os

from kmm.bus.connection import connect
from kmm.bus.consumer import ConsumerConfig, Delivery, GroupConsumer
from kmm.messages import Message

# Effect once per msg_id, atomically: the handler may run twice, the effect never does.
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
    pause_after = int(os.environ.get("PAUSE_AFTER", "0"))
    handled = 0

    async def handler(msg: Message, d: Delivery) -> None:
        nonlocal handled
        await effect(args=[msg.msg_id])
        handled += 1
        if pause_after and handled == pause_after:
            await r.set("paused", 1)
            await asyncio.Event().wait()  # hang mid-batch, unacked, until killed

    cfg = ConsumerConfig(batch=50, block_ms=200, max_deliveries=5,
                         claim_idle_ms=int(os.environ.get("CLAIM_IDLE_MS", "500")), claim_interval_s=0.2)
    c = GroupConsumer(r, "worker", (os.environ["STREAM"],), handler, consumer=os.environ["CONSUMER"],
                      config=cfg, group=os.environ.get("GROUP", "worker"))
    await c.run()


if __name__ == "__main__":
    asyncio.run(main())
