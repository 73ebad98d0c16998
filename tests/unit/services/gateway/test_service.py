"""The gateway service's own logic, with hand-written stubs for the bus and the exchange."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kmm.kalshi import errors as kerr
from kmm.kalshi import wire
from kmm.kalshi.rest import Page
from kmm.messages import (
    APPLIED,
    EXPIRED,
    REFUSED,
    Approval,
    ApprovalStatus,
    Fill,
    Heartbeat,
    OrderCancel,
    PositionReport,
)
from kmm_services.gateway.orders import PENDING_CANCEL, PENDING_NEW, PENDING_UPDATE, RESTING, Order
from kmm_services.gateway.service import GatewayService, GatewaySettings
from tests.helpers import aeventually


class StubRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, Any]] = {}

    async def hset(self, key: str, field: str | None = None, value: Any = None, mapping: dict | None = None) -> int:
        h = self.hashes.setdefault(key, {})
        if mapping:
            h.update(mapping)
        if field is not None:
            h[field] = value
        return 1


def gateway(**settings: Any) -> tuple[GatewayService, list[Any]]:
    svc = GatewayService(GatewaySettings(dry_run=True, **settings))
    sent: list[Any] = []
    svc.publish_nowait = lambda stream, msg: sent.append(msg)  # type: ignore[method-assign]
    svc.redis = StubRedis()  # type: ignore[assignment]
    return svc, sent


def approval(market: str = "M", bid: tuple[int, int] = (4000, 1000), ask: tuple[int, int] = (0, 0),
             fill_seq: int = 0, ttl_s: float = 30.0, intent: str = "i1") -> Approval:
    return Approval(intent_id=intent, market=market, bid_price=bid[0], bid_count=bid[1], ask_price=ask[0],
                    ask_count=ask[1], fill_seq=fill_seq, expires_at_ns=time.time_ns() + int(ttl_s * 1e9))


def statuses(sent: list[Any]) -> list[tuple[str, str]]:
    return [(m.intent_id, m.status) for m in sent if isinstance(m, ApprovalStatus)]


def fill(market: str = "M", side: str = "bid", count: int = 400, trade: str = "t1", order: str = "o1") -> wire.Fill:
    return wire.Fill(fill_id=f"f-{trade}", order_id=order, ticker=market, side=side, price=4000, count=count,
                     trade_id=trade, ts=time.time_ns())


def test_approvals_above_the_cap_expired_or_stale_are_refused() -> None:
    svc, sent = gateway(max_order_contracts=50)
    svc.on_approval(approval(bid=(4000, 5_000 * 100), intent="forged"))  # 5,000 contracts
    svc.on_approval(approval(ttl_s=-1, intent="late"))
    svc.on_approval(approval(intent="ok"))
    svc.allow["M"].fill_seq = 3
    svc.on_approval(approval(fill_seq=2, intent="stale"))
    assert statuses(sent) == [("forged", REFUSED), ("late", REFUSED), ("stale", REFUSED)]
    assert svc.allow["M"].intent_id == "ok" and svc.allow["M"].target("bid") == (4000, 1000)


async def test_a_fill_is_reported_once_with_the_next_sequence_and_consumes_the_side() -> None:
    svc, sent = gateway()
    svc.on_approval(approval())
    o = Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING)
    svc.table.add(o)
    assert svc.on_exchange_fill(fill(), sent_ns=123)
    assert not svc.on_exchange_fill(fill())  # the REST backstop brings the same trade again
    fills = [m for m in sent if isinstance(m, Fill)]
    assert len(fills) == 1 and fills[0].seq == 1 and fills[0].origin_ts == 123
    assert fills[0].client_order_id == "kmm-b-1" and fills[0].msg_id == "fill-t1:o1"
    assert o.count == 600 and svc.allow["M"].target("bid") == (4000, 600)


async def test_an_approval_counting_more_fills_than_we_do_moves_our_count_up() -> None:
    """Redis lost our saved fill count after risk had applied the fill: the next fill must not reuse
    the sequence risk has applied (risk dropped such fills as redeliveries)."""
    svc, sent = gateway()
    svc.allow["M"] = type(svc.allowance("M"))(fill_seq=1)  # what we recovered: one behind
    svc.on_approval(approval(fill_seq=2))
    assert statuses(sent) == [] and svc.allow["M"].fill_seq == 2
    svc.table.add(Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING))
    assert svc.on_exchange_fill(fill())
    assert [m.seq for m in sent if isinstance(m, Fill)] == [3]
    await asyncio.sleep(0)
    assert svc.redis.hashes["state:gateway"]["seq:M"] == 3  # type: ignore[attr-defined]


async def test_fills_risk_lacks_once_quiet_are_reported_again_as_they_were() -> None:
    """Risk restarted on a ledger Redis saved before our last fills (their entries lost with it): its
    approvals come stamped at fewer fills than we reported, and only the fills themselves mend that."""
    svc, sent = gateway()
    svc.on_approval(approval())
    svc.table.add(Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING))
    assert svc.on_exchange_fill(fill(count=100, trade="t1")) and svc.on_exchange_fill(fill(count=100, trade="t2"))
    reported = [m for m in sent if isinstance(m, Fill)]
    svc.on_approval(approval(fill_seq=1, intent="i2"))  # at once: the second fill may be on its way
    assert [m for m in sent if isinstance(m, Fill)] == reported
    svc.reported_fills["M"] = type(svc.reported_fills["M"])(  # as if reported a while ago
        ((t - 5.0, f) for t, f in svc.reported_fills["M"]), maxlen=svc.reported_fills["M"].maxlen)
    svc.on_approval(approval(fill_seq=1, intent="i3"))
    svc.on_approval(approval(fill_seq=1, intent="i4"))  # not again so soon
    again = [m for m in sent if isinstance(m, Fill)][2:]
    assert again == [reported[1]] and again[0].seq == 2 and again[0].msg_id == "fill-t2:o1"
    assert [s for _, s in statuses(sent)] == [REFUSED, REFUSED, REFUSED]
    await asyncio.sleep(0)


async def test_a_heartbeat_from_a_backlog_is_not_a_live_risk() -> None:
    svc, _ = gateway(dead_man_timeout_s=3.0)
    svc.reconciled = True
    old = time.time_ns() - 10 * 1_000_000_000
    await svc.on_message(Heartbeat(service="risk", ts_init=old), None)  # type: ignore[arg-type]
    assert not svc.heard_risk and not svc.quoting_allowed()
    await svc.on_message(Heartbeat(service="risk", ts_init=time.time_ns()), None)  # type: ignore[arg-type]
    assert svc.heard_risk and svc.quoting_allowed()


def test_applied_only_once_orders_sit_within_the_allowance() -> None:
    svc, sent = gateway()
    svc.on_approval(approval(bid=(4000, 500)))
    o = Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING)  # more than allowed
    svc.table.add(o)
    svc.report_applied("M")
    assert statuses(sent) == []
    o.count = 500
    svc.report_applied("M")
    svc.report_applied("M")
    assert statuses(sent) == [("i1", APPLIED)]


def test_an_expired_allowance_is_reported_once_its_orders_are_gone() -> None:
    svc, sent = gateway()
    svc.on_approval(approval())
    o = Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING)
    svc.table.add(o)
    svc.allow["M"].expires_at_ns = time.time_ns() - 1  # its time ran out
    svc.expire_allowances()
    assert svc.allow["M"].target("bid") == (0, 0) and "M" in svc.dirty
    svc.report_applied("M")
    assert statuses(sent) == []
    svc.table.apply(o, "exchange", "canceled", 4000, 0, 0)
    svc.report_applied("M")
    assert statuses(sent) == [("i1", EXPIRED)]


def test_planning_holds_placements_after_a_cancel_all_without_the_private_feed() -> None:
    svc, _ = gateway()
    svc.on_approval(approval())
    svc.hold_places_until = time.monotonic() + 60
    held: list[str] = []
    assert svc.plan_market("M", time.monotonic(), held) == [] and held == ["M"]
    svc.feed_up = True  # the exchange confirms every order's state: no need to wait
    held.clear()
    actions = svc.plan_market("M", time.monotonic(), held)
    assert [(a.kind, a.price, a.count) for a in actions] == [("place", 4000, 1000)]


def test_no_placement_right_after_a_restart_even_with_the_private_feed() -> None:
    svc, _ = gateway()
    svc.on_approval(approval())
    svc.feed_up = True
    svc.startup_hold_until = time.monotonic() + 3  # a create the killed process sent may still land
    held: list[str] = []
    assert svc.plan_market("M", time.monotonic(), held) == [] and held == ["M"]
    svc.startup_hold_until = time.monotonic() - 0.01
    held.clear()
    assert [a.kind for a in svc.plan_market("M", time.monotonic(), held)] == ["place"] and not held


async def test_no_placement_beside_an_unknown_order_while_it_is_checked() -> None:
    import asyncio

    svc, _ = gateway(request_timeout_s=0.05)
    svc.on_approval(approval())
    svc.feed_up = True
    cancelled: list[str] = []

    async def cancel_unknown(ev: wire.Order) -> None:
        cancelled.append(ev.client_order_id)

    svc.cancel_unknown = cancel_unknown  # type: ignore[method-assign]
    ev = wire.Order(order_id="x1", client_order_id="kmm-b-late", ticker="M", side="bid", status="resting",
                    price=4000, remaining_count=1000)
    task = asyncio.ensure_future(svc.check_unknown(ev))
    await asyncio.sleep(0)
    held: list[str] = []
    assert svc.plan_market("M", time.monotonic(), held) == [] and held == ["M"]
    await task
    assert cancelled == ["kmm-b-late"] and not svc.suspect
    held.clear()
    assert [a.kind for a in svc.plan_market("M", time.monotonic(), held)] == ["place"]


class SlowExchange:
    """Every read waits for ``gate``: how many run at once, and which position reads were made."""

    def __init__(self, positions: dict[str, int]) -> None:
        self.gate = asyncio.Event()
        self.positions = positions
        self.in_flight = self.most_in_flight = 0
        self.position_reads: list[str] = []
        self.fill_sweeps = 0

    async def wait(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.gate.wait()
        self.in_flight -= 1

    async def iter_fills(self, **filters: Any) -> AsyncIterator[wire.Fill]:
        self.fill_sweeps += 1
        await self.wait()
        for f in ():
            yield f

    async def get_positions(self, ticker: str) -> Page[wire.Position]:
        await self.wait()
        self.position_reads.append(ticker)
        return Page([wire.Position(ticker, self.positions[ticker])] if ticker in self.positions else [], "")

    async def iter_positions(self, **filters: Any) -> AsyncIterator[wire.Position]:
        await self.wait()
        self.position_reads.append("*")
        for t, p in self.positions.items():
            yield wire.Position(t, p)


async def test_position_refreshes_are_one_at_a_time_however_fast_fills_come() -> None:
    svc, sent = gateway()
    api = SlowExchange({f"M{i}": 100 * i for i in range(10)})
    svc.api = api  # type: ignore[assignment]
    for i in range(10):
        for _ in range(5):  # 50 fills while the exchange answers slowly
            svc.refresh_positions({f"M{i}"})
        svc.request_fills_poll()
    await asyncio.sleep(0)
    assert api.most_in_flight <= 2  # one positions refresh and one fills sweep, not 60 requests
    api.gate.set()
    tasks = [svc.positions_task, svc.fills_poll_task]
    await asyncio.wait_for(asyncio.gather(*[t for t in tasks if t is not None]), 5)
    reports = {m.market: m.position for m in sent if isinstance(m, PositionReport)}
    assert reports == {f"M{i}": 100 * i for i in range(10)}  # every market asked for, the exchange's figure
    assert api.position_reads == ["*"]  # all ten asked for before the refresh ran: one listing
    assert api.most_in_flight <= 2 and api.fill_sweeps <= 6


async def test_a_failed_position_refresh_keeps_its_markets_for_the_next() -> None:
    svc, sent = gateway()

    class Down(SlowExchange):
        async def get_positions(self, ticker: str) -> Page[wire.Position]:
            raise ConnectionError("exchange unreachable")

    api = Down({"M": 300})
    api.gate.set()
    svc.api = api  # type: ignore[assignment]
    svc.refresh_positions({"M"})
    assert svc.positions_task is not None
    await asyncio.gather(svc.positions_task, return_exceptions=True)
    assert svc.positions_wanted == {"M"} and not [m for m in sent if isinstance(m, PositionReport)]


def test_fills_since_a_time_past_what_redis_can_hold_is_a_clear_error() -> None:
    """The HTTP fuzz found ``GET /fills?since_ms=2**64`` answered 500 (Redis refused the stream id)."""
    svc, _ = gateway()
    app = FastAPI()
    svc.routes(app)
    r = TestClient(app).get("/fills", params={"since_ms": 2**64})
    assert r.status_code == 422 and "since_ms" in r.text



class HangingApi:
    """An exchange that never answers: what the table says between launch and answer."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def presign_many(self, *args: Any, **kwargs: Any) -> int:
        return 0

    async def _hang(self, what: str) -> Any:
        self.sent.append(what)
        await asyncio.Event().wait()

    async def create_order(self, req: Any, resolve_duplicate: bool = False) -> Any:
        return await self._hang("create")

    async def batch_create(self, reqs: Any) -> Any:
        return await self._hang("create")

    async def amend_order(self, order_id: str, **kwargs: Any) -> Any:
        return await self._hang("amend")

    async def batch_cancel(self, items: Any) -> Any:
        return await self._hang("cancel")


