"""The quoter's per-market model: the series' fee rate, bounce-free σ, the guard fed by fills, per-series
close rules."""

from kmm.messages import BookUpdate, Fill, MarketInfo, Trade
from kmm.strategy.own_orders import OwnOrders
from kmm.strategy.quoting import QuoteParams
from kmm_services.quoter.model import MarketModel, fee_rate
from kmm_services.quoter.service import QuoterService, QuoterSettings

S = 1_000_000_000


def test_fee_rate_follows_the_series_and_assumes_fees_when_unknown() -> None:
    assert fee_rate(None) == 0.0175
    assert fee_rate(MarketInfo(market="M", fee_type="quadratic")) == 0.0
    assert fee_rate(MarketInfo(market="M", fee_type="quadratic_with_combo_maker_fees")) == 0.035
    assert fee_rate(MarketInfo(market="M", fee_type="quadratic_with_combo_maker_fees",
                               fee_multiplier_ppm=500_000)) == 0.0175
    assert fee_rate(MarketInfo(market="M", maker_fees=True)) == 0.0175  # an older marketdata
    assert fee_rate(MarketInfo(market="M", maker_fees=False)) == 0.0175  # lookup failed: fees apply


def book(ts: int, bid: int, ask: int) -> BookUpdate:
    return BookUpdate(market="M", bids=((bid, 1000),), asks=((ask, 1000),), ts_init=ts)


def test_a_flickering_book_does_not_raise_sigma() -> None:
    m = MarketModel("M", sigma_prior=5.0)
    own = OwnOrders()
    for i in range(4 * 3600):  # the ask flickers 51 ↔ 52 every second for four hours
        m.on_book(book(i * S, 5000, 5100 + 100 * (i % 2)), own)
    assert m.vol.sigma < 2.5


def test_a_toxic_fill_guards_the_bid_in_the_quote_state() -> None:
    params = QuoteParams(toxic_c=1.0, markout_s=10.0, guard_s=60.0, flow_threshold=0.9, flow_min=10.0)
    m = MarketModel("M", sigma_prior=5.0, params=params)
    m.on_info(MarketInfo(market="M", fee_type="quadratic"))
    m.on_book(book(0, 5000, 5100), OwnOrders())
    m.on_fill(Fill(fill_id="f", order_id="o", client_order_id="c", market="M", side="bid", price=5000, count=100), 0)
    m.on_book(book(11 * S, 4700, 4800), OwnOrders())  # the mid fell 2.5c
    state = m.state(11 * S, use_microprice=False)
    assert state is not None and (state.bid_guard, state.ask_guard) == (1.0, 0.0) and state.maker_fee_rate == 0.0
    m.on_trade(Trade(market="M", trade_id="t", price=4800, count=5000, taker_side="yes"), 12 * S)
    state = m.state(12 * S, use_microprice=False)
    assert state is not None and state.ask_guard == 1.0  # takers lifting the ask


def test_close_rules_are_per_series() -> None:
    svc = QuoterService(QuoterSettings(close_reduce_min=10.0, series_close_min={"INXD": (30.0, 2.0)}))
    assert svc.params_for("INXD").reduce_before_h == 0.5 and svc.params_for("INXD").stop_before_h == 2 / 60
    assert svc.params_for("KXOTHER").reduce_before_h == 10 / 60
    assert svc.params_for("INXD").gamma == svc.params.gamma
