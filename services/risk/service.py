"""Risk: the veto. Every intent is approved (possibly resized) or denied by the risk engine.

- reads ``ord:intent`` and ``exec:report`` through its group and ``md:market`` fan-out — never the book
  stream: each intent carries the book top it was priced from (its ``book_ts``/``book_seq``) and σ, and
  risk checks crossing and staleness against that and keeps its marks from it (the newest book per
  market wins: an intent priced off an older book than one already seen leaves the mark alone);
- runs :class:`kmm.risk.engine.RiskEngine` (state machine ACTIVE / REDUCING / HALTED; per-market
  limits scaled by volatility; worst-case exposure of positions, resting orders and approvals the
  gateway may still act on, counting mutually exclusive brackets; daily loss; write budget) — the same
  code the backtester runs;
- publishes ``ord:approved`` (only its Redis user can) stamped with the market's fill sequence (the
  approval rule, docs/life-of-an-order.md), ``risk:denied`` with reason codes, and ``risk:control``:
  state changes with cancel-all, plus a heartbeat every ``KMM_HEARTBEAT_S`` that the gateway's
  dead-man's switch watches;
- persists its ledger in ``state:risk`` (halt and its reason, the day's baseline, cash and fees, each
  market's position, cost and fill sequence) before acknowledging what changed it, and restores it at
  start: a halted risk restarts halted; approvals that have not expired are read back from its own
  ``ord:approved`` so they still count;
- books settlements (the exchange's payout) into P&L and releases their exposure;
- REST: ``POST /halt`` (kill switch), ``POST /resume``, ``GET /state`` (positions, limits, PnL),
  ``GET /positions`` (per market: position, limit, P&L, fills, last denial; exposure against its limit).
Positions come from our fills and are reconciled with the exchange snapshots the gateway publishes
(only when both have seen the same fills of that market).
"""

import asyncio
import json
import logging
import math
import time
from collections import deque
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from pydantic import Field

from kmm.bus.consumer import Delivery
from kmm.bus.ids import new_id
from kmm.bus.publisher import FIELD
from kmm.bus.retry import is_connection_error
from kmm.bus.topology import (
    EXEC_REPORT,
    MD_MARKET,
    ORD_APPROVED,
    ORD_INTENT,
    RISK_CONTROL,
    RISK_DENIED,
    state_key,
)
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import ServiceSettings
from kmm.messages import (
    Approval,
    ApprovalStatus,
    Control,
    DecodeError,
    Fill,
    Heartbeat,
    MarketInfo,
    Message,
    OrderAck,
    OrderCancel,
    OrderReject,
    PositionReport,
    QuoteIntent,
    Settlement,
    decode,
)
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, count_to_fp, money_to_dollars
from kmm.ops.streams import last_denials
from kmm.risk import engine as rk
from kmm.risk.fill_seq import REUSED

log = logging.getLogger(__name__)