async def test_a_launched_request_s_orders_are_pending_before_its_task_runs() -> None:
    """A second pass in the same loop turn must see the first one's requests in flight, whichever task
    runs first: the table changes when a request is launched, not when its task starts."""
    svc, _ = gateway()
    svc.trading, svc.api = True, HangingApi()  # type: ignore[assignment]
    svc.reconciled = svc.heard_risk = True
    svc.last_heartbeat = time.monotonic()
    bid = Order("kmm-b-0", "M", "bid", 3900, 1000, order_id="o1", status=RESTING)
    ask = Order("kmm-a-0", "M", "ask", 4600, 1000, order_id="o2", status=RESTING)
    svc.table.add(bid)
    svc.table.add(ask)
    svc.on_approval(approval(bid=(4000, 1000), ask=(0, 0)))  # move the bid, pull the ask
    svc.execute(svc.plan_market("M", time.monotonic(), []))
    assert (bid.status, ask.status) == (PENDING_UPDATE, PENDING_CANCEL) and svc.api.sent == []
    svc.on_approval(approval(market="N", bid=(4000, 1000), intent="i2"))
    svc.execute(svc.plan_market("N", time.monotonic(), []))
    placed = svc.table.get("N", "bid")
    assert placed is not None and placed.status == PENDING_NEW
    assert svc.plan_market("M", time.monotonic(), []) == [] and svc.plan_market("N", time.monotonic(), []) == []
    await asyncio.sleep(0)
    assert sorted(svc.api.sent) == ["amend", "cancel", "create"]
    for t in list(svc.inflight):
        t.cancel()
    await asyncio.gather(*svc.inflight, return_exceptions=True)


