"""rest: signing, retries/backoff, idempotent creates, pagination and classification on a stub transport."""

import asyncio
import json
from typing import Any

import httpx
import pytest

from kmm.kalshi import auth
from kmm.kalshi import constants as c
from kmm.kalshi import errors as e
from kmm.kalshi.rest import KalshiRest, NewOrder
from tests.helpers import aeventually

BASE = "http://sim.test/trade-api/v2"


class Stub:
    """Scripted handler: ``script`` maps (method, path) to a list of responses/exceptions, used in order."""

    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        todo = self.script[(request.method, request.url.path)]
        step = todo.pop(0) if len(todo) > 1 else todo[0]
        if isinstance(step, Exception):
            raise step
        status, body = step
        if callable(body):
            body = body(request)
        return httpx.Response(status, content=json.dumps(body).encode() if body is not None else b"")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, s: float) -> None:
        self.calls.append(s)


@pytest.fixture(scope="module")
def signer():
    return auth.Signer.from_pem("kid", auth.generate_private_pem())


def client(stub, signer=None, **kw):
    sleeps = Sleeps()
    api = KalshiRest(BASE, signer=signer, transport=httpx.MockTransport(stub), sleep=sleeps, **kw)
    return api, sleeps


ORDER = {"order_id": "o1", "client_order_id": "c1", "ticker": "T", "book_side": "bid", "outcome_side": "yes",
         "status": "resting", "yes_price_dollars": "0.4200", "fill_count_fp": "0.00", "remaining_count_fp": "5.00",
         "initial_count_fp": "5.00"}


async def test_signs_portfolio_paths_without_query_and_not_public_ones(signer):
    stub = Stub({("GET", "/trade-api/v2/portfolio/orders"): [(200, {"orders": [ORDER], "cursor": ""})],
                 ("GET", "/trade-api/v2/markets"): [(200, {"markets": [], "cursor": ""})]})
    api, _ = client(stub, signer)
    page = await api.get_orders(limit=5, ticker="T")
    await api.get_markets(status="open")
    assert page.items[0].price == 4200 and page.items[0].remaining_count == 500
    signed, public = stub.requests
    assert signed.url.params["limit"] == "5"
    pub = auth.load_public_key(signer.public_pem())
    ts = signed.headers[auth.TIMESTAMP_HEADER]
    assert auth.verify(pub, signed.headers[auth.SIGNATURE_HEADER], f"{ts}GET/trade-api/v2/portfolio/orders".encode())
    assert auth.SIGNATURE_HEADER not in public.headers
    await api.aclose()


async def test_get_retries_429_and_5xx_with_backoff_and_reports_durations():
    stub = Stub({("GET", "/trade-api/v2/exchange/status"): [
        (429, {"error": "too many requests"}), (503, {"error": {"code": "unavailable"}}),
        (200, {"exchange_active": True, "trading_active": True})]})
    seen: list[tuple[str, int]] = []
    errors: list[str] = []
    api, sleeps = client(stub, on_request=lambda t, m, s, st: seen.append((t, st)),
                         on_error=lambda t, err: errors.append(err.kind))
    status = await api.get_exchange_status()
    assert status.trading_active
    assert len(sleeps.calls) == 2 and all(s > 0 for s in sleeps.calls)
    assert seen == [(c.EXCHANGE_STATUS, 429), (c.EXCHANGE_STATUS, 503), (c.EXCHANGE_STATUS, 200)]
    assert errors == ["retryable", "retryable"]


async def test_get_gives_up_after_max_retries():
    stub = Stub({("GET", "/trade-api/v2/markets/T"): [(500, {"error": {"code": "internal"}})]})
    api, sleeps = client(stub, max_retries=2)
    with pytest.raises(e.ServerError):
        await api.get_market("T")
    assert len(stub.requests) == 3 and len(sleeps.calls) == 2


async def test_endpoint_label_is_the_template():
    stub = Stub({("GET", "/trade-api/v2/markets/KX-1/orderbook"): [
        (200, {"orderbook_fp": {"yes_dollars": [["0.4000", "1.00"]], "no_dollars": []}})]})
    labels: list[str] = []
    api, _ = client(stub, on_request=lambda t, m, s, st: labels.append(t))
    book = await api.get_orderbook("KX-1", depth=5)
    assert labels == [c.ORDERBOOK] and book.bids == ((4000, 100),)
    assert stub.requests[0].url.params["depth"] == "5"


