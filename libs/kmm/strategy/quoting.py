"""Avellaneda–Stoikov quotes for a binary (YES) contract: the live and vectorized entry points of one compiled core.

Units (also in docs/strategy.md, with worked examples):

- **price inside the math: cents** (float, the YES price in (0, 100)). In and out of this module prices
  are integers in $0.0001 (``kmm.messages.units``); ``fair`` is a float in those units (mid or
  microprice). 1 price unit = 0.01 ¢.
- **time: hours.** ``horizon_h`` is the holding horizon h (the default 5 minutes is about how long
  inventory is held); ``tau_h`` is the time τ to the market's close (∞ when unknown).
- **σ: cents per √hour** (price space) or logit-cents per √hour (logit space, below). The STATS
  tables quote exactly this unit ("hourly realized vol, c").
- **q: position / max_position**, dimensionless in [−1, 1] (+ long YES, − long NO). Counts are
  integers in 0.01 contract.
- **γ: per cent** (risk aversion per ¢ of P&L per unit of q); **κ: per cent** (fill intensity
  A·e^(−κ·δ) with δ in ¢). With these units the grid γ ∈ [0.05, 1], κ ∈ [0.5, 5] gives total spreads
  from about 1¢ to about 10¢ at σ = 10 ¢/√h, τ = 5 min.

Formulas (cents; PP = P·(100 − P), the variance of a binary's payoff at price P):

    v_d    = min(σ²·h, PP)                     # diffusion over the holding horizon, capped at PP
    ramp   = min(1, h / τ)                     # share of the time left to the close inside one horizon
    v      = max(v_d, j·PP·ramp)               # jump floor: j = jump_frac of the settlement jump PP
    r      = s − q·γ·v                         # reservation price
    δ      = γ·v + (2/γ)·ln(1 + γ/κ)           # total spread
    bid    = min(r − δ/2 − w·g_b, r − f_b − e/2)
    ask    = max(r + δ/2 + w·g_a, r + f_a + e/2)

**Binary adaptation.** h is *not* shortened by the time to the close (the textbook τ → 0 makes r
return to mid and δ collapse just before settlement, when a binary's jump risk is largest); the close
enters through the jump floor instead, which grows as the close approaches and reaches j·PP inside
the last horizon, so neither the skew nor the spread ever shrinks into the close. ``horizon_h = inf``
means holding to the close: the remaining variance of a binary is then exactly PP (price space; in
logit space it is unbounded, so logit quoting needs a finite horizon). Within ``reduce_before_h`` of the close only the side that reduces
the position is quoted (capped at it); within ``stop_before_h`` nothing is quoted.

**Fees.** f_b, f_a: Kalshi's maker fee per contract **rounded up to the cent at the side's quoted
size** (``kmm.kalshi.fees``: a 1-lot at 50¢ pays 1¢, a 10-lot 5¢ = 0.5¢ a contract), at the fair
price and the series' rate (``maker_fee_rate``, already times its ``fee_multiplier``); e =
``min_edge_c``. Each side stays at least its own fee (plus e/2) away from r.

**Adverse-selection guard.** ``bid_guard`` / ``ask_guard`` (0 or 1, from
:class:`kmm.strategy.guard.AdverseGuard`) move that side out by w = ``guard_widen_c`` and scale its
size by ``guard_size``.

Logit space (``space="logit"``): x = 25·ln(p/(1−p)) ("logit-cents": 1 logit-cent = 1 ¢ at p = ½, so
γ and κ keep their meaning at the centre). r and δ are computed in x with σ in logit-cents/√h, no PP
cap, and the jump floor mapped by the local slope (j·ramp·PP·(2500/PP)²), then mapped back with the
sigmoid; the fee floors and the guard are then applied in price space. Quotes tighten near 0 and 1.

Snapping: bids round down and asks up on the market's tick grid (:mod:`kmm.strategy.ticks`); post-only
quotes stay strictly inside the opposite best; a side whose price leaves the grid is dropped (prices
only ever move away from r). Sizes: base·e^(−η·q) on the side that adds to the position (times
``guard_size`` on a guarded side), capped so a full fill cannot exceed ``max_position``; at |q| ≥
``reduce_only_at`` only the reducing side is quoted, capped at the position. A side with count 0 has
price 0 (no quote).

:func:`quote_arrays` takes arrays of parameters (and/or of state) and broadcasts them: one call
quotes one parameter set or thousands (grid search). :func:`quote_one` is the live path. Both run the one
compiled core (:func:`kmm.strategy.quote_core.quote_core`, numba), which the backtest kernel runs too, so
live, grid and backtest quote with one implementation; tests compare it bit for bit with a pure-Python
transcription (tests/unit/strategy/reference_quoting.py). All are pure functions of explicit inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmm.kalshi.fees import MAKER_RATE, TAKER_RATE, rate_float
from kmm.messages.units import COUNT_SCALE
from kmm.strategy.quote_core import (
    ASK_GUARD,
    ASK_LIMIT,
    ASK_NO_SIZE,
    ASK_POST_ONLY,
    BAD_INPUT,
    BID_GUARD,
    BID_LIMIT,
    BID_NO_SIZE,
    BID_POST_ONLY,
    CLOSE_REDUCE,
    CLOSE_STOP,
    JUMP_FLOOR,
    MIN_SPREAD,
    NO_ASK,
    NO_BID,
    REDUCE_ONLY_LONG,
    REDUCE_ONLY_SHORT,
    VARIANCE_CAP,
    quote_core,
    quote_many,
)
from kmm.strategy.ticks import NONE_HIGH, NONE_LOW, TickGrid

PRICE_SPACE = "price"
LOGIT_SPACE = "logit"
SPACES = (PRICE_SPACE, LOGIT_SPACE)
MAKER_FEE_RATE = rate_float(MAKER_RATE)  # 0.0175: the standard maker rate (also the "unknown" assumption)
TAKER_FEE_RATE = rate_float(TAKER_RATE)  # 0.07
DEFAULT_HORIZON_H = 5.0 / 60.0

# Reason bits (int64 per quote; one home: the compiled core); names via :func:`reason_names`.
REASONS: dict[int, str] = {
    NO_BID: "no_bid", NO_ASK: "no_ask", BID_POST_ONLY: "bid_post_only",
    ASK_POST_ONLY: "ask_post_only", REDUCE_ONLY_LONG: "reduce_only_long",
    REDUCE_ONLY_SHORT: "reduce_only_short", BID_LIMIT: "bid_limit", ASK_LIMIT: "ask_limit",
    MIN_SPREAD: "min_spread", VARIANCE_CAP: "variance_cap", BID_NO_SIZE: "bid_no_size",
    ASK_NO_SIZE: "ask_no_size", BAD_INPUT: "bad_input", JUMP_FLOOR: "jump_floor",
    CLOSE_REDUCE: "close_reduce", CLOSE_STOP: "close_stop", BID_GUARD: "bid_guard", ASK_GUARD: "ask_guard",
}


def reason_names(mask: int) -> tuple[str, ...]:
    """The names of the bits set in a reasons mask, in bit order."""
    return tuple(name for bit, name in REASONS.items() if mask & bit)


def maker_fee_cents(price_c: float, rate: float = MAKER_FEE_RATE) -> float:
    """Unrounded maker (or, with ``TAKER_FEE_RATE``, taker) fee per contract in cents at ``price_c``
    cents. The quotes use the rounded fee (``kmm.kalshi.fees``); this is for reports and docs."""
    return rate * price_c * (100.0 - price_c) / 100.0


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """One strategy parameter set (see the module docstring for units).

    The last six configure :class:`kmm.strategy.guard.AdverseGuard` (the quote math reads only its
    output); ``math.inf`` turns a trigger off.
    """

    gamma: float = 0.1  # 1/¢
    kappa: float = 1.0  # 1/¢
    eta: float = 0.0  # size shape per unit of q
    base_count: int = 10 * COUNT_SCALE  # 0.01 contract
    max_position: int = 100 * COUNT_SCALE  # 0.01 contract
    horizon_h: float = DEFAULT_HORIZON_H  # holding horizon h, hours (inf: hold to the close)
    min_edge_c: float = 0.0  # extra minimum spread above the fee round trip, ¢
    reduce_only_at: float = 0.8  # |q| from which only the reducing side is quoted
    jump_frac: float = 0.05  # j: variance floor = j·P(100−P)·min(1, h/τ)
    reduce_before_h: float = 0.5  # reduce-only within this many hours of the close
    stop_before_h: float = 0.0  # no quotes within this many hours of the close
    guard_widen_c: float = 1.0  # a guarded side moves out by this many ¢
    guard_size: float = 0.0  # ... and its size is multiplied by this, in [0, 1] (0: the side is pulled)
    toxic_c: float = 1.0  # guard: a fill whose markout is below −toxic_c ¢ a contract is toxic (inf: off)
    markout_s: float = 10.0  # guard: markout horizon, seconds
    guard_s: float = 60.0  # guard: how long a toxic fill guards its side, seconds
    flow_threshold: float = math.inf  # guard: |buy − sell| / (buy + sell) of taker flow that guards a side (inf: off)
    flow_half_life_s: float = 600.0  # guard: decay of the taker-flow sums, seconds
    flow_min: float = 50.0  # guard: decayed contracts of flow needed before the flow trigger
    liq_c: float = field(init=False, repr=False, compare=False, default=0.0)  # (2/γ)·ln(1+γ/κ), ¢

    def __post_init__(self) -> None:
        _validate({n: getattr(self, n) for n in _PARAM_NAMES})
        object.__setattr__(self, "liq_c", float(_liquidity_term(np.float64(self.gamma), np.float64(self.kappa))))


def _liquidity_term(gamma: Any, kappa: Any) -> Any:
    return (2.0 / gamma) * np.log1p(gamma / kappa)


_PARAM_NAMES = ("gamma", "kappa", "eta", "base_count", "max_position", "horizon_h", "min_edge_c",
                "reduce_only_at", "jump_frac", "reduce_before_h", "stop_before_h", "guard_widen_c", "guard_size",
                "toxic_c", "markout_s", "guard_s", "flow_threshold", "flow_half_life_s", "flow_min")
_INT_PARAMS = ("base_count", "max_position")
_CHECKS: tuple[tuple[str, Any, str], ...] = (
    ("gamma", lambda v: v > 0, "must be > 0"),
    ("kappa", lambda v: v > 0, "must be > 0"),
    ("eta", lambda v: v >= 0, "must be >= 0"),
    ("base_count", lambda v: v >= 0, "must be >= 0"),
    ("max_position", lambda v: v > 0, "must be > 0"),
    ("horizon_h", lambda v: v >= 0, "must be >= 0"),
    ("min_edge_c", lambda v: v >= 0, "must be >= 0"),
    ("reduce_only_at", lambda v: v > 0, "must be > 0"),
    ("jump_frac", lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]"),
    ("reduce_before_h", lambda v: v >= 0, "must be >= 0"),
    ("stop_before_h", lambda v: v >= 0, "must be >= 0"),
    ("guard_widen_c", lambda v: (v >= 0) & (v < math.inf), "must be finite and >= 0"),
    ("guard_size", lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]"),
    ("toxic_c", lambda v: v >= 0, "must be >= 0 (inf: off)"),
    ("markout_s", lambda v: (v > 0) & (v < math.inf), "must be finite and > 0"),
    ("guard_s", lambda v: (v >= 0) & (v < math.inf), "must be finite and >= 0"),
    ("flow_threshold", lambda v: v > 0, "must be > 0 (inf: off)"),
    ("flow_half_life_s", lambda v: (v > 0) & (v < math.inf), "must be finite and > 0"),
    ("flow_min", lambda v: (v >= 0) & (v < math.inf), "must be finite and >= 0"),
)


def _validate(values: dict[str, Any]) -> None:
    for name, ok, msg in _CHECKS:
        if not np.all(ok(np.asarray(values[name]))):
            raise ValueError(f"{name} {msg}")


@dataclass(frozen=True, slots=True)
class ParamGrid:
    """Many parameter sets as equal-length 1-D arrays (build with :meth:`of`, :meth:`from_params`,
    :meth:`product`)."""

    gamma: np.ndarray
    kappa: np.ndarray
    eta: np.ndarray
    base_count: np.ndarray
    max_position: np.ndarray
    horizon_h: np.ndarray
    min_edge_c: np.ndarray
    reduce_only_at: np.ndarray
    jump_frac: np.ndarray
    reduce_before_h: np.ndarray
    stop_before_h: np.ndarray
    guard_widen_c: np.ndarray
    guard_size: np.ndarray
    toxic_c: np.ndarray
    markout_s: np.ndarray
    guard_s: np.ndarray
    flow_threshold: np.ndarray
    flow_half_life_s: np.ndarray
    flow_min: np.ndarray
    liq_c: np.ndarray
    close_h: float = 0.0  # max(reduce_before_h, stop_before_h) over the sets: the close rules are off beyond

    def __len__(self) -> int:
        return int(self.gamma.shape[0])

    @classmethod
    def of(cls, **arrays: Any) -> ParamGrid:
        """Broadcast the given parameters (arrays or scalars; missing ones take QuoteParams defaults)."""
        unknown = set(arrays) - set(_PARAM_NAMES)
        if unknown:
            raise TypeError(f"unknown parameters {sorted(unknown)}")
        defaults = QuoteParams()
        values = [np.asarray(arrays.get(n, getattr(defaults, n))) for n in _PARAM_NAMES]
        shaped = np.broadcast_arrays(*[np.atleast_1d(v) for v in values])
        cols = {}
        for name, arr in zip(_PARAM_NAMES, shaped, strict=True):
            if arr.ndim != 1:
                raise ValueError("parameters must be scalars or 1-D arrays")
            dtype = np.int64 if name in _INT_PARAMS else np.float64
            if name in _INT_PARAMS and not np.all(arr == np.round(arr)):
                raise ValueError(f"{name} must be integral (0.01-contract units)")
            cols[name] = np.ascontiguousarray(arr, dtype=dtype)
        _validate(cols)
        close_h = float(max(np.max(cols["reduce_before_h"]), np.max(cols["stop_before_h"])))
        return cls(**cols, liq_c=_liquidity_term(cols["gamma"], cols["kappa"]), close_h=close_h)

    @classmethod
    def from_params(cls, params: Iterable[QuoteParams]) -> ParamGrid:
        items = list(params)
        return cls.of(**{n: [getattr(p, n) for p in items] for n in _PARAM_NAMES})

    @classmethod
    def product(cls, gammas: Sequence[float], kappas: Sequence[float], base: QuoteParams | None = None,
                **axes: Sequence[float]) -> ParamGrid:
        """Every (γ, κ[, more axes…]) combination (γ-major, then κ, then each extra axis in the order
        given), other parameters from ``base``."""
        base = base or QuoteParams()
        names = ["gamma", "kappa", *axes]
        unknown = set(names) - set(_PARAM_NAMES)
        if unknown:
            raise TypeError(f"unknown parameters {sorted(unknown)}")
        mesh = np.meshgrid(np.asarray(gammas, float), np.asarray(kappas, float),
                           *[np.asarray(v, float) for v in axes.values()], indexing="ij")
        rest = {n: getattr(base, n) for n in _PARAM_NAMES if n not in names}
        return cls.of(**{n: m.ravel() for n, m in zip(names, mesh, strict=True)}, **rest)

    def params(self, i: int) -> QuoteParams:
        """Set ``i`` as a QuoteParams (its results are identical to row ``i`` of a vectorized call)."""
        return QuoteParams(**{n: (int if n in _INT_PARAMS else float)(getattr(self, n)[i]) for n in _PARAM_NAMES})

    def subset(self, idx: np.ndarray) -> ParamGrid:
        """The sets ``idx`` only."""
        return ParamGrid.of(**{n: getattr(self, n)[idx] for n in _PARAM_NAMES})

    def replace(self, **values: Any) -> ParamGrid:
        """The same sets with some parameters replaced (scalars or arrays of the grid's length)."""
        cols = {n: getattr(self, n) for n in _PARAM_NAMES}
        cols.update(values)
        return ParamGrid.of(**cols)


PARAM_NAMES = _PARAM_NAMES
DEFAULTS = QuoteParams()  # the recommended set (docs/strategy.md says where each value comes from)


# --- state and results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the quoter knows about one market. Fields may be numpy arrays in :func:`quote_arrays`.

    ``fair``: mid or microprice (float, price units $0.0001); ``best_bid``/``best_ask``: int price
    units (0 = no bid, 10_000 = no ask); ``position``: signed count (0.01 contract, + YES); ``sigma``:
    ¢/√h (logit-cents/√h in logit space); ``tau_h``: hours to close (∞ unknown); ``maker_fee_rate``:
    the series' maker rate times its fee multiplier (``kmm.kalshi.fees.rate_float(maker_rate(…))``:
    0.0175 standard and unknown, 0.035 combo, 0 on ``quadratic`` series); ``bid_guard``/``ask_guard``:
    0 or 1, the adverse-selection guard's output.
    """

    fair: Any
    best_bid: Any = NONE_LOW
    best_ask: Any = NONE_HIGH
    position: Any = 0
    sigma: Any = 0.0
    tau_h: Any = math.inf
    maker_fee_rate: Any = 0.0
    bid_guard: Any = 0.0
    ask_guard: Any = 0.0


class QuoteArrays:
    """Vectorized quotes: int64 arrays (prices $0.0001, counts 0.01 contract, ``reasons`` bit masks, see
    ``REASONS``) and float diagnostics, all of the broadcast shape of the inputs."""

    __slots__ = ("bid_price", "bid_count", "ask_price", "ask_count", "reasons", "reservation_c", "spread_c")

    def __init__(self, bid_price: np.ndarray, bid_count: np.ndarray, ask_price: np.ndarray, ask_count: np.ndarray,
                 reasons: np.ndarray, reservation_c: np.ndarray, spread_c: np.ndarray) -> None:
        self.bid_price = bid_price
        self.bid_count = bid_count
        self.ask_price = ask_price
        self.ask_count = ask_count
        self.reasons = reasons
        self.reservation_c = reservation_c  # reservation price r in cents
        self.spread_c = spread_c  # model ask − bid in cents before snapping to the grid

    def __len__(self) -> int:
        return int(self.bid_price.size)


@dataclass(frozen=True, slots=True)
class Quote:
    """One market's target quote (count 0 = no quote that side) and why it looks this way."""

    bid_price: int
    bid_count: int
    ask_price: int
    ask_count: int
    reasons: tuple[str, ...] = ()
    mask: int = 0
    reservation_c: float = 0.0
    spread_c: float = 0.0