async def test_a_held_side_does_not_hold_up_other_markets() -> None:
    """A side held back (here: a suspect one, being checked) is planned again later, on a timer: the
    sync loop does not sleep meanwhile, so another market's approval is acted on at once (it waited up to
    0.2 s for every held side: clusters of approvals launched 100-200 ms late in bench/pipeline.py)."""
    svc, _ = gateway()
    svc.trading, svc.api = True, HangingApi()  # type: ignore[assignment]
    svc.reconciled = svc.heard_risk = True
    svc.last_heartbeat = time.monotonic()
    svc.suspect[("H", "bid")] = 1
    svc.on_approval(approval(market="H", bid=(4000, 1000)))
    loop_task = asyncio.ensure_future(svc.sync_loop())
    await aeventually(lambda: "H" in svc.dirty and svc.wake_timer is not None, what="H planned and held")
    svc.on_approval(approval(market="N", bid=(4000, 1000), intent="i2"))
    for _ in range(20):  # a few turns of the loop, no wall-clock wait
        await asyncio.sleep(0)
    assert svc.api.sent == ["create"]  # type: ignore[attr-defined]
    placed = svc.table.get("N", "bid")
    assert placed is not None and svc.table.get("H", "bid") is None
    loop_task.cancel()
    for t in list(svc.inflight):
        t.cancel()
    await asyncio.gather(loop_task, *svc.inflight, return_exceptions=True)


