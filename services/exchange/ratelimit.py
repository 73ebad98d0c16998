"""Kalshi-like per-key rate limiting: one read and one write token bucket per API key.

Each key has a usage tier (the server's default unless set per key); its budgets come from
``kmm.kalshi.constants`` (tokens/s, kalshi-api.md §3.5), the same figures the client's limiter uses.
The read bucket holds one second of budget, the write bucket two.

Costs are looked up by (method, exact path template), so ``/portfolio/orders/queue_positions`` is not
mistaken for ``/portfolio/orders/{order_id}``. Most requests cost 10 tokens; ``GET
/portfolio/orders/{order_id}`` 2; V2 batch create 10 per order; V2 batch cancel 2 per cancel;
cancel-all what a maximum-size batch cancel costs. Legacy V1 order writes (``/portfolio/orders``
create, cancel, amend, decrease and both batch calls) cost 10× their V2 counterpart: 100 per single
call, 100 per order in a V1 batch create, 20 per cancel in a V1 batch cancel (§3.5 says "Legacy V1
order endpoints: 10×"; that the factor applies per item in batches is this simulator's reading).
Reads under ``/portfolio/orders`` (list, one order, queue positions) are not legacy. A batch may carry
at most write capacity / 10 orders (Basic: 20). An empty bucket gives HTTP 429 with the body Kalshi
sends, ``{"error": "too many requests"}``.
"""

import re
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
    ORDERS,
    TIERS,
    bucket_capacities,
    cancel_all_cost,
    max_batch_size,
)

TOO_MANY_REQUESTS_BODY = {"error": "too many requests"}

LEGACY_BATCH_ORDERS = "/portfolio/orders/batched"
LEGACY_ORDER = ORDER  # DELETE /portfolio/orders/{order_id} cancels (V1); GET reads (not legacy)
LEGACY_AMEND = "/portfolio/orders/{order_id}/amend"
LEGACY_DECREASE = "/portfolio/orders/{order_id}/decrease"
LEGACY_COST = DEFAULT_COST * LEGACY_ORDER_COST_FACTOR
LEGACY_BATCH_CREATE_COST_PER_ORDER = BATCH_CREATE_COST_PER_ORDER * LEGACY_ORDER_COST_FACTOR
LEGACY_BATCH_CANCEL_COST_PER_CANCEL = BATCH_CANCEL_COST_PER_CANCEL * LEGACY_ORDER_COST_FACTOR

# (METHOD, path template) → tokens, or tokens per item for the batch calls (BATCH_TEMPLATES).
# Anything not listed costs DEFAULT_COST; cancel-all (tier-dependent) is handled in request_cost.
FIXED_COSTS: dict[tuple[str, str], int] = {
    ("GET", ORDER): GET_ORDER_COST,
    ("POST", BATCH_ORDERS): BATCH_CREATE_COST_PER_ORDER,
    ("DELETE", BATCH_ORDERS): BATCH_CANCEL_COST_PER_CANCEL,
    ("POST", ORDERS): LEGACY_COST,
    ("DELETE", LEGACY_ORDER): LEGACY_COST,
    ("POST", LEGACY_AMEND): LEGACY_COST,
    ("POST", LEGACY_DECREASE): LEGACY_COST,
    ("POST", LEGACY_BATCH_ORDERS): LEGACY_BATCH_CREATE_COST_PER_ORDER,
    ("DELETE", LEGACY_BATCH_ORDERS): LEGACY_BATCH_CANCEL_COST_PER_CANCEL,
}
BATCH_TEMPLATES = frozenset({BATCH_ORDERS, LEGACY_BATCH_ORDERS})

# Literal templates first: "/portfolio/orders/queue_positions" and ".../batched" are their own
# endpoints, never an {order_id}.
_LITERAL_PATHS = frozenset({BATCH_ORDERS, LEGACY_BATCH_ORDERS, "/portfolio/orders/queue_positions", ORDERS,
                            CANCEL_ALL})
_PATTERNS = tuple(
    (re.compile("^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(t)) + "$"), t)
    for t in sorted({t for _, t in FIXED_COSTS} - _LITERAL_PATHS)
)


def path_template(api_path: str) -> str:
    """The cost-table template a concrete path (relative to ``/trade-api/v2``) matches, else the path."""
    if api_path in _LITERAL_PATHS:
        return api_path
    for pattern, template in _PATTERNS:
        if pattern.match(api_path):
            return template
    return api_path


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
    template = path_template(api_path)
    if method == "DELETE" and template == CANCEL_ALL:
        return cancel_all_cost(write_capacity)
    cost = FIXED_COSTS.get((method, template), DEFAULT_COST)
    if template in BATCH_TEMPLATES:
        return cost * max(1, batch_size)
    return cost


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
        per item; V2 batch create's 10 per order equals the default, so it is not listed)."""
        costs = [(m, p, n) for (m, p), n in FIXED_COSTS.items() if n != DEFAULT_COST]
        costs.append(("DELETE", CANCEL_ALL, cancel_all_cost(self.capacities(key_id)[1])))
        return {"default_cost": DEFAULT_COST,
                "endpoint_costs": [{"method": m, "path": p, "cost": n} for m, p, n in costs]}