# --- both paths run the compiled core ----------------------------------------------------------------

_STATE_F = ("fair", "sigma", "tau_h", "maker_fee_rate", "bid_guard", "ask_guard")
_STATE_I = ("best_bid", "best_ask", "position")
_CORE_ARGS = (  # quote_many's array arguments in order: (source, name, integer)
    ("s", "fair", False), ("s", "best_bid", True), ("s", "best_ask", True), ("s", "position", True),
    ("s", "sigma", False), ("s", "tau_h", False), ("s", "maker_fee_rate", False), ("s", "bid_guard", False),
    ("s", "ask_guard", False), ("p", "gamma", False), ("p", "eta", False), ("p", "base_count", True),
    ("p", "max_position", True), ("p", "horizon_h", False), ("p", "min_edge_c", False),
    ("p", "reduce_only_at", False), ("p", "jump_frac", False), ("p", "reduce_before_h", False),
    ("p", "stop_before_h", False), ("p", "guard_widen_c", False), ("p", "guard_size", False),
    ("p", "liq_c", False),
)


def _check(space: str, count_step: int) -> None:
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}")
    if count_step <= 0:
        raise ValueError("count_step must be > 0")


def quote_arrays(
    state: MarketState, params: ParamGrid, grid: TickGrid, *, space: str = PRICE_SPACE, post_only: bool = True,
    count_step: int = COUNT_SCALE,
) -> QuoteArrays:
    """Quotes for every (state, parameter set) pair after broadcasting (:func:`quote_core` per row, in one
    compiled loop); see the module docstring."""
    _check(space, count_step)
    raw = [np.asarray(getattr(state if src == "s" else params, name), dtype=np.int64 if is_int else np.float64)
           for src, name, is_int in _CORE_ARGS]
    shape = np.broadcast_shapes(*(a.shape for a in raw))
    n = math.prod(shape)
    cols = []
    for a in raw:
        if a.size == 1:
            cols.append(a.reshape(1))
        elif a.shape == shape:
            cols.append(np.ascontiguousarray(a).reshape(n))
        else:
            cols.append(np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(n))
    out_i = np.empty((n, 5), dtype=np.int64)
    out_f = np.empty((n, 2), dtype=np.float64)
    quote_many(n, *cols, grid._floor, grid._ceil, space != PRICE_SPACE, bool(post_only), int(count_step), out_i, out_f)
    return QuoteArrays(*(out_i[:, k].reshape(shape) for k in range(5)), out_f[:, 0].reshape(shape),
                       out_f[:, 1].reshape(shape))


