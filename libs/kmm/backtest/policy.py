"""What the backtest kernel quotes with: :class:`ASPolicy` (the live Avellaneda–Stoikov math, one
parameter set per cell, optionally through the live risk checks) and :class:`StaticQuotes` (fixed
quotes, for tests and fidelity checks). Both are plain descriptions turned into the kernel's arrays
by :meth:`kernel_arrays`; the quoting itself runs compiled (:mod:`kmm.strategy.quote_core`, the live
quoter's core), with the two-scale σ and the adverse-selection guard compiled beside it
(:mod:`kmm.backtest.ksignals`).

A policy never sees a market's result or any event after the decision: the kernel hands the quoting
core only the book top, the reported position, σ from the mids so far and the time to the close.

With ``risk`` set, every decision goes through the live engine's check as the risk service runs it
(:mod:`kmm.backtest.krisk`): the replay applies an approval at once, so it is reported APPLIED at once
and only the newest approval stays outstanding; fills and settlements reach risk ``report_latency``
after they happen. :data:`BACKTEST_LIMITS` (the live defaults, with a daily-loss halt cleared at the
next trading day) is what ``kmm backtest``/``kmm grid`` and :func:`RiskedPolicy` use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE
from kmm.risk.engine import RiskLimits
from kmm.strategy.estimators import EwmaVolatility, TwoScaleVolatility
from kmm.strategy.quoting import PRICE_SPACE, SPACES, ParamGrid, QuoteParams

from . import kernel as K
from . import ksignals as S

SIGMA_ESTIMATORS = ("tsrv", "ewma", "fixed")
# The live limits; a daily-loss halt clears at the next trading day (a multi-day replay keeps trading), as
# the engine's ``daily_loss_unlatch`` does. Every other halt latches for the rest of the run, as live.
BACKTEST_LIMITS = RiskLimits(daily_loss_unlatch=True)
# {series: (reduce_before_h or None, stop_before_h or None)}: a series' close rules (None keeps the cell's)
SeriesClose = dict[str, tuple[float | None, float | None]]


def _base_arrays(n_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ki = np.zeros(K.KI_N, dtype=np.int64)
    kf = np.zeros(K.KF_N, dtype=np.float64)
    pf = np.zeros((n_cells, K.PF_N), dtype=np.float64)
    pi = np.ones((n_cells, K.PI_N), dtype=np.int64)
    sq = np.zeros((n_cells, 4), dtype=np.int64)
    ki[K.KI_COUNT_STEP] = COUNT_SCALE
    ki[K.KI_POST_ONLY] = 1
    return ki, kf, pf, pi, sq


@dataclass(frozen=True)
class ASPolicy:
    """Avellaneda–Stoikov quotes for every cell of ``params`` (any ``QuoteParams`` field may differ per
    cell: γ, κ, the jump floor, the close rules, the guard…).

    σ: ``sigma_estimator`` ``"tsrv"`` (the live quoter's ``TwoScaleVolatility(lag=sigma_lag,
    prior_sigma=sigma_prior)`` fed every replayed mid of the market), ``"ewma"`` (``EwmaVolatility``) or
    ``"fixed"`` (``sigma_c``, ¢/√h). The adverse-selection guard runs as live from each cell's own fill
    reports, the replayed prints and the mids. ``hold_tolerance`` (price units, 0 = off) and
    ``hold_size_tolerance``: the live quoter's safe-side requote hold. ``series_close``: per-series close
    rules replacing the cells' ``reduce_before_h`` / ``stop_before_h`` in that series' markets
    (``kmm.backtest.series_table``). ``risk``: the live risk limits applied per cell, or None."""

    params: ParamGrid | QuoteParams
    sigma_c: float = 10.0
    space: str = PRICE_SPACE
    sigma_estimator: str = "fixed"
    post_only: bool = True
    hold_tolerance: int = 0
    hold_size_tolerance: float = 0.0
    risk: RiskLimits | None = None
    sigma_lag: int = 10
    sigma_prior: float = 5.0
    series_close: SeriesClose = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.params, QuoteParams):
            object.__setattr__(self, "params", ParamGrid.from_params([self.params]))
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}")
        if self.sigma_estimator not in SIGMA_ESTIMATORS:
            raise ValueError(f"sigma estimator must be one of {SIGMA_ESTIMATORS}")
        if self.hold_tolerance < 0 or self.hold_size_tolerance < 0:
            raise ValueError("hold_tolerance and hold_size_tolerance must be >= 0")
        for series, rule in self.series_close.items():
            if len(rule) != 2 or any(v is not None and not v >= 0 for v in rule):
                raise ValueError(f"series_close[{series!r}] must be (reduce_before_h, stop_before_h), each >= 0 or None")

    @property
    def n_cells(self) -> int:
        return len(self.params)  # type: ignore[arg-type]

    def subset(self, idx: np.ndarray) -> ASPolicy:
        """The same policy over the cells ``idx`` only (grid workers)."""
        return replace(self, params=self.params.subset(idx))  # type: ignore[union-attr]

    def with_risk(self, limits: RiskLimits | None) -> ASPolicy:
        return replace(self, risk=limits)

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": "avellaneda_stoikov", "sigma_estimator": self.sigma_estimator, "space": self.space,
            "post_only": self.post_only, "hold_tolerance": self.hold_tolerance,
            "hold_size_tolerance": self.hold_size_tolerance, "risk": self.risk is not None,
            "series_close_h": {k: list(v) for k, v in self.series_close.items()}}
        if self.sigma_estimator == "fixed":
            out["sigma_c"] = self.sigma_c
        if self.sigma_estimator == "tsrv":
            out.update(sigma_lag=self.sigma_lag, sigma_prior=self.sigma_prior)
        if self.n_cells == 1:
            out["params"] = {k: v for k, v in asdict(self.params.params(0)).items()  # type: ignore[union-attr]
                             if k != "liq_c"}
        if self.risk is not None:
            out["risk_limits"] = asdict(self.risk)
        return out

    def market_close_rules(self, series: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(reduce_before_h, stop_before_h) per market of these series; NaN = the cell's own."""
        red = np.full(len(series), np.nan)
        stop = np.full(len(series), np.nan)
        for m, name in enumerate(series):
            rule = self.series_close.get(name)
            if rule is not None:
                red[m] = np.nan if rule[0] is None else rule[0]
                stop[m] = np.nan if rule[1] is None else rule[1]
        return red, stop

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, RiskLimits | None]:
        p: ParamGrid = self.params  # type: ignore[assignment]
        ki, kf, pf, pi, sq = _base_arrays(self.n_cells)
        ki[K.KI_POLICY] = K.POLICY_AS
        logit = self.space != PRICE_SPACE
        ki[K.KI_LOGIT] = int(logit)
        ki[K.KI_POST_ONLY] = int(self.post_only)
        ki[K.KI_HOLD_TOL] = self.hold_tolerance
        kf[K.KF_HOLD_SIZE_TOL] = self.hold_size_tolerance
        kf[K.KF_SIGMA_C] = self.sigma_c
        if self.sigma_estimator == "ewma":
            est = EwmaVolatility(space=self.space)
            ki[K.KI_SIGMA_KIND] = K.SIGMA_EWMA_LOGIT if logit else K.SIGMA_EWMA
            kf[K.KF_EST_BETA], kf[K.KF_EST_PRIOR_VAR], kf[K.KF_EST_PRIOR_W] = est._beta, est._prior_var, est._prior_h
        elif self.sigma_estimator == "tsrv":
            ts = TwoScaleVolatility(lag=self.sigma_lag, prior_sigma=self.sigma_prior, space=self.space)
            ki[K.KI_SIGMA_KIND] = K.SIGMA_TSRV_LOGIT if logit else K.SIGMA_TSRV
            kf[K.KF_EST_BETA], kf[K.KF_EST_PRIOR_VAR], kf[K.KF_EST_PRIOR_W] = ts._beta, ts._prior_var, ts._prior_w
            kf[K.KF_SIGMA_C] = ts.sigma  # the prior: σ before the first mid
        else:
            ki[K.KI_SIGMA_KIND] = K.SIGMA_FIXED
        for col, name in ((K.PF_GAMMA, "gamma"), (K.PF_KAPPA, "kappa"), (K.PF_ETA, "eta"),
                          (K.PF_HORIZON, "horizon_h"), (K.PF_MIN_EDGE, "min_edge_c"),
                          (K.PF_RO_AT, "reduce_only_at"), (K.PF_LIQ, "liq_c"), (K.PF_JUMP, "jump_frac"),
                          (K.PF_REDUCE_H, "reduce_before_h"), (K.PF_STOP_H, "stop_before_h"),
                          (K.PF_GUARD_WIDEN, "guard_widen_c"), (K.PF_GUARD_SIZE, "guard_size")):
            pf[:, col] = getattr(p, name)
        # τ beyond which no cell's quote depends on it (the series' close rules are added by the engine)
        kf[K.KF_TAU_FAR] = np.inf if np.any(p.jump_frac > 0) else p.close_h
        pi[:, K.PI_BASE] = p.base_count
        pi[:, K.PI_MAX_POS] = p.max_position
        ki[K.KI_GUARD_TOXIC] = int(np.any(np.isfinite(p.toxic_c)))
        ki[K.KI_GUARD_FLOW] = int(np.any(np.isfinite(p.flow_threshold)))
        return ki, kf, pf, pi, sq, self.risk

    def guard_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The guard's per-cell parameters (``ksignals.GP``, ``GPI``), converted as ``AdverseGuard``."""
        p: ParamGrid = self.params  # type: ignore[assignment]
        return S.guard_params(p.toxic_c, p.markout_s, p.guard_s, p.flow_threshold, p.flow_half_life_s, p.flow_min)


