"""The write budget, spent where a stale quote costs most: the order in which the gateway launches requests.

When there are fewer write tokens than requests, the first ones in this order go out and the rest
wait for tokens. Two modes (``KMM_WRITE_SCHEDULER``):

- ``priority`` (default): cancels, then decreases (what pulls risk), then the update whose resting
  quote is most wrong — the distance between the resting price and the approved price times the size
  (``|Δprice| × count``, price units × count units); a side with nothing resting counts as
  :data:`MISSING_DISTANCE` away. Ties go to the market that has waited longest.
- ``fifo``: cancels, then decreases, then amends and places in the order their markets started
  waiting (the baseline the priority mode is measured against; what pulls risk still goes first).

:class:`Staleness` measures what the budget buys: the share of time a resting quote is more than
1¢ from the model's (approved) price — or rests while the model wants none on that side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kmm.messages.units import PRICE_SCALE

from .planner import AMEND, CANCEL, DECREASE, PLACE, Action

PRIORITY_MODE = "priority"
FIFO_MODE = "fifo"
MODES = (PRIORITY_MODE, FIFO_MODE)
CENT = PRICE_SCALE // 100
MISSING_DISTANCE = CENT  # a side with no resting order is as wrong as a quote one cent off
STALE_BEYOND = CENT  # a resting quote more than this far from the model is stale
KIND_RANK = {CANCEL: 0, DECREASE: 1, AMEND: 2, PLACE: 2}


def wrongness(a: Action) -> int:
    """How wrong the quote this action fixes is: |resting price − approved price| × size."""
    if a.kind == PLACE or a.order is None:
        return MISSING_DISTANCE * a.count
    return abs(a.order.price - a.price) * max(a.count, a.order.count)


def order_actions(actions: Iterable[Action], mode: str, waiting: Mapping[str, float]) -> list[Action]:
    """``actions`` in the order their requests should get tokens; ``waiting`` is each market's
    waiting-since time (monotonic seconds; markets not in it count as arriving now)."""
    late = float("inf")
    if mode == FIFO_MODE:
        return sorted(actions, key=lambda a: (KIND_RANK[a.kind], waiting.get(a.market, late)))
    return sorted(actions, key=lambda a: (KIND_RANK[a.kind], -wrongness(a) if KIND_RANK[a.kind] == 2 else 0,
                                          waiting.get(a.market, late)))


class Staleness:
    """Time-weighted share of (market, side) quote-time that rests more than 1¢ from the model."""

    __slots__ = ("fresh_s", "stale_s", "_last")

    def __init__(self) -> None:
        self.fresh_s = 0.0
        self.stale_s = 0.0
        self._last: float | None = None

    def sample(self, now: float, sides: Iterable[tuple[int, int, int]]) -> tuple[float, float]:
        """Account the time since the last sample to each resting side: ``(resting price, model price,
        model count)`` (model count 0: the model wants no quote there). Returns (fresh, stale) seconds
        added."""
        if self._last is None:
            self._last = now
            return 0.0, 0.0
        dt = max(now - self._last, 0.0)
        self._last = now
        fresh = stale = 0.0
        for resting, model, count in sides:
            if count <= 0 or abs(resting - model) > STALE_BEYOND:
                stale += dt
            else:
                fresh += dt
        self.fresh_s += fresh
        self.stale_s += stale
        return fresh, stale

    @property
    def share(self) -> float | None:
        total = self.fresh_s + self.stale_s
        return self.stale_s / total if total > 0 else None
