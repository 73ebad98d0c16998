"""Ledger: netting, cost basis, realized PnL, fees, settlement to the cent, money conservation."""

import pytest

from kmm_services.exchange.engine import ExchangeError
from kmm_services.exchange.ledger import Position, apply_trade, trade_cash
from kmm_services.exchange.markets import FINALIZED
from kmm_services.exchange.orders import ASK, BID, IOC, CreateOrder

from .engine_support import TICKER, make_exchange, n, order, usd


def test_trade_cash_nets_against_the_opposite_position() -> None:
    # long 5 YES, sell 8 @ .60: close 5 for +3.00, open 3 NO for −(3 × .40) = −1.20
    assert trade_cash(n(5), False, 6000, n(8)) == (n(5), n(3), 6000 * n(5) - 4000 * n(3))
    # short 2 (long 2 NO), buy 3 YES @ .30: close 2 NO for 2 × .70, open 1 YES for −.30
    assert trade_cash(-n(2), True, 3000, n(3)) == (n(2), n(1), 7000 * n(2) - 3000 * n(1))


def test_realized_pnl_when_position_crosses_zero() -> None:
    pos = Position(TICKER, "E")
    apply_trade(pos, True, 4000, n(3))   # buy 3 @ .40, cost 1.20
    apply_trade(pos, True, 4300, n(1))   # buy 1 @ .43, cost 1.63
    assert (pos.position, pos.cost) == (n(4), usd(1.63))
    apply_trade(pos, False, 5000, n(6))  # sell 6 @ .50: close 4 (+2.00 − 1.63), open 2 NO @ .50
    assert pos.position == -n(2)
    assert pos.realized_pnl == usd(0.37)
    assert pos.cost == usd(1.00)
    apply_trade(pos, True, 2000, n(2))   # buy back 2 YES @ .20: NO worth .80 each, cost .50 each
    assert (pos.position, pos.cost, pos.realized_pnl) == (0, 0, usd(0.37) + usd(0.60))


def test_partial_close_releases_cost_pro_rata_and_full_close_releases_all() -> None:
    pos = Position(TICKER, "E")
    apply_trade(pos, True, 3300, n(3))  # cost .99
    apply_trade(pos, False, 3300, n(1))  # release .33 exactly
    assert (pos.cost, pos.realized_pnl) == (usd(0.66), 0)
    apply_trade(pos, True, 3400, 1)  # 0.01 contract more: cost += .0034
    apply_trade(pos, False, 3300, n(2) + 1)
    assert (pos.position, pos.cost) == (0, 0)
    assert pos.realized_pnl == -100  # 0.01 contract bought .01 dearer than sold: −$0.0001


def test_engine_positions_fees_and_pnl_for_both_sides() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(BID, 40, 10))
    ex.create_order("b", order(ASK, 40, 10, time_in_force=IOC))
    ex.create_order("b", order(BID, 55, 4))
    ex.create_order("a", order(ASK, 55, 4, time_in_force=IOC))
    pa, pb = ex.position("a", TICKER), ex.position("b", TICKER)
    assert (pa.position, pb.position) == (n(6), -n(6))
    # a: bought 10 @ .40 (maker), sold 4 @ .55 (taker): realized 4 × .15 = .60
    assert pa.realized_pnl == usd(0.60)
    # b: bought 10 NO @ .60, then bought 4 YES @ .55 = sold 4 NO @ .45: realized 4 × −.15
    assert pb.realized_pnl == -usd(0.60)
    # taker fees: b 0.07×10×.4×.6 = .168 → .17; a 0.07×4×.55×.45 = .0693 → .07
    assert (pa.fees_paid, pb.fees_paid) == (usd(0.07), usd(0.17))
    assert ex.balance("a").cash == usd(1000) - usd(4.00) + usd(2.20) - usd(0.07)
    assert ex.balance("b").cash == usd(1000) - usd(6.00) + usd(1.80) - usd(0.17)
    assert ex.market_stats(TICKER).open_interest == n(6)
    assert ex.fees_collected == usd(0.24)
    ex.check_invariants()


def test_maker_fee_on_maker_fee_series() -> None:
    ex, _ = make_exchange(fee_type="quadratic_with_maker_fees")
    ex.create_order("a", order(BID, 50, 100))
    ex.create_order("b", order(ASK, 50, 100, time_in_force=IOC))
    # maker 0.0175 × 100 × .25 = .4375 → .44 ; taker 1.75
    assert ex.position("a", TICKER).fees_paid == usd(0.44)
    assert ex.position("b", TICKER).fees_paid == usd(1.75)
    fill = ex.fills("a").items[0]
    assert (fill.is_taker, fill.fee, fill.trade_fee, fill.rounding_fee) == (False, usd(0.44), 437_500, 2_500)
    ex.check_invariants()


