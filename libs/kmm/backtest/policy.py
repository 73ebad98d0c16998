"""The backtester's bridge to the live quoting code: :class:`ASPolicy` calls
``kmm.strategy.quoting.quote_arrays`` (the same function the quoter runs) with one parameter set per
cell, so a grid of parameter sets is one call per decision.

σ comes from a fixed value (``sigma_c``, ¢/√h) or from a per-market estimator factory (the live
quoter's two-scale σ by default); the estimator is fed only the mids observed up to the decision (no
look-ahead). The adverse-selection guard (``kmm.strategy.guard.AdverseGuard``, one per market over
all cells) is fed the replayed prints up to the decision and each cell's own fills, as the quoter
feeds it ``md:trade`` and its fills. The requote hold (``hold_tolerance``) is the live quoter's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from kmm.kalshi.fees import rate_float
from kmm.strategy.guard import AdverseGuard
from kmm.strategy.quoting import (
    PRICE_SPACE,
    MarketState,
    ParamGrid,
    QuoteParams,
    hold_side,
    quote_arrays,
    quote_one,
)
from kmm.strategy.ticks import TickGrid

from .engine import Decision, fee_type_of, maker_rate_of
from .eventlog import ASK, TRADE, EventLog

SIGMA_ESTIMATORS = ("tsrv", "ewma", "window", "fixed")


class SigmaEstimator(Protocol):
    """Streaming σ (¢/√h) fed with (ts_ns, mid in price units) observations, e.g.
    ``kmm.strategy.estimators.TwoScaleVolatility``."""

    def update(self, ts_ns: int, price: float) -> None: ...

    @property
    def sigma(self) -> float: ...


def sigma_factory(kind: str, space: str = PRICE_SPACE) -> Callable[[], SigmaEstimator] | None:
    """``fixed`` → None (use ``sigma_c``); ``tsrv`` (the live quoter's), ``ewma``, ``window`` → the
    strategy's estimators."""
    from kmm.strategy.estimators import EwmaVolatility, TwoScaleVolatility, WindowVolatility

    if kind == "fixed":
        return None
    if kind == "tsrv":
        return lambda: TwoScaleVolatility(space=space)
    if kind == "ewma":
        return lambda: EwmaVolatility(space=space)
    if kind == "window":
        return lambda: WindowVolatility(space=space)
    raise ValueError(f"unknown sigma estimator {kind!r}")


SeriesClose = dict[str, tuple[float | None, float | None]]


class ASPolicy:
    """Avellaneda–Stoikov quotes for every cell of ``params`` (a :class:`ParamGrid`).

    ``series_close`` ({series: (reduce_before_h, stop_before_h)}, None = keep the cell's) replaces the
    close rules for that series' markets (``kmm.backtest.series_table``)."""

    def __init__(self, params: ParamGrid | QuoteParams, *, sigma_c: float = 10.0, space: str = PRICE_SPACE,
                 sigma_factory: Callable[[], SigmaEstimator] | None = None, post_only: bool = True,
                 hold_tolerance: int = 0, hold_size_tolerance: float = 0.0,
                 series_close: SeriesClose | None = None) -> None:
        self.params = params if isinstance(params, ParamGrid) else ParamGrid.from_params([params])
        self.n_cells = len(self.params)
        self.sigma_c = sigma_c
        self.space = space
        self.sigma_factory = sigma_factory
        self.post_only = post_only
        self.hold_tolerance = hold_tolerance  # the live quoter's requote tolerance (price units); 0 = off
        self.hold_size_tolerance = hold_size_tolerance
        self.series_close = dict(series_close or {})
        self._prev = np.zeros((0, 4, self.n_cells), dtype=np.int64)
        self.grids: list[TickGrid] = []
        self.fee_rate: list[float] = []
        self._estimators: list[Any] = []
        self._guards: list[AdverseGuard] = []
        self._market_params: list[ParamGrid] = []
        self._market_single: list[QuoteParams | None] = []
        self._seen: list[int] = []
        self._sigma_now = sigma_c
        self._guard_now: tuple[np.ndarray, np.ndarray] = (np.zeros(self.n_cells), np.zeros(self.n_cells))
        self._uses_tau = bool(np.any(self.params.jump_frac > 0))
        self._feeds_trades = bool(np.any(np.isfinite(self.params.flow_threshold)))

    def subset(self, idx: np.ndarray) -> ASPolicy:
        """The same policy over the cells ``idx`` only (grid workers)."""
        return ASPolicy(self.params.subset(idx), sigma_c=self.sigma_c, space=self.space,
                        sigma_factory=self.sigma_factory, post_only=self.post_only,
                        hold_tolerance=self.hold_tolerance, hold_size_tolerance=self.hold_size_tolerance,
                        series_close=self.series_close)

    def start(self, log: EventLog, mid2: np.ndarray) -> None:
        n_m = len(log.markets)
        self.grids = [TickGrid(tuple(tuple(r) for r in mm.tick_ranges)) for mm in log.markets]
        self.fee_rate = [rate_float(maker_rate_of(mm)) for mm in log.markets]
        self._estimators = [self.sigma_factory() if self.sigma_factory else None for _ in log.markets]
        self._guards = [AdverseGuard.from_params(self.params) for _ in log.markets]
        self._market_params = []
        for mm in log.markets:
            rule = self.series_close.get(mm.series)
            p = self.params
            if rule is not None:
                p = p.replace(**{k: v for k, v in zip(("reduce_before_h", "stop_before_h"), rule, strict=True)
                                 if v is not None})
            self._market_params.append(p)
        self._market_single = [p.params(0) if self.n_cells == 1 else None for p in self._market_params]
        self._close_h = [p.close_h for p in self._market_params]
        self._seen = [0] * n_m
        self._prev = np.zeros((n_m, 4, self.n_cells), dtype=np.int64)
        ev = log.events
        self._market_idx = [np.flatnonzero(ev["market"] == m) for m in range(n_m)]
        self._ts = ev["ts"]
        self._mid2 = mid2
        self._kind = ev["kind"]
        self._side = ev["side"]
        self._qty = ev["qty"]

    def _feed(self, d: Decision) -> None:
        """Feed the market's σ estimator and guard with its events up to the decision (no look-ahead)."""
        est = self._estimators[d.market]
        if est is None and not self._feeds_trades:
            return
        idx = self._market_idx[d.market]
        upto = int(np.searchsorted(idx, d.index, side="right"))
        new = idx[self._seen[d.market]:upto]
        self._seen[d.market] = upto
        if est is not None:
            for t, m2 in zip(self._ts[new].tolist(), self._mid2[new].tolist(), strict=True):
                if m2:
                    est.update(t, m2 / 2.0)
        if self._feeds_trades:
            trades = new[self._kind[new] == TRADE]
            guard = self._guards[d.market]
            for t, side, qty in zip(self._ts[trades].tolist(), self._side[trades].tolist(),
                                    self._qty[trades].tolist(), strict=True):
                guard.on_trade(t, side == ASK, qty)

    def cache_key(self, d: Decision) -> object:
        self._feed(d)
        est = self._estimators[d.market]
        self._sigma_now = self.sigma_c if est is None else float(est.sigma)
        bid_g, ask_g = self._guard_now = self._guards[d.market].update(d.ts, d.mid2 / 2.0 if d.mid2 else float("nan"))
        tau_h = d.tau_s / 3600.0
        tau_key: object = tau_h
        if tau_h >= self._close_h[d.market] and (not self._uses_tau or tau_h == float("inf")):
            tau_key = "far"  # neither the jump floor nor a close rule depends on τ here
        guard_key = (bid_g.tobytes(), ask_g.tobytes()) if (bid_g.any() or ask_g.any()) else None
        return (self._sigma_now, tau_key, guard_key)

    def on_fills(self, market: int, side: int, cells: np.ndarray, price: np.ndarray, count: np.ndarray,
                 fee: np.ndarray, ts: int = 0) -> None:
        """The engine's fill hook: each cell's own fills feed its guard."""
        self._guards[market].on_fill(ts, side, cells, price)

    def decide(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        bp, bc, ap, ac = self._model(d)
        if self.hold_tolerance:
            prev = self._prev[d.market]
            bp, bc = hold_side(prev[0], prev[1], bp, bc, self.hold_tolerance, self.hold_size_tolerance, bid=True)
            ap, ac = hold_side(prev[2], prev[3], ap, ac, self.hold_tolerance, self.hold_size_tolerance, bid=False)
            prev[0], prev[1], prev[2], prev[3] = bp, bc, ap, ac
        return bp, bc, ap, ac

    def _model(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not d.mid2:
            z = np.zeros(self.n_cells, dtype=np.int64)
            return z, z, z, z
        fee = self.fee_rate[d.market]
        tau_h = d.tau_s / 3600.0
        bid_g, ask_g = self._guard_now
        single = self._market_single[d.market]
        if single is not None:
            # the live quoter's scalar path (bit-identical to quote_arrays by the strategy's contract)
            state = MarketState(fair=d.mid2 / 2.0, best_bid=d.best_bid, best_ask=d.best_ask,
                                position=int(d.position[0]), sigma=self._sigma_now, tau_h=tau_h,
                                maker_fee_rate=fee, bid_guard=float(bid_g[0]), ask_guard=float(ask_g[0]))
            q1 = quote_one(state, single, self.grids[d.market], space=self.space, post_only=self.post_only)
            return (np.array([q1.bid_price]), np.array([q1.bid_count]), np.array([q1.ask_price]),
                    np.array([q1.ask_count]))
        state = MarketState(fair=d.mid2 / 2.0, best_bid=d.best_bid, best_ask=d.best_ask, position=d.position,
                            sigma=self._sigma_now, tau_h=tau_h, maker_fee_rate=fee, bid_guard=bid_g, ask_guard=ask_g)
        q = quote_arrays(state, self._market_params[d.market], self.grids[d.market], space=self.space,
                         post_only=self.post_only)
        return q.bid_price, q.bid_count, q.ask_price, q.ask_count


class RiskedPolicy:
    """``inner``'s quotes passed through the live risk engine (``kmm.risk.engine.RiskEngine``), one
    engine per cell, fed the replayed book tops, σ, and the cell's own fills and rejects. A denied
    intent (halted, closed, rate-limited…) withdraws that cell's quotes in that market."""

    def __init__(self, inner: ASPolicy, limits: Any = None) -> None:
        from kmm.risk.engine import RiskEngine, RiskLimits

        self.inner = inner
        self.n_cells = inner.n_cells
        self.limits = limits or RiskLimits()
        self._now = 0
        self.engines = [RiskEngine(self.limits, lambda: self._now) for _ in range(self.n_cells)]
        self.denials: dict[str, int] = {}

    def subset(self, idx: np.ndarray) -> RiskedPolicy:
        return RiskedPolicy(self.inner.subset(idx), self.limits)

    def start(self, log: EventLog, mid2: np.ndarray) -> None:
        from kmm.messages import MarketInfo

        self.inner.start(log, mid2)
        self.tickers = log.tickers
        for mm in log.markets:
            info = MarketInfo(market=mm.ticker, event=mm.event, series=mm.series, status="open",
                              close_ts=mm.close_ts, tick_ranges=tuple(tuple(r) for r in mm.tick_ranges),
                              maker_fees=fee_type_of(mm) == "quadratic_with_maker_fees", fee_type=fee_type_of(mm),
                              fee_multiplier_ppm=mm.fee_multiplier_ppm)
            for e in self.engines:
                e.on_market(info)

    def cache_key(self, d: Decision) -> object:
        self.inner.cache_key(d)
        return None  # the risk engine's state moves with time (rate budget, day roll): always decide

    def decide(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from kmm.messages import QuoteIntent

        bp, bn, ap, an = self.inner.decide(d)
        self._now = d.ts
        ticker = self.tickers[d.market]
        out = [np.zeros(self.n_cells, dtype=np.int64) for _ in range(4)]
        for c, e in enumerate(self.engines):
            e.on_book(ticker, d.best_bid, d.best_ask)
            e.on_volatility(ticker, self.inner._sigma_now)
            dec = e.check(QuoteIntent(intent_id=f"{d.index}-{c}", market=ticker, bid_price=int(bp[c]),
                                      bid_count=int(bn[c]), ask_price=int(ap[c]), ask_count=int(an[c])))
            if dec.approved:
                out[0][c], out[1][c], out[2][c], out[3][c] = (dec.bid_price, dec.bid_count, dec.ask_price,
                                                              dec.ask_count)
            else:
                self.denials[dec.code] = self.denials.get(dec.code, 0) + 1
        return out[0], out[1], out[2], out[3]

    def on_fills(self, market: int, side: int, cells: np.ndarray, price: np.ndarray, count: np.ndarray,
                 fee: np.ndarray, ts: int = 0) -> None:
        from kmm.messages import ASK, BID

        self.inner.on_fills(market, side, cells, price, count, fee, ts)
        s = BID if side == 0 else ASK
        for c, p, n, f in zip(cells.tolist(), price.tolist(), count.tolist(), fee.tolist(), strict=True):
            self.engines[c].on_fill(self.tickers[market], s, p, n, f)

    def on_rejects(self, market: int, side: int, cells: np.ndarray, count: np.ndarray) -> None:
        from kmm.messages import ASK, BID

        s = BID if side == 0 else ASK
        for c, n in zip(cells.tolist(), count.tolist(), strict=True):
            self.engines[c].on_cancel(self.tickers[market], s, n)
