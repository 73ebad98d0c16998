"""The backtester's Python face: configuration, the policy → kernel arrays, the run loop around the
compiled kernel (:mod:`kmm.backtest.kernel`), and the :class:`Result` it returns.

A run replays one event log for ``policy.n_cells`` parameter sets at once; a single backtest is the
one-cell case of the same compiled loop, so a grid cell equals a single run exactly. Rules
(docs/backtest.md §3):

- Decisions for a market happen at its events, at most every ``decision_interval_ns``, and, as the
  live quoter wakes up, for a cell at each of its fill reports and ``requote_delay_ns`` after its risk
  engine leaves HALTED; the policy sees the book top as of the decision, its *reported* position, σ
  from the mids so far and τ to the close — never the result or a later event
  (tests/unit/backtest/test_no_lookahead.py).
- Orders: a changed target is sent at the decision, one request in flight per side; it reaches the
  exchange after ``place_latency`` (``cancel_latency`` for a withdrawal), a newer target waits for
  the one in flight. Post-only: a new order that would cross the replayed book is rejected, and an
  order whose amend would cross is cancelled (as Kalshi and the simulator do). A decrease at the same price keeps queue
  priority (``decrease_keeps_priority``); any other amend goes to the back.
- Our orders never move the replayed book. Fills are maker fills at our price (fill models below);
  fills reach the quoter and risk ``report_latency`` later (settlements too, after the fills).
- Fees: Kalshi's fixed-point maker fee with the per-order rounding accumulator, as the simulator.
- Risk (``policy.risk``): the live risk engine per cell (:mod:`kmm.backtest.krisk`), each approval
  APPLIED at once; a denial keeps the resting quotes (as live) unless ``denial_keeps_target`` is
  off; an operator resumes a halted engine at the next trading day unless ``resume_next_day`` is off.
- Each market settles at its close: $1/$0 when the result is known, else marked at the last mid and
  flagged; quotes withdrawn, risk exposure released. Events at or after a market's close are ignored
  (counted: ``Result.ignored_after_close``, :func:`events_after_close`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kmm.kalshi import fees as kfees
from kmm.messages.units import MONEY_SCALE, NS_PER_MS, PRICE_SCALE
from kmm.risk.engine import RiskLimits
from kmm.strategy.ticks import TickGrid

from . import kernel as K
from . import krisk as R
from . import ksignals as S
from .eventlog import BOOK, EventLog, MarketMeta

TRADE_THROUGH = "trade_through"
QUEUE = "queue"
FILL_MODELS = (TRADE_THROUGH, QUEUE)
CANCEL_MODELS = ("none", "proportional", "power")
MARKOUT_S = K.MARKOUT_S
# What live measures: fills come over the exchange WebSocket; risk's fill_latency (the exchange's send
# time → risk applied it) in three `make run RUN_SECONDS=60` runs (seeds 1–3, 40 fills): p50 2.9–4.7 ms,
# p99 5.4–10.0 ms (docs/backtest.md "Fill reports"). The default is the p50 rounded up.
DEFAULT_REPORT_LATENCY_NS = 5 * NS_PER_MS


@dataclass(frozen=True)
class FillConfig:
    """Fill model and latencies. ``trade_only_*`` apply to markets whose log has no book rows."""

    model: str = QUEUE
    cancel_model: str = "proportional"
    power: float = 2.0  # exponent of the "power" cancel model (hftbacktest PowerProbQueueFunc)
    place_latency_ns: int = 30 * NS_PER_MS
    cancel_latency_ns: int = 30 * NS_PER_MS
    report_latency_ns: int = DEFAULT_REPORT_LATENCY_NS
    decrease_keeps_priority: bool = True
    trade_only_model: str = TRADE_THROUGH  # conservative: only prints through our price fill us
    trade_only_queue_ahead: int = 0  # with trade_only_model="queue": assumed size ahead of us (count units)

    def __post_init__(self) -> None:
        if self.model not in FILL_MODELS or self.trade_only_model not in FILL_MODELS:
            raise ValueError(f"fill model must be one of {FILL_MODELS}")
        if self.cancel_model not in CANCEL_MODELS:
            raise ValueError(f"cancel model must be one of {CANCEL_MODELS}")
        if min(self.place_latency_ns, self.cancel_latency_ns, self.report_latency_ns) < 0:
            raise ValueError("latencies must be >= 0")
        if self.trade_only_queue_ahead < 0:
            raise ValueError("trade_only_queue_ahead must be >= 0")


@dataclass(frozen=True)
class RunConfig:
    fill: FillConfig = field(default_factory=FillConfig)
    decision_interval_ns: int = 100 * NS_PER_MS
    record_fills: bool = False  # keep every fill (single runs, fidelity checks)
    record_inventory: bool = False  # keep (ts, market, position) at each decision (cell 0)
    denial_keeps_target: bool = True  # a risk denial leaves the resting quotes (as live)
    # an operator resumes a halted risk engine at the next trading day (a halt that still holds halts
    # again at once): one overshoot does not end a multi-day run. Off: halts latch as the limits say.
    resume_next_day: bool = True
    # a risk state change reaches every market's quotes this much later: the live quoter re-sends each
    # market's intent every 3 s (refresh_s), so risk decides it in the new state within 0–3 s
    requote_delay_ns: int = 1_500 * NS_PER_MS
    equity_samples: int = 0  # equity curve points over the log's span (0 = none; single runs use ~2,000)
    day_offset_ns: int = 0  # the trading day (daily P&L, risk's daily loss) starts at UTC midnight + this

    def __post_init__(self) -> None:
        if self.decision_interval_ns < 0 or self.requote_delay_ns < 0:
            raise ValueError("decision_interval_ns and requote_delay_ns must be >= 0")

    def settings(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("record_fills")
        d.pop("record_inventory")
        return d


@dataclass
class Result:
    """Per-(market, cell) metric arrays plus per-cell arrays. Money in µ$, counts in 0.01 contract
    (``kmm`` units); reports convert."""

    tickers: list[str]
    n_cells: int
    per_market: dict[str, np.ndarray]
    overall: dict[str, np.ndarray]
    settled_known: np.ndarray  # (markets,) bool: result known → settled, else marked and flagged
    fills: list[tuple[int, int, int, int, int, int, int]] = field(default_factory=list)
    inventory: list[tuple[int, int, int]] = field(default_factory=list)
    events: int = 0
    daily: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (days, cells) P&L per UTC day, µ$
    first_day: int = 0  # day number (days since the epoch, after day_offset) of daily[0]
    equity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (samples, cells) µ$
    equity_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    risk: list[dict[str, Any]] = field(default_factory=list)  # per cell: state, halts, denials
    trade_only: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (markets,)
    ignored_after_close: int = 0  # events at or after their market's close: the replay skips them

    FILL_FIELDS = ("ts", "market", "cell", "side", "price", "count", "fee")

    def market_summary(self, cell: int = 0) -> list[dict[str, Any]]:
        rows = []
        for m, t in enumerate(self.tickers):
            row: dict[str, Any] = {"market": t, "settled": bool(self.settled_known[m])}
            for k, arr in self.per_market.items():
                row[k] = arr[m, cell].item()
            rows.append(row)
        return rows

    def overall_summary(self, cell: int = 0) -> dict[str, Any]:
        return {k: v[cell].item() for k, v in self.overall.items()}

    def cell(self, i: int) -> Result:
        """The single-cell result of cell ``i`` (for comparisons with single runs)."""
        return Result(self.tickers, 1, {k: v[:, i:i + 1] for k, v in self.per_market.items()},
                      {k: v[i:i + 1] for k, v in self.overall.items()}, self.settled_known,
                      [f for f in self.fills if f[2] == i], [], self.events, self.daily[:, i:i + 1], self.first_day,
                      self.equity[:, i:i + 1] if self.equity.size else self.equity, self.equity_ts,
                      self.risk[i:i + 1], self.trade_only, self.ignored_after_close)


def events_after_close(log: EventLog) -> int:
    """How many events come at or after their market's close (``close_ts`` > 0): the kernel closes a market
    once time reaches its close and skips every later event of it, so these change nothing in a run."""
    closes = np.array([m.close_ts for m in log.markets], dtype=np.int64)
    closes[closes == 0] = np.iinfo(np.int64).max  # 0: no close (the kernel's own test is close != 0)
    ev = log.events
    n, step = 0, 1 << 20
    for i in range(0, len(ev), step):  # in slices: no per-event temporary the size of the log
        part = ev[i:i + step]
        n += int(np.count_nonzero(part["ts"] >= closes[part["market"]]))
    return n


def fee_type_of(meta: MarketMeta) -> str:
    """The market's series fee type; "" (unknown) unless the log or a series table says."""
    if meta.fee_type:
        return meta.fee_type
    return kfees.QUADRATIC_WITH_MAKER_FEES if meta.maker_fees else ""