def test_settlement_pays_one_dollar_per_winning_contract_to_the_cent() -> None:
    ex, _ = make_exchange()
    ex.create_order("a", order(BID, 37, 7))
    ex.create_order("b", order(ASK, 37, 7, time_in_force=IOC))
    ex.create_order("c", order(BID, 62, 3))
    ex.create_order("a", order(ASK, 62, 3, time_in_force=IOC))
    cash_before = {u: ex.balance(u).cash for u in "abc"}
    rows = {s.user: s for s in ex.settle_market(TICKER, "no")}
    # a long 4 YES (cost 4 × .37 = 1.48) → 0; b long 7 NO (cost 7 × .63 = 4.41) → $7; c long 3 YES → 0
    assert rows["b"].revenue == usd(7) and rows["b"].revenue_cents == 700
    assert (rows["b"].no_count, rows["b"].no_total_cost, rows["b"].yes_count) == (n(7), usd(4.41), 0)
    assert (rows["a"].yes_count, rows["a"].yes_total_cost, rows["a"].revenue) == (n(4), usd(1.48), 0)
    assert rows["c"].value_cents == 0 and rows["c"].market_result == "no"
    assert ex.balance("b").cash == cash_before["b"] + usd(7)
    assert ex.balance("a").cash == cash_before["a"]
    assert ex.position("b", TICKER).realized_pnl == usd(7) - usd(4.41)
    # a: realized 3 × (.62 − .37) = .75 on the sale, then −1.48 at settlement
    assert ex.position("a", TICKER).realized_pnl == usd(0.75) - usd(1.48)
    assert ex.positions("a") == []
    assert [p.ticker for p in ex.positions("a", settlement_status="settled", include_flat=True)] == [TICKER]
    # settled positions are flat: the flat filter (no count_filter=total_traded) must not hide them
    assert [p.ticker for p in ex.positions("a", settlement_status="settled")] == [TICKER]
    assert [p.ticker for p in ex.positions("b", settlement_status="all")] == [TICKER]
    assert ex.market(TICKER).status == FINALIZED
    assert ex.settlements("b").items == [rows["b"]]
    ex.check_invariants()
    total = sum(ex.balance(u).cash for u in "abcd")
    assert total + ex.fees_collected == ex.total_deposits()


def test_settled_market_rejects_orders_and_second_settlement() -> None:
    ex, _ = make_exchange()
    ex.settle_market(TICKER, "yes")
    with pytest.raises(ExchangeError) as err:
        ex.create_order("a", order(BID, 40, 1))
    assert err.value.code == "market_closed"
    with pytest.raises(ExchangeError):
        ex.settle_market(TICKER, "yes")


def test_mutually_exclusive_event_allows_one_yes() -> None:
    ex, _ = make_exchange()
    ex.create_market("MX-E-1", "MX-E", mutually_exclusive=True)
    ex.create_market("MX-E-2", "MX-E")
    ex.settle_market("MX-E-1", "yes")
    with pytest.raises(ExchangeError):
        ex.determine_market("MX-E-2", "yes")
    ex.settle_market("MX-E-2", "no")


def test_balance_locks_resting_order_cost() -> None:
    ex, _ = make_exchange()
    mine = ex.create_order("a", order(ASK, 30, 10))  # NO buy at .70: locks $7
    view = ex.balance("a")
    assert (view.cash, view.locked, view.available) == (usd(1000), usd(7), usd(993))
    ex.create_order("b", order(BID, 30, 4, time_in_force=IOC))
    assert ex.balance("a").locked == usd(4.20)
    ex.cancel_order("a", mine.order_id)
    assert ex.balance("a").locked == 0
    assert ex.balance("a").cash == usd(1000) - usd(2.80)
    assert ex.balance("a").portfolio_value == usd(2.80)


def test_event_positions_sum_the_markets_of_an_event() -> None:
    from kmm_services.exchange.orders import CreateOrder

    ex, _ = make_exchange()
    ex.create_market("KXT-26DEC31-B", "KXT-26DEC31")
    ex.create_order("a", order(BID, 40, 2))
    ex.create_order("b", order(ASK, 40, 2, time_in_force=IOC))
    ex.create_order("a", CreateOrder("KXT-26DEC31-B", ASK, 7000, n(3)))
    ex.create_order("b", CreateOrder("KXT-26DEC31-B", BID, 7000, n(3), time_in_force=IOC))
    (ev,) = ex.event_positions("a")
    # 2 YES @ .40 (.80) + 3 NO @ .30 (.90)
    assert (ev.event_ticker, ev.total_cost, ev.total_cost_shares) == ("KXT-26DEC31", usd(1.70), n(5))


