"""Quoter: Avellaneda–Stoikov quotes for every market in the universe, published as ``ord:intent``.

Books arrive on ``md:book`` (fan-out, coalesced: each batch keeps only the latest book per market,
so the quoter works on the latest state instead of a queue of stale deltas). For each changed
market it runs :func:`kmm.strategy.quoting.quote_one` on the book without our own resting orders
(rebuilt from ``exec:report``) with σ from a two-scale realized variance of the mid (bounce-free),
τ from the market's close time, the series' maker fee rate, inventory from ``exec:report`` and the
adverse-selection guard (fed our fills and ``md:trade``), and publishes an intent when the target
changed or its refresh is due. Close rules (reduce-only / stop N minutes before the close) are
per series: ``KMM_SERIES_CLOSE_MIN`` overrides the defaults. Intents expire (``KMM_INTENT_TTL_S``):
if the quoter dies, the gateway lets its quotes lapse; a quoter told to stop pulls them first. A market that leaves the universe gets a zero
intent (pull quotes), and so does a market whose book is older than ``KMM_MAX_BOOK_AGE_S``
(marketdata re-vouches for quiet books every second; a stale book means the feed is down or the book
is being rebuilt). Each intent carries what risk checks it against, so risk never reads the book
stream: the book's top (the whole book, ours included), its ``ts_init``, exchange time and ``seq``,
and σ of the mid in price space.
A settled market is never quoted again, and a market whose trading ended (closed or settled) is forgotten
once it is out of the universe (on Kalshi markets are listed and closed every day: kept, their models
would grow the quoter without end).
"""

import asyncio
import dataclasses
import logging
import time
from typing import Any

from pydantic import Field, field_validator

from kmm.bus.consumer import Delivery
from kmm.bus.ids import new_id
from kmm.bus.topology import (
    EXEC_REPORT,
    MD_BOOK,
    MD_MARKET,
    MD_TRADE,
    ORD_INTENT,
    RISK_CONTROL,
    RISK_DENIED,
    SEL_UNIVERSE,
)
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import ServiceSettings
from kmm.messages import (
    HALTED,
    MARKET_ENDED_STATUSES,
    MARKET_OPEN_STATUSES,
    BookUpdate,
    Control,
    Denial,
    Fill,
    Heartbeat,
    MarketInfo,
    Message,
    PositionReport,
    QuoteIntent,
    Settlement,
    Trade,
    Universe,
)
from kmm.messages.units import COUNT_SCALE, NS_PER_S, PRICE_SCALE
from kmm.risk import fill_seq as fs
from kmm.strategy.own_orders import OwnOrders
from kmm.strategy.quoting import (
    DEFAULTS,
    QuoteParams,
    hold_quote,
    quote_one,
    warm_up,
)

from .model import MarketModel

log = logging.getLogger(__name__)