def quote_one(
    state: MarketState, params: QuoteParams, grid: TickGrid, *, space: str = PRICE_SPACE, post_only: bool = True,
    count_step: int = COUNT_SCALE,
) -> Quote:
    """The live quoter's path: :func:`quote_core` (the backtest kernel's quoting) for one state and one
    parameter set."""
    _check(space, count_step)
    p = params
    bp, bn, ap, an, mask, r_c, spread_c = quote_core(
        float(state.fair), int(state.best_bid), int(state.best_ask), int(state.position), float(state.sigma),
        float(state.tau_h), float(state.maker_fee_rate), float(state.bid_guard), float(state.ask_guard),
        float(p.gamma), float(p.eta), int(p.base_count), int(p.max_position), float(p.horizon_h), float(p.min_edge_c),
        float(p.reduce_only_at), float(p.jump_frac), float(p.reduce_before_h), float(p.stop_before_h),
        float(p.guard_widen_c), float(p.guard_size), float(p.liq_c), grid._floor, grid._ceil, space != PRICE_SPACE,
        bool(post_only), int(count_step))
    return Quote(bid_price=bp, bid_count=bn, ask_price=ap, ask_count=an, reasons=reason_names(mask), mask=mask,
                 reservation_c=r_c, spread_c=spread_c)

