"""Candlesticks for ``GET /series/{s}/markets/{t}/candlesticks`` and ``GET /markets/candlesticks``.

An engine listener records, per market and minute, the OHLC of the best YES bid and ask (after each
book change) and of trade prices, with volume and the open interest after the last trade. Queries
aggregate minutes into 1-, 60- or 1440-minute periods; each candle's ``end_period_ts`` is the end of
its period (Unix seconds). Periods with no activity are left out. With a history window the minutes
older than it are dropped (checked once a virtual hour), so a long-running simulator's candles stay
bounded like its public trades.
"""

from dataclasses import dataclass
from typing import Any

from kmm.messages.units import NS_PER_S, ONE_DOLLAR, count_to_fp, price_to_dollars

from .engine import Exchange
from .events import BookDelta, TradePrint

PERIODS_MIN = (1, 60, 1440)
MINUTE_NS = 60 * NS_PER_S


@dataclass
class _Ohlc:
    open: int
    high: int
    low: int
    close: int

    def add(self, v: int) -> None:
        self.high = max(self.high, v)
        self.low = min(self.low, v)
        self.close = v

    def merge(self, other: "_Ohlc") -> None:
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close


@dataclass
class _Minute:
    bid: _Ohlc | None = None
    ask: _Ohlc | None = None
    price: _Ohlc | None = None
    notional: int = 0  # Σ price × count (for the mean)
    volume: int = 0
    open_interest: int | None = None


def _add(cur: _Ohlc | None, v: int) -> _Ohlc:
    if cur is None:
        return _Ohlc(v, v, v, v)
    cur.add(v)
    return cur


def _merge(a: _Ohlc | None, b: _Ohlc | None) -> _Ohlc | None:
    if b is None:
        return a
    if a is None:
        return _Ohlc(b.open, b.high, b.low, b.close)
    a.merge(b)
    return a


def _dist(o: _Ohlc | None, empty: int) -> dict[str, str]:
    o = o or _Ohlc(empty, empty, empty, empty)
    return {"open_dollars": price_to_dollars(o.open), "low_dollars": price_to_dollars(o.low),
            "high_dollars": price_to_dollars(o.high), "close_dollars": price_to_dollars(o.close)}


class CandleRecorder:
    """Engine listener keeping per-minute bars for every market."""

    def __init__(self, exchange: Exchange, history_ns: int | None = None) -> None:
        """``history_ns``: keep the minutes of this much virtual time (None: every minute)."""
        self.exchange = exchange
        self.minutes: dict[str, dict[int, _Minute]] = {}
        self.history_min = None if history_ns is None else -(-history_ns // MINUTE_NS)
        self._next_prune = 0

    def _minute(self, ticker: str, ts_ns: int) -> _Minute:
        bars = self.minutes.setdefault(ticker, {})
        key = ts_ns // MINUTE_NS
        bar = bars.get(key)
        if bar is None:
            bar = bars[key] = _Minute()
            if self.history_min is not None and key >= self._next_prune:
                self._forget_before(key - self.history_min)
                self._next_prune = key + 60
        return bar

    def _forget_before(self, minute: int) -> None:
        for ticker, bars in self.minutes.items():
            if bars and min(bars) < minute:
                self.minutes[ticker] = {k: v for k, v in bars.items() if k >= minute}

    def on_book_delta(self, ev: BookDelta) -> None:
        bid, ask = self.exchange.best_bid_ask(ev.ticker)
        bar = self._minute(ev.ticker, ev.ts_ns)
        if bid is not None:
            bar.bid = _add(bar.bid, bid)
        if ask is not None:
            bar.ask = _add(bar.ask, ask)

    def on_trade(self, ev: TradePrint) -> None:
        bar = self._minute(ev.ticker, ev.ts_ns)
        bar.price = _add(bar.price, ev.price)
        bar.notional += ev.price * ev.count
        bar.volume += ev.count
        bar.open_interest = self.exchange.market_stats(ev.ticker).open_interest

    def candles(self, ticker: str, start_s: int, end_s: int, period_min: int) -> list[dict[str, Any]]:
        """Candles whose period ends in [start_s, end_s] (Kalshi's range semantics), oldest first."""
        bars = self.minutes.get(ticker, {})
        groups: dict[int, list[tuple[int, _Minute]]] = {}
        for minute in sorted(bars):
            period_end = (minute // period_min + 1) * period_min * 60
            if start_s <= period_end and period_end - period_min * 60 <= end_s:
                groups.setdefault(period_end, []).append((minute, bars[minute]))
        out: list[dict[str, Any]] = []
        previous: int | None = None
        oi = 0
        for period_end, items in sorted(groups.items()):
            bid = ask = price = None
            notional = volume = 0
            for _, bar in items:
                bid, ask, price = _merge(bid, bar.bid), _merge(ask, bar.ask), _merge(price, bar.price)
                notional += bar.notional
                volume += bar.volume
                if bar.open_interest is not None:
                    oi = bar.open_interest
            candle: dict[str, Any] = {
                "end_period_ts": period_end,
                "yes_bid": _dist(bid, 0),
                "yes_ask": _dist(ask, ONE_DOLLAR),
                "price": {},
                "volume_fp": count_to_fp(volume),
                "open_interest_fp": count_to_fp(oi),
            }
            if price is not None:
                candle["price"] = {**_dist(price, 0), "mean_dollars": price_to_dollars(notional // volume),
                                   "min_dollars": price_to_dollars(price.low),
                                   "max_dollars": price_to_dollars(price.high)}
                if previous is not None:
                    candle["price"]["previous_dollars"] = price_to_dollars(previous)
                previous = price.close
            out.append(candle)
        return out
