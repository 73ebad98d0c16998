"""Avellaneda–Stoikov quotes for a binary (YES) contract: one vectorized function, one scalar twin.

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
quotes one parameter set (live) or thousands (grid search). :func:`quote_one` is the live path: pure
Python arithmetic in exactly the same operation order, with the same numpy transcendental functions,
so its results equal the vectorized path's bit for bit (the tests check this with hypothesis). Both
are pure functions of explicit inputs (no hidden state), so they port to a compiled kernel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmm.kalshi.fees import MAKER_RATE, TAKER_RATE, ceil_fee_c, fee_unit_c, rate_float
from kmm.messages.units import COUNT_SCALE, PRICE_SCALE
from kmm.strategy.ticks import NONE_HIGH, NONE_LOW, TickGrid

PRICE_SPACE = "price"
LOGIT_SPACE = "logit"
SPACES = (PRICE_SPACE, LOGIT_SPACE)
MAKER_FEE_RATE = rate_float(MAKER_RATE)  # 0.0175: the standard maker rate (also the "unknown" assumption)
TAKER_FEE_RATE = rate_float(TAKER_RATE)  # 0.07
LOGIT_CENTS = 25.0  # x̃ = 25·logit(p): dx̃/dp¢ = 1 at p = ½
LOGIT_SLOPE2 = 2500.0 * 2500.0  # (dx̃/dp¢)² = (2500 / PP)²
DEFAULT_HORIZON_H = 5.0 / 60.0

# Reason bits (numpy int64 per quote); names via :func:`reason_names`.
NO_BID = 1 << 0  # no bid quoted (off the grid, post-only squeeze, reduce-only, no size or bad input)
NO_ASK = 1 << 1  # no ask quoted
BID_POST_ONLY = 1 << 2  # bid lowered to stay below the best ask
ASK_POST_ONLY = 1 << 3  # ask raised to stay above the best bid
REDUCE_ONLY_LONG = 1 << 4  # |q| ≥ reduce_only_at while long: bid suppressed
REDUCE_ONLY_SHORT = 1 << 5  # ... while short: ask suppressed
BID_LIMIT = 1 << 6  # bid count capped by the position limit
ASK_LIMIT = 1 << 7  # ask count capped by the position limit
MIN_SPREAD = 1 << 8  # the fee floor widened the quote
VARIANCE_CAP = 1 << 9  # σ²h exceeded p(1−p) and was capped
BID_NO_SIZE = 1 << 10  # shaped bid size rounded to zero
ASK_NO_SIZE = 1 << 11  # shaped ask size rounded to zero
BAD_INPUT = 1 << 12  # a non-finite input: no quote
JUMP_FLOOR = 1 << 13  # the close's jump floor raised the variance
CLOSE_REDUCE = 1 << 14  # within reduce_before_h of the close: only the reducing side
CLOSE_STOP = 1 << 15  # within stop_before_h of the close: no quote
BID_GUARD = 1 << 16  # the adverse-selection guard is on for the bid
ASK_GUARD = 1 << 17  # ... for the ask
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
    """Vectorized quotes: int64 arrays (prices $0.0001, counts 0.01 contract) and diagnostics.

    ``reasons`` (int64 bit masks, see ``REASONS``) is packed from the flags on first access, so a grid
    search that never reads it does not pay for it.
    """

    __slots__ = ("bid_price", "bid_count", "ask_price", "ask_count", "reservation_c", "spread_c", "_flags",
                 "_reasons")

    def __init__(self, bid_price: np.ndarray, bid_count: np.ndarray, ask_price: np.ndarray, ask_count: np.ndarray,
                 reservation_c: np.ndarray, spread_c: np.ndarray, flags: tuple[Any, ...]) -> None:
        self.bid_price = bid_price
        self.bid_count = bid_count
        self.ask_price = ask_price
        self.ask_count = ask_count
        self.reservation_c = reservation_c  # reservation price r in cents
        self.spread_c = spread_c  # model ask − bid in cents before snapping to the grid
        self._flags = flags
        self._reasons: np.ndarray | None = None

    @property
    def reasons(self) -> np.ndarray:
        if self._reasons is None:
            self._reasons = _pack_flags(self.bid_price.shape, *self._flags)
        return self._reasons

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


# --- vectorized path -----------------------------------------------------------------------------


def _pack_flags(shape: tuple[int, ...], *flags: Any) -> np.ndarray:
    """Boolean arrays (bit 0 first; ``False`` = never set) → int64 bit masks of ``shape``."""
    acc = np.zeros(shape, dtype=np.uint32)
    for bit, flag in enumerate(flags):
        if flag is False:
            continue
        acc |= np.asarray(flag).astype(np.uint32) << np.uint32(bit)
    return acc.astype(np.int64)


def quote_arrays(
    state: MarketState, params: ParamGrid, grid: TickGrid, *, space: str = PRICE_SPACE, post_only: bool = True,
    count_step: int = COUNT_SCALE,
) -> QuoteArrays:
    """Quotes for every (state, parameter set) pair after broadcasting; see the module docstring."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}")
    if count_step <= 0:
        raise ValueError("count_step must be > 0")
    with np.errstate(all="ignore"):
        return _quote_arrays(state, params, grid, space, post_only, count_step)