class PresignRecorder:
    """Records what is signed ahead; ``signs`` is how many of the next request's writes it signs."""

    presign_renew_s = 2.5

    def __init__(self) -> None:
        self.calls: list[tuple[list[tuple], bool]] = []
        self.signs = 2

    def presign_many(self, requests: list[tuple], force: bool = False) -> int:
        self.calls.append((list(requests), force))
        return len(requests) if force else self.signs


def test_an_order_s_two_presigns_are_renewed_together_before_either_lapses() -> None:
    """An answer renews the signature it used; the order's other one keeps its age, so the order counts
    as signed at the older of the two, and the sweep renews both at once when that one is due (the
    decrease's signature lapsed unseen when an amend's answer moved the order's time forward)."""
    svc, _ = gateway()
    svc.trading, svc.api = True, PresignRecorder()  # type: ignore[assignment]
    o = Order("kmm-b-0", "M", "bid", 3900, 1000, order_id="o1", status=RESTING)
    svc.table.add(o)
    svc.presign_order(o)  # its create answered: both signed now
    signed_at = o.presigned_at
    assert signed_at > 0
    svc.api.signs = 1  # type: ignore[attr-defined]  # an amend used one: only that one is signed anew
    svc.presign_order(o)
    assert o.presigned_at == signed_at
    o.presigned_at -= 3.0  # the older signature is due
    svc.api.calls.clear()  # type: ignore[attr-defined]
    svc.presign_orders()
    ((requests, force),) = svc.api.calls  # type: ignore[attr-defined]
    assert force and [(m, t) for m, t, _ in requests] == [
        ("POST", "/portfolio/events/orders/{order_id}/amend"), ("POST", "/portfolio/events/orders/{order_id}/decrease")]
    assert o.presigned_at > signed_at


