"""Riding out a Redis outage: which errors mean "Redis is unreachable", and a capped backoff.

Consumers, fan-out readers and the publisher never exit for a connection error: they log it (once
per outage, then when Redis answers again), wait with a doubling backoff capped at ``cap``
seconds, and retry. ``kmm_redis_up`` follows the outcome so ``/readyz`` and alerts see the outage.
"""

import asyncio
import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kmm.chassis.metrics import REDIS_UP

# AuthenticationError and BusyLoadingError (Redis still loading its AOF) are ConnectionErrors too;
# redis-py wraps socket errors in these. (Not the builtin TimeoutError/OSError: a handler's own
# timeout is the handler's failure, not an outage.)
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, CONNECTION_ERRORS)


class Backoff:
    """Capped exponential backoff for one retrying loop; logs the start and the end of an outage."""

    def __init__(self, what: str, logger: logging.Logger, base: float = 0.05, cap: float = 2.0) -> None:
        self.what = what
        self.log = logger
        self.base = base
        self.cap = cap
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; return how long to wait before the next attempt."""
        if self.failures == 0:
            self.log.warning("%s: Redis unreachable (%s: %s); retrying with backoff up to %.1fs",
                             self.what, type(exc).__name__, exc, self.cap)
        self.failures += 1
        REDIS_UP.set(0)
        return min(self.base * 2 ** (self.failures - 1), self.cap)

    def succeeded(self) -> None:
        if self.failures:
            self.log.warning("%s: Redis reachable again after %d failed attempts", self.what, self.failures)
            self.failures = 0
            REDIS_UP.set(1)

    async def wait(self, exc: BaseException, stopping: asyncio.Event | None = None) -> None:
        """Record ``exc`` and sleep the backoff (returns early when ``stopping`` is set)."""
        delay = self.failed(exc)
        if stopping is None:
            await asyncio.sleep(delay)
            return
        try:
            await asyncio.wait_for(stopping.wait(), delay)
        except TimeoutError:
            pass