def maker_rate_of(meta: MarketMeta) -> tuple[int, int]:
    """The exact maker rate of a market: ``kmm.kalshi.fees.maker_rate`` of its fee type and multiplier
    (an unknown fee type pays the standard rate, as the live quoter assumes and Kalshi may charge)."""
    return kfees.maker_rate(fee_type_of(meta), meta.fee_multiplier_ppm)


class _Rings:
    """The kernel's growable buffers (fill reports, markouts, recorded fills and inventory)."""

    def __init__(self, n_cells: int, record_fills: bool, record_inventory: bool) -> None:
        cap = max(1024, 4 * n_cells)
        self.rep = np.zeros((cap, K.REP_N), dtype=np.int64)
        self.mkr = np.zeros((cap, K.MKR_N), dtype=np.int64)
        self.fr = np.zeros((cap if record_fills else 1, K.FR_N), dtype=np.int64)
        self.inv = np.zeros((cap if record_inventory else 1, K.INV_N), dtype=np.int64)

    def grow(self, code: int, g: np.ndarray) -> None:
        if code == K.GROW_REP:
            self.rep, g[K.G_REP_HEAD], g[K.G_REP_TAIL] = _regrow(self.rep, g[K.G_REP_HEAD], g[K.G_REP_TAIL])
        elif code == K.GROW_MKR:
            h2 = g[K.G_MKR_HEAD2]
            self.mkr, _, tail = _regrow(self.mkr, h2, g[K.G_MKR_TAIL])
            for h in (K.G_MKR_HEAD0, K.G_MKR_HEAD1, K.G_MKR_HEAD2):
                g[h] -= h2
            g[K.G_MKR_TAIL] = tail
        elif code == K.GROW_FR:
            self.fr = np.concatenate([self.fr, np.zeros_like(self.fr)])
        elif code == K.GROW_INV:
            self.inv = np.concatenate([self.inv, np.zeros_like(self.inv)])