def test_a_market_with_orders_exports_its_fill_counters_before_any_fill() -> None:
    """The dashboard's fills panel reads the gateway's counters: a quiet market shows 0, not nothing."""
    from kmm.chassis import metrics

    svc, _ = gateway()
    svc.table.add(Order("kmm-b-9", "KXMETRICS-Q", "bid", 4000, 100, order_id="o9", status=RESTING))
    svc.on_approval(approval(market="KXMETRICS-A"))  # approved, nothing placed yet
    svc.export_metrics()
    samples = {tuple(sorted(s.labels.items())): s.value for m in metrics.MARKET_FILLED_CONTRACTS.collect()
               for s in m.samples if s.name == "kmm_market_filled_contracts_total"}
    for market in ("KXMETRICS-Q", "KXMETRICS-A"):
        for side in ("bid", "ask"):
            assert samples[(("market", market), ("side", side))] == 0


class AmendFindsNothing:
    """An exchange whose amend answers 404 (the order is gone) once ``gate`` opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def amend_order(self, order_id: str, **_: Any) -> wire.WriteAck:
        await self.gate.wait()
        raise kerr.NotFound("order not found", status=404, code="not_found")


async def test_an_amend_that_finds_the_order_filled_meanwhile_leaves_it_filled_and_reports_no_cancel() -> None:
    """The private feed said the order filled while the amend was out: the 404 that follows is no news
    (it logged an illegal ``gone in filled`` transition and reported a cancel of a filled order)."""
    from kmm_services.gateway.orders import FILLED
    from kmm_services.gateway.planner import AMEND, Action

    svc, sent = gateway()
    svc.api = AmendFindsNothing()  # type: ignore[assignment]
    svc.on_approval(approval(bid=(4100, 1000)))
    o = Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING)
    svc.table.add(o)
    request = asyncio.ensure_future(svc.send_modify(Action(AMEND, "M", "bid", 4100, 1000, order=o)))
    assert o.status == PENDING_UPDATE  # the amend is out
    assert svc.on_exchange_fill(fill(count=1000))
    svc.table.apply(o, "exchange", "executed", 4000, 0, 1000)  # the private feed's user_order frame
    assert o.status == FILLED
    svc.api.gate.set()  # type: ignore[attr-defined]
    await request
    assert o.status == FILLED and svc.table.illegal == 0
    assert not [m for m in sent if isinstance(m, OrderCancel)]


class RefusingExchange:
    """Every create is refused with ``code``; counts the creates."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.creates = 0

    def presign_many(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def _refuse(self) -> None:
        self.creates += 1
        raise kerr.Rejected(f"{self.code}: market M", status=400, code=self.code)

    async def create_order(self, req: Any, resolve_duplicate: bool = False) -> Any:
        self._refuse()

    async def batch_create(self, reqs: Any) -> Any:
        self._refuse()


async def placed_once(code: str) -> tuple[GatewayService, list[Any], RefusingExchange]:
    svc, sent = gateway(refused_hold_s=2.0)
    api = RefusingExchange(code)
    svc.trading, svc.api = True, api  # type: ignore[assignment]
    svc.reconciled = svc.heard_risk = True
    svc.last_heartbeat = time.monotonic()
    svc.on_approval(approval(bid=(4000, 1000)))
    svc.execute(svc.plan_market("M", time.monotonic(), []))
    await asyncio.gather(*svc.inflight)
    return svc, sent, api


async def test_an_order_refused_because_its_market_closed_ends_the_approval() -> None:
    """The exchange cancels our orders at a close; the approval still in force re-placed them, and each
    was refused ``market_closed``, every refused-hold until the approval expired."""
    svc, sent, api = await placed_once("market_closed")
    assert api.creates == 1 and svc.allow["M"].target("bid") == (0, 0)
    assert svc.plan_market("M", time.monotonic() + 3, []) == []  # past the refused-hold
    svc.report_applied("M")
    assert statuses(sent) == [("i1", EXPIRED)]


async def test_an_order_refused_for_another_reason_is_tried_again_after_the_hold() -> None:
    svc, _, api = await placed_once("invalid_price")
    assert api.creates == 1 and svc.allow["M"].target("bid") == (4000, 1000)
    assert svc.plan_market("M", time.monotonic(), []) == []  # held
    assert [a.kind for a in svc.plan_market("M", time.monotonic() + 3, [])] == ["place"]


class GatedCancelAll:
    """An exchange whose cancel-all answers once ``gate`` opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def cancel_all(self) -> None:
        await self.gate.wait()


async def test_an_order_that_filled_while_the_cancel_all_was_out_stays_filled() -> None:
    """A gateway frozen a few seconds (SIGSTOP in the soak) wakes to a stale heartbeat and cancels all
    while its private feed delivers the frames queued meanwhile: an order those said filled was then
    moved to canceled, an illegal ``exchange in filled`` transition, and reported cancelled."""
    from kmm_services.gateway.orders import CANCELED, FILLED

    svc, sent = gateway()
    svc.api = GatedCancelAll()  # type: ignore[assignment]
    svc.on_approval(approval(bid=(4000, 1000), ask=(4400, 1000)))
    bid = Order("kmm-b-1", "M", "bid", 4000, 1000, order_id="o1", status=RESTING)
    ask = Order("kmm-a-1", "M", "ask", 4400, 1000, order_id="o2", status=RESTING)
    svc.table.add(bid)
    svc.table.add(ask)
    request = asyncio.ensure_future(svc.cancel_all_once("dead-man"))
    await asyncio.sleep(0)  # one loop turn: the task lists the live orders and sends the cancel-all
    assert svc.on_exchange_fill(fill(count=1000, order="o1")) and bid.status == FILLED
    svc.api.gate.set()  # type: ignore[attr-defined]
    await request
    assert (bid.status, ask.status, svc.table.illegal) == (FILLED, CANCELED, 0)
    assert [m.client_order_id for m in sent if isinstance(m, OrderCancel)] == ["kmm-a-1"]
