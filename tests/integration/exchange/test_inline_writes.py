"""Order writes answered inline by the simulator's HTTP protocol (``app.InlineWrites``) give the answers
the Starlette routes give: the same statuses, headers and bodies, errors and injected faults included;
what the inline path cannot take (an injected latency, a pipelined request behind a slow one) still
goes the ASGI way."""

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

from kmm.kalshi.auth import Signer
from kmm_services.exchange.app import InlineWrites
from kmm_services.exchange.harness import SimHandle, simulator

API = "/trade-api/v2"
ORDERS = API + "/portfolio/events/orders"


@pytest.fixture(scope="module")
def sim(signer: Signer) -> Iterator[SimHandle]:
    # no rate limit: each test sends every write twice, and cancel-all costs a whole batch's tokens
    with simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=3, rate_limit=False) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _clean(sim: SimHandle, signer: Signer) -> Iterator[None]:
    yield
    httpx.post(sim.admin_url + "/faults/reset")
    sim.call(lambda: sim.exchange.cancel_all(signer.key_id))


def state(sim: SimHandle) -> Any:
    assert sim._server is not None
    return sim._server.config.loaded_app.state


@contextmanager
def inline_counted(sim: SimHandle) -> Iterator[list[str]]:
    """The requests the protocol answers inline meanwhile, by path."""
    st, seen = state(sim), []
    original: InlineWrites = st.inline

    def answer(route: Any, method: str, path: str, *rest: Any) -> tuple[int, bytes]:
        seen.append(path)
        return original.answer(route, method, path, *rest)

    st.inline = replace(original, answer=answer)
    try:
        yield seen
    finally:
        st.inline = original


@contextmanager
def asgi_only(sim: SimHandle) -> Iterator[None]:
    st = state(sim)
    original, st.inline = st.inline, None
    try:
        yield
    finally:
        st.inline = original


def ticker(sim: SimHandle) -> str:
    return sim.call(lambda: sorted(m.ticker for m in sim.exchange.markets())[0])


def call(sim: SimHandle, signer: Signer, method: str, path: str, body: Any = None, query: str = "") -> httpx.Response:
    headers = signer.headers(method, path)
    content = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    if content is not None:
        headers["Content-Type"] = "application/json"
    return httpx.request(method, sim.root_url + path + query, headers=headers, content=content)


IDS = {"order_id", "client_order_id", "created_time", "last_update_time", "ts", "ts_ms", "updated_client_order_id"}


