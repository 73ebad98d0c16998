"""Kalshi-like per-key rate limiting: one read and one write token bucket per API key.

Budgets come from the account's usage tier (tokens/s, kalshi-api.md §3.5); most requests cost 10
tokens, ``GET /portfolio/orders/{id}`` 2, batch create 10 per order, batch cancel 2 per cancel.
A bucket holds ``burst_seconds`` of budget. An empty bucket gives HTTP 429 with the body Kalshi
sends, ``{"error": "too many requests"}``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from kmm.kalshi.constants import (
    BATCH_CANCEL_COST_PER_CANCEL,
    BATCH_CREATE_COST_PER_ORDER,
    DEFAULT_COST,
    GET_ORDER_COST,
    TIERS,
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


def request_cost(method: str, api_path: str, batch_size: int = 0) -> int:
    """Token cost of one request (``api_path`` relative to ``/trade-api/v2``)."""
    method = method.upper()
    if api_path.endswith("/orders/batched"):
        per = BATCH_CREATE_COST_PER_ORDER if method == "POST" else BATCH_CANCEL_COST_PER_CANCEL
        return per * max(1, batch_size)
    if method == "GET" and api_path.startswith("/portfolio/orders/") and api_path.count("/") == 3:
        return GET_ORDER_COST
    if method in ("POST", "DELETE", "PUT") and api_path.startswith("/portfolio/orders"):
        return DEFAULT_COST * 10  # legacy V1 order endpoints cost 10x
    return DEFAULT_COST


def is_write(method: str) -> bool:
    return method.upper() in ("POST", "PUT", "DELETE", "PATCH")


@dataclass
class RateLimiter:
    """Per-key read/write buckets for one usage tier; ``enabled=False`` lets everything through."""

    tier: str = "basic"
    burst_seconds: float = 1.0
    clock: Callable[[], float] = field(default=lambda: 0.0)
    enabled: bool = True
    _buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r}; one of {sorted(TIERS)}")

    @property
    def read_rate(self) -> int:
        return TIERS[self.tier][0]

    @property
    def write_rate(self) -> int:
        return TIERS[self.tier][1]

    def _bucket(self, key_id: str, kind: str) -> TokenBucket:
        bucket = self._buckets.get((key_id, kind))
        if bucket is None:
            rate = self.write_rate if kind == "write" else self.read_rate
            cap = rate * self.burst_seconds
            bucket = TokenBucket(rate=rate, capacity=cap, tokens=cap, last=self.clock())
            self._buckets[(key_id, kind)] = bucket
        return bucket

    def allow(self, key_id: str, method: str, api_path: str, batch_size: int = 0) -> bool:
        """Spend the request's tokens; False means answer 429."""
        if not self.enabled:
            return True
        kind = "write" if is_write(method) else "read"
        return self._bucket(key_id, kind).take(request_cost(method, api_path, batch_size), self.clock())

    def limits_body(self) -> dict[str, object]:
        """``GET /account/limits`` response."""
        cap = int(self.burst_seconds)
        return {
            "usage_tier": self.tier,
            "read": {"refill_rate": self.read_rate, "bucket_capacity": self.read_rate * cap},
            "write": {"refill_rate": self.write_rate, "bucket_capacity": self.write_rate * cap},
            "grants": [],
        }
