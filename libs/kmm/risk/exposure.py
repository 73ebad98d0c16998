"""Exact worst-case settlement loss of positions and resting orders, in money units (µ$).

A binary pays $1 (``PAYOUT`` price units) per contract to the winning side. Holding long YES (position
> 0) or long NO (position < 0) at a cost basis C loses at most C. For the mutually exclusive markets of
one event (brackets: at most one settles YES) the worst case is taken jointly over the outcomes
"market k settles YES" and "none of our markets does":

    payout(k) = M + pos_k,  payout(none) = M,   where M = Σ NO holdings (count units)
    worst loss = C − PAYOUT · (M + min(0, min_k pos_k))

so long NO on two brackets loses at most once. Resting orders add the worst-case loss of the part
that would open new exposure (a bid beyond the short it closes loses at most price × count; an ask
beyond the long it closes loses at most (1 − price) × count); summing these bounds the joint worst
case from above.
"""

from __future__ import annotations

from collections.abc import Iterable

from kmm.messages.units import PRICE_SCALE

PAYOUT = PRICE_SCALE


def event_worst_loss(holdings: Iterable[tuple[int, int]]) -> int:
    """Worst-case loss (µ$) of ``(position, cost)`` pairs of the markets of ONE mutually exclusive event."""
    cost = 0
    no_total = 0
    min_pos = 0
    for position, basis in holdings:
        cost += basis
        if position < 0:
            no_total -= position
        if position < min_pos:
            min_pos = position
    return cost - PAYOUT * (no_total + min_pos)


def market_worst_loss(cost: int) -> int:
    """A standalone market loses at most its cost basis."""
    return cost


def opening_side_loss(position: int, side: str, price: int, count: int) -> int:
    """Worst-case loss (µ$) one side's resting ``count`` at ``price`` adds beyond what closes the position:
    a bid (buys YES) loses at most its price, an ask (sells YES = buys NO) at most 1 − price."""
    if side == "bid":
        return price * max(count - max(-position, 0), 0)
    return (PAYOUT - price) * max(count - max(position, 0), 0)


def opening_order_loss(position: int, bid_price: int, bid_count: int, ask_price: int, ask_count: int) -> int:
    """Worst-case loss (µ$) added by resting orders beyond the part that closes the current position."""
    return opening_side_loss(position, "bid", bid_price, bid_count) + opening_side_loss(position, "ask", ask_price,
                                                                                        ask_count)