class QuoterSettings(ServiceSettings):
    gamma: float = Field(0.3, gt=0, description="risk aversion, 1/cent")
    kappa: float = Field(1.5, gt=0, description="order-flow intensity decay, 1/cent")
    eta: float = Field(0.5, ge=0)
    base_contracts: int = Field(10, ge=1)
    max_position_contracts: int = Field(200, ge=1)
    horizon_h: float = Field(5 / 60, ge=0)
    min_edge_c: float = Field(0.0, ge=0)
    space: str = Field("price", pattern="^(price|logit)$")
    sigma_prior_c: float = Field(5.0, ge=0, description="σ before data, cents per √hour")
    sigma_lag: int = Field(10, ge=2, description="slow scale of the two-scale σ, in mid changes")
    jump_frac: float = Field(DEFAULTS.jump_frac, ge=0, le=1, description="variance floor at the close, × P(100−P)")
    close_reduce_min: float = Field(DEFAULTS.reduce_before_h * 60.0, ge=0, description="reduce-only before the close")
    close_stop_min: float = Field(DEFAULTS.stop_before_h * 60.0, ge=0, description="no quotes before the close")
    series_close_min: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='per series {"SERIES": [reduce_min, stop_min]}, JSON')
    guard_widen_c: float = Field(DEFAULTS.guard_widen_c, ge=0, description="a guarded side moves out this far")
    guard_size: float = Field(DEFAULTS.guard_size, ge=0, le=1, description="a guarded side's size multiplier")
    toxic_c: float = Field(DEFAULTS.toxic_c, ge=0, allow_inf_nan=True, description="markout (¢/contract) below −this is toxic; inf off")
    markout_s: float = Field(DEFAULTS.markout_s, gt=0)
    guard_s: float = Field(DEFAULTS.guard_s, ge=0, description="a toxic fill guards its side this long")
    flow_threshold: float = Field(DEFAULTS.flow_threshold, gt=0, allow_inf_nan=True, description="taker-flow imbalance; inf off")
    flow_half_life_s: float = Field(DEFAULTS.flow_half_life_s, gt=0)
    flow_min: float = Field(DEFAULTS.flow_min, ge=0, description="contracts of flow before the flow trigger")
    use_microprice: bool = False
    requote_tolerance_c: float = Field(1.0, ge=0, description="keep a resting price within this many cents")
    requote_size_tolerance: float = Field(0.5, ge=0, description="raise a resting size only past this fraction")
    intent_ttl_s: float = Field(10.0, gt=0)
    refresh_s: float = Field(3.0, gt=0)
    max_book_age_s: float = Field(5.0, gt=0, description="pull quotes priced off an older book")

    @field_validator("series_close_min")
    @classmethod
    def _non_negative(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for series, (reduce_min, stop_min) in v.items():
            if not (reduce_min >= 0 and stop_min >= 0):
                raise ValueError(f"{series}: minutes must be >= 0")
        return v


class QuoterService(Service):
    name = "quoter"
    settings_cls = QuoterSettings

    def __init__(self, settings: QuoterSettings) -> None:
        super().__init__(settings)
        self.s = settings
        self.params = QuoteParams(
            gamma=settings.gamma, kappa=settings.kappa, eta=settings.eta,
            base_count=settings.base_contracts * COUNT_SCALE,
            max_position=settings.max_position_contracts * COUNT_SCALE, horizon_h=settings.horizon_h,
            min_edge_c=settings.min_edge_c, jump_frac=settings.jump_frac,
            reduce_before_h=settings.close_reduce_min / 60.0, stop_before_h=settings.close_stop_min / 60.0,
            guard_widen_c=settings.guard_widen_c, guard_size=settings.guard_size, toxic_c=settings.toxic_c,
            markout_s=settings.markout_s, guard_s=settings.guard_s, flow_threshold=settings.flow_threshold,
            flow_half_life_s=settings.flow_half_life_s, flow_min=settings.flow_min)
        self.series_params: dict[str, QuoteParams] = {}
        self.tolerance = round(settings.requote_tolerance_c * PRICE_SCALE / 100)
        self.models: dict[str, MarketModel] = {}
        self.own = OwnOrders()
        self.universe: set[str] = set()
        self.halted = False
        self.fill_seq: dict[str, int] = {}
        self.recent_fills: dict[str, dict[str, int]] = {}  # market → fill id → seq (kmm.risk.fill_seq)
        self.settled: set[str] = set()
        self.intents = 0
        self.denials = 0

    def model(self, market: str) -> MarketModel:
        m = self.models.get(market)
        if m is None:
            m = self.models[market] = MarketModel(market, self.s.sigma_prior_c, self.s.space, params=self.params,
                                                  sigma_lag=self.s.sigma_lag)
        return m

    def params_for(self, series: str) -> QuoteParams:
        """The quote parameters of a series: the defaults with its close rules, if it has its own."""
        p = self.series_params.get(series)
        if p is None:
            rule = self.s.series_close_min.get(series)
            p = self.params if rule is None else dataclasses.replace(
                self.params, reduce_before_h=rule[0] / 60.0, stop_before_h=rule[1] / 60.0)
            self.series_params[series] = p
        return p

    async def on_start(self) -> None:
        log.info("quoting core ready in %.2f s", warm_up())  # numba: load (or compile) before the first book
        self.consume_fanout((MD_MARKET, SEL_UNIVERSE), self.on_reference, start="0")
        self.consume_fanout((RISK_CONTROL,), self.on_reference)
        self.consume_fanout((MD_BOOK, MD_TRADE), self.on_market_data,
                            coalesce={MD_BOOK: lambda m: m.market})  # type: ignore[attr-defined]
        self.consume_group((EXEC_REPORT, RISK_DENIED), self.on_report)
        self.spawn(self.refresh_loop(), "refresh")

    async def on_stop(self) -> None:
        """Pull every quote this quoter has out: a stopped quoter leaves nothing resting on its behalf
        (the gateway would otherwise cancel them only when the approvals expire)."""
        now = time.time_ns()
        for m in self.models.values():
            if m.last_quote is not None and any(m.last_quote[1::2]):
                self.send(m, (0, 0, 0, 0), now, reason="quoter stopping")

    async def ready_checks(self) -> dict[str, Check]:
        return {"universe": (bool(self.universe), f"{len(self.universe)} markets" if self.universe else "waiting")}

    # --- inputs ---------------------------------------------------------------------------------
    async def on_reference(self, stream: str, msgs: list[Message]) -> None:
        for msg in msgs:
            if isinstance(msg, MarketInfo):
                self.model(msg.market).on_info(msg)
                if msg.status in MARKET_ENDED_STATUSES:
                    self.forget_if_done(msg.market)
            elif isinstance(msg, Universe):
                await self.set_universe(set(msg.markets))
            elif isinstance(msg, Control):
                self.halted = msg.state == HALTED
            elif isinstance(msg, Heartbeat):
                self.halted = msg.state == HALTED

    async def set_universe(self, markets: set[str]) -> None:
        gone = self.universe - markets
        for market in markets - self.universe:
            metrics.init_market(market, self.name)
        self.universe = markets
        now = time.time_ns()
        for market in gone:
            m = self.models.get(market)
            if m is not None and m.last_quote and any(m.last_quote[1::2]):
                self.send(m, (0, 0, 0, 0), now, reason="left universe")
            metrics.forget_market(market, self.name)
            self.forget_if_done(market)

    def forget_if_done(self, market: str) -> None:
        """Drop what the quoter keeps of a market out of the universe whose trading ended (a model without
        market news, made by a fill, keeps its inventory)."""
        m = self.models.get(market)
        if market in self.universe or (m is not None and (m.info is None or m.info.status not in MARKET_ENDED_STATUSES)):
            return
        self.models.pop(market, None)
        self.fill_seq.pop(market, None)
        self.recent_fills.pop(market, None)
        self.settled.discard(market)

    async def on_market_data(self, stream: str, msgs: list[Message]) -> None:
        now = time.time_ns()
        hop = metrics.HOP_SECONDS.labels("md_quoter")
        for msg in msgs:
            if isinstance(msg, BookUpdate):
                if msg.origin_ts:
                    hop.observe(max(now - msg.ts_init, 0) / NS_PER_S)
                m = self.model(msg.market)
                m.on_book(msg, self.own)
                if msg.market in self.universe:
                    self.requote(m, now)
            elif isinstance(msg, Trade) and msg.market in self.universe:
                self.model(msg.market).on_trade(msg, now)

    async def on_report(self, msg: Message, d: Delivery) -> None:
        self.own.on_report(msg)
        if isinstance(msg, Fill):
            kind, self.fill_seq[msg.market] = fs.admit(self.fill_seq.get(msg.market, 0),
                                                       self.recent_fills.setdefault(msg.market, {}), msg.seq,
                                                       msg.fill_id)
            if kind == fs.DUPLICATE:
                return
            if kind == fs.REUSED:
                metrics.FILL_SEQ_REUSED.labels(self.name).inc()
            m = self.model(msg.market)
            m.position += msg.count if msg.side == "bid" else -msg.count
            now = time.time_ns()
            m.on_fill(msg, now)
            self.requote(m, now, force=True, origin_ts=msg.ts_init)
        elif isinstance(msg, PositionReport):
            if msg.market not in self.models and not msg.position:
                return  # flat in a market it does not know (ended and forgotten): nothing to learn
            m = self.model(msg.market)
            if m.position != msg.position and msg.fill_seq == self.fill_seq.get(msg.market, 0):
                log.info("position %s reconciled %d -> %d", msg.market, m.position, msg.position)
                m.position = msg.position
        elif isinstance(msg, Settlement):
            m = self.models.get(msg.market)
            if m is None:  # forgotten already: its market data said it ended first
                return
            self.settled.add(msg.market)
            m.position = 0
            m.last_quote = (0, 0, 0, 0)
        elif isinstance(msg, Denial):
            self.denials += 1

    # --- quoting ---------------------------------------------------------------------------------
    def requote(self, m: MarketModel, now: int, force: bool = False, origin_ts: int | None = None) -> None:
        """Quote ``m``; ``origin_ts`` is the market event behind it (None: the last book; 0: a timer)."""
        if self.halted or m.market not in self.universe or m.info is None or m.info.status not in MARKET_OPEN_STATUSES:
            return
        if m.market in self.settled:
            return
        if m.last_book is None or now - m.last_book.ts_init > self.s.max_book_age_s * NS_PER_S:
            if m.last_quote is not None and any(m.last_quote[1::2]):
                log.warning("book of %s is stale: pulling its quotes", m.market)
                self.send(m, (0, 0, 0, 0), now, reason="stale book")
            return
        state = m.state(now, self.s.use_microprice)
        if state is None:
            return
        q = quote_one(state, self.params_for(m.info.series), m.grid, space=self.s.space)
        target = (q.bid_price, q.bid_count, q.ask_price, q.ask_count)
        if m.last_quote is not None and self.tolerance:
            target = hold_quote(m.last_quote, target, self.tolerance, self.s.requote_size_tolerance)
        due = now - m.last_sent_ns > self.s.refresh_s * NS_PER_S
        if target != m.last_quote or due or force:
            self.send(m, target, now, reason=",".join(q.reasons), origin_ts=origin_ts)

    def send(self, m: MarketModel, target: tuple[int, int, int, int], now: int, reason: str = "",
             origin_ts: int | None = 0) -> None:
        book = m.last_book
        if origin_ts is None:
            origin_ts = book.origin_ts if book else 0
        self.publish_nowait(ORD_INTENT, QuoteIntent(
            msg_id=new_id(), corr_id=book.corr_id if book and origin_ts else new_id(),
            ts_event=book.ts_event if book else now,
            ts_init=time.time_ns(), origin_ts=origin_ts, intent_id=new_id(), market=m.market,
            bid_price=target[0], bid_count=target[1], ask_price=target[2], ask_count=target[3],
            expires_at_ns=now + int(self.s.intent_ttl_s * NS_PER_S), reason=reason[:200],
            book_ts=book.ts_init if book else 0, book_seq=book.seq if book else 0,
            book_ts_event=book.ts_event if book else 0,
            book_bid=book.bids[0][0] if book and book.bids else 0,
            book_ask=book.asks[0][0] if book and book.asks else PRICE_SCALE,
            sigma=m.price_vol.sigma))
        m.last_quote = target
        m.last_sent_ns = now
        self.intents += 1
        metrics.QUOTES.inc()
        metrics.MARKET_QUOTES.labels(m.market).inc()
        metrics.QUOTE_PRICE.labels(m.market, "bid").set(target[0] / PRICE_SCALE if target[1] else 0.0)
        metrics.QUOTE_PRICE.labels(m.market, "ask").set(target[2] / PRICE_SCALE if target[3] else 0.0)

    async def refresh_loop(self) -> None:
        """Re-send unchanged quotes before they expire (books may be quiet)."""
        while True:
            await asyncio.sleep(self.s.refresh_s / 2)
            now = time.time_ns()
            metrics.MARKETS_QUOTED.set(len(self.universe))
            for market in list(self.universe):
                m = self.models.get(market)
                if m is not None and now - m.last_sent_ns > self.s.refresh_s * NS_PER_S:
                    self.requote(m, now, origin_ts=0)

    def status(self) -> dict[str, Any]:
        rows = []
        for market in sorted(self.universe):
            m = self.models.get(market)
            if m is None:
                continue
            q = m.last_quote or (0, 0, 0, 0)
            rows.append({"market": market, "best_bid": m.best_bid, "best_ask": m.best_ask if m.best_ask < 10_000 else 0,
                         "bid": q[0] if q[1] else 0, "ask": q[2] if q[3] else 0, "position": m.position,
                         "sigma_c": round(m.vol.sigma, 3)})
        return {"summary": f"universe {len(self.universe)}, intents {self.intents}, denials {self.denials}"
                           f"{', HALTED' if self.halted else ''}",
                "markets": rows, "intents": self.intents, "denials": self.denials, "markets_known": len(self.models)}


SERVICE = QuoterService
