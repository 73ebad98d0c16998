"""Gateway: the only process that holds the Kalshi write key. Approvals in, orders out, exchange events back.

- reads ``ord:approved`` and ``risk:control`` (its group), nothing else from the bus;
- **the approval rule** (:class:`kmm.risk.approval.Allowance`): an approval older than the fills the
  gateway has seen in its market is refused; an accepted one lets each side rest at most its approved
  count, and fills consume it — a fill never makes room for more. Approvals above the gateway's own cap
  are refused too. Every approval gets an :class:`~kmm.messages.ApprovalStatus` back (applied, refused,
  expired) so risk knows which approvals can still rest orders; a create refused ``market_closed`` ends
  its market's approval (expired) instead of trying it again after each refused-hold;
- one order state machine by ``client_order_id`` (:mod:`.orders`), moved only by exchange events: the
  answers to our requests, the private WebSocket (``fill``, ``user_orders``, ``market_positions``),
  and REST reads (the fills backstop, reconciliation, lookups of ambiguous orders);
- keeps one working order per (market, side) and moves it to the allowance with the fewest requests
  (:mod:`.planner`), post-only and ``cancel_order_on_pause``; tokens of the write budget are taken
  when a request is launched, cancels and decreases first, then — when tokens are short — the update
  whose resting quote is most wrong (:mod:`.scheduler`; ``KMM_WRITE_SCHEDULER=fifo`` for arrival
  order); it reports the share of time a resting quote is more than 1¢ from the approved price;
- intake never waits on HTTP: each request runs as its own task, RSA-PSS signing runs on a thread
  (through libcrypto without the GIL where it loads, :mod:`kmm.kalshi.pss_native`; ``cryptography``
  holds the GIL while it signs, see docs/services.md) and connections are kept alive;
  the likely next requests are signed ahead (batch create, create, batch cancel; a resting order's
  amend once its create or amend is answered), so most requests go out without waiting to be signed;
- ``client_order_id`` derives from the intent; an ambiguous outcome (timeout, 5xx) is resolved by reading
  the exchange over a grace window, never by blind resubmission; an order still unknown after it is
  *lost*: its side is freed and reconciliation cancels it if it ever appears;
- cancels everything on HALTED, when risk's heartbeat goes stale (dead-man's switch, armed from the
  start), on shutdown; after a cancel-all no new order goes out for a minute unless the private
  WebSocket is up to confirm every order's state (Kalshi may cancel orders placed in that minute);
- reconciles at start (adopts our resting orders, and takes again each market's newest approval that
  is still in force and not made stale by fills, so the adopted orders it covers keep their place) and
  periodically (cancels any ``kmm-`` order it does not know, reads back orders it thinks rest but the
  exchange does not list); publishes settlements, positions (with the market's fill sequence) and the
  balance;
- keeps the markets' fill sequences in ``state:gateway`` and reads back ``exec:report`` at start, so a
  restart neither repeats nor skips a fill.
"""

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from pydantic import Field

from kmm.bus.consumer import Delivery
from kmm.bus.entries import entry_message
from kmm.bus.fanout import parse_id
from kmm.bus.ids import new_id
from kmm.bus.topology import EXEC_REPORT, ORD_APPROVED, RISK_CONTROL, state_key
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import KalshiVenueSettings, SettingError
from kmm.kalshi import constants as kc
from kmm.kalshi import errors as kerr
from kmm.kalshi import wire
from kmm.kalshi.auth import Signer
from kmm.kalshi.ratelimit import RateLimiter, prepaid
from kmm.kalshi.rest import KalshiRest, NewOrder
from kmm.kalshi.ws import Connected, Disconnected, KalshiWs, Subscribed
from kmm.messages import (
    ACTIVE,
    APPLIED,
    EXPIRED,
    HALTED,
    REFUSED,
    Approval,
    ApprovalStatus,
    BalanceReport,
    Control,
    Fill,
    Heartbeat,
    Message,
    OrderAck,
    OrderCancel,
    OrderReject,
    PositionReport,
    Settlement,
)
from kmm.messages.units import COUNT_SCALE, NS_PER_MS, NS_PER_S, count_to_fp, money_to_dollars
from kmm.ops.streams import MAX_ENTRY_MS, recent_fills
from kmm.risk.approval import STALE, Allowance

from .orders import (
    AMBIGUOUS,
    IN_FLIGHT,
    LIVE,
    PARTIALLY_FILLED,
    PENDING_CANCEL,
    PENDING_NEW,
    PENDING_UPDATE,
    RESTING,
    Order,
    OrderTable,
    client_order_id,
)
from .planner import CANCEL, DECREASE, PLACE, Action, plan_side
from .scheduler import PRIORITY_MODE, Staleness, order_actions

log = logging.getLogger(__name__)
ADOPTED = "adopted"  # the intent id of an order adopted from the exchange at start (no approval known)
SIDES = ("bid", "ask")
FILL_KEYS_KEPT = 200_000
APPROVALS_RECOVERED_MS = 60_000  # at start, approvals this recent may carry fill counts we lost
FILLS_RESENDABLE = 64  # per market, the reported fills kept to report again (see resend_fills)
RESEND_QUIET_S = 3.0  # a fill reported this recently may still be on its way to risk (or risk catching up)
RESEND_EVERY_S = 10.0  # at most one resend per market this often
POSITIONS_ONE_BY_ONE = 3  # more markets than this: one listing of every position instead
HELD_RECHECK_S = 0.2  # a side held back (placements paused, a suspect or bounced side) is planned again this late
PRESIGN_PER_TICK = 40  # signatures renewed ahead each 0.1 s at most, in one job (~8 ms of a signing thread)


def order_writes(o: Order) -> list[tuple[str, str, dict[str, str]]]:
    """The writes whose paths name this order, as ``presign_many`` takes them."""
    ids = {"order_id": o.order_id}
    return [("POST", kc.AMEND_ORDER, ids), ("POST", kc.DECREASE_ORDER, ids)]


def fill_key(f: wire.Fill) -> str:
    """One key per (trade, order): the WebSocket and REST report the same fill with different ids."""
    return f"{f.trade_id}:{f.order_id}" if f.trade_id else f"fill:{f.fill_id}"


