"""Fault injection for tests, driven by the admin endpoints.

Faults: added latency on every REST response; the next N requests answered 429 (a burst); the next N
answered with a 5xx status; every open WS connection dropped; the next N orderbook messages sent with
a skipped ``seq`` (a gap the client must detect); an exchange pause (``trading_active: false``, new
orders rejected, ``cancel_order_on_pause`` orders cancelled by the engine wrapper).
"""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Faults:
    """Mutable fault state shared by the REST and WS layers."""

    latency_ms: int = 0
    rate_limit_next: int = 0
    error_next: int = 0
    error_status: int = 500
    ws_seq_gaps: int = 0
    paused: bool = False
    ws_drop_generation: int = 0
    # Only requests under these API path prefixes are affected by 429/5xx bursts (empty = all).
    paths: list[str] = field(default_factory=list)

    def applies(self, api_path: str) -> bool:
        return not self.paths or any(api_path.startswith(p) for p in self.paths)

    def take_rate_limit(self, api_path: str) -> bool:
        """True if this request must be answered 429 (consumes one from the burst)."""
        if self.rate_limit_next > 0 and self.applies(api_path):
            self.rate_limit_next -= 1
            return True
        return False

    def take_error(self, api_path: str) -> int | None:
        """A 5xx status for this request, or None (consumes one from the burst)."""
        if self.error_next > 0 and self.applies(api_path):
            self.error_next -= 1
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
        """Apply an admin request body; unknown keys raise ValueError."""
        allowed = {"latency_ms", "rate_limit_next", "error_next", "error_status", "ws_seq_gaps", "paused", "paths"}
        unknown = set(changes) - allowed - {"drop_ws"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        for key in allowed & set(changes):
            setattr(self, key, changes[key])
        if changes.get("drop_ws"):
            self.drop_ws()
        if not 500 <= int(self.error_status) <= 599:
            raise ValueError("error_status must be 5xx")

    def reset(self) -> None:
        self.__dict__.update(Faults(ws_drop_generation=self.ws_drop_generation).__dict__)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