class RiskSettings(ServiceSettings):
    position_limit_contracts: int = Field(200, ge=1)
    near_fraction: float = Field(0.8, gt=0, lt=1)
    max_exposure_dollars: int = Field(2_000, ge=1)
    max_daily_loss_dollars: int = Field(200, ge=1)
    # A runaway guard, ten times Kalshi Basic's write budget: the gateway spends the exchange's real budget
    # (its scheduler sends the most wrong quote first); a tighter budget here would ration approvals in
    # arrival order and leave the scheduler nothing to choose from. Cancels and reductions never pay.
    rate_capacity: float = Field(2000.0, gt=0, description="write tokens: burst")
    rate_per_s: float = Field(1000.0, gt=0, description="write tokens per second")
    request_cost: float = Field(10.0, gt=0, description="tokens one order request costs")
    sigma_ref_c: float = Field(5.0, gt=0)
    heartbeat_s: float = Field(0.5, gt=0)
    max_book_age_s: float = Field(5.0, ge=0, description="intents priced off an older book may only reduce")


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
            rate_per_s=settings.rate_per_s, request_cost=settings.request_cost, sigma_ref=settings.sigma_ref_c,
            max_book_age_ns=int(settings.max_book_age_s * NS_PER_S)), clock=time.time_ns)
        self.book_ts: dict[str, int] = {}  # market → book_ts of the newest book an intent carried
        self.heartbeat_seq = 0
        self.counts = {"approved": 0, "denied": 0, "resized": 0, "fills": 0, "duplicate_fills": 0,
                       "reused_fill_seqs": 0, "settlements": 0}
        self.lock = asyncio.Lock()
        self.exported: set[str] = set()
        self.fill_latency: deque[float] = deque(maxlen=5000)

    async def on_start(self) -> None:
        await self.restore()
        metrics.set_trading_state(self.engine.state)
        self.consume_fanout((MD_MARKET,), self.on_market_data, start="0")
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
                if msg.market not in self.engine.markets:  # ended with nothing of ours in it: forgotten
                    self.book_ts.pop(msg.market, None)
                    if msg.market in self.exported:
                        self.exported.discard(msg.market)
                        metrics.forget_market(msg.market, self.name)
        self.engine.evaluate()
        await self.publish_state_events()

    async def on_message(self, msg: Message, d: Delivery) -> None:
        async with self.lock:
            e = self.engine
            changed: str | None = None  # a market whose ledger moved: persisted before the ack
            if isinstance(msg, QuoteIntent):
                await self.on_intent(msg)
            elif isinstance(msg, Fill):
                kind = e.on_fill(msg.market, msg.side, msg.price, msg.count, msg.fee, seq=msg.seq,
                                 order=msg.client_order_id, fill_id=msg.fill_id)
                if kind:
                    self.counts["fills"] += 1
                    if kind == REUSED:
                        self.counts["reused_fill_seqs"] += 1
                        metrics.FILL_SEQ_REUSED.labels(self.name).inc()
                        log.warning("fill %s in %s came at sequence %d, already applied: the gateway's count "
                                    "went back (lost Redis writes?); applied it as new", msg.fill_id, msg.market,
                                    msg.seq)
                    changed = msg.market
                    if msg.origin_ts:
                        latency = max(time.time_ns() - msg.origin_ts, 0) / NS_PER_S
                        metrics.FILL_LATENCY_SECONDS.observe(latency)
                        self.fill_latency.append(latency)
                else:
                    self.counts["duplicate_fills"] += 1
            elif isinstance(msg, OrderAck):
                e.on_order(msg.market, msg.client_order_id, msg.side, msg.price, msg.count)
            elif isinstance(msg, OrderCancel | OrderReject):
                e.on_order_done(msg.market, msg.client_order_id)
            elif isinstance(msg, ApprovalStatus):
                e.on_approval_status(msg.market, msg.intent_id, msg.status)
            elif isinstance(msg, Settlement):
                payout = rk.payout_from_exchange(msg.revenue, msg.position)
                if e.on_settlement(msg.market, msg.result, payout, msg.position):
                    self.counts["settlements"] += 1
                    changed = msg.market
                    log.info("settled %s %s: exchange revenue $%s, booked $%s (position %s contracts)", msg.market,
                             msg.result, money_to_dollars(msg.revenue), money_to_dollars(payout),
                             count_to_fp(msg.position))
            elif isinstance(msg, PositionReport):
                before = e.markets[msg.market].position if msg.market in e.markets else 0
                if e.on_position(msg.market, msg.position, fill_seq=msg.fill_seq) and msg.position != before:
                    log.warning("position %s reconciled with the exchange: %d -> %d", msg.market, before,
                                msg.position)
                    changed = msg.market
            if changed is not None:
                await self.save(changed)
            await self.publish_state_events()

    async def on_intent(self, intent: QuoteIntent) -> None:
        now = time.time_ns()
        if intent.origin_ts and intent.ts_init:
            metrics.HOP_SECONDS.labels("quoter_risk").observe(max(now - intent.ts_init, 0) / NS_PER_S)
        if intent.expires_at_ns and intent.expires_at_ns < now:
            self.deny_metric("expired")
            return
        self.take_book(intent)
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

    def take_book(self, intent: QuoteIntent) -> None:
        """The book top and σ the intent was priced from become the market's (unless a newer book was seen).
        A market risk does not know (never listed, or ended and forgotten) gets none: its intent is denied
        anyway, and the book would bring it back for good (the quoter's last pull of an ended market)."""
        if intent.market not in self.engine.markets:
            return
        if not intent.book_ts or intent.book_ts < self.book_ts.get(intent.market, 0):
            return
        self.book_ts[intent.market] = intent.book_ts
        self.engine.on_book(intent.market, intent.book_bid, intent.book_ask, evaluate=False)
        if math.isfinite(intent.sigma) and intent.sigma > 0:
            self.engine.on_volatility(intent.market, intent.sigma)

    def deny_metric(self, code: str) -> None:
        metrics.RISK_DENIALS.labels(code).inc()

    # --- persistence ------------------------------------------------------------------------------
    async def save(self, market: str | None = None) -> None:
        """Write the ledger (and ``market``'s) to ``state:risk``; awaited before the message is acked."""
        assert self.redis is not None
        fields = {"global": json.dumps(self.engine.global_snapshot())}
        if market is not None:
            fields[f"m:{market}"] = json.dumps(self.engine.market_snapshot(market))
        await self.redis.hset(state_key(self.name), mapping=fields)

    async def restore(self) -> None:
        """Load the ledger and the approvals the gateway may still act on (a halted risk restarts halted)."""
        assert self.redis is not None
        saved = await self.redis.hgetall(state_key(self.name))
        fields = {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in saved.items()}
        markets = {k[2:]: v for k, v in fields.items() if k.startswith("m:")}
        if fields or markets:
            self.engine.restore(fields.get("global", {}), markets)
            log.warning("restored: state %s%s, %d markets, cash $%s", self.engine.state,
                        f" ({self.engine.state_reason})" if self.engine.state_reason else "", len(markets),
                        money_to_dollars(self.engine.cash))
        now = time.time_ns()
        live: list[Approval] = []
        for _, entry in await self.redis.xrevrange(ORD_APPROVED, count=5000):
            try:
                a = decode(entry.get(FIELD, b""))
            except DecodeError:
                continue
            if isinstance(a, Approval) and a.expires_at_ns > now:
                live.append(a)
        for a in reversed(live):
            self.engine.restore_approval(a.market, a.intent_id, a.bid_price, a.bid_count, a.ask_price, a.ask_count,
                                         a.expires_at_ns)

    # --- outputs ----------------------------------------------------------------------------------
    async def publish_state_events(self) -> None:
        events = self.engine.drain_events()
        if events:
            await self.save()  # a latched halt (or its end) must survive a restart
        for ev in events:
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
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            if ticks % 5 == 0:
                try:
                    await self.save()  # the day's baseline moves without a fill at the day's start
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise
                    # Redis is down: the next save carries the whole ledger (a fill's save is awaited
                    # before its ack, so nothing is lost)
            self.export_metrics()

    def export_metrics(self) -> None:
        """Exposure, and the per-market series of the markets we have been in (an order, a fill or a
        position): every listed market's would grow the series without end as markets are listed."""
        e = self.engine
        metrics.EXPOSURE.set(e.exposure() / MONEY_SCALE)
        for market, m in e.markets.items():
            if market not in self.exported:
                if not e.ours(market):
                    continue
                metrics.init_market(market, self.name)
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
            "fills_booked": e.fills_booked(),
            "fill_seq": {m: r.fill_seq for m, r in e.markets.items() if r.fill_seq},
            "fills_applied": {m: r.fills for m, r in e.markets.items() if r.fills},
            "settled": {m: r.settled for m, r in e.markets.items() if r.settled},
            "reconciliations": e.reconciliations,
            "markets_known": len(e.markets),
            "fill_latency_p50_ms": self.latency_ms(0.5),
            "fill_latency_p99_ms": self.latency_ms(0.99),
        }

    def latency_ms(self, q: float) -> float | None:
        if not self.fill_latency:
            return None
        s = sorted(self.fill_latency)
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)

    def status(self) -> dict[str, Any]:
        st = self.state()
        return {
            "summary": (f"state {st['state']}, approved {self.counts['approved']}, denied {self.counts['denied']}, "
                        f"fills {st['fills_booked']}, positions {len(st['positions'])}, "
                        f"PnL ${st['pnl_dollars']}"),
            **st,
        }

    def routes(self, app: FastAPI) -> None:
        @app.get("/state")
        async def get_state() -> dict[str, Any]:
            return self.state()

        @app.get("/positions")
        async def positions() -> dict[str, Any]:
            """Per market: position, limit, P&L, fills, last denial; and the book-wide exposure and limits."""
            e, lim = self.engine, self.engine.limits
            denials = await last_denials(self.redis, RISK_DENIED) if self.redis is not None else {}
            rows = []
            for m, r in sorted(e.markets.items()):
                if r.info is None and not r.position and not r.fills:
                    continue
                pnl = e.market_pnl(m)
                rows.append({
                    "market": m, "position": count_to_fp(r.position), "limit": count_to_fp(e.position_limit(m)),
                    "fills": r.fills, "best_bid": r.best_bid, "best_ask": r.best_ask, "mark": r.mark,
                    "pnl": money_to_dollars(pnl["realized"] + pnl["unrealized"] - pnl["fees"], 6),
                    "realized": money_to_dollars(pnl["realized"], 6),
                    "unrealized": money_to_dollars(pnl["unrealized"], 6),
                    "fees": money_to_dollars(pnl["fees"], 6), "settled": r.settled,
                    "last_denial": denials.get(m),
                })
            return {"state": e.state, "reason": e.state_reason, "markets": rows,
                    "exposure_dollars": money_to_dollars(e.exposure(), 6),
                    "max_exposure_dollars": money_to_dollars(lim.max_exposure, 6),
                    "pnl_dollars": money_to_dollars(e.value(), 6),
                    "daily_pnl_dollars": money_to_dollars(e.daily_pnl(), 6),
                    "max_daily_loss_dollars": money_to_dollars(lim.max_daily_loss, 6),
                    "position_limit_contracts": count_to_fp(lim.position_limit),
                    "fills_booked": e.fills_booked(), "counts": self.counts}

        @app.post("/halt")
        async def halt(request: Request) -> dict[str, Any]:
            reason, ignored = halt_reason(await request.body())
            async with self.lock:
                self.engine.halt(reason)
                await self.save()
                await self.publish_state_events()
            if self.publisher is not None:
                await self.publisher.flush()
            answer = {"state": self.engine.state, "reason": self.engine.state_reason}
            return answer | ({"body_ignored": ignored} if ignored else {})

        @app.post("/resume")
        async def resume() -> dict[str, Any]:
            async with self.lock:
                self.engine.resume()
                await self.save()
                await self.publish_state_events()
            return {"state": self.engine.state, "reason": self.engine.state_reason}


def halt_reason(body: bytes) -> tuple[str, str]:
    """The reason in a ``/halt`` body (``{"reason": "…"}``, any content type) and, when the body was
    there but unusable, why it was ignored. A kill switch halts whatever its body says: ``curl -d``
    without a JSON content type, or a mistyped body, must not turn a halt into a 422."""
    if not body.strip():
        return "manual", ""
    try:
        parsed = json.loads(body)
    except ValueError:
        return "manual", "not JSON"
    if not isinstance(parsed, dict):
        return "manual", "not a JSON object"
    return str(parsed.get("reason") or "manual"), ""


SERVICE = RiskService
