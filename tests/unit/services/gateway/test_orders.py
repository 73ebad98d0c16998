"""The order state machine: moved only by exchange events, illegal transitions refused and counted."""

from kmm_services.gateway.orders import (
    AMBIGUOUS,
    CANCELED,
    FILLED,
    PARTIALLY_FILLED,
    PENDING_CANCEL,
    PENDING_NEW,
    PENDING_UPDATE,
    REJECTED,
    RESTING,
    Order,
    OrderTable,
)


def new(count: int = 1000) -> tuple[OrderTable, Order]:
    t = OrderTable()
    o = Order("kmm-b-1", "M", "bid", 4200, count)
    t.add(o)
    return t, o


def test_create_ack_fill_and_cancel() -> None:
    t, o = new()
    assert o.status == PENDING_NEW and t.get("M", "bid") is o
    assert t.apply(o, "acked", "o1", 1000, 0) and o.status == RESTING and t.find("o1") is o
    t.apply(o, "fill", 300)
    assert (o.status, o.count, o.filled) == (PARTIALLY_FILLED, 700, 300)
    t.apply(o, "cancel_sent")
    assert o.status == PENDING_CANCEL
    t.apply(o, "cancel_acked")
    assert o.status == CANCELED and t.get("M", "bid") is None
    t.apply(o, "fill", 100)  # a late fill after the cancel is real
    assert o.filled == 400 and o.status == CANCELED


def test_full_fill_ends_it_and_frees_the_side() -> None:
    t, o = new()
    t.apply(o, "acked", "o1", 1000, 0)
    t.apply(o, "fill", 1000)
    assert o.status == FILLED and o.count == 0 and t.get("M", "bid") is None


def test_a_fill_already_in_an_exchange_read_is_not_taken_off_twice() -> None:
    t, o = new()
    t.apply(o, "acked", "o1", 1000, 0)
    t.apply(o, "exchange", "resting", 4200, 600, 400)  # user_orders frame: 400 filled
    assert o.count == 600 and o.fills_pending
    t.apply(o, "fill", 400)  # the fill event arrives after the order update
    assert o.count == 600 and o.filled == 400 and not o.fills_pending
    t.apply(o, "exchange", "resting", 4200, 1000, 0)  # an older read: ignored
    assert o.count == 600


def test_ambiguous_create_is_resolved_only_by_the_exchange() -> None:
    t, o = new()
    t.apply(o, "ambiguous", 1.0)
    assert o.status == AMBIGUOUS and o.ambiguous_since == 1.0
    assert not t.apply(o, "update_sent", 4300, 1000)  # illegal: nothing may be done to it meanwhile
    assert t.illegal == 1 and o.status == AMBIGUOUS
    t.apply(o, "exchange", "resting", 4200, 1000, 0)
    assert o.status == RESTING and o.ambiguous_since == 0.0


def test_refused_update_goes_back_and_is_held() -> None:
    t, o = new()
    t.apply(o, "acked", "o1", 1000, 0)
    t.apply(o, "update_sent", 4300, 1500)
    assert o.status == PENDING_UPDATE and o.worst() == (4300, 1500)
    t.apply(o, "refused", 99.0)
    assert o.status == RESTING and o.hold_until == 99.0 and o.pending is None
    t.apply(o, "update_sent", 4300, 1000)
    t.apply(o, "update_acked", 4300, 1000, 0)
    assert (o.status, o.price, o.count) == (RESTING, 4300, 1000)


def test_reject_is_terminal() -> None:
    t, o = new()
    t.apply(o, "rejected")
    assert o.status == REJECTED and not t.apply(o, "acked", "o1", 1000, 0)
    assert t.get("M", "bid") is None


def test_of_market_uses_its_own_index_through_add_retire_and_prune() -> None:
    t = OrderTable()
    for i in range(6):
        t.add(Order(f"c{i}", "A" if i % 2 else "B", "bid", 5000, 100, order_id=f"o{i}",
                    status=CANCELED if i < 4 else RESTING), working=False)
    assert [o.client_order_id for o in t.of_market("A")] == ["c5"]
    assert [o.client_order_id for o in t.of_market("B")] == ["c4"]
    t.prune(keep=0)  # the four terminal orders are forgotten, from the market index too
    assert set(t.by_market) == {"A", "B"} and sum(len(v) for v in t.by_market.values()) == 2
    assert t.of_market("C") == []
