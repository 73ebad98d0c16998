"""Legacy V1 order requests (``/portfolio/orders`` create/amend; kalshi-api.md §7) → engine requests.

V1 speaks ``side`` yes|no plus ``action`` buy|sell and a YES or NO price (integer cents or a dollar
string). The engine has one YES book: buy YES and sell NO are bids, sell YES and buy NO are asks,
and a NO price q is the YES price 1 − q.
"""

from typing import Any

from kmm.messages.units import (
    CENT,
    COUNT_SCALE,
    NS_PER_S,
    ONE_DOLLAR,
    UnitError,
    dollars_to_price,
    fp_to_count,
)

from .orders import ASK, BID, GTC, STP_TAKER_AT_CROSS, AmendOrder, CreateOrder


class LegacyRequestError(ValueError):
    """A V1 request that cannot be translated (answered 400 ``invalid_parameters``)."""


def book_side(side: str, action: str) -> str:
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise LegacyRequestError("side must be yes|no and action buy|sell")
    return BID if (side == "yes") == (action == "buy") else ASK


def yes_price(d: dict[str, Any]) -> int:
    try:
        if d.get("yes_price_dollars") is not None:
            return dollars_to_price(str(d["yes_price_dollars"]))
        if d.get("yes_price") is not None:
            return int(d["yes_price"]) * CENT
        if d.get("no_price_dollars") is not None:
            return ONE_DOLLAR - dollars_to_price(str(d["no_price_dollars"]))
        if d.get("no_price") is not None:
            return ONE_DOLLAR - int(d["no_price"]) * CENT
    except (UnitError, ValueError, TypeError):
        raise LegacyRequestError("bad price") from None
    raise LegacyRequestError("one of yes_price, no_price, yes_price_dollars, no_price_dollars is required")


def count(d: dict[str, Any]) -> int:
    try:
        if d.get("count_fp") is not None:
            return fp_to_count(str(d["count_fp"]))
        if d.get("count") is not None:
            return int(d["count"]) * COUNT_SCALE
    except (UnitError, ValueError, TypeError):
        raise LegacyRequestError("bad count") from None
    raise LegacyRequestError("count or count_fp is required")


def create_request(d: dict[str, Any]) -> CreateOrder:
    if not d.get("ticker"):
        raise LegacyRequestError("ticker is required")
    exp = d.get("expiration_ts")
    return CreateOrder(
        ticker=str(d["ticker"]),
        side=book_side(str(d.get("side")), str(d.get("action"))),
        price=yes_price(d),
        count=count(d),
        time_in_force=str(d.get("time_in_force") or GTC),
        self_trade_prevention=str(d.get("self_trade_prevention_type") or STP_TAKER_AT_CROSS),
        client_order_id=d.get("client_order_id"),
        post_only=bool(d.get("post_only", False)),
        reduce_only=bool(d.get("reduce_only", False)),
        expiration_ns=None if exp is None else int(exp) * NS_PER_S,
        order_group_id=d.get("order_group_id"),
        cancel_order_on_pause=bool(d.get("cancel_order_on_pause", False)),
    )


def amend_request(d: dict[str, Any]) -> AmendOrder:
    return AmendOrder(price=yes_price(d), count=count(d), updated_client_order_id=d.get("updated_client_order_id"))
