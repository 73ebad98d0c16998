"""Per-key read/write token buckets and endpoint costs (kalshi-api.md §3.5)."""

from kmm_services.exchange.ratelimit import RateLimiter, TokenBucket, request_cost


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_costs() -> None:
    assert request_cost("GET", "/markets") == 10
    assert request_cost("GET", "/portfolio/orders/abc") == 2
    assert request_cost("GET", "/portfolio/orders") == 10
    assert request_cost("POST", "/portfolio/events/orders/batched", batch_size=5) == 50
    assert request_cost("DELETE", "/portfolio/events/orders/batched", batch_size=5) == 10
    assert request_cost("POST", "/portfolio/orders") == 100  # legacy V1: 10x


def test_bucket_refills_over_time() -> None:
    b = TokenBucket(rate=100, capacity=100, tokens=100, last=0.0)
    assert b.take(100, 0.0)
    assert not b.take(10, 0.0)
    assert b.take(10, 0.1)


def test_basic_tier_allows_10_writes_then_429_per_key() -> None:
    clock = FakeClock()
    rl = RateLimiter(tier="basic", clock=clock)
    assert all(rl.allow("k1", "POST", "/portfolio/events/orders") for _ in range(10))
    assert not rl.allow("k1", "POST", "/portfolio/events/orders")
    # reads and other keys have their own buckets
    assert rl.allow("k1", "GET", "/portfolio/balance")
    assert rl.allow("k2", "POST", "/portfolio/events/orders")
    clock.t = 0.1  # 100 tokens/s * 0.1 s = one more write
    assert rl.allow("k1", "POST", "/portfolio/events/orders")
    assert not rl.allow("k1", "POST", "/portfolio/events/orders")


def test_disabled_limiter_lets_everything_through() -> None:
    rl = RateLimiter(tier="basic", clock=FakeClock(), enabled=False)
    assert all(rl.allow("k", "POST", "/portfolio/events/orders") for _ in range(100))


def test_limits_body_shape() -> None:
    body = RateLimiter(tier="advanced", clock=FakeClock()).limits_body()
    assert body == {"usage_tier": "advanced", "read": {"refill_rate": 300, "bucket_capacity": 300},
                    "write": {"refill_rate": 300, "bucket_capacity": 300}, "grants": []}
