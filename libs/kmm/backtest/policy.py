"""The backtester's bridge to the live quoting code: :class:`ASPolicy` calls
``kmm.strategy.quoting.quote_arrays`` (the same function the quoter runs) with one parameter set per
cell, so a grid of (γ, κ) pairs is one call per decision.

σ comes from a fixed value (``sigma_c``, ¢/√h) or from a per-market estimator factory; the
estimator is fed only the mids observed up to the decision (no look-ahead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from kmm.kalshi.fees import maker_rate
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

from .engine import Decision, fee_type_of
from .eventlog import EventLog


def _rate(fee_type: str) -> float:
    """The maker fee rate of a series as the float the quoting math takes (exact ints in fees.py)."""
    num, den = maker_rate(fee_type)
    return num / den


class SigmaEstimator(Protocol):
    """Streaming σ (¢/√h) fed with (ts_ns, mid in price units) observations, e.g.
    ``kmm.strategy.estimators.EwmaVolatility``."""

    def update(self, ts_ns: int, price: float) -> None: ...

    @property
    def sigma(self) -> float: ...


def sigma_factory(kind: str, space: str = PRICE_SPACE) -> Callable[[], SigmaEstimator] | None:
    """``fixed`` → None (use ``sigma_c``); ``ewma`` / ``window`` → the strategy's live estimators."""
    from kmm.strategy.estimators import EwmaVolatility, WindowVolatility

    if kind == "fixed":
        return None
    if kind == "ewma":
        return lambda: EwmaVolatility(space=space)
    if kind == "window":
        return lambda: WindowVolatility(space=space)
    raise ValueError(f"unknown sigma estimator {kind!r}")