async def test_create_timeout_then_409_resolves_by_reading_the_order(signer):
    timeout = httpx.ReadTimeout("slow")
    stub = Stub({
        ("POST", "/trade-api/v2/portfolio/events/orders"): [
            timeout, (409, {"error": {"code": "order_already_exists", "message": "duplicate client_order_id"}})],
        ("GET", "/trade-api/v2/portfolio/orders"): [(200, {"orders": [ORDER], "cursor": ""})],
    })
    api, _ = client(stub, signer)
    ack = await api.create_order(NewOrder(ticker="T", side="bid", price=4200, count=500, client_order_id="c1"),
                                 retry_unknown=True)
    assert ack.order_id == "o1" and ack.remaining_count == 500
    creates = [r for r in stub.requests if r.method == "POST"]
    assert len(creates) == 2 and {json.loads(r.content)["client_order_id"] for r in creates} == {"c1"}
    body = json.loads(creates[0].content)
    assert body["price"] == "0.4200" and body["count"] == "5.00" and body["side"] == "bid"


async def test_a_create_with_an_unknown_outcome_is_ambiguous_and_not_resent(signer):
    """The exchange refuses a repeated client_order_id only among open orders: a re-send after the first
    landed and was filled or cancelled would be a second order. The caller reads the exchange instead."""
    for failure in (httpx.ReadTimeout("slow"), (502, {"error": {"code": "bad_gateway"}})):
        stub = Stub({("POST", "/trade-api/v2/portfolio/events/orders"): [failure],
                     ("POST", "/trade-api/v2/portfolio/events/orders/batched"): [failure]})
        api, _ = client(stub, signer)
        with pytest.raises(e.Ambiguous):
            await api.create_order(NewOrder(ticker="T", side="bid", price=4200, count=500, client_order_id="c1"))
        with pytest.raises(e.Ambiguous):
            await api.batch_create([NewOrder("T", "bid", 4200, 100, "a")])
        assert len(stub.requests) == 2  # one create, one batch: neither re-sent


async def test_create_first_attempt_409_is_duplicate_and_no_cid_gets_one(signer):
    stub = Stub({("POST", "/trade-api/v2/portfolio/events/orders"): [(409, {"error": {"code": "conflict"}})]})
    api, _ = client(stub, signer)
    with pytest.raises(e.DuplicateOrder):
        await api.create_order(ticker="T", side="ask", price=5800, count=100)
    assert json.loads(stub.requests[0].content)["client_order_id"].startswith("kmm-")


async def test_cancel_timeout_is_ambiguous_and_not_retried(signer):
    stub = Stub({("DELETE", "/trade-api/v2/portfolio/events/orders/o1"): [httpx.ReadTimeout("slow")]})
    api, _ = client(stub, signer)
    with pytest.raises(e.Ambiguous):
        await api.cancel_order("o1")
    assert len(stub.requests) == 1


async def test_write_retried_when_connection_refused(signer):
    stub = Stub({("DELETE", "/trade-api/v2/portfolio/events/orders/o1"): [
        httpx.ConnectError("refused"), (200, {"order_id": "o1", "reduced_by": "5.00", "ts_ms": 1})]})
    api, _ = client(stub, signer)
    ack = await api.cancel_order("o1")
    assert ack.reduced_by == 500 and len(stub.requests) == 2


async def test_pagination_follows_cursor_until_empty():
    def page(req: httpx.Request):
        cur = req.url.params.get("cursor", "")
        nxt = {"": "p2", "p2": "p3", "p3": ""}[cur]
        return {"trades": [{"trade_id": f"t{cur}", "ticker": "T", "yes_price_dollars": "0.5000",
                            "count_fp": "1.00", "taker_outcome_side": "yes"}], "cursor": nxt}
    stub = Stub({("GET", "/trade-api/v2/markets/trades"): [(200, page)]})
    api, _ = client(stub)
    ids = [t.trade_id async for t in api.iter_trades(ticker="T", limit=1)]
    assert ids == ["t", "tp2", "tp3"]


