"""ws client against a hand-written loopback WS server: signed handshake, snapshot+deltas, seq gap →
resubscribe, reconnect after a drop, list/update subscription commands."""

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection, serve

from kmm import messages as m
from kmm.kalshi import auth
from kmm.kalshi.ws import Connected, Disconnected, KalshiWs, Resnapshot
from tests.helpers import aeventually

TICKER = "KX-1"


class StubServer:
    """Speaks just enough of Kalshi's WS protocol. ``gap_once`` skips a seq after the first snapshot."""

    def __init__(self, public_pem: bytes | None = None) -> None:
        self.public = auth.load_public_key(public_pem) if public_pem else None
        self.commands: list[dict] = []
        self.handshakes: list[dict] = []
        self.conns: list[ServerConnection] = []
        self.next_sid = 1
        self.gap_once = False
        self.yes = [["0.4000", "10.00"], ["0.4100", "5.00"]]

    async def handler(self, ws: ServerConnection) -> None:
        headers = ws.request.headers
        self.handshakes.append({k.lower(): v for k, v in headers.raw_items()})
        if self.public is not None:
            ts = headers.get(auth.TIMESTAMP_HEADER, "")
            ok = auth.verify(self.public, headers.get(auth.SIGNATURE_HEADER, ""),
                             auth.signing_message(ts, "GET", ws.request.path))
            if not ok:
                await ws.close(4001, "bad signature")
                return
        self.conns.append(ws)
        seq: dict[int, int] = {}
        async for raw in ws:
            cmd = json.loads(raw)
            self.commands.append(cmd)
            p = cmd.get("params") or {}
            if cmd["cmd"] == "subscribe":
                for ch in p["channels"]:
                    sid = self.next_sid
                    self.next_sid += 1
                    await ws.send(json.dumps({"id": cmd["id"], "type": "subscribed", "msg": {"channel": ch, "sid": sid}}))
                    if ch != "orderbook_delta":
                        continue
                    seq[sid] = 1
                    for t in p["market_tickers"]:
                        await ws.send(json.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq[sid], "msg": {
                            "market_ticker": t, "yes_dollars_fp": self.yes, "no_dollars_fp": [["0.5500", "3.00"]]}}))
                    for delta in ("-2.00", "1.50"):
                        seq[sid] += 1
                        if self.gap_once and delta == "1.50":
                            self.gap_once = False
                            seq[sid] += 1
                        await ws.send(json.dumps({"type": "orderbook_delta", "sid": sid, "seq": seq[sid], "msg": {
                            "market_ticker": TICKER, "price_dollars": "0.4100", "delta_fp": delta, "side": "yes",
                            "ts_ms": 1795558161000}}))
            elif cmd["cmd"] == "unsubscribe":
                for sid in p["sids"]:
                    await ws.send(json.dumps({"id": cmd["id"], "type": "unsubscribed", "sid": sid, "seq": 99}))
            elif cmd["cmd"] == "list_subscriptions":
                await ws.send(json.dumps({"id": cmd["id"], "type": "ok", "msg": [{"channel": "orderbook_delta",
                                                                                   "sid": 1}]}))
            elif cmd["cmd"] == "update_subscription":
                await ws.send(json.dumps({"id": cmd["id"], "type": "ok", "sid": p["sids"][0],
                                          "msg": {"market_tickers": p["market_tickers"]}}))


@pytest.fixture
async def server_factory():
    servers = []

    async def make(stub: StubServer) -> str:
        srv = await serve(stub.handler, "127.0.0.1", 0)
        servers.append(srv)
        port = srv.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/trade-api/ws/v2"

    yield make
    for srv in servers:
        srv.close()
        await srv.wait_closed()


def expected_bids():
    return ((4100, 450), (4000, 1000))


