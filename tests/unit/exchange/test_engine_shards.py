"""Exchange shards: each event's markets live on one exchange index; cancels and decreases routed to
another shard do not find the order (Kalshi's routing, kalshi-api.md §3.5 / §6.2)."""

import pytest

from kmm_services.exchange.engine import AmendOrder, Exchange, ExchangeError
from kmm_services.exchange.markets import shard_for
from kmm_services.exchange.orders import ASK, BID, CANCELED, IOC, RESTING, CreateOrder

from .engine_support import Clock, c, n, usd


def event_on(shard: int, shards: int = 2) -> str:
    """The first event ticker KXS-Ek that lands on ``shard``."""
    return next(e for e in (f"KXS-E{k}" for k in range(100)) if shard_for(e, shards) == shard)


E0, E1 = event_on(0), event_on(1)
T0, T1 = f"{E0}-A", f"{E1}-A"


def two_shards() -> Exchange:
    ex = Exchange(Clock(), shards=2)
    for event in (E0, E1):
        ex.create_market(f"{event}-A", event)
    for user in ("a", "b"):
        ex.open_account(user, usd(1000))
    return ex


def _err(fn, *args, **kw) -> ExchangeError:
    with pytest.raises(ExchangeError) as err:
        fn(*args, **kw)
    return err.value


def test_markets_and_events_get_a_deterministic_shard() -> None:
    ex = two_shards()
    assert [ex.market(t).exchange_index for t in (T0, T1)] == [0, 1]
    assert [ex.event(e).exchange_index for e in (E0, E1)] == [0, 1]
    assert (shard_for("KXSIM-E000", 2), shard_for("KXSIM-E004", 2)) == (1, 0)  # crc32 mod N: stable
    single = Exchange(Clock())
    single.create_market(T1, E1)
    assert (single.shards, single.market(T1).exchange_index) == (1, 0)
    with pytest.raises(ValueError):
        Exchange(Clock(), shards=0)


def test_route_follows_the_sdk_rules() -> None:
    ex = two_shards()
    assert ex.route() == 0  # neither: exchange index 0
    assert ex.route(T1) == 1 and ex.route(T1, -1) == 1  # by the market's shard
    assert ex.route(T1, 0) == 0  # an explicit index wins
    assert _err(ex.route, None, -1).code == "invalid_parameters"  # auto-route needs a ticker
    assert _err(ex.route, None, 2).code == "invalid_parameters"
    assert _err(ex.route, "NOPE-1").status == 404


def test_records_carry_the_shard() -> None:
    ex = two_shards()
    rest = ex.create_order("a", CreateOrder(T1, BID, c(40), n(5)))
    ex.create_order("b", CreateOrder(T1, ASK, c(40), n(2), time_in_force=IOC))
    assert ex.get_order("a", rest.order_id).exchange_index == 1
    assert {f.exchange_index for f in ex.fills("a").items} == {1}
    assert ex.position("a", T1).exchange_index == 1 and ex.position("a", T0).exchange_index == 0
    (row,) = [s for s in ex.settle_market(T1, "yes") if s.user == "a"]
    assert row.exchange_index == 1
    assert [o.order_id for o in ex.orders("a", exchange_index=1).items] == [rest.order_id]
    assert ex.orders("a", exchange_index=0).items == []
    assert ex.fills("b", exchange_index=0).items == [] and len(ex.fills("b", exchange_index=1).items) == 1
    assert ex.positions("a", settlement_status="all", include_flat=True, exchange_index=0) == []


def test_cancel_routed_to_the_wrong_shard_is_not_found_and_the_order_stays() -> None:
    ex = two_shards()
    o1 = ex.create_order("a", CreateOrder(T1, BID, c(40), n(5))).order_id
    err = _err(ex.cancel_order, "a", o1, 0)
    assert err.status == 404 and "exchange index 0" in err.message
    assert ex.get_order("a", o1).status == RESTING
    assert ex.cancel_order("a", o1, ex.route(T1)).reduced_by == n(5)
    assert ex.get_order("a", o1).status == CANCELED


def test_batch_cancel_per_item_routing() -> None:
    ex = two_shards()
    o0 = ex.create_order("a", CreateOrder(T0, BID, c(40), n(1))).order_id
    o1 = ex.create_order("a", CreateOrder(T1, BID, c(40), n(1))).order_id
    unrouted = ex.batch_cancel("a", [(o0, ex.route()), (o1, ex.route())])  # no tickers: all to index 0
    assert [getattr(r, "reduced_by", None) for r in unrouted[:1]] == [n(1)]
    assert isinstance(unrouted[1], ExchangeError) and unrouted[1].status == 404
    assert ex.get_order("a", o1).status == RESTING
    (routed,) = ex.batch_cancel("a", [(o1, ex.route(T1))])
    assert routed.reduced_by == n(1) and ex.get_order("a", o1).status == CANCELED


def test_decrease_and_amend_check_the_shard_and_create_may_name_it() -> None:
    ex = two_shards()
    o1 = ex.create_order("a", CreateOrder(T1, BID, c(40), n(5))).order_id
    assert _err(ex.decrease_order, "a", o1, reduce_by=n(1), exchange_index=0).status == 404
    assert _err(ex.amend_order, "a", o1, AmendOrder(price=c(41), count=n(5)), exchange_index=0).status == 404
    assert ex.get_order("a", o1).remaining == n(5)
    assert ex.decrease_order("a", o1, reduce_by=n(1), exchange_index=1).remaining_count == n(4)
    assert ex.amend_order("a", o1, AmendOrder(price=c(41), count=n(4)), exchange_index=1).remaining_count == n(4)
    assert _err(ex.create_order, "a", CreateOrder(T1, BID, c(40), n(1), exchange_index=0)).status == 404
    assert ex.create_order("a", CreateOrder(T1, BID, c(39), n(1), exchange_index=-1)).status == RESTING
    assert ex.create_order("a", CreateOrder(T1, BID, c(38), n(1), exchange_index=1)).status == RESTING


def test_cancel_all_covers_every_shard() -> None:
    ex = two_shards()
    for t in (T0, T1):
        ex.create_order("a", CreateOrder(t, BID, c(40), n(1)))
    assert len(ex.cancel_all("a")) == 2 and ex.open_orders("a") == []
    ex.check_invariants()
