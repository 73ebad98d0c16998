"""Looking back into exec:report and risk:denied on a real Redis: only fills, only since the time given,
the newest when capped, the last denial per market."""

import redis
import redis.asyncio as aioredis

from kmm.bus.publisher import FIELD
from kmm.bus.topology import EXEC_REPORT, RISK_DENIED
from kmm.messages import Denial, Fill, OrderAck, encode
from kmm.ops.streams import entry_ms, last_denials, recent_fills


def fill(i: int, market: str = "M") -> Fill:
    return Fill(fill_id=f"f{i}", order_id="o", client_order_id="c", market=market, side="bid", price=4000 + i,
                count=100, fee=1, seq=i)


async def test_recent_fills_since_and_limit(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    ids = []
    for i in range(1, 2501):  # several pages of 1000, with other reports in between
        ids.append(r.xadd(EXEC_REPORT, {FIELD: encode(fill(i))}, id=f"{1_000_000 + i * 10}-0"))
        r.xadd(EXEC_REPORT, {FIELD: encode(OrderAck(client_order_id="c", order_id="o", market="M", side="bid",
                                                    price=1, count=1))}, id=f"{1_000_000 + i * 10 + 1}-0")
    r.xadd(EXEC_REPORT, {FIELD: b"poison"})
    a = aioredis.Redis.from_url(redis_url)
    try:
        since = entry_ms(ids[2000])  # fills 2001..2500
        res = await recent_fills(a, EXEC_REPORT, since, limit=10_000)
        assert [f["seq"] for f in res["fills"]] == list(range(2001, 2501))
        assert not res["truncated"]
        first = res["fills"][0]
        assert (first["price"], first["count"], first["fee"], first["reported_ms"]) == ("0.6001", "1.00", "0.000001",
                                                                                        since)
        capped = await recent_fills(a, EXEC_REPORT, 0, limit=3)
        assert [f["seq"] for f in capped["fills"]] == [2498, 2499, 2500] and capped["truncated"]
        scan_capped = await recent_fills(a, EXEC_REPORT, 0, limit=10_000, max_scan=1000)
        assert scan_capped["truncated"] and [f["seq"] for f in scan_capped["fills"]][-1] == 2500
        assert await recent_fills(a, EXEC_REPORT, 99_000_000, limit=10) == {"since_ms": 99_000_000, "fills": [],
                                                                            "truncated": False}
    finally:
        await a.aclose()
        r.close()


async def test_last_denial_per_market(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    for i, (m, code) in enumerate([("A", "position_limit"), ("B", "halted"), ("A", "exposure")]):
        r.xadd(RISK_DENIED, {FIELD: encode(Denial(intent_id=str(i), market=m, code=code))})
    a = aioredis.Redis.from_url(redis_url)
    try:
        got = await last_denials(a, RISK_DENIED)
        assert {m: d["code"] for m, d in got.items()} == {"A": "exposure", "B": "halted"}
    finally:
        await a.aclose()
        r.close()
