"""Per-key read/write token buckets, tiers and endpoint costs (kalshi-api.md §3.5)."""

import pytest

from kmm.kalshi.ratelimit import RateLimiter as ClientLimiter
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
    assert request_cost("POST", "/portfolio/events/orders") == 10
    assert request_cost("DELETE", "/portfolio/events/orders", write_capacity=200) == 40  # cancel-all: 20 x 2


def test_costs_match_exact_path_templates() -> None:
    # queue positions are plain reads (default 10), not GET /portfolio/orders/{order_id} (2)
    assert request_cost("GET", "/portfolio/orders/queue_positions") == 10
    assert request_cost("GET", "/portfolio/orders/o-1/queue_position") == 10
    assert request_cost("GET", "/portfolio/orders/o-1") == 2
    # V2 single-order writes cost the default
    assert request_cost("DELETE", "/portfolio/events/orders/o-1") == 10
    assert request_cost("POST", "/portfolio/events/orders/o-1/amend") == 10
    assert request_cost("POST", "/portfolio/events/orders/o-1/decrease") == 10


def test_legacy_v1_order_writes_cost_ten_times_their_v2_counterpart() -> None:
    assert request_cost("POST", "/portfolio/orders") == 100
    assert request_cost("DELETE", "/portfolio/orders/o-1") == 100
    assert request_cost("POST", "/portfolio/orders/o-1/amend") == 100
    assert request_cost("POST", "/portfolio/orders/o-1/decrease") == 100
    assert request_cost("POST", "/portfolio/orders/batched", batch_size=3) == 300  # V2: 10 per order
    assert request_cost("DELETE", "/portfolio/orders/batched", batch_size=3) == 60  # V2: 2 per cancel


def test_queue_positions_spends_ten_read_tokens() -> None:
    rl = RateLimiter(tier="basic", clock=FakeClock())  # read bucket 200
    assert sum(rl.allow("k", "GET", "/portfolio/orders/queue_positions") for _ in range(100)) == 20


def test_bucket_refills_over_time() -> None:
    b = TokenBucket(rate=100, capacity=100, tokens=100, last=0.0)
    assert b.take(100, 0.0)
    assert not b.take(10, 0.0)
    assert b.take(10, 0.1)


def test_basic_tier_write_bucket_holds_two_seconds_per_key() -> None:
    clock = FakeClock()
    rl = RateLimiter(tier="basic", clock=clock)
    assert all(rl.allow("k1", "POST", "/portfolio/events/orders") for _ in range(20))
    assert not rl.allow("k1", "POST", "/portfolio/events/orders")
    # reads and other keys have their own buckets; reads hold one second (20 requests)
    assert all(rl.allow("k1", "GET", "/portfolio/balance") for _ in range(20))
    assert not rl.allow("k1", "GET", "/portfolio/balance")
    assert rl.allow("k2", "POST", "/portfolio/events/orders")
    clock.t = 0.1  # 100 tokens/s * 0.1 s = one more write
    assert rl.allow("k1", "POST", "/portfolio/events/orders")
    assert not rl.allow("k1", "POST", "/portfolio/events/orders")


def test_each_key_can_have_its_own_tier() -> None:
    rl = RateLimiter(tier="basic", clock=FakeClock())
    rl.set_tier("big", "premier")
    assert (rl.tier_of("big"), rl.tier_of("small")) == ("premier", "basic")
    assert (rl.max_batch("big"), rl.max_batch("small")) == (200, 20)
    assert sum(rl.allow("big", "POST", "/portfolio/events/orders") for _ in range(250)) == 200
    assert sum(rl.allow("small", "POST", "/portfolio/events/orders") for _ in range(250)) == 20
    with pytest.raises(ValueError, match="unknown tier"):
        rl.set_tier("x", "platinum")


def test_disabled_limiter_lets_everything_through() -> None:
    rl = RateLimiter(tier="basic", clock=FakeClock(), enabled=False)
    assert all(rl.allow("k", "POST", "/portfolio/events/orders") for _ in range(100))


def test_limits_body_shape_and_the_client_builds_the_same_buckets() -> None:
    rl = RateLimiter(tier="advanced", clock=FakeClock())
    body = rl.limits_body("k")
    assert body == {"usage_tier": "advanced", "read": {"refill_rate": 300, "bucket_capacity": 300},
                    "write": {"refill_rate": 300, "bucket_capacity": 600}, "grants": []}
    client = ClientLimiter.from_account_limits(body, rl.endpoint_costs_body("k"))
    assert (client.read.rate, client.read.capacity, client.write.rate, client.write.capacity) == (300, 300, 300, 600)
    assert client.max_batch == rl.max_batch("k") == 60
    for method, path, cost in (("DELETE", "/portfolio/events/orders", 120), ("GET", "/portfolio/orders/{order_id}", 2),
                               ("POST", "/portfolio/events/orders", 10)):
        assert client.cost(method, path) == cost
        assert rl.cost("k", method, path.replace("{order_id}", "o1")) == cost
    assert client.cost("DELETE", "/portfolio/events/orders/batched", 7) == rl.cost(
        "k", "DELETE", "/portfolio/events/orders/batched", 7) == 14


def test_endpoint_costs_list_only_non_default_costs() -> None:
    body = RateLimiter(tier="basic", clock=FakeClock()).endpoint_costs_body("k")
    assert body["default_cost"] == 10
    costs = {(c["method"], c["path"]): c["cost"] for c in body["endpoint_costs"]}
    assert costs[("DELETE", "/portfolio/events/orders")] == 40
    assert costs[("DELETE", "/portfolio/events/orders/batched")] == 2
    assert costs[("GET", "/portfolio/orders/{order_id}")] == 2
    assert costs[("POST", "/portfolio/orders/batched")] == 100
    assert costs[("DELETE", "/portfolio/orders/batched")] == 20
    assert 10 not in costs.values()
