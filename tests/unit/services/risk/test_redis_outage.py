"""Risk's periodic ledger save rides out a Redis outage instead of ending the process (found by the
soak: every Redis kill -9 restarted risk, since the metrics loop's save raised ConnectionError)."""

import asyncio

import pytest
import redis

from kmm_services.risk.service import RiskService, RiskSettings


class DownRedis:
    def __init__(self) -> None:
        self.saves = 0

    async def hset(self, *args: object, **kwargs: object) -> int:
        self.saves += 1
        raise redis.ConnectionError("Error 111 connecting to redis.sock. Connection refused.")


async def test_the_metrics_loop_survives_a_redis_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = RiskService(RiskSettings())
    down = DownRedis()
    svc.redis = down  # type: ignore[assignment]
    real_sleep = asyncio.sleep
    monkeypatch.setattr("kmm_services.risk.service.asyncio.sleep", lambda s: real_sleep(0))
    task = asyncio.create_task(svc.metrics_loop())
    while down.saves < 3 and not task.done():
        await real_sleep(0.001)
    assert not task.done(), task.exception()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
