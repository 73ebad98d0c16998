"""Turn an approved target into the fewest exchange actions for one (market, side).

- no target and a working order → cancel;
- a target and no working order → place (post-only);
- same price, smaller size → decrease (keeps queue priority);
- anything else that differs → amend (one request instead of cancel + place);
- orders whose outcome is unknown are left alone until reconciliation resolves them.
"""

from dataclasses import dataclass

from .orders import AMBIGUOUS, CANCELING, PENDING, WorkingOrder

PLACE = "place"
CANCEL = "cancel"
AMEND = "amend"
DECREASE = "decrease"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    market: str
    side: str
    price: int = 0
    count: int = 0
    order: WorkingOrder | None = None


def plan_side(market: str, side: str, price: int, count: int, working: WorkingOrder | None) -> Action | None:
    """``count == 0`` means no quote on this side."""
    if working is not None and working.status in (PENDING, AMBIGUOUS, CANCELING):
        return None
    if count <= 0:
        return Action(CANCEL, market, side, order=working) if working is not None else None
    if working is None:
        return Action(PLACE, market, side, price, count)
    if working.price == price:
        if working.count == count:
            return None
        if count < working.count:
            return Action(DECREASE, market, side, price, count, order=working)
    return Action(AMEND, market, side, price, count, order=working)