async def test_signed_handshake_snapshot_and_deltas(server_factory):
    signer = auth.Signer.from_pem("kid", auth.generate_private_pem())
    stub = StubServer(signer.public_pem())
    url = await server_factory(stub)
    seen: list = []
    async with KalshiWs(url, signer=signer, on_event=seen.append) as ws:
        await ws.subscribe(["orderbook_delta"], [TICKER])
        await aeventually(lambda: _async(ws.book(TICKER) is not None and ws.book(TICKER).bids() == expected_bids()),
                          timeout=5)
        assert ws.book(TICKER).best_ask() == (4500, 300)
        updates = [e for e in seen if isinstance(e, m.BookUpdate)]
        assert [u.snapshot for u in updates] == [True, False, False]
        assert await ws.list_subscriptions() == [{"channel": "orderbook_delta", "sid": 1}]
        sub = ws.subscriptions[0]
        reply = await ws.update_subscription(sub, "add_markets", ["KX-2"])
        assert reply == {"market_tickers": ["KX-2"]} and sub.market_tickers == [TICKER, "KX-2"]
    assert stub.handshakes[0][auth.KEY_HEADER.lower()] == "kid"


async def test_public_connection_without_auth(server_factory):
    stub = StubServer()
    url = await server_factory(stub)
    async with KalshiWs(url) as ws:
        await ws.subscribe(["orderbook_delta", "trade"], [TICKER])
        kinds = []
        async with asyncio.timeout(5):
            async for ev in ws:  # no callback: events come out of the async iterator
                kinds.append(type(ev).__name__)
                if isinstance(ev, m.BookUpdate) and not ev.snapshot and ev.bids == expected_bids():
                    break
        assert kinds[0] == "Connected" and "BookUpdate" in kinds
        assert set(ws.subscriptions[0].sids) == {"orderbook_delta", "trade"}
    assert auth.SIGNATURE_HEADER.lower() not in stub.handshakes[0]


async def test_seq_gap_resubscribes_and_rebuilds(server_factory):
    stub = StubServer()
    stub.gap_once = True
    url = await server_factory(stub)
    seen: list = []
    async with KalshiWs(url, on_event=seen.append) as ws:
        await ws.subscribe(["orderbook_delta"], [TICKER])
        await aeventually(lambda: _async(any(isinstance(e, Resnapshot) for e in seen)), timeout=5)
        await aeventually(lambda: _async(ws.book(TICKER).valid and ws.book(TICKER).bids() == expected_bids()),
                          timeout=5)
    cmds = [c["cmd"] for c in stub.commands]
    assert cmds == ["subscribe", "unsubscribe", "subscribe"]
    assert stub.commands[1]["params"] == {"sids": [1]}


async def test_reconnects_and_resubscribes_after_server_drop(server_factory):
    stub = StubServer()
    url = await server_factory(stub)
    seen: list = []
    async with KalshiWs(url, on_event=seen.append, backoff_base=0.01) as ws:
        await ws.subscribe(["orderbook_delta"], [TICKER])
        await aeventually(lambda: _async(ws.book(TICKER) is not None and ws.book(TICKER).valid), timeout=5)
        await stub.conns[0].close(1011, "going away")
        await aeventually(lambda: _async(len(stub.conns) == 2), timeout=5)
        await aeventually(lambda: _async(ws.book(TICKER).valid and ws.book(TICKER).bids() == expected_bids()),
                          timeout=5)
        assert any(isinstance(e, Disconnected) for e in seen)
        assert [e.reconnects for e in seen if isinstance(e, Connected)] == [0, 1]
    assert [c["cmd"] for c in stub.commands] == ["subscribe", "subscribe"]


async def _async(value):
    return value


async def test_subscribe_validates_arguments():
    ws = KalshiWs("ws://127.0.0.1:9/x")
    with pytest.raises(ValueError):
        await ws.subscribe(["orderbook_delta"], [], wait=False)
    with pytest.raises(ValueError):
        await ws.subscribe(["nope"], wait=False)
    await asyncio.sleep(0)