class ASPolicy:
    """Avellaneda–Stoikov quotes for every cell of ``params`` (a :class:`ParamGrid`)."""

    def __init__(self, params: ParamGrid | QuoteParams, *, sigma_c: float = 10.0, space: str = PRICE_SPACE,
                 sigma_factory: Callable[[], SigmaEstimator] | None = None, post_only: bool = True,
                 hold_tolerance: int = 0, hold_size_tolerance: float = 0.0) -> None:
        self.params = params if isinstance(params, ParamGrid) else ParamGrid.from_params([params])
        self.n_cells = len(self.params)
        self.sigma_c = sigma_c
        self.space = space
        self.sigma_factory = sigma_factory
        self.post_only = post_only
        self.hold_tolerance = hold_tolerance  # the live quoter's requote tolerance (price units); 0 = off
        self.hold_size_tolerance = hold_size_tolerance
        self._prev = np.zeros((0, 4, self.n_cells), dtype=np.int64)
        self.grids: list[TickGrid] = []
        self.fee_rate: list[float] = []
        self._estimators: list[Any] = []
        self._seen: list[int] = []
        self._single = self.params.params(0) if self.n_cells == 1 else None
        self._max_horizon = float(np.max(self.params.horizon_h))
        self._sigma_now = sigma_c

    def subset(self, idx: np.ndarray) -> ASPolicy:
        """The same policy over the cells ``idx`` only (grid workers)."""
        cols = {n: getattr(self.params, n)[idx] for n in ("gamma", "kappa", "eta", "base_count", "max_position",
                                                           "horizon_h", "min_edge_c", "reduce_only_at")}
        return ASPolicy(ParamGrid.of(**cols), sigma_c=self.sigma_c, space=self.space,
                        sigma_factory=self.sigma_factory, post_only=self.post_only,
                        hold_tolerance=self.hold_tolerance, hold_size_tolerance=self.hold_size_tolerance)

    def start(self, log: EventLog, mid2: np.ndarray) -> None:
        self.grids = [TickGrid(tuple(tuple(r) for r in mm.tick_ranges)) for mm in log.markets]
        self.fee_rate = [_rate(fee_type_of(mm)) for mm in log.markets]
        self._estimators = [self.sigma_factory() if self.sigma_factory else None for _ in log.markets]
        self._seen = [0] * len(log.markets)
        self._prev = np.zeros((len(log.markets), 4, self.n_cells), dtype=np.int64)
        if self.sigma_factory is not None:
            ev = log.events
            self._market_idx = [np.flatnonzero(ev["market"] == m) for m in range(len(log.markets))]
            self._ts = ev["ts"]
            self._mid2 = mid2

    def _sigma(self, d: Decision) -> float:
        est = self._estimators[d.market]
        if est is None:
            return self.sigma_c
        idx = self._market_idx[d.market]
        upto = int(np.searchsorted(idx, d.index, side="right"))
        new = idx[self._seen[d.market]:upto]
        self._seen[d.market] = upto
        for t, m2 in zip(self._ts[new].tolist(), self._mid2[new].tolist(), strict=True):
            if m2:
                est.update(t, m2 / 2.0)
        return float(est.sigma)

    def cache_key(self, d: Decision) -> object:
        self._sigma_now = self._sigma(d)
        tau_h = d.tau_s / 3600.0
        return (self._sigma_now, "capped" if tau_h >= self._max_horizon else tau_h)

    def decide(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        bp, bc, ap, ac = self._model(d)
        if self.hold_tolerance:
            prev = self._prev[d.market]
            bp, bc = hold_side(prev[0], prev[1], bp, bc, self.hold_tolerance, self.hold_size_tolerance)
            ap, ac = hold_side(prev[2], prev[3], ap, ac, self.hold_tolerance, self.hold_size_tolerance)
            prev[0], prev[1], prev[2], prev[3] = bp, bc, ap, ac
        return bp, bc, ap, ac

    def _model(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not d.mid2:
            z = np.zeros(self.n_cells, dtype=np.int64)
            return z, z, z, z
        fee = self.fee_rate[d.market]
        tau_h = d.tau_s / 3600.0
        if self._single is not None:
            # the live quoter's scalar path (bit-identical to quote_arrays by the strategy's contract)
            state = MarketState(fair=d.mid2 / 2.0, best_bid=d.best_bid, best_ask=d.best_ask,
                                position=int(d.position[0]), sigma=self._sigma_now, tau_h=tau_h,
                                maker_fee_rate=fee)
            q1 = quote_one(state, self._single, self.grids[d.market], space=self.space, post_only=self.post_only)
            return (np.array([q1.bid_price]), np.array([q1.bid_count]), np.array([q1.ask_price]),
                    np.array([q1.ask_count]))
        state = MarketState(fair=d.mid2 / 2.0, best_bid=d.best_bid, best_ask=d.best_ask, position=d.position,
                            sigma=self._sigma_now, tau_h=tau_h, maker_fee_rate=fee)
        q = quote_arrays(state, self.params, self.grids[d.market], space=self.space, post_only=self.post_only)
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
                              maker_fees=fee_type_of(mm) == "quadratic_with_maker_fees")
            for e in self.engines:
                e.on_market(info)

    def cache_key(self, d: Decision) -> object:
        self.inner.cache_key(d)
        return None  # the risk engine's state moves with time (rate budget, day roll): always decide

    def decide(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from kmm.messages import APPLIED, QuoteIntent

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
                e.on_approval_status(ticker, f"{d.index}-{c}", APPLIED)  # the replay acts on it at once
                out[0][c], out[1][c], out[2][c], out[3][c] = (dec.bid_price, dec.bid_count, dec.ask_price,
                                                              dec.ask_count)
            else:
                self.denials[dec.code] = self.denials.get(dec.code, 0) + 1
        return out[0], out[1], out[2], out[3]

    def on_fills(self, market: int, side: int, cells: np.ndarray, price: np.ndarray, count: np.ndarray,
                 fee: np.ndarray) -> None:
        from kmm.messages import ASK, BID

        s = BID if side == 0 else ASK
        for c, p, n, f in zip(cells.tolist(), price.tolist(), count.tolist(), fee.tolist(), strict=True):
            self.engines[c].on_fill(self.tickers[market], s, p, n, f)

    def on_rejects(self, market: int, side: int, cells: np.ndarray, count: np.ndarray) -> None:
        from kmm.messages import ASK, BID

        s = BID if side == 0 else ASK
        for c, n in zip(cells.tolist(), count.tolist(), strict=True):
            self.engines[c].on_cancel(self.tickers[market], s, n)
