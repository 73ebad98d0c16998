"""Turn what the allowance lets rest on one (market, side) into the fewest exchange requests.

- nothing allowed and a working order → cancel;
- something allowed and no working order → place (post-only);
- same price, smaller size → decrease (keeps queue priority);
- anything else that differs → amend (one request instead of cancel + place); an amend never adds
  size to an order whose fills we have not all applied yet (the exchange has filled more than we
  know: adding now could rest more than risk approved);
- orders in flight or ambiguous, or held back after a refusal, are left alone until the exchange
  answers.
"""

from dataclasses import dataclass

from .orders import IN_FLIGHT, Order

PLACE = "place"
CANCEL = "cancel"
AMEND = "amend"
DECREASE = "decrease"
PRIORITY = {CANCEL: 0, DECREASE: 1, AMEND: 2, PLACE: 3}  # what pulls risk goes first


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    market: str
    side: str
    price: int = 0
    count: int = 0
    order: Order | None = None


def plan_side(market: str, side: str, price: int, count: int, working: Order | None,
              now: float = 0.0) -> Action | None:
    """``count == 0`` means no quote on this side; ``now`` is monotonic seconds (for held orders)."""
    if working is not None and (working.status in IN_FLIGHT or working.hold_until > now):
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
        if working.fills_pending:
            return None
    elif working.fills_pending and count > working.count:
        return Action(AMEND, market, side, price, working.count, order=working)
    return Action(AMEND, market, side, price, count, order=working)
