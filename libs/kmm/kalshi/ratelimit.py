"""Client-side Kalshi rate limiting: one read and one write token bucket, per-endpoint costs.

Budgets are tokens per second per tier (``constants.TIERS``); a bucket holds ``burst_seconds`` of
budget. Arithmetic is exact: the level is kept in nano-tokens against an integer-ns clock, so the
bucket never lets through more than its budget. The clock and the sleep are injectable for tests.
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
    """Tokens one request costs: batch create 10/order, batch cancel 2/cancel, GET order 2, else 10."""
    method = method.upper()
    if template == c.BATCH_ORDERS and method == "POST":
        return c.BATCH_CREATE_COST_PER_ORDER * max(1, items)
    if template == c.BATCH_ORDERS and method == "DELETE":
        return c.BATCH_CANCEL_COST_PER_CANCEL * max(1, items)
    if template == c.ORDER and method == "GET":
        return c.GET_ORDER_COST
    return c.DEFAULT_COST


class RateLimiter:
    """Read (GET) and write (everything else) buckets for one API key."""

    def __init__(
        self, read_rate: int, write_rate: int, *, burst_seconds: int = c.BURST_SECONDS,
        clock: Callable[[], int] = time.monotonic_ns, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        costs: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.read = TokenBucket(read_rate, read_rate * burst_seconds, clock=clock, sleep=sleep, name="read")
        self.write = TokenBucket(write_rate, write_rate * burst_seconds, clock=clock, sleep=sleep, name="write")
        self._costs = dict(costs or {})

    @classmethod
    def for_tier(cls, tier: str = "basic", **kw: Any) -> "RateLimiter":
        try:
            read, write = c.TIERS[tier.lower()]
        except KeyError:
            raise ValueError(f"unknown tier {tier!r}; known: {', '.join(c.TIERS)}") from None
        return cls(read, write, **kw)

    @classmethod
    def from_account_limits(cls, body: Mapping[str, Any], **kw: Any) -> "RateLimiter":
        """From ``GET /account/limits``: ``{read:{refill_rate,bucket_capacity}, write:{…}}``."""
        read, write = body["read"], body["write"]
        lim = cls(int(read["refill_rate"]), int(write["refill_rate"]), **kw)
        for bucket, spec in ((lim.read, read), (lim.write, write)):
            bucket.capacity = int(spec.get("bucket_capacity", bucket.capacity))
            bucket._level = min(bucket._level, bucket.capacity * NANO)
        return lim

    def bucket(self, method: str) -> TokenBucket:
        return self.read if method.upper() == "GET" else self.write

    def cost(self, method: str, template: str, items: int = 1) -> int:
        per = self._costs.get((method.upper(), template))
        if per is not None:
            return per * max(1, items) if template == c.BATCH_ORDERS else per
        return endpoint_cost(method, template, items)

    async def acquire(self, method: str, template: str, items: int = 1) -> None:
        await self.bucket(method).acquire(self.cost(method, template, items))

    def try_acquire(self, method: str, template: str, items: int = 1) -> float:
        return self.bucket(method).try_acquire(self.cost(method, template, items))

    def tokens(self) -> dict[str, float]:
        return {"read": self.read.tokens, "write": self.write.tokens}
