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
    for _ in range(40):  # 400 write tokens at 100/s with 200 in the bucket: >= 2 s must pass
        await lim.acquire("POST", c.CREATE_ORDER)
    assert clk.now - start >= 2 * 10**9
    assert clk.slept
    assert lim.tokens()["read"] == 200


def test_buckets_hold_one_second_of_reads_and_two_of_writes():
    lim = RateLimiter.for_tier("basic", clock=FakeClock())
    assert (lim.read.rate, lim.read.capacity, lim.write.rate, lim.write.capacity) == (200, 200, 100, 200)
    assert lim.max_batch == 20
    assert lim.cost("DELETE", c.CANCEL_ALL) == 40  # a batch cancel of 20 at 2 tokens each
    assert lim.cost("POST", c.CREATE_ORDER) == 10  # same path, other method
    prestige = RateLimiter.for_tier("prestige", clock=FakeClock())
    assert (prestige.write.capacity, prestige.max_batch, prestige.cost("DELETE", c.CANCEL_ALL)) == (16000, 1600, 3200)


def test_oversized_cost_and_unknown_tier_are_refused():
    lim = RateLimiter.for_tier("basic")
    assert lim.try_acquire("POST", c.BATCH_ORDERS, items=20) == 0.0
    with pytest.raises(ValueError):
        lim.try_acquire("POST", c.BATCH_ORDERS, items=21)
    with pytest.raises(ValueError):
        RateLimiter.for_tier("platinum")


def test_from_account_limits_takes_the_capacities_and_endpoint_costs():
    lim = RateLimiter.from_account_limits(
        {"usage_tier": "advanced", "read": {"refill_rate": 300, "bucket_capacity": 600},
         "write": {"refill_rate": 300, "bucket_capacity": 300}},
        {"default_cost": 10, "endpoint_costs": [
            {"method": "GET", "path": "/trade-api/v2/portfolio/orders/{order_id}", "cost": 1},
            {"method": "DELETE", "path": "/portfolio/events/orders", "cost": 77}]})
    assert (lim.read.capacity, lim.write.rate, lim.write.capacity, lim.max_batch) == (600, 300, 300, 30)
    assert lim.cost("GET", c.ORDER) == 1 and lim.cost("DELETE", c.CANCEL_ALL) == 77
    assert RateLimiter.from_account_limits({"read": {"refill_rate": 200}, "write": {"refill_rate": 100}}
                                           ).write.capacity == 200