def _quote_arrays(
    state: MarketState, params: ParamGrid, grid: TickGrid, space: str, post_only: bool, count_step: int,
) -> QuoteArrays:
    position = np.asarray(state.position, dtype=np.int64)
    sigma = np.asarray(state.sigma, dtype=np.float64)
    s_c = np.minimum(np.maximum(np.asarray(state.fair, dtype=np.float64), 1.0), PRICE_SCALE - 1.0) / 100.0
    var_cap = s_c * (100.0 - s_c)
    tau_c = np.maximum(np.asarray(state.tau_h, dtype=np.float64), 0.0)
    horizon = params.horizon_h
    ramp = np.where(tau_c <= horizon, 1.0, horizon / tau_c)
    sq = sigma * sigma
    var_raw = sq * horizon if np.all(sq != 0.0) else np.where(sq == 0.0, 0.0, sq * horizon)  # 0·∞ is 0 here
    q = position / params.max_position
    gamma = params.gamma
    if space == PRICE_SPACE:
        var_d = np.minimum(var_raw, var_cap)
        var_j = params.jump_frac * var_cap * ramp
        var = np.maximum(var_d, var_j)
        r = s_c - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        bid_c = r - half
        ask_c = r + half
        r_c = r
        capped = var_raw > var_cap
    else:
        x = LOGIT_CENTS * np.log(s_c / (100.0 - s_c))
        var_d = var_raw
        var_j = params.jump_frac * ramp * LOGIT_SLOPE2 / var_cap
        var = np.maximum(var_d, var_j)
        r = x - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        r_c = 100.0 / (1.0 + np.exp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + np.exp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + np.exp(-(r + half) / LOGIT_CENTS))
        capped = False
    floored = var_j > var_d

    # Sizes: base·e^(−η·|q|) on the side that grows |position|, base on the other; × guard_size if guarded.
    g_b = np.asarray(state.bid_guard, dtype=np.float64)
    g_a = np.asarray(state.ask_guard, dtype=np.float64)
    shape = np.exp(-params.eta * np.abs(q))
    mult_b = 1.0 + g_b * (params.guard_size - 1.0)
    mult_a = 1.0 + g_a * (params.guard_size - 1.0)
    bid_sz = np.floor(params.base_count * np.where(q > 0.0, shape, 1.0) * mult_b / count_step).astype(np.int64) \
        * count_step
    ask_sz = np.floor(params.base_count * np.where(q < 0.0, shape, 1.0) * mult_a / count_step).astype(np.int64) \
        * count_step

    # Fee floors: each side at least its own cent-rounded fee per contract (at its size) from r.
    bid_c = bid_c - params.guard_widen_c * g_b
    ask_c = ask_c + params.guard_widen_c * g_a
    edge = params.min_edge_c * 0.5
    unit = fee_unit_c(np.asarray(state.maker_fee_rate, dtype=np.float64), s_c)
    c_b = np.maximum(bid_sz, count_step) / COUNT_SCALE
    c_a = np.maximum(ask_sz, count_step) / COUNT_SCALE
    floor_b = r_c - (ceil_fee_c(unit, c_b) / c_b + edge)
    floor_a = r_c + (ceil_fee_c(unit, c_a) / c_a + edge)
    widened = (bid_c > floor_b) | (ask_c < floor_a)
    bid_u = np.minimum(bid_c, floor_b) * 100.0
    ask_u = np.maximum(ask_c, floor_a) * 100.0
    bad = ~(np.isfinite(bid_u) & np.isfinite(ask_u))
    if bad.any():
        bid_u = np.where(bad, 0.0, bid_u)
        ask_u = np.where(bad, 1e4, ask_u)

    bid_px = grid.floor(bid_u)
    ask_px = grid.ceil(ask_u)
    if post_only:
        cap_b = grid.below(np.asarray(state.best_ask, dtype=np.int64))
        cap_a = grid.above(np.asarray(state.best_bid, dtype=np.int64))
        b_clamped = bid_px > cap_b
        a_clamped = ask_px < cap_a
        bid_px = np.minimum(bid_px, cap_b)
        ask_px = np.maximum(ask_px, cap_a)
    else:
        b_clamped = a_clamped = False

    room_b = np.maximum(params.max_position - position, 0) // count_step * count_step
    room_a = np.maximum(params.max_position + position, 0) // count_step * count_step
    ro = params.reduce_only_at
    ro_long = q >= ro
    ro_short = q <= -ro
    held = np.abs(position) // count_step * count_step
    close_ro = tau_c < params.reduce_before_h
    stop = tau_c < params.stop_before_h
    no_b = ro_long | stop | (close_ro & (position >= 0))
    no_a = ro_short | stop | (close_ro & (position <= 0))
    cap_bid = np.where(no_b, 0, np.where(ro_short | close_ro, held, room_b))
    cap_ask = np.where(no_a, 0, np.where(ro_long | close_ro, held, room_a))
    bid_n = np.where(bid_px > NONE_LOW, np.minimum(bid_sz, cap_bid), 0)
    ask_n = np.where(ask_px < NONE_HIGH, np.minimum(ask_sz, cap_ask), 0)
    bid_px = np.where(bid_n > 0, bid_px, 0)
    ask_px = np.where(ask_n > 0, ask_px, 0)

    flags = (
        bid_px == 0, ask_px == 0, b_clamped, a_clamped, ro_long, ro_short, bid_sz > room_b, ask_sz > room_a,
        widened, capped, bid_sz == 0, ask_sz == 0, bad, floored, close_ro, stop, g_b > 0.0, g_a > 0.0,
    )
    return QuoteArrays(bid_px, bid_n, ask_px, ask_n, r_c, (ask_u - bid_u) / 100.0, flags)


