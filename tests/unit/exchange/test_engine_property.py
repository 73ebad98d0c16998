"""Property test: random multi-user order flows keep the ledger exact and the book uncrossed.

After every operation: money is conserved up to fees (Σ cash + $1 × open interest + fees = deposits),
balances are whole cents and never negative, reservations never exceed cash, each user's cash equals
deposits + Σ fill cash deltas + Σ settlement revenue, positions equal the signed sum of fills, and
the book is not crossed. At the end the market settles and only cash and fees remain.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmm_services.exchange.engine import AmendOrder, Exchange, ExchangeError
from kmm_services.exchange.markets import TAPERED_DECI_CENT, grid_prices
from kmm_services.exchange.orders import ASK, BID, FOK, GTC, IOC, STP_MAKER, STP_TAKER_AT_CROSS, CreateOrder

from .engine_support import CENT_M, EVENT, TICKER, Clock, S, usd

USERS = ("u0", "u1", "u2", "u3")
PRICES = [p for p in grid_prices(TAPERED_DECI_CENT) if p % 50 == 0 or p < 1000 or p > 9000]
EXPECTED_CODES = {
    "insufficient_balance", "post_only_rejected", "duplicate_client_order_id", "order_group_triggered",
    "invalid_parameters", "not_found",
}

MID = PRICES.index(5000)
price_index = st.one_of(st.integers(MID - 8, MID + 8), st.integers(0, len(PRICES) - 1))
create = st.tuples(
    st.just("create"), st.integers(0, 3), st.sampled_from([BID, ASK]), price_index,
    st.integers(1, 1500), st.sampled_from([GTC, GTC, IOC, FOK]), st.sampled_from([STP_TAKER_AT_CROSS, STP_MAKER]),
    st.sampled_from([False, False, False, False, True]), st.integers(0, 30), st.booleans(),
)
cancel = st.tuples(st.just("cancel"), st.integers(0, 3), st.integers(0, 50))
amend = st.tuples(st.just("amend"), st.integers(0, 3), st.integers(0, 50), price_index,
                  st.integers(1, 1500))
decrease = st.tuples(st.just("decrease"), st.integers(0, 3), st.integers(0, 50), st.integers(1, 800))
advance = st.tuples(st.just("advance"), st.integers(1, 20))
reset = st.tuples(st.just("reset"), st.integers(0, 3))
KINDS = {"create": create, "cancel": cancel, "amend": amend, "decrease": decrease, "advance": advance, "reset": reset}
op = st.sampled_from(["create"] * 8 + ["cancel", "amend", "decrease", "advance", "reset"]).flatmap(KINDS.__getitem__)
ops = st.lists(op, min_size=10, max_size=80)


def _pick_open(ex: Exchange, user: str, k: int) -> str | None:
    opens = ex.open_orders(user)
    return opens[k % len(opens)].order_id if opens else None


def _check(ex: Exchange) -> None:
    ex.check_invariants()
    bb, ba = ex.best_bid_ask(TICKER)
    assert bb is None or ba is None or bb < ba
    for u in USERS:
        acct = ex._accounts[u]
        assert acct.cash >= 0 and acct.cash % CENT_M == 0
        flows = sum(f.cash_delta for f in acct.fills) + sum(s.revenue for s in acct.settlements)
        assert acct.cash == acct.deposits + flows
        signed = sum(f.count if f.side == BID else -f.count for f in acct.fills)
        pos = ex.position(u, TICKER)
        assert pos.position == (0 if pos.settled else signed)
        assert pos.cost >= 0


def _apply(ex: Exchange, clock: Clock, op: tuple, groups: dict[str, str]) -> None:
    kind, ui = op[0], op[1]
    user = USERS[ui] if kind != "advance" else ""
    if kind == "create":
        _, _, side, pi, count, tif, stp, post_only, coid, grouped = op
        ex.create_order(user, CreateOrder(
            TICKER, side, PRICES[pi], count, time_in_force=tif, self_trade_prevention=stp,
            post_only=post_only and tif == GTC, client_order_id=f"c{coid}" if coid else None,
            order_group_id=groups[user] if grouped else None,
        ))
    elif kind == "cancel":
        oid = _pick_open(ex, user, op[2])
        if oid:
            ex.cancel_order(user, oid)
    elif kind == "amend":
        oid = _pick_open(ex, user, op[2])
        if oid:
            o = ex.get_order(user, oid)
            ex.amend_order(user, oid, AmendOrder(PRICES[op[3]], o.fill_count + op[4]))
    elif kind == "decrease":
        oid = _pick_open(ex, user, op[2])
        if oid:
            ex.decrease_order(user, oid, reduce_by=op[3])
    elif kind == "advance":
        clock.advance(op[1] * S)
        ex.tick()
    elif kind == "reset":
        ex.reset_order_group(user, groups[user])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=ops, fee_type=st.sampled_from(["quadratic", "quadratic_with_maker_fees"]),
       balances=st.lists(st.integers(0, 5000), min_size=4, max_size=4), result=st.sampled_from(["yes", "no"]),
       group_limit=st.integers(100, 3000))
def test_random_flows_conserve_money_and_never_cross(
    flow: list[tuple], fee_type: str, balances: list[int], result: str, group_limit: int
) -> None:
    clock = Clock()
    ex = Exchange(clock)
    ex.create_market(TICKER, EVENT, fee_type=fee_type, price_ranges=TAPERED_DECI_CENT)
    groups = {}
    for u, cents in zip(USERS, balances, strict=True):
        ex.open_account(u, 500 * CENT_M + cents * CENT_M)
        groups[u] = ex.create_order_group(u, group_limit).order_group_id
    for op in flow:
        try:
            _apply(ex, clock, op, groups)
        except ExchangeError as err:
            assert err.code in EXPECTED_CODES, err
        _check(ex)
    ex.settle_market(TICKER, result)
    _check(ex)
    total = sum(ex.balance(u).cash for u in USERS)
    assert total + ex.fees_collected == ex.total_deposits()
    assert all(not ex.open_orders(u) for u in USERS)


def test_deposit_is_whole_and_tracked() -> None:
    clock = Clock()
    ex = Exchange(clock)
    ex.open_account("x", usd(3))
    ex.deposit("x", usd(2))
    assert ex.total_deposits() == usd(5) == ex.balance("x").cash