def test_history_free_accounts_forget_closed_orders_and_fills() -> None:
    ex, _ = make_exchange()
    ex.open_account("bot", usd(100), keep_history=False)
    resting = ex.create_order("bot", order(BID, 40, 5))
    ex.create_order("a", order(ASK, 40, 5, time_in_force=IOC))
    with pytest.raises(ExchangeError) as err:
        ex.get_order("bot", resting.order_id)
    assert err.value.status == 404
    assert ex.fills("bot").items == [] and ex.orders("bot").items == []
    assert ex.position("bot", TICKER).position == n(5)
    live = ex.create_order("bot", order(BID, 39, 1))
    assert ex.get_order("bot", live.order_id).remaining == n(1)
    ex.check_invariants()


def test_fee_accumulator_across_one_orders_fills_matches_a_single_fill() -> None:
    ex, _ = make_exchange(users=("a", "b", "c", "d", "e"))
    for maker in "abcd":
        ex.create_order(maker, order(ASK, 50, 1))
    ack = ex.create_order("e", order(BID, 50, 4, time_in_force=IOC))
    fills = list(reversed(ex.fills("e").items))
    # each: trade fee .0175, balance −.5175 floored to −.52 (rounding .0025); the 4th rebates .01
    assert [(f.trade_fee, f.rounding_fee, f.rebate) for f in fills] == [(17_500, 2_500, 0)] * 3 + [(17_500, 2_500, 10_000)]
    assert ack.fees == usd(0.07)  # = 0.07 × 4 × .25, what one fill of 4 costs
    assert ex.balance("e").cash == usd(1000) - usd(2.00) - usd(0.07)
    assert ex.get_order("e", ack.order_id).taker_fees == usd(0.07)
    ex.check_invariants()


def test_subpenny_price_rounding_fee_goes_to_the_exchange() -> None:
    from kmm_services.exchange.markets import DECI_CENT
    from kmm_services.exchange.orders import CreateOrder

    ex, _ = make_exchange(price_ranges=DECI_CENT)
    ex.create_order("a", CreateOrder(TICKER, BID, 4210, n(1)))
    ex.create_order("b", CreateOrder(TICKER, ASK, 4210, n(1), time_in_force=IOC))
    # maker a pays .421 → −.43 (rounding .009); taker b buys NO at .579 plus trade fee
    # 0.07 × .421 × .579 = .01706… → .0171: −.5961 → −.60 (rounding .0039)
    assert ex.balance("a").cash == usd(1000) - usd(0.43)
    assert ex.balance("b").cash == usd(1000) - usd(0.60)
    assert ex.fees_collected == usd(0.03)
    (fb,) = ex.fills("b").items
    assert (fb.trade_fee, fb.rounding_fee, fb.fee) == (17_100, 3_900, usd(0.021))
    ex.check_invariants()


def test_settled_positions_are_listed_without_total_traded_but_flat_open_ones_are_not() -> None:
    ex, _ = make_exchange()
    ex.create_market("KXT-26DEC31-B", "KXT-26DEC31")
    ex.create_order("a", order(BID, 40, 2))
    ex.create_order("b", order(ASK, 40, 2, time_in_force=IOC))
    ex.settle_market(TICKER, "yes")  # a was long 2 YES: settled, flat
    other = "KXT-26DEC31-B"
    ex.create_order("a", CreateOrder(other, BID, 4000, n(1)))
    ex.create_order("c", CreateOrder(other, ASK, 4000, n(1), time_in_force=IOC))
    ex.create_order("a", CreateOrder(other, ASK, 4000, n(1)))
    ex.create_order("d", CreateOrder(other, BID, 4000, n(1), time_in_force=IOC))  # a: bought 1, sold 1, flat
    assert ex.position("a", other).position == 0 and not ex.position("a", other).settled
    assert [p.ticker for p in ex.positions("a", settlement_status="settled")] == [TICKER]
    assert [p.ticker for p in ex.positions("a", settlement_status="all")] == [TICKER]
    assert ex.positions("a") == []
    assert [p.ticker for p in ex.positions("a", settlement_status="all", include_flat=True)] == [TICKER, other]