def _regrow(ring: np.ndarray, head: int, tail: int) -> tuple[np.ndarray, int, int]:
    cap = ring.shape[0]
    n = tail - head
    new = np.zeros((cap * 2, ring.shape[1]), dtype=ring.dtype)
    idx = (np.arange(head, tail) % cap)
    new[:n] = ring[idx]
    return new, 0, n


@dataclass
class _Grids:
    index: list[int]
    floor: np.ndarray
    ceil: np.ndarray


def _grids(markets: list[MarketMeta]) -> _Grids:
    seen: dict[tuple[tuple[int, int, int], ...], int] = {}
    tables: list[TickGrid] = []
    index = []
    for mm in markets:
        key = tuple(tuple(int(v) for v in r) for r in mm.tick_ranges)
        if key not in seen:
            seen[key] = len(tables)
            tables.append(TickGrid(key))  # type: ignore[arg-type]
        index.append(seen[key])
    return _Grids(index, np.stack([g._floor for g in tables]), np.stack([g._ceil for g in tables]))


class Backtest:
    """One replay of ``log`` for ``policy.n_cells`` parameter sets. Call :meth:`run` once."""

    CHUNK = 200_000

    def __init__(self, log: EventLog, policy: Any, config: RunConfig | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.log = log
        self.policy = policy
        self.cfg = config or RunConfig()
        self.progress = progress

    def run(self) -> Result:
        log, cfg, pol = self.log, self.cfg, self.policy
        if not log.markets:
            raise ValueError("the event log has no markets: nothing to replay")
        ev = log.events
        n = len(ev)
        n_m, c = len(log.markets), int(pol.n_cells)
        fc = cfg.fill
        has_book = np.zeros(n_m, dtype=bool)
        if n:
            has_book[np.unique(ev["market"][ev["kind"] == BOOK])] = True
        mi = np.zeros((n_m, c, K.MI_N), dtype=np.int64)
        mf = np.zeros((n_m, c, K.MF_N), dtype=np.float64)
        mk = np.zeros((n_m, K.MK_N), dtype=np.int64)
        mkf = np.zeros((n_m, K.MKF_N), dtype=np.float64)
        grids = _grids(log.markets)
        book_markets = np.flatnonzero(has_book)
        mk[:, K.MK_BOOK_BASE] = -1
        mk[book_markets, K.MK_BOOK_BASE] = np.arange(len(book_markets)) * 2 * K.LEVELS
        mk[:, K.MK_BA] = PRICE_SCALE
        mk[:, K.MK_NEXT_LAND] = K.NEVER
        mk[:, K.MK_LO0] = mk[:, K.MK_LO1] = K.LEVELS
        mk[:, K.MK_HI0] = mk[:, K.MK_HI1] = -1
        mk[:, K.MK_EST_LAST_TS] = -1
        for m, mm in enumerate(log.markets):
            mk[m, K.MK_CLOSE_TS] = mm.close_ts
            mk[m, K.MK_RESULT_PX] = PRICE_SCALE if mm.result == "yes" else (0 if mm.result == "no" else -1)
            mk[m, K.MK_GRID] = grids.index[m]
            mk[m, K.MK_FEE_NUM], mk[m, K.MK_FEE_DEN] = maker_rate_of(mm)
        lv = np.zeros(max(1, len(book_markets) * 2 * K.LEVELS), dtype=np.int64)
        pr = np.zeros_like(lv)
        cf = np.zeros((c, K.CF_N), dtype=np.float64)
        g = np.zeros(K.G_N, dtype=np.int64)
        ts0 = int(ev["ts"][0]) if n else 0
        ts1 = int(ev["ts"][-1]) if n else 0
        first_day = (ts0 - cfg.day_offset_ns) // K.NS_PER_DAY
        n_days = (ts1 - cfg.day_offset_ns) // K.NS_PER_DAY - first_day + 1 if n else 0
        g[K.G_DAY] = first_day
        g[K.G_WAKE_AT] = K.NEVER
        n_samples = cfg.equity_samples if n else 0
        step = max(1, (ts1 - ts0) // max(n_samples - 1, 1))
        g[K.G_NEXT_SAMPLE] = ts0
        eqs = np.zeros((max(n_samples, 0), c), dtype=np.float64)
        eqs_ts = np.zeros(max(n_samples, 0), dtype=np.int64)
        daily_eq = np.zeros((n_days, c), dtype=np.float64)
        ki, kf, pf, pi, sq, risk = pol.kernel_arrays()
        red_h, stop_h = pol.market_close_rules([mm.series for mm in log.markets])
        mkf[:, K.MKF_REDUCE_H], mkf[:, K.MKF_STOP_H] = red_h, stop_h
        rules = np.concatenate([red_h[~np.isnan(red_h)], stop_h[~np.isnan(stop_h)]])
        if rules.size:
            kf[K.KF_TAU_FAR] = max(kf[K.KF_TAU_FAR], float(rules.max()))
        if ki[K.KI_SIGMA_KIND] in (K.SIGMA_TSRV, K.SIGMA_TSRV_LOGIT):
            mkf[:, K.MKF_SIGMA] = kf[K.KF_SIGMA_C]  # the estimator's prior until the first mid
        gp, gpi = pol.guard_arrays()
        ki[K.KI_MIN_MARKOUT] = int(gpi[:, S.GPI_MARKOUT].min(initial=0)) if c else 0
        lag = getattr(pol, "sigma_lag", 10)
        tsr = S.tsrv_state(n_m, lag)
        gi, gfl, gq, gh = S.guard_state(n_m, c, max(64, 2 * c) if ki[K.KI_GUARD_TOXIC] else 1)
        gmax = np.zeros(1, dtype=np.int64)
        ki[K.KI_FILL_MODEL] = K.FILL_QUEUE if fc.model == QUEUE else K.FILL_THROUGH
        ki[K.KI_CANCEL_MODEL] = CANCEL_MODELS.index(fc.cancel_model)
        ki[K.KI_PLACE_LAT] = fc.place_latency_ns
        ki[K.KI_CANCEL_LAT] = fc.cancel_latency_ns
        ki[K.KI_REPORT_LAT] = fc.report_latency_ns
        ki[K.KI_INTERVAL] = cfg.decision_interval_ns
        ki[K.KI_DENIAL_KEEPS] = int(cfg.denial_keeps_target)
        ki[K.KI_DECREASE_KEEPS] = int(fc.decrease_keeps_priority)
        ki[K.KI_TO_MODEL] = K.FILL_QUEUE if fc.trade_only_model == QUEUE else K.FILL_THROUGH
        ki[K.KI_TO_AHEAD] = fc.trade_only_queue_ahead
        ki[K.KI_RECORD_FILLS] = int(cfg.record_fills)
        ki[K.KI_RECORD_INV] = int(cfg.record_inventory)
        ki[K.KI_DAY_OFFSET] = cfg.day_offset_ns
        ki[K.KI_FIRST_DAY] = first_day
        ki[K.KI_N_DAYS] = n_days
        ki[K.KI_SAMPLE_STEP] = step
        ki[K.KI_N_SAMPLES] = n_samples
        ki[K.KI_WAKE_DELAY] = cfg.requote_delay_ns
        kf[K.KF_POWER] = fc.power
        if risk is not None:
            li, lf = R.limits_arrays(risk, resume_next_day=cfg.resume_next_day)
            li[R.LI_DAY_OFFSET] = cfg.day_offset_ns
            ki[K.KI_RISK] = 1
        else:
            li, lf = R.limits_arrays(RiskLimits())
        rc, rcf, rm = R.new_state(n_m, c, lf)
        if risk is not None and n:
            for cc in range(c):  # the engines start their day at the first event, as on_market does live
                R.evaluate(rc, li, lf, cc, ts0, 0)
        rings = _Rings(c, cfg.record_fills, cfg.record_inventory)
        scratch = np.zeros(c, dtype=np.int64)
        closes = mk[:, K.MK_CLOSE_TS]
        close_order = np.flatnonzero(closes > 0)
        close_order = close_order[np.argsort(closes[close_order], kind="stable")].astype(np.int64)
        cols = [ev[k] for k in ("ts", "kind", "side", "market", "price", "qty", "delta")]
        i = 0
        while i < n:
            stop = min(n, i + self.CHUNK)
            gs = (gi, gfl, gq, gh, gp, gpi, gmax)
            i, code = K.run_events(*cols, i, stop, mi, mf, mk, mkf, cf, g, lv, pr, rings.rep, rings.mkr, rings.fr,
                                   rings.inv, eqs, eqs_ts, daily_eq, ki, kf, pf, pi, sq, grids.floor, grids.ceil,
                                   rc, rcf, rm, li, lf, scratch, close_order, gs, tsr)
            if code == K.GROW_GQ:
                gq = S.grow_queue(gq, gh, gmax, int(g[K.G_REP_TAIL] - g[K.G_REP_HEAD]) + c)
            elif code != K.DONE:
                rings.grow(code, g)
            elif self.progress is not None and i < n:  # the end is reported once, after finish
                self.progress(i, n)
        K.finish(mi, mf, mk, cf, g, rings.mkr, rings.rep, ki, daily_eq, rc, rm, li, lf, ts1,
                 (gi, gfl, gq, gh, gp, gpi, gmax))
        if self.progress is not None:
            self.progress(n, n)
        result = self._result(mi, mf, mk, cf, g, rings, daily_eq, first_day, eqs, eqs_ts, rc, rcf, n, has_book,
                              risk is not None)
        result.ignored_after_close = events_after_close(log)
        return result

    def _result(self, mi: np.ndarray, mf: np.ndarray, mk: np.ndarray, cf: np.ndarray, g: np.ndarray, rings: _Rings,
                daily_eq: np.ndarray, first_day: int, eqs: np.ndarray, eqs_ts: np.ndarray, rc: np.ndarray,
                rcf: np.ndarray, n: int, has_book: np.ndarray, risk_on: bool) -> Result:
        log = self.log
        c = mi.shape[1]
        known = np.array([mm.result in ("yes", "no") for mm in log.markets], dtype=bool)
        settle_px = mk[:, K.MK_RESULT_PX].clip(0)
        mid2 = mk[:, K.MK_MID2]
        pos, cash, fees = mi[:, :, K.MI_POS], mi[:, :, K.MI_CASH], mi[:, :, K.MI_FEES]
        marked = cash + (pos * mid2[:, None]) // 2 - fees
        settled = np.where(known[:, None], cash + pos * settle_px[:, None] - fees, marked)
        active = np.maximum(mk[:, K.MK_END_TS] - mk[:, K.MK_FIRST_TS], 1)[:, None].astype(np.float64)
        fills_n = mi[:, :, K.MI_FILLS]
        placed = mi[:, :, K.MI_PLACED]
        per_market: dict[str, np.ndarray] = {
            "pnl_settled": settled,
            "pnl_marked": marked,
            "pnl_realized": mi[:, :, K.MI_REALIZED],
            "fees": fees,
            "cash": cash,
            "position": pos,
            "fills": fills_n,
            "volume_buy": mi[:, :, K.MI_VOL_BUY],
            "volume_sell": mi[:, :, K.MI_VOL_SELL],
            "orders_placed": placed,
            "orders_rejected": mi[:, :, K.MI_REJECTED],
            "fill_rate": np.where(placed > 0, fills_n / np.maximum(placed, 1), 0.0),
            "spread_captured": mf[:, :, K.MF_SPREAD],
            **{f"markout_{h}s": mf[:, :, K.MF_MK0 + j] for j, h in enumerate(MARKOUT_S)},
            "inventory_mean": mf[:, :, K.MF_INV_TW] / active,
            "inventory_abs_mean": mf[:, :, K.MF_INV_ABS_TW] / active,
            "inventory_max_abs": mi[:, :, K.MI_MAX_ABS],
            "max_drawdown": mf[:, :, K.MF_MDD],
            "quote_uptime": mi[:, :, K.MI_UPTIME] / active,
        }
        sums = ("pnl_settled", "pnl_marked", "pnl_realized", "fees", "fills", "volume_buy", "volume_sell",
                "orders_placed", "orders_rejected", "spread_captured", *(f"markout_{h}s" for h in MARKOUT_S))
        overall = {k: per_market[k].sum(axis=0) for k in sums}
        overall["max_drawdown"] = cf[:, K.CF_MDD].copy()
        overall["fill_rate"] = np.where(overall["orders_placed"] > 0,
                                        overall["fills"] / np.maximum(overall["orders_placed"], 1), 0.0)
        overall["return_usd"] = overall["pnl_settled"] / MONEY_SCALE
        daily = np.diff(np.vstack([np.zeros((1, c)), daily_eq]), axis=0) if len(daily_eq) else daily_eq
        overall["sharpe"] = sharpe(daily)
        traded = fills_n > 0
        overall["markets_traded"] = traded.sum(axis=0)
        overall["risk_halts"] = rc[:, R.RC_NHALT].copy()
        fills = [tuple(int(x) for x in row) for row in rings.fr[:g[K.G_FR_N]]] if self.cfg.record_fills else []
        inventory = ([tuple(int(x) for x in row) for row in rings.inv[:g[K.G_INV_N]]]
                     if self.cfg.record_inventory else [])
        return Result(log.tickers, c, per_market, overall, known, fills, inventory, n, daily, first_day,
                      eqs[:g[K.G_SAMPLE_N]], eqs_ts[:g[K.G_SAMPLE_N]],
                      [risk_summary(rc, cc, log.tickers) for cc in range(c)] if risk_on else [{} for _ in range(c)],
                      ~has_book)


def sharpe(daily: np.ndarray) -> np.ndarray:
    """Annualized Sharpe ratio of daily P&L per cell: mean / std (ddof 1) × √365 (Kalshi trades every
    day); NaN with fewer than two days or no variation."""
    if daily.shape[0] < 2:
        return np.full(daily.shape[1] if daily.ndim == 2 else 0, np.nan)
    sd = daily.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, daily.mean(axis=0) / sd * math.sqrt(365.0), np.nan)


def risk_summary(rc: np.ndarray, c: int, tickers: list[str]) -> dict[str, Any]:
    """One cell's risk outcome: final state, halts (first and last with time, reason, market), denials."""

    def halt(ts_k: int, reason_k: int, market_k: int) -> dict[str, Any]:
        return {"ts_ns": int(rc[c, ts_k]), "reason": R.REASON_NAMES[int(rc[c, reason_k])],
                "market": tickers[int(rc[c, market_k])] if tickers else ""}

    out: dict[str, Any] = {
        "state": R.STATE_NAMES[int(rc[c, R.RC_STATE])],
        "state_reason": R.REASON_NAMES[int(rc[c, R.RC_REASON])],
        "halts": int(rc[c, R.RC_NHALT]),
        "halt_resets": int(rc[c, R.RC_NRESET]),
        "latched_at_end": R.REASON_NAMES[int(rc[c, R.RC_LATCH])],
        "denials": {name: int(rc[c, R.RC_DENY + k]) for k, name in enumerate(R.DENIAL_NAMES) if rc[c, R.RC_DENY + k]},
        "rate_limited": int(rc[c, R.RC_NRATE]),
    }
    if out["halts"]:
        out["first_halt"] = halt(R.RC_HALT1_TS, R.RC_HALT1_REASON, R.RC_HALT1_MARKET)
        out["last_halt"] = halt(R.RC_HALTN_TS, R.RC_HALTN_REASON, R.RC_HALTN_MARKET)
    return out


def run(log: EventLog, policy: Any, config: RunConfig | None = None,
        progress: Callable[[int, int], None] | None = None) -> Result:
    return Backtest(log, policy, config, progress).run()