class GatewaySettings(KalshiVenueSettings):
    kalshi_ws_url: str = ""
    kalshi_key_id: str = ""
    kalshi_private_key_path: Path | None = None
    kalshi_tier: str = "basic"
    dry_run: bool = False
    dead_man_timeout_s: float = Field(3.0, gt=0)
    sync_interval_s: float = Field(0.02, gt=0)
    fills_interval_s: float = Field(2.0, gt=0, description="REST fills backstop behind the WebSocket")
    reconcile_interval_s: float = Field(5.0, gt=0)
    order_group_contracts: int = Field(20_000, ge=0, description="contracts per 15 s; 0 disables the group")
    request_timeout_s: float = Field(5.0, gt=0)
    ambiguous_grace_s: float = Field(30.0, gt=0, description="how long an unanswered order is looked up")
    max_order_contracts: int = Field(1_000, ge=1, description="refuse approvals resting more on one side")
    cancel_all_hold_s: float = Field(60.0, ge=0, description="no placements after a cancel-all without the WS")
    refused_hold_s: float = Field(2.0, gt=0, description="no new request for an order the exchange refused")
    order_group_cooldown_s: float = Field(60.0, ge=0, description="wait before resetting a triggered group")
    write_scheduler: str = Field(PRIORITY_MODE, pattern="^(priority|fifo)$",
                                 description="who gets write tokens when short: the most wrong quote, or arrival order")
    sign_threads: int = Field(1, ge=0, le=8, description="threads that sign requests (0: sign on the event loop)")


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
        try:
            self.limiter = RateLimiter.for_tier(settings.kalshi_tier)
        except ValueError as exc:
            raise SettingError("KMM_KALSHI_TIER", str(exc)) from None
        self.trading = not settings.dry_run and self.signer is not None
        self.api: KalshiRest | None = None
        self.ws: KalshiWs | None = None
        self.feed_up = False
        self.table = OrderTable()
        self.allow: dict[str, Allowance] = {}
        self.approvals: dict[str, Approval] = {}  # the approval each allowance came from (origin, corr id)
        self.restored: dict[str, tuple[int, int]] = {}  # market → stream id of its newest approval at start
        self.reported: dict[str, str] = {}  # market → intent id last reported applied / expired
        self.expiring: dict[str, str] = {}  # market → intent id whose orders are being pulled
        self.dirty: dict[str, None] = {}
        self.last_sent: dict[str, float] = {}
        self.wake = asyncio.Event()
        self.wake_timer: asyncio.TimerHandle | None = None
        self.state = ACTIVE
        self.last_heartbeat = time.monotonic()  # the dead-man's switch is armed from the start
        self.heard_risk = False
        self.dead_man_fired = False
        self.order_group_id: str | None = None
        self.fill_keys: OrderedDict[str, None] = OrderedDict()
        self.reported_fills: dict[str, deque[tuple[float, Fill]]] = {}  # market → (monotonic, Fill), newest last
        self.resent_at: dict[str, float] = {}
        self.fills_since_s = 0
        self.positions: dict[str, int] = {}
        self.settled: set[str] = set()
        self.settled_ts_s = 0
        self.lost: dict[str, Order] = {}
        self.placements: dict[tuple[str, str], int] = {}
        self.hold_places_until = 0.0  # after a cancel-all (unless the private feed confirms states)
        self.group_hold_until = 0.0  # after the exchange's order-group breaker fired
        self.startup_hold_until = 0.0  # after a restart, until the previous incarnation's creates landed
        # (market, side) → (intent, price, until): a create the exchange refused or cancelled at once (a
        # post-only that would cross) is not sent again for the same approval and price before ``until``:
        # sent again at once it meets the same book, and in a loop it spends the whole write budget
        self.bounced: dict[tuple[str, str], tuple[str, int, float]] = {}
        self.suspect: dict[tuple[str, str], int] = {}  # (market, side) → unknown kmm- orders being checked
        self.reconciled = False
        self.balance: int | None = None
        self.exported_markets: set[str] = set()
        self.inflight: set[asyncio.Task] = set()
        self.nonzero_positions: set[str] = set()
        self.positions_wanted: set[str] = set()  # markets whose exchange position is to be published
        self.positions_task: asyncio.Task | None = None
        self.fills_poll_wanted = False
        self.fills_poll_task: asyncio.Task | None = None
        self.fresh: set[str] = set()  # intent ids of approvals not yet acted on (for tick-to-order)
        self.counts = {"placed": 0, "amended": 0, "decreased": 0, "canceled": 0, "rejected": 0, "fills": 0,
                       "ambiguous": 0, "expired": 0, "refused": 0, "approvals_refused": 0, "lost": 0,
                       "unknown_canceled": 0, "dry_run_actions": 0, "fills_resent": 0, "approvals_restored": 0}
        self.t2o: deque[float] = deque(maxlen=5000)
        self.waiting: dict[str, float] = {}  # market → monotonic time it started waiting for a request
        self.staleness = Staleness()
        self.deferred = 0
        self.signing: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(settings.sign_threads, thread_name_prefix="sign") if settings.sign_threads else None)
        # signing ahead has a thread of its own: a request that finds no signature ready never waits behind it
        self.presigning: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(1, thread_name_prefix="presign") if settings.sign_threads else None)

    # --- lifecycle ----------------------------------------------------------------------------
    async def on_start(self) -> None:
        for o in metrics.ORDER_OUTCOMES:
            metrics.ORDERS.labels(o)
        self.api = KalshiRest(self.s.kalshi_base_url, signer=self.signer, limiter=self.limiter,
                              timeout=self.s.request_timeout_s, sign_executor=self.signing,
                              presign_executor=self.presigning,
                              **metrics.exchange_hooks())
        # Risk's silence is read first: when it is already past the timeout, what the previous incarnation
        # left resting is cancelled before anything else this start does, and what the initial reconcile
        # adopts after that (a create of the previous incarnation landing late) right after the reconcile.
        self.last_heartbeat = time.monotonic() - await self.risk_silent_s()
        if self.trading:
            await self.cancel_all_if_risk_silent()
            await self.load_account_limits()
            await self.recover_fills()
            await self.reconcile(initial=True)
            await self.check_dead_man()
            await self.create_order_group()
            # A create sent by the previous incarnation may still land: place nothing until it has had
            # the time a request may take, then adopt whatever landed.
            self.startup_hold_until = time.monotonic() + self.s.request_timeout_s + 1.0
            self.spawn_task(self.adopt_late_landers(), "adopt-late-landers")
            if self.s.kalshi_ws_url:
                self.ws = KalshiWs(self.s.kalshi_ws_url, signer=self.signer)
                self.spawn(self.feed_loop(), "private-feed")
            self.spawn(self.fills_loop(), "fills")
            self.spawn(self.reconcile_loop(), "reconcile")
        self.reconciled = True
        self.consume_group((ORD_APPROVED, RISK_CONTROL), self.on_message)
        self.presign_writes()
        self.spawn(self.sync_loop(), "sync")
        self.spawn(self.dead_man_loop(), "dead-man")

    async def cancel_all_if_risk_silent(self) -> None:
        """Risk was already silent for longer than the dead-man timeout when we started: one cancel-all at
        the exchange before the start-up's reads (limits, fills, the reconcile), which take their time
        under load or fail while the exchange has trouble, so that orders the previous incarnation left
        rest no longer than the restart itself without anyone supervising them."""
        assert self.api is not None
        if not self.risk_stale():
            return
        metrics.DEAD_MAN_FIRED.inc()
        log.error("risk silent for %.1fs at start: dead-man's switch cancels everything before the start-up's reads",
                  time.monotonic() - self.last_heartbeat)
        try:
            await self.api.cancel_all()
        except kerr.KalshiError as exc:  # the check after the initial reconcile cancels what it adopts
            log.error("cancel-all at start failed (%s)", exc)

    async def risk_silent_s(self) -> float:
        """How long risk had been silent when we (re)started, read from ``risk:control``: the dead-man's
        switch counts from risk's last heartbeat, so orders adopted from a gateway that died while risk
        was stopped do not rest a whole new timeout unsupervised. 0 when risk beat within the timeout
        (or the stream cannot be read)."""
        assert self.redis is not None
        timeout_ms = int(self.s.dead_man_timeout_s * 1000)
        try:
            entries = await self.redis.xrange(RISK_CONTROL, min=str(int(time.time() * 1000) - timeout_ms), count=1000)
        except Exception as exc:  # noqa: BLE001 - a read that fails leaves the switch armed from our start
            log.warning("cannot read risk's last heartbeat: %s", type(exc).__name__)
            return 0.0
        newest = 0
        for _, fields in entries:
            msg = entry_message(fields)
            if msg is None:
                continue
            if isinstance(msg, Heartbeat):
                newest = max(newest, msg.ts_init)
        if newest:
            return max(time.time_ns() - newest, 0) / NS_PER_S
        log.warning("no risk heartbeat in the last %.1fs: the dead-man's switch is already due", self.s.dead_man_timeout_s)
        return self.s.dead_man_timeout_s + 0.001

    async def on_stop(self) -> None:
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)
        if self.api is not None:
            if self.table.live():
                await self.cancel_everything("shutdown")
            await self.api.aclose()
        if self.ws is not None:
            await self.ws.close()
        for pool in (self.signing, self.presigning):
            if pool is not None:
                pool.shutdown(wait=False)

    async def ready_checks(self) -> dict[str, Check]:
        fresh = self.heard_risk and time.monotonic() - self.last_heartbeat < self.s.dead_man_timeout_s
        checks: dict[str, Check] = {
            "reconciled": (self.reconciled, "ok" if self.reconciled else "reconciling with the exchange"),
            "risk_heartbeat": (True, "fresh" if fresh else "stale: not quoting"),
        }
        if self.ws is not None:
            checks["private_feed"] = (True, "up" if self.feed_up else "down: REST backstop only")
        return checks

    async def load_account_limits(self) -> None:
        """The write budget as the exchange states it for this key (falls back to the configured tier)."""
        assert self.api is not None
        try:
            body = await self.api.get_account_limits()
            try:
                costs: dict[str, Any] | None = await self.api.get_endpoint_costs()
            except kerr.KalshiError:
                costs = None
            limiter = RateLimiter.from_account_limits(body, costs)
        except (kerr.KalshiError, KeyError, TypeError, ValueError) as exc:
            log.warning("account limits unavailable (%s); budgeting for tier %s", exc, self.s.kalshi_tier)
            return
        self.limiter = limiter
        self.api.limiter = limiter
        log.info("write budget from the exchange: %s tokens/s, bucket %s", limiter.write.rate, limiter.write.capacity)

    async def create_order_group(self) -> None:
        assert self.api is not None
        if not self.s.order_group_contracts:
            return
        try:
            group = await self.api.create_order_group(self.s.order_group_contracts * COUNT_SCALE)
            self.order_group_id = group.order_group_id
        except kerr.KalshiError as exc:
            log.warning("no order group backstop: %s", exc)

    # --- inputs from risk -----------------------------------------------------------------------
    async def on_message(self, msg: Message, d: Delivery) -> None:
        if isinstance(msg, Approval):
            seen = self.restored.get(msg.market)
            if seen is not None:
                if parse_id(d.entry_id) <= seen:
                    return  # an entry from before our start, read again: the newest one was restored
                del self.restored[msg.market]  # the group reads in order: every later entry is newer
            self.on_approval(msg)
        elif isinstance(msg, Heartbeat):
            # A heartbeat counts from when risk sent it: a backlog read after our restart is not a live risk.
            age = max(time.time_ns() - msg.ts_init, 0) / NS_PER_S if msg.ts_init else 0.0
            if age > self.s.dead_man_timeout_s:
                return
            self.last_heartbeat = max(self.last_heartbeat, time.monotonic() - age)
            self.heard_risk = True
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

    def allowance(self, market: str) -> Allowance:
        a = self.allow.get(market)
        if a is None:
            a = self.allow[market] = Allowance()
        return a

    def on_approval(self, a: Approval, restored: bool = False) -> None:
        """Take an approval under the approval rule (``restored``: one from before a restart, which no
        market event of ours answers, so it stays out of tick-to-order)."""
        why = ""
        cap = self.s.max_order_contracts * COUNT_SCALE
        if a.expires_at_ns and a.expires_at_ns < time.time_ns():
            self.counts["expired"] += 1
            metrics.ORDERS.labels("expired").inc()
            why = "expired on arrival"
        elif a.bid_count > cap or a.ask_count > cap or a.bid_count < 0 or a.ask_count < 0:
            why = f"above the gateway's cap of {self.s.max_order_contracts} contracts a side"
            log.error("refused approval %s for %s: %s", a.intent_id, a.market, why)
        elif a.market in self.settled:
            why = "market settled"
        else:
            self.catch_up_fill_seq(a.market, a.fill_seq)
            why = self.allowance(a.market).accept(a.intent_id, a.fill_seq, a.bid_price, a.bid_count, a.ask_price,
                                                  a.ask_count, a.expires_at_ns)
        if why:
            self.counts["approvals_refused"] += 1
            metrics.APPROVALS.labels("refused").inc()
            self.report_status(a.market, a.intent_id, REFUSED, why)
            if why.startswith(STALE):
                self.resend_fills(a.market, a.fill_seq)
            return
        metrics.APPROVALS.labels("accepted").inc()
        previous = self.approvals.get(a.market)
        if previous is not None:
            self.fresh.discard(previous.intent_id)
        self.approvals[a.market] = a
        self.expiring.pop(a.market, None)
        if not restored:
            self.fresh.add(a.intent_id)
        self.dirty[a.market] = None
        self.wake.set()

    def report_status(self, market: str, intent_id: str, status: str, reason: str = "") -> None:
        now = time.time_ns()
        self.publish_nowait(EXEC_REPORT, ApprovalStatus(msg_id=new_id(), ts_event=now, ts_init=now, market=market,
                                                        intent_id=intent_id, status=status, reason=reason[:200]))

    # --- the sync loop: allowance → exchange ---------------------------------------------------
    def quoting_allowed(self) -> bool:
        fresh = self.heard_risk and time.monotonic() - self.last_heartbeat < self.s.dead_man_timeout_s
        return self.state != HALTED and fresh and not self.dead_man_fired and self.reconciled

    def placements_allowed(self) -> bool:
        if time.monotonic() < max(self.group_hold_until, self.startup_hold_until):
            return False
        return self.feed_up or time.monotonic() >= self.hold_places_until

    async def sync_loop(self) -> None:
        while True:
            if self.wake.is_set():
                await asyncio.sleep(0)  # let the rest of the loop run between passes
            else:
                try:
                    async with asyncio.timeout(0.5):  # no extra task, unlike wait_for: one loop turn less
                        await self.wake.wait()
                except TimeoutError:
                    pass
            self.wake.clear()
            self.expire_allowances()
            if not self.dirty or not self.quoting_allowed():
                continue
            now = time.monotonic()
            for m in self.dirty:
                self.waiting.setdefault(m, now)
            markets = list(self.dirty)
            self.dirty.clear()
            actions: list[Action] = []
            held: list[str] = []
            for market in markets:
                planned = self.plan_market(market, now, held)
                actions += planned
                if not planned:
                    self.report_applied(market)
                    self.waiting.pop(market, None)
            for market in held:
                self.dirty[market] = None
            if held:
                self.wake_after(HELD_RECHECK_S)  # a timer: passes for other markets go on meanwhile
            if actions:
                deferred = self.execute(actions)
                for a in actions:
                    if a.market not in deferred:
                        self.waiting.pop(a.market, None)
                for m in deferred:
                    self.dirty[m] = None
                if deferred:
                    await asyncio.sleep(self.s.sync_interval_s)
                    self.wake.set()

    def wake_after(self, delay_s: float) -> None:
        """Wake the sync loop once, ``delay_s`` from now (one timer at a time)."""
        if self.wake_timer is None:
            self.wake_timer = asyncio.get_running_loop().call_later(delay_s, self.timed_wake)

    def timed_wake(self) -> None:
        self.wake_timer = None
        self.wake.set()

    def plan_market(self, market: str, now: float, held: list[str]) -> list[Action]:
        al = self.allow.get(market)
        out: list[Action] = []
        for side in SIDES:
            price, count = al.target(side) if al is not None and market not in self.settled else (0, 0)
            working = self.table.get(market, side)
            if working is None and count and (not self.placements_allowed() or (market, side) in self.suspect
                                              or self.bounce_held(market, side, price, now)):
                held.append(market)
                continue
            act = plan_side(market, side, price, count, working, now)
            if act is not None:
                if act.kind == CANCEL and not count and act.order is not None and act.order.intent_id == ADOPTED:
                    log.info("cancelling adopted %s %s %s: no approval of risk's covers it",
                             act.order.client_order_id, market, side)
                out.append(act)
        for o in self.table.of_market(market):  # extra live orders on a side: cancel them
            if o is not self.table.get(o.market, o.side) and o.status in LIVE and o.hold_until <= now:
                out.append(Action(CANCEL, market, o.side, order=o))
        if not out and al is not None:
            approval = self.approvals.get(market)
            if approval is not None and approval.intent_id in self.fresh:
                self.fresh.discard(approval.intent_id)  # nothing to send for it
        return out

    def bounce_held(self, market: str, side: str, price: int, now: float) -> bool:
        b = self.bounced.get((market, side))
        if b is None:
            return False
        al = self.allow.get(market)
        if now < b[2] and al is not None and al.intent_id == b[0] and price == b[1]:
            return True
        del self.bounced[(market, side)]  # a new approval or price, or the hold is over: try again
        return False

    def bounce(self, o: Order) -> None:
        self.bounced[(o.market, o.side)] = (o.intent_id, o.price, time.monotonic() + self.s.refused_hold_s)

    def report_applied(self, market: str) -> None:
        """Tell risk once the market's orders sit within its allowance with nothing in flight."""
        orders = self.table.of_market(market)
        if any(o.status in IN_FLIGHT for o in orders):
            return
        expiring = self.expiring.get(market)
        if expiring is not None:
            if not orders:
                del self.expiring[market]
                self.reported[market] = expiring
                self.report_status(market, expiring, EXPIRED)
            return
        al = self.allow.get(market)
        if al is None or not al.intent_id or self.reported.get(market) == al.intent_id:
            return
        for o in orders:
            price, count = al.target(o.side)
            if o is not self.table.get(market, o.side) or o.count > count or (o.count and o.price != price):
                return
        self.reported[market] = al.intent_id
        self.report_status(market, al.intent_id, APPLIED)

    def expire_allowances(self) -> None:
        now = time.time_ns()
        for market, al in self.allow.items():
            if al.expires_at_ns and al.expires_at_ns < now and (al.bid.count or al.ask.count):
                self.end_allowance(market)

    def end_allowance(self, market: str) -> None:
        """The market's approval rests nothing more; risk hears ``expired`` once its orders are gone."""
        al = self.allow.get(market)
        if al is None or not (al.bid.count or al.ask.count):
            return
        al.expire()
        self.expiring[market] = al.intent_id
        approval = self.approvals.get(market)
        if approval is not None:
            self.fresh.discard(approval.intent_id)
        self.dirty[market] = None

    def execute(self, actions: list[Action]) -> set[str]:
        """Launch requests within the write budget (tokens taken now, what pulls risk first, then in the
        scheduler's order); return the markets deferred for lack of tokens."""
        actions = order_actions(actions, self.s.write_scheduler, self.waiting)
        if not self.trading:
            self.counts["dry_run_actions"] += len(actions)
            for a in actions:
                log.info("dry-run: %s %s %s %s@%s", a.kind, a.market, a.side, a.count, a.price)
            return set()
        bucket = self.limiter.write
        deferred: set[str] = set()
        cancels = [a.order for a in actions if a.kind == CANCEL and a.order is not None and a.order.order_id]
        max_batch = max(1, self.limiter.max_batch)
        for i in range(0, len(cancels), max_batch):
            chunk = cancels[i:i + max_batch]
            if bucket.try_acquire(self.limiter.cost("DELETE", kc.BATCH_ORDERS, len(chunk))):
                deferred.update(o.market for o in chunk)
                self.deferred += len(chunk)
                metrics.WRITE_DEFERRED.labels(CANCEL).inc(len(chunk))
                continue
            self.launch(self.send_cancels(chunk, "target"), [o.market for o in chunk])
        # The rest in the scheduler's order: each takes its tokens now; placements taken this way go out
        # together as batches (a batch create costs what its orders cost one by one).
        places: list[Action] = []
        per_place = self.limiter.cost("POST", kc.BATCH_ORDERS, 1)
        for a in actions:
            if a.kind == CANCEL:
                continue
            if a.kind == PLACE:
                cost = per_place
            else:
                cost = self.limiter.cost("POST", kc.DECREASE_ORDER if a.kind == DECREASE else kc.AMEND_ORDER)
            if bucket.try_acquire(cost):
                deferred.add(a.market)
                self.deferred += 1
                metrics.WRITE_DEFERRED.labels(a.kind).inc()
                continue
            if a.kind == PLACE:
                places.append(a)
            else:
                self.launch(self.send_modify(a), [a.market])
        single_ok = self.limiter.cost("POST", kc.CREATE_ORDER) <= per_place  # else a lone one goes as a batch
        for i in range(0, len(places), max_batch):
            chunk = places[i:i + max_batch]
            self.launch(self.send_places(chunk, single_ok), [a.market for a in chunk])
        now = time.monotonic()
        for a in actions:
            self.last_sent[a.market] = now
        return deferred

    def launch(self, coro: Coroutine[Any, Any, None], markets: list[str]) -> None:
        """Run one exchange request concurrently with the others; re-plan its markets when it ends.

        ``send_places`` / ``send_modify`` / ``send_cancels`` put their orders in PENDING_* when called,
        before this: the planner leaves those sides alone from the pass that launched the request until
        its answer is in, whenever the task gets to run."""
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

    def observe_t2o(self, market: str) -> None:
        """Tick-to-order of requests that answer a market event: the first pass over a new approval.

        Later requests for the same approval (a side freed by an answer) answer the exchange, not the
        market event, so they are not counted."""
        a = self.approvals.get(market)
        if a is not None and a.origin_ts and a.intent_id in self.fresh:
            self.fresh.discard(a.intent_id)
            now = time.time_ns()
            seconds = (now - a.origin_ts) / NS_PER_S
            metrics.TICK_TO_ORDER_SECONDS.observe(seconds)
            if a.ts_init:
                metrics.HOP_SECONDS.labels("risk_gateway").observe(max(now - a.ts_init, 0) / NS_PER_S)
            self.t2o.append(seconds)

    # --- requests -----------------------------------------------------------------------------------
    async def answered(self, request: Coroutine[Any, Any, Any], t0: float, names_order: bool = False) -> Any:
        """Await one exchange request; the gateway→exchange hop runs from its launch (``t0``,
        perf_counter seconds, before signing) to the answer, whatever it was. A request whose path names
        no order used one of :meth:`presign_writes`' signatures, replaced here (an order's own are
        :meth:`presign_order`'s)."""
        try:
            return await request
        finally:
            metrics.HOP_SECONDS.labels("gateway_exchange").observe(time.perf_counter() - t0)
            if not names_order:
                self.presign_writes()

    def new_order(self, a: Action) -> Order:
        al = self.allow.get(a.market)
        intent = al.intent_id if al is not None and al.intent_id else new_id()
        key = (intent, a.side)
        attempt = self.placements.get(key, 0)
        self.placements[key] = attempt + 1
        approval = self.approvals.get(a.market)
        o = Order(client_order_id(intent, a.market, a.side, attempt), a.market, a.side, a.price, a.count,
                  intent_id=intent, origin_ts=approval.origin_ts if approval else 0, sent_ns=time.time_ns())
        self.table.add(o)
        return o

    def send_places(self, places: list[Action], single_ok: bool = True) -> Coroutine[Any, Any, None]:
        """The orders enter the table now, pending; the returned coroutine sends them."""
        return self._send_places(places, [self.new_order(a) for a in places], single_ok)

    async def _send_places(self, places: list[Action], orders: list[Order], single_ok: bool) -> None:
        assert self.api is not None
        t0 = time.perf_counter()
        for a in places:
            self.observe_t2o(a.market)
        reqs = [NewOrder(ticker=o.market, side=o.side, price=o.price, count=o.count, client_order_id=o.client_order_id,
                         post_only=True, cancel_order_on_pause=True, order_group_id=self.order_group_id)
                for o in orders]
        try:
            with prepaid():
                if len(reqs) == 1 and single_ok:
                    acks = [await self.answered(self.api.create_order(reqs[0], resolve_duplicate=True), t0)]
                else:
                    acks = await self.answered(self.api.batch_create(reqs), t0)
        except kerr.Ambiguous as exc:
            for o in orders:
                self.mark_ambiguous(o, str(exc))
            return
        except kerr.KalshiError as exc:
            for o in orders:
                self.rejected(o, exc)
            return
        for o, ack in zip(orders, acks, strict=False):
            if ack.error is None:
                self.on_create_ack(o, ack)
            elif isinstance(ack.error, kerr.Ambiguous | kerr.DuplicateOrder):
                self.mark_ambiguous(o, str(ack.error))  # a duplicate id: read back what exists
            else:
                self.rejected(o, ack.error)
        for o in orders[len(acks):]:
            self.mark_ambiguous(o, "missing from the batch answer")

    def on_create_ack(self, o: Order, ack: wire.WriteAck) -> None:
        requested = o.count
        if o.status in (PENDING_NEW, AMBIGUOUS):
            self.table.apply(o, "acked", ack.order_id, ack.remaining_count, ack.fill_count)
            if o.done and not ack.fill_count:  # accepted, then cancelled at once: a post-only that crossed
                self.publish_cancel(o, requested, "canceled on create (post-only would cross)")
                self.bounce(o)
        else:  # the WebSocket told us first
            o.order_id = o.order_id or ack.order_id
            self.table.index(o)
        self.counts["placed"] += 1
        metrics.ORDERS.labels("placed").inc()
        self.publish_order(o)
        self.presign_order(o)

    def rejected(self, o: Order, exc: Exception) -> None:
        self.table.apply(o, "rejected")
        self.bounce(o)
        self.counts["rejected"] += 1
        metrics.ORDERS.labels("rejected").inc()
        code = getattr(exc, "code", "") or type(exc).__name__
        if code == kc.MARKET_CLOSED_CODE:  # nothing can rest there any more: trying again is refused again
            self.end_allowance(o.market)
        a = self.approvals.get(o.market)
        self.publish_nowait(EXEC_REPORT, OrderReject(
            msg_id=new_id(), corr_id=a.corr_id if a else "", ts_init=time.time_ns(),
            client_order_id=o.client_order_id, market=o.market, side=o.side, code=code,
            reason=str(exc)[:300], intent_id=o.intent_id))

    def mark_ambiguous(self, o: Order, why: str) -> None:
        if o.status in (PENDING_NEW, PENDING_UPDATE, PENDING_CANCEL):
            self.table.apply(o, "ambiguous", time.monotonic())
        self.counts["ambiguous"] += 1
        metrics.ORDERS.labels("ambiguous").inc()
        log.warning("order %s outcome unknown (%s): resolving by reading the exchange", o.client_order_id, why)
        self.spawn_task(self.resolve(o), f"resolve:{o.client_order_id}")

    async def resolve(self, o: Order) -> None:
        """Read the exchange until it says what became of ``o``; after the grace window it is lost."""
        assert self.api is not None
        deadline = time.monotonic() + self.s.ambiguous_grace_s
        delay = 0.25
        while o.status == AMBIGUOUS:
            found: wire.Order | None = None
            try:
                if o.order_id:
                    found = await self.api.get_order(o.order_id)
                else:
                    found = await self.api.find_order(o.market, o.client_order_id)
            except kerr.NotFound:
                found = None
            except kerr.KalshiError as exc:
                log.info("resolve %s: %s", o.client_order_id, exc)
            if found is not None:
                self.apply_exchange_order(o, found)
                break
            if time.monotonic() > deadline:
                self.lose(o)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)
        self.dirty[o.market] = None
        self.wake.set()

    def lose(self, o: Order) -> None:
        """Still unknown after the grace window: free its side, keep looking for it at reconciliation."""
        log.error("order %s was never found at the exchange within %.0fs; reconciliation will cancel it if it "
                  "appears", o.client_order_id, self.s.ambiguous_grace_s)
        self.counts["lost"] += 1
        metrics.ORDER_ANOMALIES.labels("lost").inc()
        self.table.retire(o)
        self.lost[o.client_order_id] = o

    def apply_exchange_order(self, o: Order, ex: wire.Order) -> None:
        """What the exchange holds for ``o`` (a user_orders frame or a REST read)."""
        before = (o.price, o.count, o.done)
        if ex.order_id and not o.order_id:
            o.order_id = ex.order_id
        if o.done:
            return
        if not self.table.apply(o, "exchange", ex.status, ex.price, ex.remaining_count, ex.fill_count):
            metrics.ORDER_ANOMALIES.labels("illegal_transition").inc()
            return
        if o.client_order_id in self.lost and not o.done:
            self.lost.pop(o.client_order_id, None)
            self.table.add(o, working=self.table.get(o.market, o.side) is None)
        if o.done and not before[2]:
            self.publish_cancel(o, before[1], ex.status)
        elif (o.price, o.count) != before[:2]:
            self.publish_order(o)
        self.dirty[o.market] = None
        self.wake.set()

    def send_modify(self, a: Action) -> Coroutine[Any, Any, None]:
        """The order goes pending now; the returned coroutine sends the amend or decrease."""
        assert a.order is not None
        self.table.apply(a.order, "update_sent", a.price, a.count)
        return self._send_modify(a, a.order)

    async def _send_modify(self, a: Action, o: Order) -> None:
        assert self.api is not None
        t0 = time.perf_counter()
        self.observe_t2o(a.market)
        try:
            with prepaid():
                if a.kind == DECREASE:
                    ack = await self.answered(
                        self.api.decrease_order(o.order_id, reduce_to=a.count, market_ticker=a.market), t0, True)
                    remaining = ack.remaining_count if ack.order_id else a.count
                else:
                    filled = max(o.filled, o.exchange_filled)
                    ack = await self.answered(self.api.amend_order(
                        o.order_id, ticker=a.market, side=a.side, price=a.price, count=filled + a.count), t0, True)
                    remaining = ack.remaining_count if ack.order_id else a.count
                    if ack.order_id and ack.order_id != o.order_id:
                        self.table.by_order_id.pop(o.order_id, None)
                        o.order_id = ack.order_id
        except kerr.Ambiguous as exc:
            self.mark_ambiguous(o, str(exc))
            return
        except kerr.NotFound:  # filled or canceled meanwhile
            if not o.done:  # unless the WebSocket said so while the request was out
                before = o.count
                self.table.apply(o, "gone")
                self.publish_cancel(o, before, "gone")
            return
        except kerr.KalshiError as exc:
            # Usually fills we have not applied yet made the order smaller than we think: read it back
            # instead of sending the same request again.
            log.info("%s %s refused (%s); reading the order back", a.kind, o.client_order_id, exc)
            self.counts["refused"] += 1
            metrics.ORDERS.labels("refused").inc()
            self.table.apply(o, "refused", time.monotonic() + self.s.refused_hold_s)
            self.spawn_task(self.resync(o), f"resync:{o.client_order_id}")
            return
        if o.status == AMBIGUOUS or o.done:  # resolving, or the WebSocket already said it is gone
            return
        before = o.count
        # nothing left of a request that asked for some, and not because it filled: the exchange cancelled
        # the order (an amend that would cross a post-only order)
        canceled = remaining == 0 and a.count > 0 and ack.fill_count <= max(o.filled, o.exchange_filled)
        self.table.apply(o, "update_acked", a.price, remaining, ack.fill_count, canceled)
        kind = "decreased" if a.kind == DECREASE else "amended"
        self.counts[kind] += 1
        metrics.ORDERS.labels(kind).inc()
        if o.done:
            self.publish_cancel(o, before, "canceled by the amend (post-only would cross)" if canceled else "done")
            return
        self.publish_order(o)
        self.presign_order(o)

    async def resync(self, o: Order) -> None:
        assert self.api is not None
        if not o.order_id:
            return
        try:
            ex = await self.api.get_order(o.order_id)
        except kerr.NotFound:
            if not o.done:
                before = o.count
                self.table.apply(o, "gone")
                self.publish_cancel(o, before, "gone")
            return
        self.apply_exchange_order(o, ex)

    def send_cancels(self, orders: list[Order], reason: str) -> Coroutine[Any, Any, None]:
        """The orders go pending-cancel now; the returned coroutine sends the batch cancel."""
        for o in orders:
            self.table.apply(o, "cancel_sent")
        return self._send_cancels(orders, reason)

    async def _send_cancels(self, orders: list[Order], reason: str) -> None:
        assert self.api is not None
        t0 = time.perf_counter()
        try:
            with prepaid():
                acks = await self.answered(self.api.batch_cancel([(o.order_id, o.market) for o in orders]), t0)
        except kerr.Ambiguous as exc:
            for o in orders:
                self.mark_ambiguous(o, str(exc))
            return
        except kerr.KalshiError as exc:
            log.warning("cancel failed: %s", exc)
            for o in orders:
                self.table.apply(o, "refused", time.monotonic() + 0.5)
            return
        for o, ack in zip(orders, acks, strict=False):
            if o.status != "pending_cancel":
                continue  # the WebSocket answered first
            before = o.count
            if ack.error is None:
                self.table.apply(o, "cancel_acked")
                self.publish_cancel(o, ack.reduced_by or before, reason)
            elif isinstance(ack.error, kerr.NotFound) or getattr(ack.error, "code", "") == "not_found":
                self.table.apply(o, "gone")
                self.publish_cancel(o, before, "gone")
            else:
                self.table.apply(o, "refused", time.monotonic() + self.s.refused_hold_s)

    def publish_order(self, o: Order) -> None:
        """An OrderAck: ``o`` rests ``count`` at ``price`` (risk and the quoter track our resting orders)."""
        if o.done or not o.order_id:
            return
        a = self.approvals.get(o.market)
        self.publish_nowait(EXEC_REPORT, OrderAck(
            msg_id=new_id(), corr_id=a.corr_id if a else "", ts_init=time.time_ns(), origin_ts=o.origin_ts,
            client_order_id=o.client_order_id, order_id=o.order_id, market=o.market, side=o.side,
            price=o.price, count=o.count, intent_id=o.intent_id))

    def publish_cancel(self, o: Order, count: int, reason: str) -> None:
        self.counts["canceled"] += 1
        metrics.ORDERS.labels("canceled").inc()
        self.publish_nowait(EXEC_REPORT, OrderCancel(
            msg_id=new_id(), ts_init=time.time_ns(), client_order_id=o.client_order_id, order_id=o.order_id,
            market=o.market, side=o.side, canceled_count=count, reason=reason))

    async def cancel_everything(self, reason: str) -> None:
        """Cancel all our resting orders at the exchange and pull every allowance.

        Requests already in flight may land after the cancel-all (a create that the exchange processes
        late), so once they have all answered the table is checked again and anything still open is
        cancelled too."""
        for market, al in self.allow.items():
            if al.bid.count or al.ask.count or market in self.expiring:
                self.expiring[market] = al.intent_id
            al.expire()
        self.dirty.clear()
        self.fresh.clear()
        if not self.trading or self.api is None:
            return
        for attempt in range(3):
            await self.cancel_all_once(reason)
            if self.inflight:
                await asyncio.gather(*list(self.inflight), return_exceptions=True)
            if not [o for o in self.table.live() if o.status in LIVE]:
                break
            log.warning("orders landed during cancel-all (attempt %d); cancelling again", attempt + 1)
        self.hold_places_until = time.monotonic() + self.s.cancel_all_hold_s
        for market in list(self.expiring):
            self.dirty[market] = None
        self.wake.set()
        log.warning("canceled all orders: %s", reason)

    async def cancel_all_once(self, reason: str) -> None:
        assert self.api is not None
        live = [o for o in self.table.live() if o.order_id and o.status not in (PENDING_NEW, AMBIGUOUS)]
        try:
            await self.api.cancel_all()
        except kerr.KalshiError as exc:
            log.error("cancel-all failed (%s); cancelling one by one", exc)
            if live:
                await self.send_cancels(live, reason)
            return
        for o in live:
            if o.done:  # the private feed said it filled (or went) while the cancel-all was out
                continue
            before = o.count
            if self.table.apply(o, "exchange", "canceled", o.price, 0, o.exchange_filled):
                self.publish_cancel(o, before, reason)

    # --- safety loops ---------------------------------------------------------------------------
    def export_metrics(self) -> None:
        metrics.RISK_HEARTBEAT_AGE.set(time.monotonic() - self.last_heartbeat)
        for bucket, tokens in self.limiter.tokens().items():
            metrics.RATE_LIMIT_TOKENS.labels(bucket).set(tokens)
        per_market: dict[str, int] = dict.fromkeys(self.exported_markets | self.approvals.keys(), 0)
        for o in self.table.live():
            per_market[o.market] = per_market.get(o.market, 0) + 1
        for market, n in per_market.items():
            if market not in self.exported_markets:  # approved or with orders: its fill counters read 0 until a fill
                metrics.init_market(market, self.name)
            metrics.OPEN_ORDERS.labels(market).set(n)
        self.exported_markets |= set(per_market)

    def presign_writes(self) -> None:
        """Keep a fresh signature ready for the write endpoints whose paths do not name an order."""
        if self.api is None or not self.trading:
            return
        self.api.presign_many([("POST", kc.BATCH_ORDERS, None), ("POST", kc.CREATE_ORDER, None),
                               ("DELETE", kc.BATCH_ORDERS, None)])

    def presign_order(self, o: Order) -> None:
        """Sign ahead the writes that name this answered order (amend, decrease) whose signature was used
        or is getting old. ``presigned_at`` stays no later than either signature: it moves only when both
        were signed now."""
        if self.api is not None and self.trading and o.order_id and not o.done:
            writes = order_writes(o)
            if self.api.presign_many(writes) == len(writes):
                o.presigned_at = time.monotonic()

    def presign_orders(self) -> None:
        """Renew both signatures of the working orders signed longest ago, together (so ``presigned_at``
        is when both were signed), before they lapse: at most ``PRESIGN_PER_TICK`` a tick, in one job."""
        if self.api is None or not self.trading:
            return
        due_before = time.monotonic() - self.api.presign_renew_s
        due = sorted((o for o in self.table.working.values()
                      if o.presigned_at <= due_before and o.status in LIVE and o.order_id),
                     key=lambda o: o.presigned_at)[:PRESIGN_PER_TICK // 2]
        if due:
            self.api.presign_many([w for o in due for w in order_writes(o)], force=True)
            now = time.monotonic()
            for o in due:
                o.presigned_at = now

    def sample_staleness(self) -> None:
        """Each resting working order against the model's price for its side (the approval in force)."""
        sides = []
        for (market, side), o in self.table.working.items():
            if o.status in LIVE or (o.status in (PENDING_UPDATE, PENDING_CANCEL) and o.order_id):
                al = self.allow.get(market)
                price, count = al.target(side) if al is not None else (0, 0)
                sides.append((o.price, price, count))
        fresh, stale = self.staleness.sample(time.monotonic(), sides)
        if fresh:
            metrics.QUOTE_SIDE_SECONDS.labels("fresh").inc(fresh)
        if stale:
            metrics.QUOTE_SIDE_SECONDS.labels("stale").inc(stale)

    async def dead_man_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(0.1)
            ticks += 1
            self.sample_staleness()
            self.presign_orders()
            if ticks % 5 == 0:
                self.presign_writes()
            if ticks % 10 == 0:
                self.export_metrics()
                self.table.prune()
            await self.check_dead_man()

    def risk_stale(self) -> bool:
        """Risk's last heartbeat is older than the dead-man timeout."""
        return time.monotonic() - self.last_heartbeat > self.s.dead_man_timeout_s

    async def check_dead_man(self) -> None:
        """Cancel everything once risk's heartbeat is older than the timeout (fires once per silence)."""
        if not self.risk_stale() or self.dead_man_fired:
            return
        self.dead_man_fired = True
        if not self.table.live() and not self.heard_risk:
            log.warning("no risk heartbeat since start and no orders: not quoting")
            return
        metrics.DEAD_MAN_FIRED.inc()
        log.error("risk heartbeat stale for %.1fs: dead-man's switch cancels everything",
                  time.monotonic() - self.last_heartbeat)
        await self.cancel_everything("dead-man: risk heartbeat stale")

    # --- exchange events: fills, order updates, positions ------------------------------------------
    def on_exchange_fill(self, f: wire.Fill, sent_ns: int = 0) -> bool:
        """Apply and report one fill, once, whichever feed brought it first. ``sent_ns`` is when the
        exchange sent it (wall clock, from the WebSocket; 0 from the REST backstop): fill latency runs
        from there."""
        key = fill_key(f)
        if key in self.fill_keys:
            return False
        self.fill_keys[key] = None
        if len(self.fill_keys) > FILL_KEYS_KEPT:
            self.fill_keys.popitem(last=False)
        o = self.table.find(f.order_id, f.client_order_id)
        if o is None:
            o = self.lost.get(f.client_order_id)
        if o is not None:
            if not o.order_id and f.order_id:
                o.order_id = f.order_id
            self.table.apply(o, "fill", f.count)
        else:
            metrics.ORDER_ANOMALIES.labels("fill_for_unknown_order").inc()
            log.warning("fill %s for an order we do not track (%s)", key, f.order_id)
        seq = self.allowance(f.ticker).on_fill(f.side, f.count)
        self.positions[f.ticker] = self.positions.get(f.ticker, 0) + (f.count if f.side == "bid" else -f.count)
        self.counts["fills"] += 1
        metrics.FILLS.inc()
        metrics.MARKET_FILLED_CONTRACTS.labels(f.ticker, f.side).inc(f.count / COUNT_SCALE)
        now = time.time_ns()
        report = Fill(
            msg_id=f"fill-{key}", ts_event=f.ts, ts_init=now, origin_ts=sent_ns, fill_id=key,
            order_id=f.order_id, client_order_id=o.client_order_id if o else f.client_order_id, market=f.ticker,
            side=f.side, price=f.price, count=f.count, fee=f.fee, is_taker=f.is_taker, seq=seq)
        self.publish_nowait(EXEC_REPORT, report)
        kept = self.reported_fills.get(f.ticker)
        if kept is None:
            kept = self.reported_fills[f.ticker] = deque(maxlen=FILLS_RESENDABLE)
        kept.append((time.monotonic(), report))
        if f.ts:
            self.fills_since_s = max(self.fills_since_s, f.ts // NS_PER_S - 60)
        self.spawn_task(self.save_fill_seq(f.ticker, seq), "save-fill-seq")
        self.dirty[f.ticker] = None
        self.wake.set()
        return True

    def resend_fills(self, market: str, applied: int) -> None:
        """Risk stamped an approval at fewer fills than we reported. Unless the rest may still be on their
        way, Redis lost them (AOF ``everysec``) and risk restarted on a ledger saved before them: report
        them again, as they were. A consumer that has them drops them (by ``msg_id`` and fill id), so a
        resend to a risk that was only slow (catching up after a stop) costs a few messages."""
        kept = self.reported_fills.get(market)
        now = time.monotonic()
        if not kept or now - kept[-1][0] < RESEND_QUIET_S or now - self.resent_at.get(market, -1e9) < RESEND_EVERY_S:
            return
        missing = [f for _, f in kept if f.seq > applied]
        if not missing:
            return
        self.resent_at[market] = now
        log.warning("%s: risk approves at %d fills, we reported %d: reporting %d again (risk still catching up, "
                    "or Redis lost them)", market, applied, kept[-1][1].seq, len(missing))
        metrics.ORDER_ANOMALIES.labels("fills_resent").inc()
        self.counts["fills_resent"] += len(missing)
        for f in missing:
            self.publish_nowait(EXEC_REPORT, f)

    def catch_up_fill_seq(self, market: str, seq: int) -> None:
        """Risk stamped an approval at more fills than we count: our count went back with Redis writes
        lost (AOF ``everysec``) after risk had applied them. Numbering on from risk's count keeps the
        approval rule comparing like with like (see :mod:`kmm.risk.fill_seq`)."""
        al = self.allowance(market)
        if seq <= al.fill_seq:
            return
        log.warning("%s: risk has applied %d fills, we counted %d (lost Redis writes?): numbering on from %d",
                    market, seq, al.fill_seq, seq)
        metrics.ORDER_ANOMALIES.labels("fill_seq_behind").inc()
        al.fill_seq = seq
        if self.redis is not None:
            self.spawn_task(self.save_fill_seq(market, seq), "save-fill-seq")

    async def save_fill_seq(self, market: str, seq: int) -> None:
        assert self.redis is not None
        await self.redis.hset(state_key(self.name), mapping={f"seq:{market}": seq, "fills_since_s": self.fills_since_s})

    async def feed_loop(self) -> None:
        """The private WebSocket: fills, order updates, positions — the primary source of exchange events."""
        assert self.ws is not None
        self.ws.start()
        await self.ws.subscribe([kc.CH_FILL, kc.CH_USER_ORDERS, kc.CH_POSITIONS, kc.CH_ORDER_GROUPS], None,
                                wait=False)
        async for ev in self.ws:
            sent_ns = getattr(ev, "sending_ts_ms", 0) * NS_PER_MS if getattr(ev, "sending_ts_ms", 0) else 0
            if isinstance(ev, wire.Fill):
                if self.on_exchange_fill(ev, sent_ns or ev.ts):
                    self.refresh_positions({ev.ticker})
            elif isinstance(ev, wire.Order):
                o = self.table.find(ev.order_id, ev.client_order_id) or self.lost.get(ev.client_order_id)
                if o is not None:
                    self.apply_exchange_order(o, ev)
                elif ev.status == "resting" and ev.client_order_id.startswith("kmm-") and self.reconciled:
                    # placed by a create whose answer has not reached us yet, or unknown: reconcile decides
                    self.spawn_task(self.check_unknown(ev), "unknown-order")
            elif isinstance(ev, wire.OrderGroupUpdate):
                self.on_order_group(ev)
            elif isinstance(ev, wire.Position):
                if ev.position != self.positions.get(ev.ticker, ev.position):
                    self.request_fills_poll()  # a fill we have not seen
            elif isinstance(ev, Subscribed):
                self.feed_up = True
                log.info("private feed subscribed (%s)", ev.channel)
                self.request_fills_poll()
            elif isinstance(ev, Disconnected):
                self.feed_up = False
                log.warning("private feed down: REST backstop until it is back")
            elif isinstance(ev, Connected):
                pass

    def on_order_group(self, ev: wire.OrderGroupUpdate) -> None:
        """The exchange's circuit breaker: our group matched more than its limit in 15 s and the
        exchange cancelled every order in it. Nothing new is placed until the group is reset."""
        if ev.order_group_id != self.order_group_id or ev.event_type != "triggered":
            return
        log.error("order group %s triggered: the exchange cancelled our orders; resetting it in %.0fs",
                  ev.order_group_id, self.s.order_group_cooldown_s)
        metrics.ORDER_ANOMALIES.labels("order_group_triggered").inc()
        self.group_hold_until = time.monotonic() + self.s.order_group_cooldown_s
        self.spawn_task(self.reset_order_group(), "order-group-reset")

    async def reset_order_group(self) -> None:
        assert self.api is not None and self.order_group_id is not None
        await asyncio.sleep(self.s.order_group_cooldown_s)
        await self.api.reset_order_group(self.order_group_id)
        log.warning("order group %s reset", self.order_group_id)

    async def check_unknown(self, ev: wire.Order) -> None:
        """A resting ``kmm-`` order we do not track: give an in-flight create a moment, then cancel it.
        Meanwhile nothing new is placed on its side (it may be a create a killed process sent)."""
        key = (ev.ticker, ev.side)
        self.suspect[key] = self.suspect.get(key, 0) + 1
        try:
            await asyncio.sleep(self.s.request_timeout_s + 1.0)
            if self.table.find(ev.order_id, ev.client_order_id) is None:
                await self.cancel_unknown(ev)
        finally:
            left = self.suspect.pop(key) - 1
            if left:
                self.suspect[key] = left
            self.dirty[ev.ticker] = None
            self.wake.set()

    async def cancel_unknown(self, ev: wire.Order) -> None:
        assert self.api is not None
        log.error("unknown order %s (%s %s) at the exchange: cancelling it", ev.client_order_id, ev.ticker, ev.side)
        metrics.ORDER_ANOMALIES.labels("unknown_at_exchange").inc()
        self.counts["unknown_canceled"] += 1
        o = Order(ev.client_order_id, ev.ticker, ev.side, ev.price, ev.remaining_count, order_id=ev.order_id,
                  status=RESTING, filled=ev.fill_count, exchange_filled=ev.fill_count)
        self.table.add(o, working=False)
        self.publish_order(o)  # risk counts it until the cancel is confirmed
        await self.send_cancels([o], "unknown")

    # --- REST backstop and reconciliation ----------------------------------------------------------
    async def recover_fills(self) -> None:
        """Fill sequences from ``state:gateway``, reported fills from our own ``exec:report``."""
        assert self.redis is not None
        saved = await self.redis.hgetall(state_key(self.name))
        for k, v in saved.items():
            key = k.decode() if isinstance(k, bytes) else k
            if key.startswith("seq:"):
                self.allowance(key[4:]).fill_seq = int(v)
            elif key == "fills_since_s":
                self.fills_since_s = int(v)
        rows = await self.redis.xrevrange(EXEC_REPORT, count=20_000)
        for _, fields in rows:
            msg = entry_message(fields)
            if msg is None:
                continue
            if isinstance(msg, Fill):
                self.fill_keys[msg.fill_id] = None
                al = self.allowance(msg.market)
                al.fill_seq = max(al.fill_seq, msg.seq)
                if msg.ts_event:
                    self.fills_since_s = max(self.fills_since_s, msg.ts_event // NS_PER_S - 60)
            elif isinstance(msg, Settlement):
                self.settled.add(msg.market)
        # Approvals risk stamped after a Redis data loss count fills our saved sequences lost.
        since_ms = time.time_ns() // NS_PER_MS - APPROVALS_RECOVERED_MS
        # Newest first: past the count, what is left out is older (a market whose newest approval is
        # left out is not restored; an older one in its place would be one risk may have retired).
        newest: dict[str, tuple[tuple[int, int], Approval]] = {}
        for entry_id, fields in await self.redis.xrevrange(ORD_APPROVED, min=f"{since_ms}-0", count=20_000):
            msg = entry_message(fields)
            if isinstance(msg, Approval):
                self.catch_up_fill_seq(msg.market, msg.fill_seq)
                if msg.market not in newest:
                    newest[msg.market] = (parse_id(entry_id), msg)
        self.restore_approvals(newest)

    def restore_approvals(self, newest: dict[str, tuple[tuple[int, int], Approval]]) -> None:
        """After a restart, take each market's newest approval again when it is still in force, as if it
        had just arrived (the approval rule checks it like any other): the orders adopted from the
        exchange are then kept, or amended to it, instead of cancelled and placed again, which costs
        their queue priority and write tokens. One that has expired, or that fills since have made
        stale, is not restored, and its market's adopted orders are cancelled once risk is heard.
        Entries up to the newest are skipped when the group delivers them (our pending ones, read
        again): an older approval must not replace the newer one in force."""
        now = time.time_ns()
        for market, (entry, a) in newest.items():
            self.restored[market] = entry
            # Checked here, not left to on_approval: these are old entries, not news for risk (no status
            # reported, no fills re-sent for a stale one, no expiry counted).
            if (a.expires_at_ns and a.expires_at_ns <= now) or a.fill_seq < self.allowance(market).fill_seq:
                continue
            self.on_approval(a, restored=True)
            if self.approvals.get(market) is a:
                self.counts["approvals_restored"] += 1
        if newest:
            log.info("restored %d of the %d markets' newest approvals (the others expired or stale)",
                     self.counts["approvals_restored"], len(newest))

    async def fills_loop(self) -> None:
        while True:
            try:
                await self.poll_fills()
            except kerr.KalshiError as exc:
                log.warning("fills poll: %s", exc)
            await asyncio.sleep(self.s.fills_interval_s)

    def refresh_positions(self, tickers: set[str]) -> None:
        """Have the exchange's positions of ``tickers`` published. One refresh runs at a time and takes
        every market asked for meanwhile, so the REST reads stay bounded however fast fills come (one
        refresh per fill, during a 2 s latency spike, once filled the connection pool for a minute)."""
        self.positions_wanted |= tickers
        if self.positions_task is None or self.positions_task.done():
            self.positions_task = self.spawn_task(self._refresh_positions(), "positions")

    async def _refresh_positions(self) -> None:
        while self.positions_wanted:
            tickers, self.positions_wanted = self.positions_wanted, set()
            try:
                await self.publish_positions(tickers)
            except BaseException:
                self.positions_wanted |= tickers  # the next refresh (a fill, or reconcile's) takes them
                raise

    def request_fills_poll(self) -> None:
        """Sweep the exchange's fills soon; requests made while a sweep runs share the next one."""
        self.fills_poll_wanted = True
        if self.fills_poll_task is None or self.fills_poll_task.done():
            self.fills_poll_task = self.spawn_task(self._poll_fills_wanted(), "fills-poll")

    async def _poll_fills_wanted(self) -> None:
        while self.fills_poll_wanted:
            self.fills_poll_wanted = False
            new = await self.sweep_fills()
            if new:
                self.refresh_positions(new)

    async def poll_fills(self, ticker: str | None = None) -> None:
        new = await self.sweep_fills(ticker)
        if new:
            await self.publish_positions(new)

    async def sweep_fills(self, ticker: str | None = None) -> set[str]:
        """Apply every fill the exchange lists (for ``ticker``, or all) that we have not seen; the markets
        that had one."""
        assert self.api is not None
        new: list[wire.Fill] = []
        filters: dict[str, Any] = {"min_ts": self.fills_since_s} if self.fills_since_s else {}
        if ticker is not None:
            filters["ticker"] = ticker
        async for f in self.api.iter_fills(limit=200, **filters):
            if fill_key(f) not in self.fill_keys:
                new.append(f)
        for f in sorted(new, key=lambda f: (f.ts, f.fill_id)):
            self.on_exchange_fill(f)
        return {f.ticker for f in new}

    async def publish_positions(self, tickers: set[str] | None = None) -> None:
        """The exchange's positions, each stamped with the market's fill sequence when it was read. Fills
        are swept before the read (so every fill the position holds has its sequence, also those made
        while we were down) and after it (a market whose fills moved during the read is skipped: the
        report would not match its sequence)."""
        assert self.api is not None
        await self.sweep_fills()
        seqs = {m: a.fill_seq for m, a in self.allow.items()}
        now = time.time_ns()
        if tickers is not None and len(tickers) <= POSITIONS_ONE_BY_ONE:
            pages = [await self.api.get_positions(ticker=t) for t in sorted(tickers)]
            found = {p.ticker: p.position for page in pages for p in page.items}
            found.update({t: 0 for t in tickers if t not in found})  # closed to zero: absent from the list
        else:
            items = [p async for p in self.api.iter_positions(limit=500)]
            found = {p.ticker: p.position for p in items}
            if tickers is None:
                found.update({t: 0 for t in self.nonzero_positions - set(found)})
                self.nonzero_positions = {t for t, p in found.items() if p}
            else:
                found = {t: found.get(t, 0) for t in tickers}
        await self.sweep_fills()
        for t, position in sorted(found.items()):
            seq = self.allowance(t).fill_seq
            if seqs.get(t, 0) != seq:
                continue
            self.positions[t] = position
            self.publish_nowait(EXEC_REPORT, PositionReport(msg_id=new_id(), ts_event=now, ts_init=now, market=t,
                                                            position=position, fill_seq=seq))

    async def reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.s.reconcile_interval_s)
            try:
                await self.reconcile()
            except kerr.KalshiError as exc:
                log.warning("reconcile: %s", exc)

    async def reconcile(self, initial: bool = False) -> None:
        """Match our orders with the exchange's; publish settlements, positions and the balance."""
        assert self.api is not None
        resting: dict[str, wire.Order] = {}
        async for ex in self.api.iter_orders(status="resting", limit=500):
            resting[ex.order_id] = ex
        for ex in resting.values():
            o = self.table.find(ex.order_id, ex.client_order_id) or self.lost.get(ex.client_order_id)
            if o is not None:
                self.apply_exchange_order(o, ex)
                if o.client_order_id not in self.lost and self.table.get(o.market, o.side) is not o and not o.done \
                        and o.status in LIVE:
                    self.dirty[o.market] = None  # an extra: the planner cancels it
            elif initial:
                self.adopt(ex)
            elif ex.client_order_id.startswith("kmm-"):
                if ex.created_ts and time.time_ns() - ex.created_ts < (self.s.request_timeout_s + 1) * NS_PER_S:
                    continue  # may be a create whose answer is still on its way
                await self.cancel_unknown(ex)
        if not initial:
            cutoff = time.time_ns() - 2 * NS_PER_S
            for o in self.table.live():
                if o.status in LIVE and o.order_id and o.order_id not in resting and o.sent_ns < cutoff:
                    self.spawn_task(self.resync(o), f"resync:{o.client_order_id}")
        await self.poll_settlements()
        await self.publish_positions()
        now = time.time_ns()
        bal = await self.api.get_balance()
        self.publish_nowait(EXEC_REPORT, BalanceReport(
            msg_id=new_id(), ts_event=now, ts_init=now, balance=bal.balance, portfolio_value=bal.portfolio_value))
        self.balance = bal.balance
        self.wake.set()

    async def adopt_late_landers(self) -> None:
        await asyncio.sleep(max(self.startup_hold_until - time.monotonic(), 0.0))
        await self.reconcile(initial=True)
        self.wake.set()

    def adopt(self, ex: wire.Order) -> None:
        """A resting order of ours from before this start: track it (one per side; extras are cancelled)."""
        o = Order(ex.client_order_id, ex.ticker, ex.side, ex.price, ex.remaining_count, order_id=ex.order_id,
                  status=PARTIALLY_FILLED if ex.fill_count else RESTING, filled=ex.fill_count,
                  exchange_filled=ex.fill_count, intent_id=ADOPTED)
        self.table.add(o, working=self.table.get(ex.ticker, ex.side) is None)
        self.publish_order(o)
        self.dirty[ex.ticker] = None
        log.info("adopted %s %s %s %s@%s", ex.client_order_id, ex.ticker, ex.side, ex.remaining_count, ex.price)

    async def poll_settlements(self) -> None:
        """Settlements of markets we held, from the exchange's own records: payout, position, result."""
        assert self.api is not None
        filters = {"min_ts": self.settled_ts_s} if self.settled_ts_s else {}
        new: list[wire.Settlement] = []
        async for st in self.api.iter_settlements(limit=200, **filters):
            if st.ticker not in self.settled:
                new.append(st)
        now = time.time_ns()
        for st in sorted(new, key=lambda s: s.settled_ts):
            # every fill of the market goes out before its settlement: risk books the fills, then the payout
            await self.poll_fills(st.ticker)
            self.settled.add(st.ticker)
            al = self.allowance(st.ticker)
            al.expire()
            for o in self.table.of_market(st.ticker):
                if o.status in LIVE:
                    before = o.count
                    if self.table.apply(o, "exchange", "canceled", o.price, 0, o.exchange_filled):
                        self.publish_cancel(o, before, "settled")
            self.publish_nowait(EXEC_REPORT, Settlement(
                msg_id=f"settle-{st.ticker}", ts_event=st.settled_ts, ts_init=now, market=st.ticker,
                result=st.market_result, position=st.yes_count - st.no_count, revenue=st.revenue,
                fill_seq=al.fill_seq))
            self.positions[st.ticker] = 0
            self.settled_ts_s = max(self.settled_ts_s, st.settled_ts // NS_PER_S - 60)
            log.info("settled %s %s: revenue %s", st.ticker, st.market_result, money_to_dollars(st.revenue))
        if new:
            await self.redis.hset(state_key(self.name), "settled_ts_s", self.settled_ts_s)  # type: ignore[union-attr]

    # --- status ----------------------------------------------------------------------------------
    def t2o_ms(self, q: float) -> float | None:
        if not self.t2o:
            return None
        s = sorted(self.t2o)
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)

    def status(self) -> dict[str, Any]:
        live = self.table.live()
        p50, p99 = self.t2o_ms(0.5), self.t2o_ms(0.99)
        t2o = f"p50 {p50} ms p99 {p99} ms" if p50 is not None else "-"
        return {
            "summary": (f"state {self.state}{' DEAD-MAN' if self.dead_man_fired else ''}, open {len(live)}, "
                        f"placed {self.counts['placed']}, fills {self.counts['fills']}, tick-to-order {t2o}"),
            "state": self.state,
            "dead_man_fired": self.dead_man_fired,
            "private_feed": self.feed_up,
            "open_orders": [{"market": o.market, "side": o.side, "price": o.price, "count": o.count,
                             "status": o.status} for o in live],
            "orders_placed": self.counts["placed"],
            "fills": self.counts["fills"],
            "fill_seq": {m: a.fill_seq for m, a in self.allow.items() if a.fill_seq},
            "counts": self.counts,
            "illegal_transitions": self.table.illegal,
            "tick_to_order_p50_ms": p50,
            "tick_to_order_p99_ms": p99,
            "write_scheduler": self.s.write_scheduler,
            "quote_stale_share": self.staleness.share,
            "quote_side_seconds": {"fresh": round(self.staleness.fresh_s, 3),
                                   "stale": round(self.staleness.stale_s, 3)},
            "requests_deferred": self.deferred,
            "presigned_used": self.api.presigned_used if self.api is not None else 0,
            "http_client": (None if self.api is None else "http1-pool" if self.api.pooled else "httpx"),
            "signing": (None if self.signer is None else "libcrypto" if self.signer.releases_gil else "cryptography"),
            "balance_dollars": money_to_dollars(self.balance) if self.balance is not None else None,
            "rate_tokens": self.limiter.tokens(),
        }

    def routes(self, app: FastAPI) -> None:
        @app.get("/orders")
        async def orders() -> dict[str, Any]:
            return {"orders": [{"client_order_id": o.client_order_id, "order_id": o.order_id, "market": o.market,
                                "side": o.side, "price": o.price, "count": count_to_fp(o.count),
                                "status": o.status} for o in self.table.live()]}

        @app.get("/fills")
        async def fills(since_ms: int = Query(0, ge=0, le=MAX_ENTRY_MS),
                        limit: int = Query(1000, ge=1, le=10_000)) -> dict[str, Any]:
            """Our fills as reported on ``exec:report`` since ``since_ms`` (Unix ms), oldest first."""
            assert self.redis is not None
            return await recent_fills(self.redis, EXEC_REPORT, since_ms, limit)


SERVICE = GatewayService
