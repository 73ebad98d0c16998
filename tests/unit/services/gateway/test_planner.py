"""The gateway's planner picks the fewest requests and never adds size it may not add."""

import pytest

from kmm_services.gateway.orders import (
    AMBIGUOUS,
    PENDING_CANCEL,
    PENDING_NEW,
    PENDING_UPDATE,
    RESTING,
    Order,
    client_order_id,
)
from kmm_services.gateway.planner import AMEND, CANCEL, DECREASE, PLACE, plan_side


def working(price: int = 4200, count: int = 1000, status: str = RESTING) -> Order:
    return Order("kmm-b-x", "M", "bid", price, count, order_id="o1", status=status)


def test_place_when_nothing_rests() -> None:
    a = plan_side("M", "bid", 4200, 1000, None)
    assert a is not None and (a.kind, a.price, a.count) == (PLACE, 4200, 1000)


def test_nothing_when_target_equals_order() -> None:
    assert plan_side("M", "bid", 4200, 1000, working()) is None
    assert plan_side("M", "bid", 0, 0, None) is None


def test_smaller_size_same_price_decreases_to_keep_priority() -> None:
    a = plan_side("M", "bid", 4200, 400, working())
    assert a is not None and (a.kind, a.count) == (DECREASE, 400)


@pytest.mark.parametrize("price, count", [(4300, 1000), (4200, 2000), (4100, 500)])
def test_price_change_or_larger_size_amends(price: int, count: int) -> None:
    a = plan_side("M", "bid", price, count, working())
    assert a is not None and (a.kind, a.price, a.count) == (AMEND, price, count)


def test_zero_target_cancels() -> None:
    w = working()
    a = plan_side("M", "bid", 0, 0, w)
    assert a is not None and a.kind == CANCEL and a.order is w


@pytest.mark.parametrize("status", [PENDING_NEW, PENDING_UPDATE, PENDING_CANCEL, AMBIGUOUS])
def test_orders_in_flight_or_unknown_are_left_alone(status: str) -> None:
    assert plan_side("M", "bid", 4300, 500, working(status=status)) is None
    assert plan_side("M", "bid", 0, 0, working(status=status)) is None


def test_a_held_order_waits_until_its_hold_ends() -> None:
    w = working()
    w.hold_until = 10.0
    assert plan_side("M", "bid", 4300, 1000, w, now=5.0) is None
    assert plan_side("M", "bid", 4300, 1000, w, now=11.0) is not None


def test_no_size_is_added_while_the_exchange_reports_fills_we_have_not_applied() -> None:
    w = working(count=600)
    w.exchange_filled = 400  # the exchange filled 400 that no fill event has told us about yet
    assert plan_side("M", "bid", 4200, 1000, w) is None
    a = plan_side("M", "bid", 4300, 1000, w)  # a price move keeps today's size, no more
    assert a is not None and (a.kind, a.price, a.count) == (AMEND, 4300, 600)


def test_client_order_id_is_deterministic_and_short() -> None:
    a = client_order_id("intent-1", "KXMKT-26DEC31-T50", "bid")
    assert a == client_order_id("intent-1", "KXMKT-26DEC31-T50", "bid")
    assert a != client_order_id("intent-1", "KXMKT-26DEC31-T50", "ask")
    assert a != client_order_id("intent-2", "KXMKT-26DEC31-T50", "bid")
    assert a != client_order_id("intent-1", "KXMKT-26DEC31-T50", "bid", attempt=1)
    assert len(a) <= 64 and a.startswith("kmm-b-")