async def test_batch_create_per_item_errors_and_rejections(signer):
    stub = Stub({("POST", "/trade-api/v2/portfolio/events/orders/batched"): [(201, {"orders": [
        {"order_id": "o1", "client_order_id": "a", "fill_count": "0.00", "remaining_count": "1.00"},
        {"error": {"code": "invalid_price", "message": "off tick"}}]})],
        ("GET", "/trade-api/v2/portfolio/balance"): [(401, {"error": {"code": "authentication_error"}})]})
    api, _ = client(stub, signer)
    acks = await api.batch_create([NewOrder("T", "bid", 4200, 100, "a"), NewOrder("T", "bid", 4205, 100, "b")])
    assert acks[0].order_id == "o1" and acks[0].error is None
    assert isinstance(acks[1].error, e.BadRequest) and acks[1].client_order_id == "b"
    with pytest.raises(e.Unauthorized):
        await api.get_balance()


async def test_first_attempt_409_resolves_when_asked(signer):
    stub = Stub({("POST", "/trade-api/v2/portfolio/events/orders"): [(409, {"error": {"code": "dup"}})],
                 ("GET", "/trade-api/v2/portfolio/orders"): [(200, {"orders": [ORDER], "cursor": ""})]})
    api, _ = client(stub, signer)
    ack = await api.create_order(ticker="T", side="bid", price=4200, count=500, client_order_id="c1",
                                 resolve_duplicate=True)
    assert ack.order_id == "o1"


async def test_rate_limiter_is_charged_per_endpoint_cost(signer):
    from kmm.kalshi.ratelimit import RateLimiter

    now = [0]
    lim = RateLimiter(200, 100, clock=lambda: now[0])
    stub = Stub({("GET", "/trade-api/v2/portfolio/orders/o1"): [(200, {"order": ORDER})],
                 ("DELETE", "/trade-api/v2/portfolio/events/orders/batched"): [(200, {"orders": [
                     {"order_id": "a", "reduced_by": "1.00"}, {"order_id": "b", "reduced_by": "1.00"}]})],
                 ("DELETE", "/trade-api/v2/portfolio/events/orders"): [(204, None)]})
    api, _ = client(stub, signer, limiter=lim)
    await api.get_order("o1")
    acks = await api.batch_cancel([("a", "T-1"), ("b", "T-2")])
    assert [a.reduced_by for a in acks] == [100, 100]
    assert lim.tokens() == {"read": 198, "write": 196}  # the write bucket holds 2 s: 200 tokens
    await api.cancel_all()
    assert lim.tokens()["write"] == 196 - 40  # cancel-all = a batch cancel of 200 / 10 = 20 orders


async def test_batch_cancel_sends_each_items_market_ticker(signer):
    from kmm.kalshi.rest import CancelItem

    stub = Stub({("DELETE", "/trade-api/v2/portfolio/events/orders/batched"): [(200, {"orders": [
        {"order_id": "a", "reduced_by": "1.00"},
        {"order_id": "b", "reduced_by": "0.00", "error": {"code": "not_found", "message": "gone"}},
        {"order_id": "c", "reduced_by": "1.00"}]})]})
    api, _ = client(stub, signer)
    acks = await api.batch_cancel([("a", "T-1"), CancelItem("b", exchange_index=1), "c"])
    assert json.loads(stub.requests[0].content) == {"orders": [
        {"order_id": "a", "market_ticker": "T-1"}, {"order_id": "b", "exchange_index": 1}, {"order_id": "c"}]}
    assert acks[0].error is None and acks[1].order_id == "b"
    assert isinstance(acks[1].error, e.KalshiError) and acks[1].error.code == "not_found"


async def test_candlesticks_path_and_params():
    stub = Stub({("GET", "/trade-api/v2/series/KX/markets/KX-1/candlesticks"): [(200, {"ticker": "KX-1",
                 "candlesticks": [{"end_period_ts": 60, "price": {"close_dollars": "0.5000"}, "volume_fp": "2.00"}]})]})
    api, _ = client(stub)
    candles = await api.get_candlesticks("KX", "KX-1", start_ts=0, end_ts=60, period_interval=1)
    assert candles[0].close == 5000 and candles[0].end_ts == 60 * 10**9
    assert stub.requests[0].url.params["period_interval"] == "1"


async def test_signing_on_an_executor_runs_off_the_event_loop_and_verifies(signer):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    threads: list[str] = []

    class Recording(auth.Signer):
        def headers(self, method, path, now_ms=None):
            threads.append(threading.current_thread().name)
            return super().headers(method, path, now_ms)

    rec = Recording(key_id=signer.key_id, _key=signer._key)
    stub = Stub({("GET", "/trade-api/v2/portfolio/orders"): [(200, {"orders": [ORDER], "cursor": ""})]})
    with ThreadPoolExecutor(1, thread_name_prefix="sign") as pool:
        api, _ = client(stub, rec, sign_executor=pool)
        await api.get_orders(limit=5)
        await api.aclose()
    (req,) = stub.requests
    ts = req.headers[auth.TIMESTAMP_HEADER]
    pub = auth.load_public_key(signer.public_pem())
    assert auth.verify(pub, req.headers[auth.SIGNATURE_HEADER], f"{ts}GET/trade-api/v2/portfolio/orders".encode())
    assert threads and threads[0].startswith("sign") and threading.current_thread().name not in threads


