"""What the backtest kernel quotes with: :class:`ASPolicy` (the live Avellaneda–Stoikov math, one
parameter set per cell, optionally through the live risk checks) and :class:`StaticQuotes` (fixed
quotes, for tests and fidelity checks). Both are plain descriptions turned into the kernel's arrays
by :meth:`kernel_arrays`; the quoting itself runs compiled (:mod:`kmm.backtest.kquote`).

A policy never sees a market's result or any event after the decision: the kernel hands the quoting
core only the book top, the reported position, σ from the mids so far and the time to the close.

With ``risk`` set, every decision goes through the live engine's check as the risk service runs it
(:mod:`kmm.backtest.krisk`): the replay applies an approval at once, so it is reported APPLIED at once
and only the newest approval stays outstanding; fills and settlements reach risk ``report_latency``
after they happen. :data:`BACKTEST_LIMITS` (the live defaults, with a daily-loss halt cleared at the
next trading day) is what ``kmm backtest``/``kmm grid`` and :func:`RiskedPolicy` use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE
from kmm.risk.engine import RiskLimits
from kmm.strategy.estimators import EwmaVolatility
from kmm.strategy.quoting import PRICE_SPACE, SPACES, ParamGrid, QuoteParams

from . import kernel as K

SIGMA_ESTIMATORS = ("ewma", "fixed")
# The live limits; a daily-loss halt clears at the next trading day (a multi-day replay keeps trading), as
# the engine's ``daily_loss_unlatch`` does. Every other halt latches for the rest of the run, as live.
BACKTEST_LIMITS = RiskLimits(daily_loss_unlatch=True)


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
    """Avellaneda–Stoikov quotes for every cell of ``params``. σ: ``sigma_estimator`` ``"ewma"`` (the
    live ``EwmaVolatility`` fed every replayed mid of the market) or ``"fixed"`` (``sigma_c``, ¢/√h).
    ``risk``: the live risk limits applied per cell, or None for no risk checks."""

    params: ParamGrid | QuoteParams
    sigma_c: float = 10.0
    space: str = PRICE_SPACE
    sigma_estimator: str = "fixed"
    post_only: bool = True
    hold_tolerance: int = 0  # the live quoter's requote tolerance (price units); 0 = off
    hold_size_tolerance: float = 0.0
    risk: RiskLimits | None = None

    def __post_init__(self) -> None:
        if isinstance(self.params, QuoteParams):
            object.__setattr__(self, "params", ParamGrid.from_params([self.params]))
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}")
        if self.sigma_estimator not in SIGMA_ESTIMATORS:
            raise ValueError(f"sigma estimator must be one of {SIGMA_ESTIMATORS}")

    @property
    def n_cells(self) -> int:
        return len(self.params)  # type: ignore[arg-type]

    def subset(self, idx: np.ndarray) -> ASPolicy:
        """The same policy over the cells ``idx`` only (grid workers)."""
        p = self.params
        cols = {n: getattr(p, n)[idx] for n in ("gamma", "kappa", "eta", "base_count", "max_position",
                                                 "horizon_h", "min_edge_c", "reduce_only_at")}
        return replace(self, params=ParamGrid.of(**cols))

    def with_risk(self, limits: RiskLimits | None) -> ASPolicy:
        return replace(self, risk=limits)

    def settings(self) -> dict[str, Any]:
        out = {"policy": "avellaneda_stoikov", "sigma_estimator": self.sigma_estimator, "space": self.space,
               "post_only": self.post_only, "hold_tolerance": self.hold_tolerance,
               "hold_size_tolerance": self.hold_size_tolerance, "risk": self.risk is not None}
        if self.sigma_estimator == "fixed":
            out["sigma_c"] = self.sigma_c
        if self.risk is not None:
            from dataclasses import asdict

            out["risk_limits"] = asdict(self.risk)
        return out

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, RiskLimits | None]:
        p: ParamGrid = self.params  # type: ignore[assignment]
        ki, kf, pf, pi, sq = _base_arrays(self.n_cells)
        ki[K.KI_POLICY] = K.POLICY_AS
        ki[K.KI_LOGIT] = int(self.space != PRICE_SPACE)
        ki[K.KI_POST_ONLY] = int(self.post_only)
        ki[K.KI_HOLD_TOL] = self.hold_tolerance
        kf[K.KF_HOLD_SIZE_TOL] = self.hold_size_tolerance
        kf[K.KF_SIGMA_C] = self.sigma_c
        if self.sigma_estimator == "ewma":
            est = EwmaVolatility(space=self.space)
            ki[K.KI_SIGMA_KIND] = K.SIGMA_EWMA if self.space == PRICE_SPACE else K.SIGMA_EWMA_LOGIT
            kf[K.KF_EWMA_BETA] = est._beta
            kf[K.KF_EWMA_PRIOR_VAR] = est._prior_var
            kf[K.KF_EWMA_PRIOR_H] = est._prior_h
        else:
            ki[K.KI_SIGMA_KIND] = K.SIGMA_FIXED
        for col, name in ((K.PF_GAMMA, "gamma"), (K.PF_KAPPA, "kappa"), (K.PF_ETA, "eta"),
                          (K.PF_HORIZON, "horizon_h"), (K.PF_MIN_EDGE, "min_edge_c"),
                          (K.PF_RO_AT, "reduce_only_at"), (K.PF_LIQ, "liq_c")):
            pf[:, col] = getattr(p, name)
        kf[K.KF_MAX_HORIZON] = float(np.max(p.horizon_h))
        pi[:, K.PI_BASE] = p.base_count
        pi[:, K.PI_MAX_POS] = p.max_position
        return ki, kf, pf, pi, sq, self.risk


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

    def settings(self) -> dict[str, Any]:
        return {"policy": "static", "quotes": [self.bid, self.bid_n, self.ask, self.ask_n],
                "risk": self.risk is not None}

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, RiskLimits | None]:
        ki, kf, pf, pi, sq = _base_arrays(self.n_cells)
        ki[K.KI_POLICY] = K.POLICY_STATIC
        kf[K.KF_MAX_HORIZON] = np.inf
        sq[:] = (self.bid, self.bid_n, self.ask, self.ask_n)
        return ki, kf, pf, pi, sq, self.risk


def RiskedPolicy(inner: ASPolicy | StaticQuotes, limits: RiskLimits | None = None) -> ASPolicy | StaticQuotes:  # noqa: N802
    """``inner`` with the live risk limits on (default: :data:`BACKTEST_LIMITS`)."""
    return inner.with_risk(limits or BACKTEST_LIMITS)