def shape(r: httpx.Response) -> tuple[int, list[str], Any]:
    """Status, header names and body with the values that differ from order to order masked."""
    def mask(v: Any, key: str = "") -> Any:
        if isinstance(v, dict):
            return {k: mask(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [mask(x) for x in v]
        return "<id>" if key in IDS else v

    names = sorted(k.lower() for k in r.headers if k.lower() != "date")
    return r.status_code, names, (mask(r.json()) if r.content else None)


def session(sim: SimHandle, signer: Signer) -> list[tuple[int, list[str], Any]]:
    """Every order write once, with its refusals: create, amend, decrease, cancel, both batches,
    cancel-all, a bad signature, an unknown order, a body that is not JSON, a missing field and the
    two injected 5xx faults."""
    t = ticker(sim)
    out = []
    created = call(sim, signer, "POST", ORDERS, {
        "ticker": t, "side": "bid", "price": "0.4000", "count": "2.00", "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross", "client_order_id": "c1", "post_only": True})
    out.append(shape(created))
    oid = created.json()["order_id"]
    out.append(shape(call(sim, signer, "POST", f"{ORDERS}/{oid}/amend",
                          {"ticker": t, "side": "bid", "price": "0.4100", "count": "3.00"})))
    out.append(shape(call(sim, signer, "POST", f"{ORDERS}/{oid}/decrease", {"reduce_by": "1.00", "market_ticker": t})))
    out.append(shape(call(sim, signer, "DELETE", f"{ORDERS}/{oid}", query=f"?market_ticker={t}")))
    batch = call(sim, signer, "POST", ORDERS + "/batched", {"orders": [
        {"ticker": t, "side": "ask", "price": "0.6000", "count": "1.00", "time_in_force": "good_till_canceled",
         "self_trade_prevention_type": "taker_at_cross", "client_order_id": "b1"},
        {"ticker": t, "side": "ask", "client_order_id": "b2"}]})
    out.append(shape(batch))
    first = batch.json()["orders"][0]["order_id"]
    out.append(shape(call(sim, signer, "DELETE", ORDERS + "/batched",
                          {"orders": [{"order_id": first, "market_ticker": t}, {"order_id": "nope"}]})))
    out.append(shape(call(sim, signer, "DELETE", ORDERS)))
    bad_sig = signer.headers("POST", ORDERS + "/batched")
    out.append(shape(httpx.post(sim.root_url + ORDERS, headers=bad_sig, content=b"{}")))
    out.append(shape(call(sim, signer, "POST", f"{ORDERS}/no-such-order/amend",
                          {"ticker": t, "side": "bid", "price": "0.4100", "count": "3.00"})))
    out.append(shape(call(sim, signer, "POST", ORDERS, b"{not json")))
    out.append(shape(call(sim, signer, "POST", f"{ORDERS}/{oid}/decrease", {})))
    for fault in ({"error_next": 1, "error_status": 503}, {"error_after_next": 1, "error_status": 502}):
        httpx.post(sim.admin_url + "/faults", json={**fault, "paths": ["/portfolio/events/orders"]})
        out.append(shape(call(sim, signer, "POST", ORDERS, {
            "ticker": t, "side": "bid", "price": "0.3000", "count": "1.00", "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross"})))
    return out


def test_inline_answers_are_the_routes_answers(sim: SimHandle, signer: Signer) -> None:
    with inline_counted(sim) as seen:
        inline = session(sim, signer)
    with asgi_only(sim):
        routed = session(sim, signer)
    assert len(seen) == len(inline)
    assert inline == routed
    statuses = [s for s, _, _ in inline]
    assert statuses == [201, 200, 200, 200, 201, 200, 204, 401, 404, 400, 400, 503, 502]


def test_what_the_inline_path_cannot_hold_goes_the_asgi_way(sim: SimHandle, signer: Signer) -> None:
    httpx.post(sim.admin_url + "/faults", json={"latency_ms": 50, "latency_paths": ["/portfolio/events/orders"]})
    with inline_counted(sim) as seen:
        r = call(sim, signer, "DELETE", ORDERS)
    assert r.status_code == 204 and seen == []
    httpx.post(sim.admin_url + "/faults/reset")
    with inline_counted(sim) as seen:
        r = call(sim, signer, "DELETE", ORDERS)
    assert r.status_code == 204 and seen == [ORDERS]


def raw_exchange(sim: SimHandle, payload: bytes, answers: int, until: Callable[[bytes], bool]) -> bytes:
    with socket.create_connection((sim.host, sim.port), timeout=10) as s:
        s.sendall(payload)
        data = b""
        while data.count(b"HTTP/1.1 ") < answers or not until(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def signed_head(signer: Signer, method: str, path: str, body: bytes, extra: str = "") -> bytes:
    h = signer.headers(method, path)
    lines = [f"{method} {path} HTTP/1.1", "Host: sim", *(f"{k}: {v}" for k, v in h.items()),
             f"Content-Length: {len(body)}", "Content-Type: application/json"]
    return ("\r\n".join(lines) + extra + "\r\n\r\n").encode() + body


def test_pipelined_requests_are_answered_in_order_and_connection_close_is_kept(sim: SimHandle,
                                                                               signer: Signer) -> None:
    """A write behind a GET waits for the GET's answer, whichever way each is served."""
    t = ticker(sim)
    body = json.dumps({"ticker": t, "side": "bid", "price": "0.2000", "count": "1.00",
                       "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross",
                       "client_order_id": "p1"}).encode()
    status_get = f"GET {API}/exchange/status HTTP/1.1\r\nHost: sim\r\n\r\n".encode()
    data = raw_exchange(sim, status_get + signed_head(signer, "POST", ORDERS, body) +
                        signed_head(signer, "DELETE", ORDERS, b"", "\r\nConnection: close"), 3,
                        lambda d: d.endswith(b"\r\n\r\n") or d.endswith(b"}"))
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"201", b"204"]
    assert b"exchange_active" in answers[0] and b'"client_order_id":"p1"' in answers[1]
    assert b"connection: close" in answers[2].lower()
    assert sim.call(lambda: [o.client_order_id for o in sim.exchange.order_history(signer.key_id)
                             if o.client_order_id == "p1" and o.status == "canceled"]) == ["p1"]


def test_a_bug_in_a_write_is_a_500_either_way(sim: SimHandle, signer: Signer) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    ex = sim.exchange
    sim.call(lambda: setattr(ex, "cancel_all", broken))
    try:
        with inline_counted(sim) as seen:
            inline = call(sim, signer, "DELETE", ORDERS)
        with asgi_only(sim):
            routed = call(sim, signer, "DELETE", ORDERS)
    finally:
        sim.call(lambda: delattr(ex, "cancel_all"))
    assert seen == [ORDERS]
    assert inline.status_code == routed.status_code == 500
    assert inline.json() == routed.json() == {"error": {"code": "internal_server_error", "message": "internal error",
                                                        "details": "RuntimeError"}}