async def test_a_presigned_header_is_used_once_while_fresh(signer):
    from concurrent.futures import ThreadPoolExecutor

    path = "/trade-api/v2/portfolio/orders"
    stub = Stub({("GET", path): [(200, {"orders": [ORDER], "cursor": ""})]})
    with ThreadPoolExecutor(1) as pool:
        api, _ = client(stub, signer, sign_executor=pool)
        api.presign("GET", c.ORDERS)
        await aeventually(lambda: api.presign_ready("GET", c.ORDERS))
        await api.get_orders()
        assert not api.presign_ready("GET", c.ORDERS)
        await api.get_orders()  # nothing presigned any more: signed on demand
        api.presign("GET", c.ORDERS)
        await aeventually(lambda: api.presign_ready("GET", c.ORDERS))
        api.presign_max_age_s = 0.0  # too old by the time it is used: signed again
        await api.get_orders()
        await api.aclose()
    assert api.presigned_used == 1
    pub = auth.load_public_key(signer.public_pem())
    stamps = [r.headers[auth.TIMESTAMP_HEADER] for r in stub.requests]
    for r, ts in zip(stub.requests, stamps, strict=True):
        assert auth.verify(pub, r.headers[auth.SIGNATURE_HEADER], f"{ts}GET{path}".encode())


class HeldExecutor:
    """An executor whose jobs run only when told: signing ahead that has not finished yet."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, Any]] = []

    def submit(self, fn: Any, *args: Any) -> Any:
        from concurrent.futures import Future

        fut: Future = Future()
        self.jobs.append((fut, lambda: fn(*args)))
        return fut

    def run_all(self) -> None:
        for fut, job in self.jobs:
            fut.set_result(job())
        self.jobs.clear()


async def test_presigns_are_one_job_a_turn_and_a_request_never_waits_behind_them(signer):
    """The writes signed ahead in one turn of the loop go as one job on the presigning executor, at the
    turn's end; a request whose signature is still in that job is signed on demand rather than wait."""
    from concurrent.futures import ThreadPoolExecutor

    path = "/trade-api/v2/portfolio/events/orders/o1/amend"
    stub = Stub({("POST", path): [(200, {"order_id": "o1", "remaining_count_fp": "5.00", "ts_ms": 1})]})
    held = HeldExecutor()
    with ThreadPoolExecutor(1) as pool:
        api, _ = client(stub, signer, sign_executor=pool, presign_executor=held)
        writes = [("POST", c.AMEND_ORDER, {"order_id": f"o{i}"}) for i in range(40)]
        assert api.presign_many(writes[:20]) == 20
        assert api.presign_many(writes) == 20  # the first 20 are held and young: the other 20
        assert held.jobs == []
        await asyncio.sleep(0)
        assert len(held.jobs) == 1  # the 40 in one job
        await api.amend_order("o1", ticker="M", side="bid", price=5000, count=500)
        held.run_all()
        await aeventually(lambda: api.presign_ready("POST", c.AMEND_ORDER, {"order_id": "o2"}))
        await api.aclose()
    assert api.presigned_used == 0 and len(stub.requests) == 1
    ts = stub.requests[0].headers[auth.TIMESTAMP_HEADER]
    pub = auth.load_public_key(signer.public_pem())
    assert auth.verify(pub, stub.requests[0].headers[auth.SIGNATURE_HEADER], f"{ts}POST{path}".encode())


async def test_presigns_are_renewed_only_when_due_or_forced(signer):
    api, _ = client(Stub({}), signer, presign_executor=HeldExecutor(), sign_executor=HeldExecutor())
    a, b = ("POST", c.AMEND_ORDER, {"order_id": "a"}), ("POST", c.AMEND_ORDER, {"order_id": "b"})
    assert api.presign_many([a]) == 1
    assert api.presign_many([a, b]) == 1  # a is young: only b
    assert api.presign_many([a, b]) == 0
    assert api.presign_many([a, b], force=True) == 2
    api.presign_renew_s = 0.0  # both due now
    assert api.presign_many([a, b]) == 2
    await api.aclose()


