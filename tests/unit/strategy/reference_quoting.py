"""A pure-Python transcription of the quoting math (the scalar ``quote_one`` before it called the compiled
core), operation for operation, with libm's ``math.exp``/``math.log`` as numba uses: the tests compare the
compiled :func:`kmm.strategy.quote_core.quote_core` with it bit for bit."""

import math

from kmm.kalshi.fees import ceil_fee_c, fee_unit_c
from kmm.messages.units import COUNT_SCALE, PRICE_SCALE
from kmm.strategy.quote_core import LOGIT_CENTS, LOGIT_SLOPE2
from kmm.strategy.quoting import (
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
    PRICE_SPACE,
    REDUCE_ONLY_LONG,
    REDUCE_ONLY_SHORT,
    SPACES,
    VARIANCE_CAP,
    MarketState,
    Quote,
    QuoteParams,
    reason_names,
)
from kmm.strategy.ticks import NONE_HIGH, NONE_LOW, TickGrid


def rexp(x: float) -> float:
    if x == 0.0:
        return 1.0
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _min(a: float, b: float) -> float:
    return a if (a < b or a != a) else b


def _max(a: float, b: float) -> float:
    return a if (a > b or a != a) else b


def reference_quote(
    state: MarketState, params: QuoteParams, grid: TickGrid, *, space: str = PRICE_SPACE, post_only: bool = True,
    count_step: int = COUNT_SCALE,
) -> Quote:
    """The pre-compiled ``quote_one``, operation for operation, with libm's exp/log."""
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
        x = LOGIT_CENTS * math.log(s_c / (100.0 - s_c))
        var_d = var_raw
        var_j = params.jump_frac * ramp * LOGIT_SLOPE2 / var_cap
        var = _max(var_d, var_j)
        r = x - q * gamma * var
        half = (gamma * var + params.liq_c) * 0.5
        r_c = 100.0 / (1.0 + rexp(-r / LOGIT_CENTS))
        bid_c = 100.0 / (1.0 + rexp(-(r - half) / LOGIT_CENTS))
        ask_c = 100.0 / (1.0 + rexp(-(r + half) / LOGIT_CENTS))
        capped = False
    floored = var_j > var_d

    g_b = float(state.bid_guard)
    g_a = float(state.ask_guard)
    shape = rexp(-params.eta * abs(q))
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


