"""Risk: the veto. Every intent is approved (possibly resized) or denied by the risk engine.

- reads ``ord:intent`` and ``exec:report`` through its group, ``md:book`` and ``md:market`` fan-out;
- runs :class:`kmm.risk.engine.RiskEngine` (state machine ACTIVE / REDUCING / HALTED; per-market
  limits scaled by volatility; worst-case exposure counting mutually exclusive brackets; daily loss;
  order-rate budget) — the same code the backtester runs;
- publishes ``ord:approved`` (only its Redis user can), ``risk:denied`` with reason codes, and
  ``risk:control``: state changes with cancel-all, plus a heartbeat every ``KMM_HEARTBEAT_S``
  that the gateway's dead-man's switch watches;
- REST: ``POST /halt`` (kill switch), ``POST /resume``, ``GET /state`` (positions, limits, PnL).
Positions come from our fills and are reconciled with the exchange snapshots the gateway publishes.
"""

import asyncio
import logging
import math
import time
from dataclasses import replace
from typing import Any

from fastapi import Body, FastAPI
from pydantic import Field

from kmm.bus.consumer import Delivery
from kmm.bus.ids import new_id
from kmm.bus.topology import (
    EXEC_REPORT,
    MD_BOOK,
    MD_MARKET,
    ORD_APPROVED,
    ORD_INTENT,
    RISK_CONTROL,
    RISK_DENIED,
)
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import ServiceSettings
from kmm.messages import (
    BookUpdate,
    Control,
    Fill,
    Heartbeat,
    MarketInfo,
    Message,
    OrderCancel,
    OrderReject,
    PositionReport,
    QuoteIntent,
)
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, count_to_fp, money_to_dollars
from kmm.risk import engine as rk
from kmm.strategy.estimators import EwmaVolatility, mid_price

log = logging.getLogger(__name__)


class RiskSettings(ServiceSettings):
    position_limit_contracts: int = Field(200, ge=1)
    near_fraction: float = Field(0.8, gt=0, lt=1)
    max_exposure_dollars: int = Field(2_000, ge=1)
    max_daily_loss_dollars: int = Field(200, ge=1)
    rate_capacity: float = Field(200.0, gt=0)
    rate_per_s: float = Field(100.0, gt=0)
    sigma_ref_c: float = Field(5.0, gt=0)
    sigma_prior_c: float = Field(5.0, ge=0)
    heartbeat_s: float = Field(0.5, gt=0)