# --- scalar twin ---------------------------------------------------------------------------------


def _exp(x: float) -> float:
    if x == 0.0:
        return 1.0
    if x > 709.0:
        with np.errstate(over="ignore"):
            return float(np.exp(x))
    return float(np.exp(x))


def _min(a: float, b: float) -> float:
    """``np.minimum`` for two floats, NaN-propagating like numpy."""
    return a if (a < b or a != a) else b


def _max(a: float, b: float) -> float:
    return a if (a > b or a != a) else b


def quote_one(
    state: MarketState, params: QuoteParams, grid: TickGrid, *, space: str = PRICE_SPACE, post_only: bool = True,
    count_step: int = COUNT_SCALE,
) -> Quote:
    """The live quoter's path: :func:`quote_arrays` for one state and one parameter set, bit for bit."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}")
    if count_step <= 0:
        raise ValueError("count_step must be > 0")
    position = int(state.position)
    sigma = float(state.sigma)
    s_c = _min(_max(float(state.fair), 1.0), PRICE_SCALE - 1.0) / 100.0
    var_cap = s_c * (100.0 - s_c)
    tau_c = _max(float(state.tau_h), 0.0)
    horizon = params.horizon_h
    ramp = 1.0 if tau_c <= horizon else horizon / tau_c
    sq = sigma * sigma
    var_raw = 0.0 if sq == 0.0 else sq * horizon
    max_pos = params.max_position
    q = position / max_pos
    gamma = params.gamma
    if space == PRICE_SPACE:
        var_d = _min(var_raw, var_cap)
        var_j = params.jump_frac * var_cap * ramp
        var = _max(var_d, var_j)
        r = s_c - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        bid_c = r - half
        ask_c = r + half
        r_c = r
        capped = var_raw > var_cap
    else:
        x = LOGIT_CENTS * float(np.log(s_c / (100.0 - s_c)))
        var_d = var_raw
        var_j = params.jump_frac * ramp * LOGIT_SLOPE2 / var_cap
        var = _max(var_d, var_j)
        r = x - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        r_c = 100.0 / (1.0 + _exp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + _exp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + _exp(-(r + half) / LOGIT_CENTS))
        capped = False
    floored = var_j > var_d

    g_b = float(state.bid_guard)
    g_a = float(state.ask_guard)
    shape = _exp(-params.eta * abs(q))
    mult_b = 1.0 + g_b * (params.guard_size - 1.0)
    mult_a = 1.0 + g_a * (params.guard_size - 1.0)
    base_count = params.base_count
    bid_sz = math.floor(base_count * (shape if q > 0.0 else 1.0) * mult_b / count_step) * count_step
    ask_sz = math.floor(base_count * (shape if q < 0.0 else 1.0) * mult_a / count_step) * count_step

    bid_c = bid_c - params.guard_widen_c * g_b
    ask_c = ask_c + params.guard_widen_c * g_a
    edge = params.min_edge_c * 0.5
    unit = fee_unit_c(float(state.maker_fee_rate), s_c)
    c_b = (bid_sz if bid_sz > count_step else count_step) / COUNT_SCALE
    c_a = (ask_sz if ask_sz > count_step else count_step) / COUNT_SCALE
    floor_b = r_c - (ceil_fee_c(unit, c_b) / c_b + edge)
    floor_a = r_c + (ceil_fee_c(unit, c_a) / c_a + edge)
    widened = bid_c > floor_b or ask_c < floor_a
    bid_u = _min(bid_c, floor_b) * 100.0
    ask_u = _max(ask_c, floor_a) * 100.0
    bad = not (math.isfinite(bid_u) and math.isfinite(ask_u))
    if bad:
        bid_u, ask_u = 0.0, 1e4

    bid_px = grid.floor1(bid_u)
    ask_px = grid.ceil1(ask_u)
    b_clamped = a_clamped = False
    if post_only:
        cap_b = grid.below1(int(state.best_ask))
        cap_a = grid.above1(int(state.best_bid))
        b_clamped = bid_px > cap_b
        a_clamped = ask_px < cap_a
        bid_px = bid_px if bid_px < cap_b else cap_b
        ask_px = ask_px if ask_px > cap_a else cap_a

    room_b = max(max_pos - position, 0) // count_step * count_step
    room_a = max(max_pos + position, 0) // count_step * count_step
    ro = params.reduce_only_at
    ro_long = q >= ro
    ro_short = q <= -ro
    held = abs(position) // count_step * count_step
    close_ro = tau_c < params.reduce_before_h
    stop = tau_c < params.stop_before_h
    no_b = ro_long or stop or (close_ro and position >= 0)
    no_a = ro_short or stop or (close_ro and position <= 0)
    cap_bid = 0 if no_b else (held if (ro_short or close_ro) else room_b)
    cap_ask = 0 if no_a else (held if (ro_long or close_ro) else room_a)
    bid_n = min(bid_sz, cap_bid) if bid_px > NONE_LOW else 0
    ask_n = min(ask_sz, cap_ask) if ask_px < NONE_HIGH else 0
    bid_px = bid_px if bid_n > 0 else 0
    ask_px = ask_px if ask_n > 0 else 0
    mask = (
        (NO_BID if bid_px == 0 else 0) | (NO_ASK if ask_px == 0 else 0) | (BID_POST_ONLY if b_clamped else 0)
        | (ASK_POST_ONLY if a_clamped else 0) | (REDUCE_ONLY_LONG if ro_long else 0)
        | (REDUCE_ONLY_SHORT if ro_short else 0) | (BID_LIMIT if bid_sz > room_b else 0)
        | (ASK_LIMIT if ask_sz > room_a else 0) | (MIN_SPREAD if widened else 0) | (VARIANCE_CAP if capped else 0)
        | (BID_NO_SIZE if bid_sz == 0 else 0) | (ASK_NO_SIZE if ask_sz == 0 else 0) | (BAD_INPUT if bad else 0)
        | (JUMP_FLOOR if floored else 0) | (CLOSE_REDUCE if close_ro else 0) | (CLOSE_STOP if stop else 0)
        | (BID_GUARD if g_b > 0.0 else 0) | (ASK_GUARD if g_a > 0.0 else 0)
    )
    return Quote(
        bid_price=bid_px, bid_count=bid_n, ask_price=ask_px, ask_count=ask_n, reasons=reason_names(mask),
        mask=mask, reservation_c=r_c, spread_c=(ask_u - bid_u) / 100.0,
    )


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
