"""Client-side Kalshi rate limiting: one read and one write token bucket, per-endpoint costs.

Budgets are tokens per second per tier (``constants.TIERS``); the read bucket holds one second of
budget and the write bucket two (``constants.READ_BURST_SECONDS`` / ``WRITE_BURST_SECONDS``), or
whatever ``GET /account/limits`` says (:meth:`RateLimiter.from_account_limits`). Cancel-all costs
what a maximum-size batch cancel costs (``constants.cancel_all_cost``). Arithmetic is exact: the
level is kept in nano-tokens against an integer-ns clock, so the bucket never lets through more than
its budget. The clock and the sleep are injectable for tests.
"""

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from . import constants as c

NANO = 1_000_000_000
_PREPAID: contextvars.ContextVar[bool] = contextvars.ContextVar("kmm_ratelimit_prepaid", default=False)


@contextlib.contextmanager
def prepaid() -> Iterator[None]:
    """The caller has already taken the tokens for the next request it sends in this context (e.g. a
    gateway that reserves tokens when it decides to send, so requests never queue inside the client).
    Only the first attempt is prepaid: a retry after a 429 waits for tokens as usual."""
    token = _PREPAID.set(True)
    try:
        yield
    finally:
        _PREPAID.reset(token)


def take_prepaid() -> bool:
    """True once per :func:`prepaid` block: the request about to go out is already paid for."""
    if _PREPAID.get():
        _PREPAID.set(False)
        return True
    return False


class TokenBucket:
    """``rate`` tokens/s refill up to ``capacity`` tokens; starts full."""

    def __init__(
        self, rate: int, capacity: int, *, clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, name: str = "",
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.name = name
        self.rate = int(rate)
        self.capacity = int(capacity)
        self._clock = clock
        self._sleep = sleep
        self._level = self.capacity * NANO  # nano-tokens
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0, now - self._last)
        self._last = now
        # elapsed ns × tokens/s = nano-tokens
        self._level = min(self.capacity * NANO, self._level + elapsed * self.rate)

    @property
    def tokens(self) -> float:
        """Tokens available now (for a gauge)."""
        self._refill()
        return self._level / NANO

    def try_acquire(self, cost: int) -> float:
        """Take ``cost`` tokens and return 0.0, or take nothing and return the seconds to wait."""
        self._check(cost)
        self._refill()
        need = cost * NANO
        if self._level >= need:
            self._level -= need
            return 0.0
        wait_ns = -(-(need - self._level) // self.rate)
        return wait_ns / NANO

    async def acquire(self, cost: int) -> None:
        """Wait until ``cost`` tokens are available and take them (callers are served in order)."""
        self._check(cost)
        async with self._lock:
            while True:
                wait = self.try_acquire(cost)
                if wait == 0.0:
                    return
                await self._sleep(wait)

    def drain(self) -> None:
        """Empty the bucket (after the server said 429: it knows better than our estimate)."""
        self._refill()
        self._level = 0

    def _check(self, cost: int) -> None:
        if cost < 0:
            raise ValueError("cost must be >= 0")
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds {self.name or 'bucket'} capacity {self.capacity}: split it")


def endpoint_cost(method: str, template: str, items: int = 1) -> int:
    """Tokens one request costs: batch create 10/order, batch cancel 2/cancel, GET order 2, else 10
    (cancel-all depends on the write bucket: see :meth:`RateLimiter.cost`)."""
    method = method.upper()
    if template == c.BATCH_ORDERS and method == "POST":
        return c.BATCH_CREATE_COST_PER_ORDER * max(1, items)
    if template == c.BATCH_ORDERS and method == "DELETE":
        return c.BATCH_CANCEL_COST_PER_CANCEL * max(1, items)
    if template == c.ORDER and method == "GET":
        return c.GET_ORDER_COST
    return c.DEFAULT_COST


class RateLimiter:
    """Read (GET) and write (everything else) buckets for one API key.

    ``costs`` overrides per (METHOD, template) (per item for batch templates), e.g. from
    ``GET /account/endpoint_costs`` via :func:`parse_endpoint_costs`.
    """

    def __init__(
        self, read_rate: int, write_rate: int, *, read_capacity: int | None = None,
        write_capacity: int | None = None, clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, costs: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        read_capacity = read_capacity or read_rate * c.READ_BURST_SECONDS
        write_capacity = write_capacity or write_rate * c.WRITE_BURST_SECONDS
        self.read = TokenBucket(read_rate, read_capacity, clock=clock, sleep=sleep, name="read")
        self.write = TokenBucket(write_rate, write_capacity, clock=clock, sleep=sleep, name="write")
        self._costs = dict(costs or {})

    @classmethod
    def for_tier(cls, tier: str = "basic", **kw: Any) -> "RateLimiter":
        try:
            read, write = c.TIERS[tier.lower()]
        except KeyError:
            raise ValueError(f"unknown tier {tier!r}; known: {', '.join(c.TIERS)}") from None
        return cls(read, write, **kw)

    @classmethod
    def from_account_limits(
        cls, body: Mapping[str, Any], endpoint_costs: Mapping[str, Any] | None = None, **kw: Any,
    ) -> "RateLimiter":
        """From ``GET /account/limits`` (``{read:{refill_rate,bucket_capacity}, write:{…}}``) and
        optionally ``GET /account/endpoint_costs``. A missing capacity gets the documented burst."""
        read, write = body["read"], body["write"]
        if endpoint_costs is not None:
            kw["costs"] = {**parse_endpoint_costs(endpoint_costs), **kw.get("costs", {})}
        return cls(int(read["refill_rate"]), int(write["refill_rate"]),
                   read_capacity=int(read.get("bucket_capacity") or 0) or None,
                   write_capacity=int(write.get("bucket_capacity") or 0) or None, **kw)

    @property
    def max_batch(self) -> int:
        """The most orders one batch create / batch cancel may carry (write capacity / 10)."""
        return c.max_batch_size(self.write.capacity)

    def bucket(self, method: str) -> TokenBucket:
        return self.read if method.upper() == "GET" else self.write

    def cost(self, method: str, template: str, items: int = 1) -> int:
        method = method.upper()
        per = self._costs.get((method, template))
        if per is not None:
            return per * max(1, items) if template == c.BATCH_ORDERS else per
        if method == "DELETE" and template == c.CANCEL_ALL:
            return c.cancel_all_cost(self.write.capacity)
        return endpoint_cost(method, template, items)

    async def acquire(self, method: str, template: str, items: int = 1) -> None:
        await self.bucket(method).acquire(self.cost(method, template, items))

    def try_acquire(self, method: str, template: str, items: int = 1) -> float:
        return self.bucket(method).try_acquire(self.cost(method, template, items))

    def tokens(self) -> dict[str, float]:
        return {"read": self.read.tokens, "write": self.write.tokens}


def parse_endpoint_costs(body: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """``GET /account/endpoint_costs`` → {(METHOD, path template): cost}; paths lose a leading
    ``/trade-api/v2``. Batch costs are per item."""
    out: dict[tuple[str, str], int] = {}
    for item in body.get("endpoint_costs") or ():
        path = str(item["path"])
        if path.startswith(c.API_PREFIX):
            path = path[len(c.API_PREFIX):]
        out[(str(item["method"]).upper(), path)] = int(item["cost"])
    return out
