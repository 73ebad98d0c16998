"""Gateway: the only process that holds the Kalshi write key. Approved targets in, orders out.

- reads ``ord:approved`` and ``risk:control`` (its group), nothing else;
- keeps one working order per (market, side) and moves it to the approved target with the fewest
  requests (place / amend / decrease / cancel; creates and cancels batched), post-only, within the
  write budget, most stale market first;
- ``client_order_id`` derives from the intent; an ambiguous outcome (timeout, 5xx) is resolved by
  reading the exchange, never by blind resubmission;
- cancels everything on HALTED, when risk's heartbeat goes stale (dead-man's switch), when a target
  expires, and on shutdown; an exchange order group caps matched contracts as a backstop;
- reconciles open orders and positions at start and periodically; publishes every ack, reject,
  cancel, fill, position and balance to ``exec:report``.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import Field

from kmm.bus.consumer import Delivery
from kmm.bus.ids import new_id
from kmm.bus.publisher import FIELD
from kmm.bus.topology import EXEC_REPORT, ORD_APPROVED, RISK_CONTROL
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import ServiceSettings, SettingError
from kmm.kalshi import errors as kerr
from kmm.kalshi.auth import Signer
from kmm.kalshi.ratelimit import RateLimiter
from kmm.kalshi.rest import KalshiRest, NewOrder
from kmm.messages import (
    ACTIVE,
    HALTED,
    Approval,
    BalanceReport,
    Control,
    DecodeError,
    Fill,
    Heartbeat,
    Message,
    OrderAck,
    OrderCancel,
    OrderReject,
    PositionReport,
    decode,
)
from kmm.messages.units import COUNT_SCALE, NS_PER_S, count_to_fp, money_to_dollars

from .orders import AMBIGUOUS, CANCELING, OPEN, PENDING, OrderTable, WorkingOrder, client_order_id
from .planner import AMEND, CANCEL, DECREASE, PLACE, Action, plan_side

log = logging.getLogger(__name__)
SIDES = ("bid", "ask")


class GatewaySettings(ServiceSettings):
    kalshi_base_url: str = "https://api.elections.kalshi.com/trade-api/v2"
    kalshi_key_id: str = ""
    kalshi_private_key_path: Path | None = None
    kalshi_tier: str = "basic"
    dry_run: bool = False
    dead_man_timeout_s: float = Field(3.0, gt=0)
    sync_interval_s: float = Field(0.02, gt=0)
    fills_interval_s: float = Field(0.5, gt=0)
    reconcile_interval_s: float = Field(5.0, gt=0)
    order_group_contracts: int = Field(20_000, ge=0, description="contracts per 15 s; 0 disables the group")
    request_timeout_s: float = Field(5.0, gt=0)


class GatewayService(Service):
    name = "gateway"
    settings_cls = GatewaySettings

    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(settings)
        self.s = settings
        if not settings.dry_run and (not settings.kalshi_key_id or settings.kalshi_private_key_path is None):
            raise SettingError("KMM_KALSHI_PRIVATE_KEY_PATH", "the gateway needs KMM_KALSHI_KEY_ID and a key file "
                               "(or KMM_DRY_RUN=1)")
        self.signer: Signer | None = None
        if settings.kalshi_private_key_path is not None:
            try:
                self.signer = Signer.from_file(settings.kalshi_key_id, settings.kalshi_private_key_path)
            except ValueError as exc:
                raise SettingError("KMM_KALSHI_PRIVATE_KEY_PATH", str(exc)) from None
        self.limiter = RateLimiter.for_tier(settings.kalshi_tier)
        self.api: KalshiRest | None = None
        self.table = OrderTable()
        self.targets: dict[str, Approval] = {}
        self.dirty: dict[str, None] = {}
        self.last_sent: dict[str, float] = {}
        self.wake = asyncio.Event()
        self.state = ACTIVE
        self.last_heartbeat = 0.0
        self.dead_man_fired = False
        self.order_group_id: str | None = None
        self.reported_fills: set[str] = set()
        self.fills_since_s = 0
        self.reconciled = False
        self.balance: int | None = None
        self.exported_markets: set[str] = set()
        self.inflight: set[asyncio.Task] = set()
        self.nonzero_positions: set[str] = set()
        self.fresh: set[str] = set()  # intent ids of approvals not yet acted on (for tick-to-order)
        self.counts = {"placed": 0, "amended": 0, "decreased": 0, "canceled": 0, "rejected": 0, "fills": 0,
                       "ambiguous": 0, "expired": 0, "dry_run_actions": 0}
        self.t2o: deque[float] = deque(maxlen=5000)

    # --- lifecycle ----------------------------------------------------------------------------
    async def on_start(self) -> None:
        for o in metrics.ORDER_OUTCOMES:
            metrics.ORDERS.labels(o)
        self.api = KalshiRest(
            self.s.kalshi_base_url, signer=self.signer, limiter=self.limiter, timeout=self.s.request_timeout_s, **metrics.exchange_hooks(),
        )
        if self.signer is not None:
            await self.recover_reported_fills()
            await self.reconcile(initial=True)
            if self.s.order_group_contracts and not self.s.dry_run:
                try:
                    group = await self.api.create_order_group(self.s.order_group_contracts * COUNT_SCALE)
                    self.order_group_id = group.order_group_id
                except kerr.KalshiError as exc:
                    log.warning("no order group backstop: %s", exc)
        self.reconciled = True
        self.consume_group((ORD_APPROVED, RISK_CONTROL), self.on_message)
        self.spawn(self.sync_loop(), "sync")
        self.spawn(self.dead_man_loop(), "dead-man")
        if self.signer is not None:
            self.spawn(self.fills_loop(), "fills")
            self.spawn(self.reconcile_loop(), "reconcile")

    async def on_stop(self) -> None:
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)
        if self.api is not None:
            if self.table.open_orders():
                await self.cancel_everything("shutdown")
            await self.api.aclose()

    async def ready_checks(self) -> dict[str, Check]:
        fresh = time.monotonic() - self.last_heartbeat < self.s.dead_man_timeout_s
        return {
            "reconciled": (self.reconciled, "ok" if self.reconciled else "reconciling with the exchange"),
            "risk_heartbeat": (True, "fresh" if fresh else "stale: not quoting"),
        }

    # --- inputs -------------------------------------------------------------------------------
    async def on_message(self, msg: Message, d: Delivery) -> None:
        if isinstance(msg, Approval):
            self.on_approval(msg)
        elif isinstance(msg, Heartbeat):
            self.last_heartbeat = time.monotonic()
            if self.dead_man_fired:
                log.warning("risk heartbeat is back; quoting may resume")
                self.dead_man_fired = False
            self.set_state(msg.state)
        elif isinstance(msg, Control):
            self.set_state(msg.state)
            if msg.cancel_all or msg.state == HALTED:
                await self.cancel_everything(f"risk: {msg.reason or msg.state}")

    def set_state(self, state: str) -> None:
        if state != self.state:
            log.warning("trading state %s -> %s", self.state, state)
            self.state = state

    def on_approval(self, a: Approval) -> None:
        if a.expires_at_ns and a.expires_at_ns < time.time_ns():
            self.counts["expired"] += 1
            metrics.ORDERS.labels("expired").inc()
            return
        previous = self.targets.get(a.market)
        if previous is not None:
            self.fresh.discard(previous.intent_id)
        self.targets[a.market] = a
        self.fresh.add(a.intent_id)
        self.dirty[a.market] = None
        self.wake.set()

    # --- the sync loop: targets → exchange ------------------------------------------------------
    def quoting_allowed(self) -> bool:
        fresh = time.monotonic() - self.last_heartbeat < self.s.dead_man_timeout_s
        return self.state != HALTED and fresh and not self.dead_man_fired

    async def sync_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=0.5)
            except TimeoutError:
                pass
            self.wake.clear()
            self.expire_targets()
            if not self.dirty or not self.quoting_allowed():
                continue
            markets = sorted(self.dirty, key=lambda m: self.last_sent.get(m, 0.0))
            self.dirty.clear()
            actions: list[tuple[Action, Approval | None]] = []
            for market in markets:
                target = self.targets.get(market)
                planned = len(actions)
                for side in SIDES:
                    price, count = self.side_target(target, side)
                    act = plan_side(market, side, price, count, self.table.get(market, side))
                    if act is not None:
                        actions.append((act, target))
                if target is not None and len(actions) == planned:
                    self.fresh.discard(target.intent_id)  # nothing to send for it
            if actions:
                deferred = await self.execute(actions)
                for m in deferred:
                    self.dirty[m] = None
                if deferred:
                    await asyncio.sleep(self.s.sync_interval_s)
                    self.wake.set()

    @staticmethod
    def side_target(target: Approval | None, side: str) -> tuple[int, int]:
        if target is None:
            return 0, 0
        return (target.bid_price, target.bid_count) if side == "bid" else (target.ask_price, target.ask_count)

    def expire_targets(self) -> None:
        now = time.time_ns()
        for market, t in list(self.targets.items()):
            if t.expires_at_ns and t.expires_at_ns < now:
                del self.targets[market]
                self.fresh.discard(t.intent_id)
                if any(self.table.get(market, s) for s in SIDES):
                    self.dirty[market] = None

    async def execute(self, actions: list[tuple[Action, Approval | None]]) -> list[str]:
        """Send actions within the write budget; return markets deferred for lack of tokens."""
        assert self.api is not None
        bucket = self.limiter.bucket("POST")
        places = [(a, t) for a, t in actions if a.kind == PLACE]
        cancels = [a for a, _ in actions if a.kind == CANCEL]
        others = [(a, t) for a, t in actions if a.kind in (AMEND, DECREASE)]
        deferred: list[str] = []
        if self.s.dry_run:
            self.counts["dry_run_actions"] += len(actions)
            for a, _ in actions:
                log.info("dry-run: %s %s %s %s@%s", a.kind, a.market, a.side, a.count, a.price)
            return []
        fresh = {t.intent_id for _, t in actions if t is not None and t.intent_id in self.fresh}
        if cancels:
            self.launch(self.send_cancels(cancels), [a.market for a in cancels])
        for a, t in others:
            if bucket.tokens < 10:
                deferred.append(a.market)
                continue
            self.launch(self.send_modify(a, t, fresh), [a.market])
        if places:
            budget = int(bucket.tokens // 10)
            if budget < len(places):
                deferred += [a.market for a, _ in places[budget:]]
                places = places[:budget]
            if places:
                self.launch(self.send_places(places, fresh), [a.market for a, _ in places])
        for a, t in actions:
            self.last_sent[a.market] = time.monotonic()
            if t is not None and a.market not in deferred:
                self.fresh.discard(t.intent_id)
        return deferred

    def launch(self, coro: Coroutine[Any, Any, None], markets: list[str]) -> None:
        """Run one exchange request concurrently with the others; re-plan its markets when it ends.

        The order table is updated before the request's first await (orders go PENDING or
        CANCELING), so the planner leaves those sides alone until the answer is in.
        """
        task = asyncio.create_task(coro)
        self.inflight.add(task)

        def done(t: asyncio.Task) -> None:
            self.inflight.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("exchange request failed: %r", t.exception())
            for m in markets:
                self.dirty[m] = None
            self.wake.set()

        task.add_done_callback(done)

    def observe_t2o(self, target: Approval | None, fresh: set[str]) -> None:
        """Tick-to-order of requests that answer a market event: the first pass over a new approval.

        Later requests for the same approval (a side freed by an answer or refilled after a fill)
        answer the exchange, not the market event, so they are not counted.
        """
        if target is not None and target.origin_ts and target.intent_id in fresh:
            seconds = (time.time_ns() - target.origin_ts) / NS_PER_S
            metrics.TICK_TO_ORDER_SECONDS.observe(seconds)
            self.t2o.append(seconds)

    async def send_places(self, places: list[tuple[Action, Approval | None]], fresh: set[str]) -> None:
        assert self.api is not None
        orders = []
        for a, t in places:
            intent = t.intent_id if t is not None else new_id()
            wo = WorkingOrder(client_order_id(intent, a.market, a.side), a.market, a.side, a.price, a.count,
                              intent_id=intent, origin_ts=t.origin_ts if t else 0, sent_ns=time.time_ns())
            self.table.add(wo)
            orders.append((wo, t, NewOrder(ticker=a.market, side=a.side, price=a.price, count=a.count,
                                           client_order_id=wo.client_order_id, post_only=True,
                                           order_group_id=self.order_group_id)))
            self.observe_t2o(t, fresh)
        try:
            if len(orders) == 1:
                acks = [await self.api.create_order(orders[0][2])]
            else:
                acks = await self.api.batch_create([o for _, _, o in orders])
        except kerr.Ambiguous as exc:
            for wo, _, _ in orders:
                self.mark_ambiguous(wo, str(exc))
            return
        except kerr.KalshiError as exc:
            for wo, t, _ in orders:
                await self.rejected(wo, exc, t)
            return
        for (wo, t, _), ack in zip(orders, acks, strict=False):
            if ack.error is not None:
                if isinstance(ack.error, kerr.Ambiguous):
                    self.mark_ambiguous(wo, str(ack.error))
                else:
                    await self.rejected(wo, ack.error, t)
                continue
            await self.acked(wo, ack.order_id, ack.remaining_count, ack.fill_count, t)

    async def acked(self, wo: WorkingOrder, order_id: str, remaining: int, filled: int,
                    t: Approval | None) -> None:
        self.table.acked(wo, order_id)
        self.counts["placed"] += 1
        metrics.ORDERS.labels("placed").inc()
        self.publish_nowait(EXEC_REPORT, OrderAck(
            msg_id=new_id(), corr_id=t.corr_id if t else "", ts_init=time.time_ns(), origin_ts=wo.origin_ts,
            client_order_id=wo.client_order_id, order_id=order_id, market=wo.market, side=wo.side,
            price=wo.price, count=wo.count, intent_id=wo.intent_id))
        if remaining == 0 and filled == 0:
            self.table.done(wo)  # e.g. an IOC-like outcome: nothing rests
        elif remaining < wo.count:
            wo.count = remaining

    async def rejected(self, wo: WorkingOrder, exc: Exception, t: Approval | None) -> None:
        self.table.done(wo)
        self.counts["rejected"] += 1
        metrics.ORDERS.labels("rejected").inc()
        code = getattr(exc, "code", "") or type(exc).__name__
        self.publish_nowait(EXEC_REPORT, OrderReject(
            msg_id=new_id(), corr_id=t.corr_id if t else "", ts_init=time.time_ns(),
            client_order_id=wo.client_order_id, market=wo.market, side=wo.side, code=code,
            reason=str(exc)[:300], intent_id=wo.intent_id))

    def mark_ambiguous(self, wo: WorkingOrder, why: str) -> None:
        wo.status = AMBIGUOUS
        self.counts["ambiguous"] += 1
        metrics.ORDERS.labels("ambiguous").inc()
        log.warning("order %s outcome unknown (%s): resolving by reading the exchange", wo.client_order_id, why)
        self.spawn_task(self.resolve(wo), f"resolve:{wo.client_order_id}")

    async def resolve(self, wo: WorkingOrder) -> None:
        """Find out what happened to an order whose request had no clear answer."""
        assert self.api is not None
        for attempt in range(20):
            try:
                if wo.order_id:
                    order = await self.api.get_order(wo.order_id)
                else:
                    order = await self.api.find_order(wo.market, wo.client_order_id)
            except kerr.KalshiError as exc:
                log.warning("resolve %s: %s", wo.client_order_id, exc)
                await asyncio.sleep(min(5.0, 0.2 * 2 ** attempt))
                continue
            if order is None or order.status in ("canceled", "executed") or order.remaining_count == 0:
                if order is not None and not wo.order_id:
                    wo.order_id = order.order_id
                self.table.done(wo)
            else:
                if wo.order_id:
                    wo.status = OPEN
                    wo.price, wo.count = order.price, order.remaining_count
                else:
                    await self.acked(wo, order.order_id, order.remaining_count, order.fill_count, None)
                    wo.price, wo.count = order.price, order.remaining_count
            self.dirty[wo.market] = None
            self.wake.set()
            return
        log.error("could not resolve %s; leaving it to reconciliation", wo.client_order_id)

    async def send_modify(self, a: Action, t: Approval | None, fresh: set[str]) -> None:
        assert self.api is not None and a.order is not None
        wo = a.order
        prev = wo.status
        wo.status = PENDING
        self.observe_t2o(t, fresh)
        try:
            if a.kind == DECREASE:
                ack = await self.api.decrease_order(wo.order_id, reduce_to=a.count, market_ticker=a.market)
                wo.count = ack.remaining_count if ack.remaining_count or ack.order_id else a.count
                kind = "decreased"
            else:
                ack = await self.api.amend_order(wo.order_id, ticker=a.market, side=a.side, price=a.price,
                                                 count=wo.filled + a.count)
                wo.price, wo.count = a.price, (ack.remaining_count if ack.order_id else a.count)
                if ack.order_id and ack.order_id != wo.order_id:
                    self.table.by_order_id.pop(wo.order_id, None)
                    self.table.acked(wo, ack.order_id)
                kind = "amended"
            wo.status = OPEN if prev != CANCELING else prev
            if t is not None:
                wo.intent_id, wo.origin_ts = t.intent_id, t.origin_ts
            self.counts[kind] += 1
            metrics.ORDERS.labels(kind).inc()
            self.publish_nowait(EXEC_REPORT, OrderAck(
                msg_id=new_id(), corr_id=t.corr_id if t else "", ts_init=time.time_ns(), origin_ts=wo.origin_ts,
                client_order_id=wo.client_order_id, order_id=wo.order_id, market=wo.market, side=wo.side,
                price=wo.price, count=wo.count, intent_id=wo.intent_id))
            if wo.count == 0:
                self.table.done(wo)
        except kerr.Ambiguous as exc:
            self.mark_ambiguous(wo, str(exc))
        except kerr.NotFound:
            self.table.done(wo)  # filled or canceled meanwhile
            self.dirty[a.market] = None
        except kerr.BadRequest as exc:
            # Usually fills we have not polled yet made the order smaller than we think (a decrease
            # to a size it already has below): read the order back instead of retrying blindly.
            log.info("%s %s refused (%s); reading the order back", a.kind, wo.client_order_id, exc.code)
            await self.resync(wo)
        except kerr.KalshiError as exc:
            wo.status = OPEN
            log.warning("%s %s failed: %s", a.kind, wo.client_order_id, exc)
            self.counts["rejected"] += 1
            metrics.ORDERS.labels("rejected").inc()

    async def resync(self, wo: WorkingOrder) -> None:
        """Take an order's price and remaining size from the exchange."""
        assert self.api is not None
        try:
            order = await self.api.get_order(wo.order_id)
        except kerr.NotFound:
            self.table.done(wo)
            return
        except kerr.KalshiError as exc:
            wo.status = OPEN
            log.warning("resync %s: %s", wo.client_order_id, exc)
            return
        if order.status != "resting" or order.remaining_count == 0:
            self.table.done(wo)
        else:
            wo.status, wo.price, wo.count = OPEN, order.price, order.remaining_count
        self.dirty[wo.market] = None

    async def send_cancels(self, cancels: list[Action], reason: str = "target") -> None:
        assert self.api is not None
        orders = [a.order for a in cancels if a.order is not None and a.order.order_id]
        for wo in orders:
            wo.status = CANCELING
        if not orders:
            return
        try:
            if len(orders) == 1:
                acks = [await self.api.cancel_order(orders[0].order_id, market_ticker=orders[0].market)]
            else:
                acks = await self.api.batch_cancel([wo.order_id for wo in orders])
        except kerr.Ambiguous as exc:
            for wo in orders:
                self.mark_ambiguous(wo, str(exc))
            return
        except kerr.NotFound:
            acks = []
            for wo in orders:
                self.table.done(wo)
            return
        except kerr.KalshiError as exc:
            log.warning("cancel failed: %s", exc)
            for wo in orders:
                wo.status = OPEN
            return
        for wo, ack in zip(orders, acks, strict=False):
            if ack.error is not None and not isinstance(ack.error, kerr.NotFound):
                wo.status = OPEN
                continue
            self.canceled(wo, ack.reduced_by, reason)

    def canceled(self, wo: WorkingOrder, reduced_by: int, reason: str) -> None:
        self.table.done(wo)
        self.counts["canceled"] += 1
        metrics.ORDERS.labels("canceled").inc()
        self.publish_nowait(EXEC_REPORT, OrderCancel(
            msg_id=new_id(), ts_init=time.time_ns(), client_order_id=wo.client_order_id, order_id=wo.order_id,
            market=wo.market, side=wo.side, canceled_count=reduced_by or wo.count, reason=reason))

    async def cancel_everything(self, reason: str) -> None:
        """Cancel all our resting orders at the exchange and forget the targets.

        Requests already in flight may land after the cancel-all (a create that the exchange
        processes late), so once they have all answered the table is checked again and anything
        still open is cancelled too.
        """
        assert self.api is not None
        self.targets.clear()
        self.dirty.clear()
        self.fresh.clear()
        if self.s.dry_run or self.signer is None:
            return
        for attempt in range(3):
            await self.cancel_all_once(reason)
            if self.inflight:
                await asyncio.gather(*list(self.inflight), return_exceptions=True)
            if not self.table.open_orders():
                break
            log.warning("orders landed during cancel-all (attempt %d); cancelling again", attempt + 1)
        log.warning("canceled all orders: %s", reason)

    async def cancel_all_once(self, reason: str) -> None:
        assert self.api is not None
        settled = [o for o in self.table.open_orders() if o.status == OPEN]
        try:
            await self.api.cancel_all()
        except kerr.KalshiError as exc:
            log.error("cancel-all failed (%s); cancelling one by one", exc)
            await self.send_cancels([Action(CANCEL, o.market, o.side, order=o) for o in settled], reason)
            return
        for wo in settled:
            self.canceled(wo, wo.count, reason)

    # --- safety loops ---------------------------------------------------------------------------
    def export_metrics(self) -> None:
        if self.last_heartbeat:
            metrics.RISK_HEARTBEAT_AGE.set(time.monotonic() - self.last_heartbeat)
        for bucket, tokens in self.limiter.tokens().items():
            metrics.RATE_LIMIT_TOKENS.labels(bucket).set(tokens)
        per_market: dict[str, int] = dict.fromkeys(self.exported_markets, 0)
        for o in self.table.open_orders():
            per_market[o.market] = per_market.get(o.market, 0) + 1
        for market, n in per_market.items():
            metrics.OPEN_ORDERS.labels(market).set(n)
        self.exported_markets |= set(per_market)

    async def dead_man_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(0.1)
            ticks += 1
            if ticks % 10 == 0:
                self.export_metrics()
            if self.last_heartbeat == 0.0:
                continue
            stale = time.monotonic() - self.last_heartbeat > self.s.dead_man_timeout_s
            if stale and not self.dead_man_fired:
                self.dead_man_fired = True
                metrics.DEAD_MAN_FIRED.inc()
                log.error("risk heartbeat stale for %.1fs: dead-man's switch cancels everything",
                          time.monotonic() - self.last_heartbeat)
                await self.cancel_everything("dead-man: risk heartbeat stale")

    # --- exchange → exec:report -----------------------------------------------------------------
    async def recover_reported_fills(self) -> None:
        """Read back our own exec:report so a restart neither repeats nor skips fills."""
        assert self.redis is not None
        rows = await self.redis.xrevrange(EXEC_REPORT, count=20_000)
        newest = 0
        for _, fields in rows:
            try:
                msg = decode(fields.get(FIELD, b""))
            except DecodeError:
                continue
            if isinstance(msg, Fill):
                self.reported_fills.add(msg.fill_id)
                newest = max(newest, msg.ts_event)
        self.fills_since_s = max(0, newest // NS_PER_S - 5) if newest else 0

    async def fills_loop(self) -> None:
        while True:
            try:
                await self.poll_fills()
            except kerr.KalshiError as exc:
                log.warning("fills poll: %s", exc)
            await asyncio.sleep(self.s.fills_interval_s)

    async def poll_fills(self) -> None:
        assert self.api is not None
        new: list[Any] = []
        filters = {"min_ts": self.fills_since_s} if self.fills_since_s else {}
        async for f in self.api.iter_fills(limit=200, **filters):
            if f.fill_id not in self.reported_fills:
                new.append(f)
        for f in sorted(new, key=lambda f: (f.ts, f.fill_id)):
            self.reported_fills.add(f.fill_id)
            wo = self.table.by_order_id.get(f.order_id)
            if wo is not None:
                wo.filled += f.count
                wo.count = max(0, wo.count - f.count)
                if wo.count == 0:
                    self.table.done(wo)
                self.dirty[f.ticker] = None
            self.counts["fills"] += 1
            metrics.FILLS.inc()
            metrics.MARKET_FILLED_CONTRACTS.labels(f.ticker, f.side).inc(f.count / COUNT_SCALE)
            self.publish_nowait(EXEC_REPORT, Fill(
                msg_id=f"fill-{f.fill_id}", ts_event=f.ts, ts_init=time.time_ns(),
                origin_ts=wo.origin_ts if wo else 0, fill_id=f.fill_id, order_id=f.order_id,
                client_order_id=wo.client_order_id if wo else f.client_order_id, market=f.ticker, side=f.side,
                price=f.price, count=f.count, fee=f.fee, is_taker=f.is_taker))
            if f.ts:
                self.fills_since_s = max(self.fills_since_s, f.ts // NS_PER_S - 5)
        if new:
            self.wake.set()
            await self.publish_positions({f.ticker for f in new})

    async def publish_positions(self, tickers: set[str] | None = None) -> None:
        """The exchange's positions (of ``tickers``, or all), for risk and the quoter to reconcile against."""
        assert self.api is not None
        now = time.time_ns()
        if tickers is not None:
            positions = [await self.api.get_positions(ticker=t) for t in sorted(tickers)]
            found = {p.ticker: p for page in positions for p in page.items}
            for t in tickers:  # a position closed to zero is absent from the list: report it as 0
                if t not in found:
                    self.publish_nowait(EXEC_REPORT, PositionReport(msg_id=new_id(), ts_event=now, ts_init=now,
                                                                    market=t, position=0))
            items = list(found.values())
        else:
            items = [p async for p in self.api.iter_positions(limit=500)]
            for t in self.nonzero_positions - {p.ticker for p in items}:
                self.publish_nowait(EXEC_REPORT, PositionReport(msg_id=new_id(), ts_event=now, ts_init=now,
                                                                market=t, position=0))
            self.nonzero_positions = {p.ticker for p in items if p.position}
        for p in items:
            self.publish_nowait(EXEC_REPORT, PositionReport(
                msg_id=new_id(), ts_event=now, ts_init=now, market=p.ticker, position=p.position,
                realized_pnl=p.realized_pnl, fees_paid=p.fees_paid))

    async def reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.s.reconcile_interval_s)
            try:
                await self.reconcile()
            except kerr.KalshiError as exc:
                log.warning("reconcile: %s", exc)

    async def reconcile(self, initial: bool = False) -> None:
        """Adopt or drop orders by what the exchange says; publish positions and balance."""
        assert self.api is not None
        resting = {}
        async for o in self.api.iter_orders(status="resting", limit=500):
            resting[o.order_id] = o
        for o in resting.values():
            wo = self.table.by_order_id.get(o.order_id) or self.table.by_coid.get(o.client_order_id)
            if wo is None:
                if initial or not o.client_order_id.startswith("kmm-"):
                    wo = WorkingOrder(o.client_order_id, o.ticker, o.side, o.price, o.remaining_count,
                                      order_id=o.order_id, status=OPEN)
                    existing = self.table.get(o.ticker, o.side)
                    if existing is None:
                        self.table.add(wo)
                        self.dirty[o.ticker] = None
                    else:  # two resting orders on one side: keep ours, cancel the extra
                        await self.send_cancels([Action(CANCEL, o.ticker, o.side, order=wo)], "reconcile")
        if not initial:
            for wo in list(self.table.open_orders()):
                if wo.status == OPEN and wo.order_id and wo.order_id not in resting:
                    self.table.done(wo)  # filled (fills loop reports it) or canceled at the exchange
                    self.dirty[wo.market] = None
        await self.publish_positions()
        now = time.time_ns()
        bal = await self.api.get_balance()
        self.publish_nowait(EXEC_REPORT, BalanceReport(
            msg_id=new_id(), ts_event=now, ts_init=now, balance=bal.balance, portfolio_value=bal.portfolio_value))
        self.balance = bal.balance
        self.wake.set()

    # --- status ----------------------------------------------------------------------------------
    def t2o_ms(self, q: float) -> float | None:
        if not self.t2o:
            return None
        s = sorted(self.t2o)
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)

    def status(self) -> dict[str, Any]:
        open_orders = self.table.open_orders()
        p50, p99 = self.t2o_ms(0.5), self.t2o_ms(0.99)
        return {
            "summary": (f"state {self.state}{' DEAD-MAN' if self.dead_man_fired else ''}, open {len(open_orders)}, "
                        f"placed {self.counts['placed']}, fills {self.counts['fills']}, "
                        f"tick-to-order p50 {p50} ms p99 {p99} ms"),
            "state": self.state,
            "dead_man_fired": self.dead_man_fired,
            "open_orders": [{"market": o.market, "side": o.side, "price": o.price, "count": o.count,
                             "status": o.status} for o in open_orders],
            "orders_placed": self.counts["placed"],
            "fills": self.counts["fills"],
            "counts": self.counts,
            "tick_to_order_p50_ms": p50,
            "tick_to_order_p99_ms": p99,
            "balance_dollars": money_to_dollars(self.balance) if self.balance is not None else None,
            "rate_tokens": self.limiter.tokens(),
        }

    def routes(self, app: FastAPI) -> None:
        @app.get("/orders")
        async def orders() -> dict[str, Any]:
            return {"orders": [{"client_order_id": o.client_order_id, "order_id": o.order_id, "market": o.market,
                                "side": o.side, "price": o.price, "count": count_to_fp(o.count),
                                "status": o.status} for o in self.table.open_orders()]}


SERVICE = GatewayService