def warm_up() -> float:
    """Load (or, with an empty numba cache, compile) the quoting core now rather than at the first quote;
    returns the seconds it took. The live quoter calls it at start."""
    import time

    t0 = time.perf_counter()
    quote_one(MarketState(fair=5000.0, best_bid=4900, best_ask=5100, sigma=10.0, tau_h=1.0), DEFAULTS,
              TickGrid(((0, 10_000, 100),)))
    return time.perf_counter() - t0


def quote_row(result: QuoteArrays, i: int = 0) -> Quote:
    """Row ``i`` of a vectorized result as a :class:`Quote`."""
    mask = int(result.reasons.flat[i])
    return Quote(
        bid_price=int(result.bid_price.flat[i]), bid_count=int(result.bid_count.flat[i]),
        ask_price=int(result.ask_price.flat[i]), ask_count=int(result.ask_count.flat[i]),
        reasons=reason_names(mask), mask=mask, reservation_c=float(result.reservation_c.flat[i]),
        spread_c=float(result.spread_c.flat[i]),
    )


# --- holding a resting quote -------------------------------------------------------------------------


def hold_side(prev_price: Any, prev_count: Any, new_price: Any, new_count: Any, tolerance: int,
              size_tolerance: float, *, bid: bool) -> tuple[np.ndarray, np.ndarray]:
    """Keep a resting quote's place in the queue while the model's new quote is close to it — only
    where the resting price is no more aggressive than the model's.

    One side (``bid`` True for the bid), vectorized (int64 arrays). While both quotes exist and the
    resting price is within ``tolerance`` price units of the new one **on the safe side** (a resting
    bid at or below the model's bid, a resting ask at or above the model's ask), the resting price is
    kept; a smaller new size is taken (a decrease keeps queue priority), a larger one only when it
    grows by more than ``size_tolerance`` (a fraction). Anything else takes the new quote. Every amend
    that changes the price or raises the size sends the order to the back of the queue, so without
    this a quote that moves by a tick with each half-cent mid move never reaches the front; holding
    only on the safe side keeps the inventory skew, which always moves the risky side away.
    """
    pp, pc = np.asarray(prev_price, np.int64), np.asarray(prev_count, np.int64)
    np_, nc = np.asarray(new_price, np.int64), np.asarray(new_count, np.int64)
    gap = (np_ - pp) if bid else (pp - np_)
    near = (pc > 0) & (nc > 0) & (gap >= 0) & (gap <= tolerance)
    keep_size = near & (nc >= pc) & (nc <= pc * (1.0 + size_tolerance))
    return np.where(near, pp, np_), np.where(keep_size, pc, nc)


def hold_quote(prev: tuple[int, int, int, int], new: tuple[int, int, int, int], tolerance: int,
               size_tolerance: float) -> tuple[int, int, int, int]:
    """:func:`hold_side` for both sides of one quote ``(bid_price, bid_count, ask_price, ask_count)``,
    in plain Python (the live quoter's path; equal to the vectorized one)."""
    out: list[int] = []
    for sign, pp, pc, np_, nc in ((1, prev[0], prev[1], new[0], new[1]), (-1, prev[2], prev[3], new[2], new[3])):
        gap = (np_ - pp) * sign
        near = pc > 0 and nc > 0 and 0 <= gap <= tolerance
        keep_size = near and pc <= nc <= pc * (1.0 + size_tolerance)
        out += [pp if near else np_, pc if keep_size else nc]
    return out[0], out[1], out[2], out[3]
