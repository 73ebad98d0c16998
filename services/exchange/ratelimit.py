"""Kalshi-like per-key rate limiting: one read and one write token bucket per API key.

Each key has a usage tier (the server's default unless set per key); its budgets come from
``kmm.kalshi.constants`` (tokens/s, kalshi-api.md §3.5), the same figures the client's limiter uses.
The read bucket holds one second of budget, the write bucket two. Most requests cost 10 tokens;
``GET /portfolio/orders/{id}`` 2; batch create 10 per order; batch cancel 2 per cancel; cancel-all
what a maximum-size batch cancel costs; legacy V1 single-order writes 10×. A batch may carry at most write
capacity / 10 orders (Basic: 20). An empty bucket gives HTTP 429 with the body Kalshi sends,
``{"error": "too many requests"}``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from kmm.kalshi.constants import (
    BATCH_CANCEL_COST_PER_CANCEL,
    BATCH_CREATE_COST_PER_ORDER,
    BATCH_ORDERS,
    CANCEL_ALL,
    DEFAULT_COST,
    GET_ORDER_COST,
    LEGACY_ORDER_COST_FACTOR,
    ORDER,
    TIERS,
    bucket_capacities,
    cancel_all_cost,
    max_batch_size,
)

TOO_MANY_REQUESTS_BODY = {"error": "too many requests"}


@dataclass
class TokenBucket:
    """Refills ``rate`` tokens per second up to ``capacity``; time comes from the caller."""

    rate: float
    capacity: float
    tokens: float
    last: float

    def take(self, cost: float, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


def request_cost(method: str, api_path: str, batch_size: int = 0, write_capacity: int = 200) -> int:
    """Token cost of one request (``api_path`` relative to ``/trade-api/v2``); ``write_capacity``
    is the caller's write bucket (cancel-all costs a maximum-size batch cancel)."""
    method = method.upper()
    if api_path.endswith("/orders/batched"):
        per = BATCH_CREATE_COST_PER_ORDER if method == "POST" else BATCH_CANCEL_COST_PER_CANCEL
        return per * max(1, batch_size)
    if method == "GET" and api_path.startswith("/portfolio/orders/") and api_path.count("/") == 3:
        return GET_ORDER_COST
    if method == "DELETE" and api_path == CANCEL_ALL:
        return cancel_all_cost(write_capacity)
    if method in ("POST", "DELETE", "PUT") and api_path.startswith("/portfolio/orders"):
        return DEFAULT_COST * LEGACY_ORDER_COST_FACTOR
    return DEFAULT_COST


def is_write(method: str) -> bool:
    return method.upper() in ("POST", "PUT", "DELETE", "PATCH")


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; one of {sorted(TIERS)}")
    return tier


@dataclass
class RateLimiter:
    """Per-key read/write buckets; each key has a tier (``tier`` unless :meth:`set_tier` said
    otherwise). ``enabled=False`` lets every request through (batch-size limits still apply)."""

    tier: str = "basic"
    clock: Callable[[], float] = field(default=lambda: 0.0)
    enabled: bool = True
    _tiers: dict[str, str] = field(default_factory=dict)
    _buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_tier(self.tier)

    def set_tier(self, key_id: str, tier: str) -> None:
        """Give one key its own tier (its buckets start full at the new size)."""
        self._tiers[key_id] = check_tier(tier)
        self._buckets.pop((key_id, "read"), None)
        self._buckets.pop((key_id, "write"), None)

    def tier_of(self, key_id: str) -> str:
        return self._tiers.get(key_id, self.tier)

    def rates(self, key_id: str) -> tuple[int, int]:
        """(read, write) tokens per second of the key's tier."""
        return TIERS[self.tier_of(key_id)]

    def capacities(self, key_id: str) -> tuple[int, int]:
        """(read, write) bucket capacities of the key's tier."""
        return bucket_capacities(self.tier_of(key_id))

    def max_batch(self, key_id: str) -> int:
        return max_batch_size(self.capacities(key_id)[1])

    def cost(self, key_id: str, method: str, api_path: str, batch_size: int = 0) -> int:
        return request_cost(method, api_path, batch_size, self.capacities(key_id)[1])

    def _bucket(self, key_id: str, kind: str) -> TokenBucket:
        bucket = self._buckets.get((key_id, kind))
        if bucket is None:
            (read_rate, write_rate), (read_cap, write_cap) = self.rates(key_id), self.capacities(key_id)
            rate, cap = (write_rate, write_cap) if kind == "write" else (read_rate, read_cap)
            bucket = TokenBucket(rate=rate, capacity=cap, tokens=cap, last=self.clock())
            self._buckets[(key_id, kind)] = bucket
        return bucket

    def allow(self, key_id: str, method: str, api_path: str, batch_size: int = 0) -> bool:
        """Spend the request's tokens from the key's bucket; False means answer 429."""
        if not self.enabled:
            return True
        kind = "write" if is_write(method) else "read"
        return self._bucket(key_id, kind).take(self.cost(key_id, method, api_path, batch_size), self.clock())

    def limits_body(self, key_id: str) -> dict[str, object]:
        """``GET /account/limits`` response for the key."""
        (read_rate, write_rate), (read_cap, write_cap) = self.rates(key_id), self.capacities(key_id)
        return {
            "usage_tier": self.tier_of(key_id),
            "read": {"refill_rate": read_rate, "bucket_capacity": read_cap},
            "write": {"refill_rate": write_rate, "bucket_capacity": write_cap},
            "grants": [],
        }

    def endpoint_costs_body(self, key_id: str) -> dict[str, object]:
        """``GET /account/endpoint_costs``: endpoints whose cost is not the default (batch costs
        per item; batch create's 10 per order equals the default, so it is not listed)."""
        legacy = DEFAULT_COST * LEGACY_ORDER_COST_FACTOR
        costs = [
            ("GET", ORDER, GET_ORDER_COST),
            ("DELETE", BATCH_ORDERS, BATCH_CANCEL_COST_PER_CANCEL),
            ("DELETE", CANCEL_ALL, cancel_all_cost(self.capacities(key_id)[1])),
            ("POST", "/portfolio/orders", legacy),
            ("DELETE", "/portfolio/orders/{order_id}", legacy),
            ("POST", "/portfolio/orders/{order_id}/amend", legacy),
            ("POST", "/portfolio/orders/{order_id}/decrease", legacy),
        ]
        return {"default_cost": DEFAULT_COST,
                "endpoint_costs": [{"method": m, "path": p, "cost": n} for m, p, n in costs]}

