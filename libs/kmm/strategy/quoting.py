"""Avellaneda–Stoikov quotes for a binary (YES) contract: one vectorized function, one scalar twin.

Units (also in docs/strategy.md, with a worked example):

- **price inside the math: cents** (float, the YES price in (0, 100)). In and out of this module prices
  are integers in $0.0001 (``kmm.messages.units``); ``fair`` is a float in those units (mid or
  microprice). 1 price unit = 0.01 ¢.
- **time: hours.** ``tau_h`` is the time to close in hours, capped by the parameter ``horizon_h``
  (a rolling horizon: the default 5 minutes is about how long inventory is held).
- **σ: cents per √hour** (price space) or logit-cents per √hour (logit space, below). The STATS
  tables quote exactly this unit ("hourly realized vol, c").
- **q: position / max_position**, dimensionless in [−1, 1] (+ long YES, − long NO). Counts are
  integers in 0.01 contract.
- **γ: per cent** (risk aversion per ¢ of P&L per unit of q); **κ: per cent** (fill intensity
  A·e^(−κ·δ) with δ in ¢). With these units the grid γ ∈ [0.05, 1], κ ∈ [0.5, 5] gives total spreads
  from about 1¢ to about 10¢ at σ = 10 ¢/√h, τ = 5 min.

Formulas (cents):

    v      = min(σ²·τ, P·(100 − P))            # remaining variance, capped at p(1−p) (price space)
    r      = s − q·γ·v                         # reservation price
    δ      = γ·v + (2/γ)·ln(1 + γ/κ)           # total spread
    m      = 2·f·P·(100 − P)/100 + min_edge    # fee-aware minimum spread; f = maker rate (0.0175 or 0)
    bid    = r − max(δ, m)/2,   ask = r + max(δ, m)/2

The fee term is the float form of Kalshi's maker fee f·P·(1−P) per contract on each side of a round
trip, at the fair price P (the exact integer fee with its rounding lives in ``kmm.kalshi.fees``).

Logit space (``space="logit"``): x = 25·ln(p/(1−p)) ("logit-cents": 1 logit-cent = 1 ¢ at p = ½, so
γ and κ keep their meaning at the centre). r and δ are computed in x with σ in logit-cents/√h and no
p(1−p) cap (the logit is unbounded), then mapped back with the sigmoid; the minimum spread m is then
enforced in price space around the mapped reservation price. Quotes tighten near 0 and 1.

Snapping: bids round down and asks up on the market's tick grid (:mod:`kmm.strategy.ticks`); post-only
quotes stay strictly inside the opposite best; a side whose price leaves the grid is dropped (prices
only ever move away from r). Sizes: base·e^(−η·q) on the side that adds to the position, capped so a
full fill cannot exceed ``max_position``; at |q| ≥ ``reduce_only_at`` only the reducing side is quoted,
capped at the position. A side with count 0 has price 0 (no quote).

:func:`quote_arrays` takes arrays of parameters (and/or of state) and broadcasts them: one call
quotes one parameter set (live) or thousands (grid search). :func:`quote_one` is the live path: pure
Python arithmetic in exactly the same operation order, with the same numpy transcendental functions,
so its results equal the vectorized path's bit for bit (the tests check this with hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmm.messages.units import COUNT_SCALE, PRICE_SCALE
from kmm.strategy.ticks import NONE_HIGH, NONE_LOW, TickGrid

PRICE_SPACE = "price"
LOGIT_SPACE = "logit"
SPACES = (PRICE_SPACE, LOGIT_SPACE)
MAKER_FEE_RATE = 0.0175  # Kalshi maker fee rate on quadratic_with_maker_fees series
TAKER_FEE_RATE = 0.07
LOGIT_CENTS = 25.0  # x̃ = 25·logit(p): dx̃/dp¢ = 1 at p = ½
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
MIN_SPREAD = 1 << 8  # the fee-aware minimum spread widened the quote
VARIANCE_CAP = 1 << 9  # σ²τ exceeded p(1−p) and was capped
BID_NO_SIZE = 1 << 10  # shaped bid size rounded to zero
ASK_NO_SIZE = 1 << 11  # shaped ask size rounded to zero
BAD_INPUT = 1 << 12  # a non-finite input: no quote
REASONS: dict[int, str] = {
    NO_BID: "no_bid", NO_ASK: "no_ask", BID_POST_ONLY: "bid_post_only",
    ASK_POST_ONLY: "ask_post_only", REDUCE_ONLY_LONG: "reduce_only_long",
    REDUCE_ONLY_SHORT: "reduce_only_short", BID_LIMIT: "bid_limit", ASK_LIMIT: "ask_limit",
    MIN_SPREAD: "min_spread", VARIANCE_CAP: "variance_cap", BID_NO_SIZE: "bid_no_size",
    ASK_NO_SIZE: "ask_no_size", BAD_INPUT: "bad_input",
}


def reason_names(mask: int) -> tuple[str, ...]:
    """The names of the bits set in a reasons mask, in bit order."""
    return tuple(name for bit, name in REASONS.items() if mask & bit)


def maker_fee_cents(price_c: float, rate: float = MAKER_FEE_RATE) -> float:
    """Float maker (or, with ``TAKER_FEE_RATE``, taker) fee per contract in cents at ``price_c`` cents."""
    return rate * price_c * (100.0 - price_c) / 100.0


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """One strategy parameter set (see the module docstring for units)."""

    gamma: float = 0.1  # 1/¢
    kappa: float = 1.0  # 1/¢
    eta: float = 0.0  # size shape per unit of q
    base_count: int = 10 * COUNT_SCALE  # 0.01 contract
    max_position: int = 100 * COUNT_SCALE  # 0.01 contract
    horizon_h: float = DEFAULT_HORIZON_H  # τ cap, hours
    min_edge_c: float = 0.0  # extra minimum spread above the fee round trip, ¢
    reduce_only_at: float = 0.8  # |q| from which only the reducing side is quoted
    liq_c: float = field(init=False, repr=False, compare=False, default=0.0)  # (2/γ)·ln(1+γ/κ), ¢

    def __post_init__(self) -> None:
        _validate(self.gamma, self.kappa, self.eta, self.base_count, self.max_position, self.horizon_h,
                  self.reduce_only_at)
        object.__setattr__(self, "liq_c", float(_liquidity_term(np.float64(self.gamma), np.float64(self.kappa))))


def _liquidity_term(gamma: Any, kappa: Any) -> Any:
    return (2.0 / gamma) * np.log1p(gamma / kappa)


def _validate(gamma: Any, kappa: Any, eta: Any, base: Any, max_pos: Any, horizon: Any, ro: Any) -> None:
    checks = (
        (np.all(np.asarray(gamma) > 0), "gamma must be > 0"),
        (np.all(np.asarray(kappa) > 0), "kappa must be > 0"),
        (np.all(np.asarray(eta) >= 0), "eta must be >= 0"),
        (np.all(np.asarray(base) >= 0), "base_count must be >= 0"),
        (np.all(np.asarray(max_pos) > 0), "max_position must be > 0"),
        (np.all(np.asarray(horizon) >= 0), "horizon_h must be >= 0"),
        (np.all(np.asarray(ro) > 0), "reduce_only_at must be > 0"),
    )
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)


_PARAM_NAMES = ("gamma", "kappa", "eta", "base_count", "max_position", "horizon_h", "min_edge_c",
                "reduce_only_at")
_INT_PARAMS = ("base_count", "max_position")


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
    liq_c: np.ndarray

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
        _validate(cols["gamma"], cols["kappa"], cols["eta"], cols["base_count"], cols["max_position"],
                  cols["horizon_h"], cols["reduce_only_at"])
        return cls(**cols, liq_c=_liquidity_term(cols["gamma"], cols["kappa"]))

    @classmethod
    def from_params(cls, params: Iterable[QuoteParams]) -> ParamGrid:
        items = list(params)
        return cls.of(**{n: [getattr(p, n) for p in items] for n in _PARAM_NAMES})

    @classmethod
    def product(cls, gammas: Sequence[float], kappas: Sequence[float], base: QuoteParams | None = None) -> ParamGrid:
        """Every (γ, κ) pair (γ-major), other parameters from ``base``."""
        base = base or QuoteParams()
        g, k = np.meshgrid(np.asarray(gammas, float), np.asarray(kappas, float), indexing="ij")
        rest = {n: getattr(base, n) for n in _PARAM_NAMES if n not in ("gamma", "kappa")}
        return cls.of(gamma=g.ravel(), kappa=k.ravel(), **rest)

    def params(self, i: int) -> QuoteParams:
        """Set ``i`` as a QuoteParams (its results are identical to row ``i`` of a vectorized call)."""
        return QuoteParams(**{n: (int if n in _INT_PARAMS else float)(getattr(self, n)[i]) for n in _PARAM_NAMES})


# --- state and results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the quoter knows about one market. Fields may be numpy arrays in :func:`quote_arrays`.

    ``fair``: mid or microprice (float, price units $0.0001); ``best_bid``/``best_ask``: int price
    units (0 = no bid, 10_000 = no ask); ``position``: signed count (0.01 contract, + YES); ``sigma``:
    ¢/√h (logit-cents/√h in logit space); ``tau_h``: hours to close; ``maker_fee_rate``: 0.0175 on
    maker-fee series else 0.
    """

    fair: Any
    best_bid: Any = NONE_LOW
    best_ask: Any = NONE_HIGH
    position: Any = 0
    sigma: Any = 0.0
    tau_h: Any = math.inf
    maker_fee_rate: Any = 0.0


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
    acc = np.zeros(shape, dtype=np.uint16)
    for bit, flag in enumerate(flags):
        if flag is False:
            continue
        acc |= np.asarray(flag).astype(np.uint16) << bit
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
    tau = np.maximum(np.minimum(np.asarray(state.tau_h, dtype=np.float64), params.horizon_h), 0.0)
    var_raw = sigma * sigma * tau
    q = position / params.max_position
    gamma = params.gamma
    min_half = (np.asarray(state.maker_fee_rate, dtype=np.float64) * var_cap * 0.02 + params.min_edge_c) * 0.5
    if space == PRICE_SPACE:
        var = np.minimum(var_raw, var_cap)
        r = s_c - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        bid_c = r - half
        ask_c = r + half
        r_c = r
        capped = var_raw > var_cap
    else:
        x = LOGIT_CENTS * np.log(s_c / (100.0 - s_c))
        r = x - q * gamma * var_raw
        half = (gamma * var_raw + params.liq_c) * 0.5
        r_c = 100.0 / (1.0 + np.exp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + np.exp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + np.exp(-(r + half) / LOGIT_CENTS))
        capped = False
    floor_b = r_c - min_half
    floor_a = r_c + min_half
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

    # Sizes: base·e^(−η·|q|) on the side that grows |position|, base on the other.
    base = params.base_count // count_step * count_step
    shaped = np.floor(params.base_count * np.exp(-params.eta * np.abs(q)) / count_step).astype(np.int64) * count_step
    bid_sz = np.where(q > 0.0, shaped, base)
    ask_sz = np.where(q < 0.0, shaped, base)
    room_b = np.maximum(params.max_position - position, 0) // count_step * count_step
    room_a = np.maximum(params.max_position + position, 0) // count_step * count_step
    ro = params.reduce_only_at
    ro_long = q >= ro
    ro_short = q <= -ro
    held = np.abs(position) // count_step * count_step
    cap_bid = np.where(ro_long, 0, np.where(ro_short, held, room_b))
    cap_ask = np.where(ro_short, 0, np.where(ro_long, held, room_a))
    bid_n = np.where(bid_px > NONE_LOW, np.minimum(bid_sz, cap_bid), 0)
    ask_n = np.where(ask_px < NONE_HIGH, np.minimum(ask_sz, cap_ask), 0)
    bid_px = np.where(bid_n > 0, bid_px, 0)
    ask_px = np.where(ask_n > 0, ask_px, 0)

    flags = (
        bid_px == 0, ask_px == 0, b_clamped, a_clamped, ro_long, ro_short, bid_sz > room_b, ask_sz > room_a,
        widened, capped, bid_sz == 0, ask_sz == 0, bad,
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
    tau = _max(_min(float(state.tau_h), params.horizon_h), 0.0)
    var_raw = sigma * sigma * tau
    max_pos = params.max_position
    q = position / max_pos
    gamma = params.gamma
    min_half = (float(state.maker_fee_rate) * var_cap * 0.02 + params.min_edge_c) * 0.5
    if space == PRICE_SPACE:
        var = _min(var_raw, var_cap)
        r = s_c - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        bid_c = r - half
        ask_c = r + half
        r_c = r
        capped = var_raw > var_cap
    else:
        x = LOGIT_CENTS * float(np.log(s_c / (100.0 - s_c)))
        r = x - q * gamma * var_raw
        half = (gamma * var_raw + params.liq_c) * 0.5
        r_c = 100.0 / (1.0 + _exp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + _exp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + _exp(-(r + half) / LOGIT_CENTS))
        capped = False
    floor_b = r_c - min_half
    floor_a = r_c + min_half
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

    base_count = params.base_count
    base = base_count // count_step * count_step
    shaped = math.floor(base_count * _exp(-params.eta * abs(q)) / count_step) * count_step
    bid_sz = shaped if q > 0.0 else base
    ask_sz = shaped if q < 0.0 else base
    room_b = max(max_pos - position, 0) // count_step * count_step
    room_a = max(max_pos + position, 0) // count_step * count_step
    ro = params.reduce_only_at
    ro_long = q >= ro
    ro_short = q <= -ro
    held = abs(position) // count_step * count_step
    cap_bid = 0 if ro_long else (held if ro_short else room_b)
    cap_ask = 0 if ro_short else (held if ro_long else room_a)
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
              size_tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep a resting quote's place in the queue while the model's new quote is close to it.

    One side, vectorized (int64 arrays). While both quotes exist and the new price is within
    ``tolerance`` price units of the resting one, the resting price is kept; a smaller new size is
    taken (a decrease keeps queue priority), a larger one only when it grows by more than
    ``size_tolerance`` (a fraction). Anything else takes the new quote. Every amend that changes
    the price or raises the size sends the order to the back of the queue, so without this a quote
    that moves by a tick with each half-cent mid move never reaches the front.
    """
    pp, pc = np.asarray(prev_price, np.int64), np.asarray(prev_count, np.int64)
    np_, nc = np.asarray(new_price, np.int64), np.asarray(new_count, np.int64)
    near = (pc > 0) & (nc > 0) & (np.abs(np_ - pp) <= tolerance)
    keep_size = near & (nc >= pc) & (nc <= pc * (1.0 + size_tolerance))
    return np.where(near, pp, np_), np.where(keep_size, pc, nc)


def hold_quote(prev: tuple[int, int, int, int], new: tuple[int, int, int, int], tolerance: int,
               size_tolerance: float) -> tuple[int, int, int, int]:
    """:func:`hold_side` for both sides of one quote ``(bid_price, bid_count, ask_price, ask_count)``,
    in plain Python (the live quoter's path; equal to the vectorized one)."""
    out: list[int] = []
    for pp, pc, np_, nc in ((prev[0], prev[1], new[0], new[1]), (prev[2], prev[3], new[2], new[3])):
        near = pc > 0 and nc > 0 and abs(np_ - pp) <= tolerance
        keep_size = near and pc <= nc <= pc * (1.0 + size_tolerance)
        out += [pp if near else np_, pc if keep_size else nc]
    return out[0], out[1], out[2], out[3]