@dataclass(frozen=True)
class StaticQuotes:
    """The same quotes at every decision (count 0 = no quote on that side), in every cell."""

    bid: int = 0
    bid_n: int = 0
    ask: int = 0
    ask_n: int = 0
    n_cells: int = 1
    risk: RiskLimits | None = None

    def subset(self, idx: np.ndarray) -> StaticQuotes:
        return replace(self, n_cells=len(idx))

    def with_risk(self, limits: RiskLimits | None) -> StaticQuotes:
        return replace(self, risk=limits)

    def market_close_rules(self, series: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(series), np.nan), np.full(len(series), np.nan)

    def guard_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        inf = np.full(self.n_cells, np.inf)
        return S.guard_params(inf, np.full(self.n_cells, 10.0), np.zeros(self.n_cells), inf,
                              np.full(self.n_cells, 600.0), np.zeros(self.n_cells))

    def settings(self) -> dict[str, Any]:
        return {"policy": "static", "quotes": [self.bid, self.bid_n, self.ask, self.ask_n],
                "risk": self.risk is not None}

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, RiskLimits | None]:
        ki, kf, pf, pi, sq = _base_arrays(self.n_cells)
        ki[K.KI_POLICY] = K.POLICY_STATIC
        kf[K.KF_TAU_FAR] = np.inf
        sq[:] = (self.bid, self.bid_n, self.ask, self.ask_n)
        return ki, kf, pf, pi, sq, self.risk


def RiskedPolicy(inner: ASPolicy | StaticQuotes, limits: RiskLimits | None = None) -> ASPolicy | StaticQuotes:  # noqa: N802
    """``inner`` with the live risk limits on (default: :data:`BACKTEST_LIMITS`)."""
    return inner.with_risk(limits or BACKTEST_LIMITS)
