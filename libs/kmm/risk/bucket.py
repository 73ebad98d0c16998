"""A deterministic token bucket (time passed in as integer ns) for the order-rate budget."""

from __future__ import annotations

from kmm.messages.units import NS_PER_S


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; starts full at the first call's time."""

    __slots__ = ("capacity", "rate_per_s", "_tokens", "_last_ns")

    def __init__(self, capacity: float, rate_per_s: float) -> None:
        if capacity <= 0 or rate_per_s < 0:
            raise ValueError("capacity must be > 0 and rate_per_s >= 0")
        self.capacity = float(capacity)
        self.rate_per_s = float(rate_per_s)
        self._tokens = float(capacity)
        self._last_ns: int | None = None

    def tokens(self, now_ns: int) -> float:
        if self._last_ns is None or now_ns <= self._last_ns:
            return self._tokens
        return min(self.capacity, self._tokens + (now_ns - self._last_ns) / NS_PER_S * self.rate_per_s)

    def try_take(self, now_ns: int, cost: float) -> bool:
        """Spend ``cost`` tokens if available (True), else spend nothing (False)."""
        available = self.tokens(now_ns)
        if self._last_ns is None or now_ns > self._last_ns:
            self._last_ns = now_ns
        self._tokens = available
        if cost > available:
            return False
        self._tokens = available - cost
        return True
