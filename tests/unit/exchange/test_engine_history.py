"""The simulator's public history window: old trades and candles go, every account's records stay."""

import argparse

import pytest

from kmm_services.exchange.candles import CandleRecorder
from kmm_services.exchange.cli import add_arguments, config_error
from kmm_services.exchange.engine import Exchange
from kmm_services.exchange.orders import ASK, BID

from .engine_support import TICKER, Clock, S, make_exchange, n, order

HOUR = 3600 * S


def trade(ex: Exchange, cents: int = 50) -> None:
    ex.create_order("a", order(ASK, cents, 1))
    ex.create_order("b", order(BID, cents, 1))


def test_trades_older_than_the_window_leave_the_public_tape_but_no_record() -> None:
    ex, clock = make_exchange(trade_history_ns=2 * HOUR)
    trade(ex, 40)
    clock.advance(HOUR)
    trade(ex, 45)
    clock.advance(90 * 60 * S)  # the first trade is now 2.5 h old, the second 1.5 h
    trade(ex, 50)
    clock.advance(2 * 60 * S)  # past the next minute's check
    ex.tick()

    assert [t.price for t in ex.trades(ticker=TICKER).items] == [5000, 4500]
    assert [t.price for t in ex.trades().items] == [5000, 4500]
    assert ex.trade_count == 3
    assert ex.market_stats(TICKER).volume == n(3)
    assert len(ex.fills("b").items) == 3
    assert ex.position("b", TICKER).position == n(3)
    ex.check_invariants()


def test_without_a_window_every_trade_stays() -> None:
    ex, clock = make_exchange()
    trade(ex)
    clock.advance(1000 * HOUR)
    trade(ex)
    ex.tick()
    assert len(ex.trades(ticker=TICKER).items) == 2


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="trade_history_ns"):
        Exchange(Clock(), trade_history_ns=0)


def test_candle_minutes_older_than_the_window_are_dropped() -> None:
    ex, clock = make_exchange()
    candles = CandleRecorder(ex, history_ns=2 * HOUR)
    ex.add_listener(candles)
    trade(ex, 40)
    first = clock.t // S
    clock.advance(3 * HOUR)
    trade(ex, 60)
    now = clock.t // S

    assert candles.candles(TICKER, first - 3600, first + 3600, 1) == []
    [bar] = candles.candles(TICKER, now - 3600, now + 3600, 1)
    assert bar["price"]["close_dollars"] == "0.6000"
    assert len(candles.minutes[TICKER]) == 1


def test_kmm_sim_names_a_negative_history_window() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "--history-hours" in config_error(parser.parse_args(["--history-hours", "-1"]))
    assert config_error(parser.parse_args(["--history-hours", "0"])) == ""
    assert parser.parse_args([]).history_hours == 24.0