async def test_a_presigned_header_is_not_used_after_the_wall_clock_stepped(signer, monkeypatch):
    """The exchange checks the signature's wall-clock timestamp: after a step of the clock (NTP, a resumed
    VM) a presign that is young by the monotonic clock is signed again, not sent stale."""
    from concurrent.futures import ThreadPoolExecutor

    from kmm.kalshi import rest

    stub = Stub({("DELETE", "/trade-api/v2/portfolio/events/orders/o1"): [
        (200, {"order_id": "o1", "reduced_by": "5.00", "ts_ms": 1})]})
    with ThreadPoolExecutor(1) as pool:
        api, _ = client(stub, signer, sign_executor=pool)
        api.presign("DELETE", c.CANCEL_ORDER, {"order_id": "o1"})
        await aeventually(lambda: api.presign_ready("DELETE", c.CANCEL_ORDER, {"order_id": "o1"}))
        stepped = rest.time.time() + 15.0
        monkeypatch.setattr(rest.time, "time", lambda: stepped)  # the wall clock jumps 15 s ahead
        monkeypatch.setattr(auth.time, "time", lambda: stepped)
        await api.cancel_order("o1")
        await api.aclose()
    (req,) = stub.requests
    assert api.presigned_used == 0 and int(req.headers[auth.TIMESTAMP_HEADER]) == int(stepped * 1000)


async def test_a_write_refused_for_its_timestamp_is_sent_again_signed_anew(signer):
    stale = (401, {"error": {"code": "header_timestamp_expired", "message": "timestamp expired"}})
    stub = Stub({("DELETE", "/trade-api/v2/portfolio/events/orders/o1"): [
        stale, (200, {"order_id": "o1", "reduced_by": "5.00", "ts_ms": 1})]})
    api, _ = client(stub, signer)
    ack = await api.cancel_order("o1")
    assert ack.reduced_by == 500 and len(stub.requests) == 2
    other = Stub({("DELETE", "/trade-api/v2/portfolio/events/orders/o1"): [
        (401, {"error": {"code": "authentication_error"}})]})
    api, _ = client(other, signer)
    with pytest.raises(e.Unauthorized):  # a bad key or signature is not retried
        await api.cancel_order("o1")
    assert len(other.requests) == 1


async def test_requests_beyond_the_in_flight_cap_fail_as_not_sent_and_the_client_carries_on():
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        await gate.wait()
        return httpx.Response(200, content=b'{"exchange_active": true, "trading_active": true}')

    api = KalshiRest(BASE, transport=httpx.MockTransport(slow), timeout=0.2, max_in_flight=2, max_retries=0)
    calls = [asyncio.ensure_future(api.get_exchange_status()) for _ in range(5)]
    done = await asyncio.gather(*calls[2:], return_exceptions=True)  # three wait for a slot, in vain
    assert all(isinstance(x, e.ConnectionFailed) and "not sent" in str(x) for x in done)
    assert len(seen) == 2  # only two ever reached the transport
    gate.set()
    assert all(s.trading_active for s in await asyncio.gather(*calls[:2]))
    assert (await api.get_exchange_status()).trading_active  # slots released: the client is whole
    await api.aclose()


async def test_presigns_asked_while_the_executor_shuts_down_are_signed_on_demand(signer):
    """A service stopping shuts its presigning thread down with presigns still to go: no error from the
    loop's callback, and a request then finds nothing presigned and is signed on demand."""
    from concurrent.futures import ThreadPoolExecutor

    path = "/trade-api/v2/portfolio/events/orders/o1/amend"
    stub = Stub({("POST", path): [(200, {"order_id": "o1", "remaining_count_fp": "5.00", "ts_ms": 1})]})
    pool = ThreadPoolExecutor(1)
    api, _ = client(stub, signer, presign_executor=pool)
    failures: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: failures.append(ctx))
    api.presign("POST", c.AMEND_ORDER, {"order_id": "o1"})
    pool.shutdown()
    await asyncio.sleep(0)  # the turn's end: the job would go out now
    assert not api.presign_ready("POST", c.AMEND_ORDER, {"order_id": "o1"})
    await api.amend_order("o1", ticker="M", side="bid", price=5000, count=500)
    await api.aclose()
    assert failures == [] and api.presigned_used == 0 and len(stub.requests) == 1
