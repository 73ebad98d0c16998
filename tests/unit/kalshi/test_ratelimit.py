"""ratelimit: exact token buckets on an injected clock; costs per endpoint."""

import pytest

from kmm.kalshi import constants as c
from kmm.kalshi.ratelimit import RateLimiter, TokenBucket, endpoint_cost


class FakeClock:
    """Integer-ns clock; ``sleep`` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000_000
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += int(round(seconds * 1e9))


def test_costs():
    assert endpoint_cost("POST", c.BATCH_ORDERS, 5) == 50
    assert endpoint_cost("DELETE", c.BATCH_ORDERS, 5) == 10
    assert endpoint_cost("GET", c.ORDER) == 2
    assert endpoint_cost("GET", c.MARKETS) == 10
    assert endpoint_cost("POST", c.CREATE_ORDER) == 10


def test_try_acquire_returns_wait_and_never_overdraws():
    clk = FakeClock()
    b = TokenBucket(100, 100, clock=clk)
    for _ in range(10):
        assert b.try_acquire(10) == 0.0
    assert b.tokens == 0
    assert b.try_acquire(10) == pytest.approx(0.1)
    assert b.tokens == 0  # a refused try takes nothing
    clk.now += 50_000_000
    assert b.try_acquire(10) == pytest.approx(0.05)
    clk.now += 50_000_000
    assert b.try_acquire(10) == 0.0
    clk.now += 10 * 10**9
    assert b.tokens == 100  # capped at capacity


async def test_acquire_waits_on_the_injected_sleep_and_respects_budget():
    clk = FakeClock()
    lim = RateLimiter.for_tier("basic", clock=clk, sleep=clk.sleep)
    start = clk.now
    for _ in range(30):  # 300 write tokens at 100/s with 100 in the bucket: >= 2 s must pass
        await lim.acquire("POST", c.CREATE_ORDER)
    assert clk.now - start >= 2 * 10**9
    assert clk.slept
    assert lim.tokens()["read"] == 200


def test_oversized_cost_and_unknown_tier_are_refused():
    lim = RateLimiter.for_tier("basic")
    with pytest.raises(ValueError):
        lim.try_acquire("POST", c.BATCH_ORDERS, items=11)
    with pytest.raises(ValueError):
        RateLimiter.for_tier("platinum")


def test_from_account_limits():
    lim = RateLimiter.from_account_limits({"usage_tier": "advanced", "read": {"refill_rate": 300,
                                           "bucket_capacity": 600}, "write": {"refill_rate": 300,
                                           "bucket_capacity": 300}})
    assert lim.read.capacity == 600 and lim.write.rate == 300
