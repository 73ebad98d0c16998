"""Fault injection for tests, driven by the admin endpoints (``POST /admin/faults``).

Faults:
- ``latency_ms``: added before a REST request is processed (the body is read first, so a client that
  times out and disconnects still gets its request processed late: the order lands after the client
  gave up); ``latency_paths`` limits it to these API path prefixes (empty = every request).
- ``error_next``: the next N requests are answered ``error_status`` (5xx) *without* being processed.
- ``error_after_next``: the next N requests are processed, then answered ``error_status``: the order
  landed but the client saw a 5xx (the classic ambiguous outcome).
- ``rate_limit_next``: the next N requests are answered 429 without being processed.
- ``paths``: limits the 5xx and 429 bursts to these API path prefixes (empty = every request).
- ``ws_seq_gaps``: the next N orderbook deltas skip a ``seq`` (a gap the client must detect).
- ``paused``: an exchange pause (``trading_active: false``, new orders rejected,
  ``cancel_order_on_pause`` orders cancelled by the engine).
- ``drop_ws``: every open WS connection is closed.
- ``clock_skew_ms``: the server's clock runs this many ms ahead (negative: behind) of the machine's —
  for the ``Date`` header of every response and for the signature timestamp window (a client whose
  clock is "off" by the opposite amount), so ``kmm doctor`` can be tested against a skewed clock.
Paths are relative to ``/trade-api/v2`` (e.g. ``/portfolio/events/orders``).
"""

from dataclasses import asdict, dataclass, field
from typing import Any

_COUNTS = ("latency_ms", "rate_limit_next", "error_next", "error_after_next", "ws_seq_gaps")
_PATH_LISTS = ("paths", "latency_paths")


@dataclass
class Faults:
    """Mutable fault state shared by the REST and WS layers."""

    latency_ms: int = 0
    latency_paths: list[str] = field(default_factory=list)
    rate_limit_next: int = 0
    error_next: int = 0
    error_after_next: int = 0
    error_status: int = 500
    ws_seq_gaps: int = 0
    paused: bool = False
    ws_drop_generation: int = 0
    # Only requests under these API path prefixes are affected by 429/5xx bursts (empty = all).
    paths: list[str] = field(default_factory=list)
    clock_skew_ms: int = 0

    def server_ms(self, now_ms: int) -> int:
        """The server's clock (ms) when the machine's reads ``now_ms``."""
        return now_ms + self.clock_skew_ms

    def applies(self, api_path: str) -> bool:
        return _under(api_path, self.paths)

    def latency_s(self, api_path: str) -> float:
        """Seconds to hold this request before processing it."""
        if self.latency_ms > 0 and _under(api_path, self.latency_paths):
            return self.latency_ms / 1000
        return 0.0

    def take_rate_limit(self, api_path: str) -> bool:
        """True if this request must be answered 429 (consumes one from the burst)."""
        if self.rate_limit_next > 0 and self.applies(api_path):
            self.rate_limit_next -= 1
            return True
        return False

    def take_error(self, api_path: str) -> int | None:
        """A 5xx status to answer instead of processing this request, or None (consumes one)."""
        if self.error_next > 0 and self.applies(api_path):
            self.error_next -= 1
            return self.error_status
        return None

    def take_error_after(self, api_path: str) -> int | None:
        """A 5xx status to answer after this request was processed, or None (consumes one)."""
        if self.error_after_next > 0 and self.applies(api_path):
            self.error_after_next -= 1
            return self.error_status
        return None

    def take_seq_gap(self) -> bool:
        if self.ws_seq_gaps > 0:
            self.ws_seq_gaps -= 1
            return True
        return False

    def drop_ws(self) -> None:
        """Every WS connection opened before this call is closed by its sender loop."""
        self.ws_drop_generation += 1

    def update(self, changes: dict[str, Any]) -> None:
        """Apply an admin request body. Unknown keys or bad values raise ValueError and change nothing."""
        allowed = set(_COUNTS) | set(_PATH_LISTS) | {"error_status", "paused", "clock_skew_ms"}
        unknown = set(changes) - allowed - {"drop_ws"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        clean: dict[str, Any] = {}
        for key in allowed & set(changes):
            value = changes[key]
            if key in _PATH_LISTS:
                if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                    raise ValueError(f"{key} must be a list of path prefixes")
            elif key == "paused":
                if not isinstance(value, bool):
                    raise ValueError("paused must be true or false")
            elif key == "clock_skew_ms":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError("clock_skew_ms must be an integer (negative: the server is behind)")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer")
            clean[key] = value
        if not 500 <= int(clean.get("error_status", self.error_status)) <= 599:
            raise ValueError("error_status must be 5xx")
        for key, value in clean.items():
            setattr(self, key, value)
        if changes.get("drop_ws"):
            self.drop_ws()

    def reset(self) -> None:
        self.__dict__.update(Faults(ws_drop_generation=self.ws_drop_generation).__dict__)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _under(api_path: str, prefixes: list[str]) -> bool:
    return not prefixes or any(api_path.startswith(p) for p in prefixes)