class RiskService(Service):
    name = "risk"
    settings_cls = RiskSettings

    def __init__(self, settings: RiskSettings) -> None:
        super().__init__(settings)
        self.s = settings
        self.engine = rk.RiskEngine(rk.RiskLimits(
            position_limit=settings.position_limit_contracts * COUNT_SCALE, near_fraction=settings.near_fraction,
            max_exposure=settings.max_exposure_dollars * MONEY_SCALE,
            max_daily_loss=settings.max_daily_loss_dollars * MONEY_SCALE, rate_capacity=settings.rate_capacity,
            rate_per_s=settings.rate_per_s, sigma_ref=settings.sigma_ref_c), clock=time.time_ns)
        self.vols: dict[str, EwmaVolatility] = {}
        self.seen_fills: set[str] = set()
        self.heartbeat_seq = 0
        self.counts = {"approved": 0, "denied": 0, "resized": 0, "fills": 0}
        self.lock = asyncio.Lock()
        self.exported: set[str] = set()

    async def on_start(self) -> None:
        metrics.set_trading_state(self.engine.state)
        self.consume_fanout((MD_MARKET,), self.on_market_data, start="0")
        self.consume_fanout((MD_BOOK,), self.on_market_data, coalesce={MD_BOOK: lambda m: m.market})  # type: ignore[attr-defined]
        self.consume_group((ORD_INTENT, EXEC_REPORT), self.on_message)
        self.spawn(self.heartbeat_loop(), "heartbeat")
        self.spawn(self.metrics_loop(), "metrics")
        await self.publish_state_events()

    async def ready_checks(self) -> dict[str, Check]:
        return {"state": (True, self.engine.state)}

    # --- inputs ---------------------------------------------------------------------------------
    async def on_market_data(self, stream: str, msgs: list[Message]) -> None:
        for msg in msgs:
            if isinstance(msg, MarketInfo):
                self.engine.on_market(msg)
            elif isinstance(msg, BookUpdate):
                bid = msg.bids[0][0] if msg.bids else 0
                ask = msg.asks[0][0] if msg.asks else 10_000
                self.engine.on_book(msg.market, bid, ask, evaluate=False)
                mid = mid_price(bid, ask)
                if math.isfinite(mid):
                    vol = self.vols.get(msg.market)
                    if vol is None:
                        vol = self.vols[msg.market] = EwmaVolatility(prior_sigma=self.s.sigma_prior_c)
                    vol.update(msg.ts_init, mid)
                    self.engine.on_volatility(msg.market, vol.sigma)
        self.engine.evaluate()
        await self.publish_state_events()

    async def on_message(self, msg: Message, d: Delivery) -> None:
        async with self.lock:
            if isinstance(msg, QuoteIntent):
                await self.on_intent(msg)
            elif isinstance(msg, Fill):
                if msg.fill_id not in self.seen_fills:
                    self.seen_fills.add(msg.fill_id)
                    self.engine.on_fill(msg.market, msg.side, msg.price, msg.count, msg.fee)
                    self.counts["fills"] += 1
            elif isinstance(msg, OrderCancel):
                self.engine.on_cancel(msg.market, msg.side, msg.canceled_count)
            elif isinstance(msg, OrderReject):
                m = self.engine.markets.get(msg.market)
                if m is not None:
                    self.engine.on_cancel(msg.market, msg.side, m.target[1] if msg.side == "bid" else m.target[3])
            elif isinstance(msg, PositionReport):
                self.engine.on_position(msg.market, msg.position)
            await self.publish_state_events()

    async def on_intent(self, intent: QuoteIntent) -> None:
        now = time.time_ns()
        if intent.expires_at_ns and intent.expires_at_ns < now:
            self.deny_metric("expired")
            return
        decision = self.engine.check(intent)
        if decision.approved:
            self.publish_nowait(ORD_APPROVED, replace(decision.to_approval(intent, now), msg_id=new_id()))
            self.counts["approved"] += 1
            if decision.reasons:
                self.counts["resized"] += 1
                for r in decision.reasons:
                    metrics.RISK_DENIALS.labels(r).inc()
        else:
            self.publish_nowait(RISK_DENIED, replace(decision.to_denial(intent, now), msg_id=new_id()))
            self.counts["denied"] += 1
            self.deny_metric(decision.code)

    def deny_metric(self, code: str) -> None:
        metrics.RISK_DENIALS.labels(code).inc()

    # --- outputs ----------------------------------------------------------------------------------
    async def publish_state_events(self) -> None:
        for ev in self.engine.drain_events():
            log.warning("trading state %s -> %s (%s)%s", ev.previous, ev.state, ev.reason,
                        " cancel-all" if ev.cancel_all else "")
            metrics.set_trading_state(ev.state)
            await self.publish(RISK_CONTROL, Control(msg_id=new_id(), ts_event=ev.ts_ns, ts_init=time.time_ns(),
                                                     state=ev.state, cancel_all=ev.cancel_all, reason=ev.reason))

    async def heartbeat_loop(self) -> None:
        while True:
            self.heartbeat_seq += 1
            now = time.time_ns()
            await self.publish(RISK_CONTROL, Heartbeat(msg_id=new_id(), ts_event=now, ts_init=now, service=self.name,
                                                       state=self.engine.state, seq=self.heartbeat_seq))
            await asyncio.sleep(self.s.heartbeat_s)

    async def metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            e = self.engine
            metrics.EXPOSURE.set(e.exposure() / MONEY_SCALE)
            for market, m in e.markets.items():
                if m.info is None and not m.position:
                    continue
                if market not in self.exported:
                    metrics.init_market(market)
                    self.exported.add(market)
                metrics.POSITION.labels(market).set(m.position / COUNT_SCALE)
                metrics.POSITION_LIMIT.labels(market).set(e.position_limit(market) / COUNT_SCALE)
                for kind, value in e.market_pnl(market).items():
                    metrics.PNL.labels(market, kind).set(value / MONEY_SCALE)

    # --- REST ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        e = self.engine
        return {
            "state": e.state,
            "reason": e.state_reason,
            "positions": {m: r.position for m, r in e.markets.items() if r.position},
            "positions_contracts": {m: count_to_fp(r.position) for m, r in e.markets.items() if r.position},
            "limits": {m: e.position_limit(m) for m, r in e.markets.items() if r.info is not None},
            "exposure_dollars": money_to_dollars(e.exposure(), 6),
            "pnl_dollars": money_to_dollars(e.value(), 6),
            "daily_pnl_dollars": money_to_dollars(e.daily_pnl(), 6),
            "counts": self.counts,
            "reconciliations": e.reconciliations,
        }

    def status(self) -> dict[str, Any]:
        st = self.state()
        return {
            "summary": (f"state {st['state']}, approved {self.counts['approved']}, denied {self.counts['denied']}, "
                        f"fills {self.counts['fills']}, positions {len(st['positions'])}, "
                        f"PnL ${st['pnl_dollars']}"),
            **st,
        }

    def routes(self, app: FastAPI) -> None:
        @app.get("/state")
        async def get_state() -> dict[str, Any]:
            return self.state()

        @app.post("/halt")
        async def halt(body: dict[str, Any] | None = Body(default=None)) -> dict[str, Any]:  # noqa: B008
            reason = str((body or {}).get("reason") or "manual")
            async with self.lock:
                self.engine.halt(reason)
                await self.publish_state_events()
            if self.publisher is not None:
                await self.publisher.flush()
            return {"state": self.engine.state, "reason": self.engine.state_reason}

        @app.post("/resume")
        async def resume() -> dict[str, Any]:
            async with self.lock:
                self.engine.resume()
                await self.publish_state_events()
            return {"state": self.engine.state, "reason": self.engine.state_reason}


SERVICE = RiskService
