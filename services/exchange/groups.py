"""Order groups: orders that auto-cancel together once a number of contracts matched in 15 s."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

ORDER_GROUP_WINDOW_NS = 15_000_000_000


@dataclass(slots=True)
class OrderGroup:
    """Orders that auto-cancel together once ``contracts_limit`` contracts matched within 15 s."""

    order_group_id: str
    user: str
    contracts_limit: int
    triggered: bool = False
    matched_in_window: int = 0
    created_ns: int = 0
    window: deque[tuple[int, int]] = field(default_factory=deque)
    order_ids: dict[str, None] = field(default_factory=dict)


    def record_match(self, qty: int, now: int) -> bool:
        """Count ``qty`` matched contracts at ``now``; True when the rolling window reaches the limit."""
        w = self.window
        w.append((now, qty))
        self.matched_in_window += qty
        horizon = now - ORDER_GROUP_WINDOW_NS
        while w and w[0][0] <= horizon:
            self.matched_in_window -= w.popleft()[1]
        return self.matched_in_window >= self.contracts_limit

    def reset(self) -> None:
        self.triggered = False
        self.window.clear()
        self.matched_in_window = 0
