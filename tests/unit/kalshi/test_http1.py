"""http1: the lean client against a real local server: keep-alive, bodies, and what each failure means."""

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from kmm.kalshi import errors as e
from kmm.kalshi.http1 import Http1Pool
from kmm.kalshi.rest import KalshiRest
from tests.helpers import aeventually

Answer = Callable[[bytes, bytes], bytes | None]  # (request head, body) -> raw response, or None: hang up


def response(status: int = 200, body: bytes = b'{"ok":true}', headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{headers}\r\n"
            .encode() + body)


class Server:
    """A scripted HTTP/1.1 server on a free port; counts connections and keeps every request it read."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "Server":
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self.writers:
            w.transport.abort()
        self.server.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                raw = self.answer(head, body)
                if raw is None:
                    writer.transport.abort()
                    return
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def pool():
    pools: list[Http1Pool] = []

    def make(url: str) -> Http1Pool:
        p = Http1Pool(url)
        pools.append(p)
        return p

    yield make
    for p in pools:
        await p.aclose()


JSON = [(b"Content-Type", b"application/json")]


async def test_requests_share_one_kept_alive_connection_and_carry_method_target_headers_and_body(pool):
    async with Server(lambda head, body: response(body=body or b"{}")) as srv:
        p = pool(srv.url)
        r1 = await p.request("POST", "/trade-api/v2/portfolio/orders", JSON, b'{"count":1}', timeout=5)
        r2 = await p.request("GET", "/trade-api/v2/markets?ticker=A+B&limit=2", [], timeout=5)
    assert (r1.status, json.loads(r1.body), json.loads(r2.body)) == (200, {"count": 1}, {})
    assert srv.connections == 1
    head1, head2 = srv.requests[0][0], srv.requests[1][0]
    assert head1.startswith(b"POST /trade-api/v2/portfolio/orders HTTP/1.1\r\n")
    assert b"content-length: 11" in head1.lower() and f"host: 127.0.0.1:{srv.port}".encode() in head1.lower()
    assert b"content-type: application/json" in head1.lower()
    assert head2.startswith(b"GET /trade-api/v2/markets?ticker=A+B&limit=2 HTTP/1.1\r\n")
    assert b"content-length" not in head2.lower()


async def test_chunked_bodies_are_read_whole_and_keep_the_connection(pool):
    payload = json.dumps({"orders": list(range(50))}).encode()

    def answer(head: bytes, body: bytes) -> bytes:
        if b"/chunked" in head:
            chunks = [payload[:10], payload[10:]]
            return (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                    + b"".join(f"{len(x):x};ext=1\r\n".encode() + x + b"\r\n" for x in chunks) + b"0\r\n\r\n")
        return response(status=204, body=b"")

    async with Server(answer) as srv:
        p = pool(srv.url)
        chunked = await p.request("GET", "/chunked", [])
        empty = await p.request("DELETE", "/x", JSON, b'{"orders":[]}')
        again = await p.request("GET", "/chunked", [])
    assert json.loads(chunked.body) == json.loads(again.body) == {"orders": list(range(50))}
    assert (empty.status, empty.body) == (204, b"")
    assert srv.connections == 1


async def test_kalshi_rest_talks_through_the_pool_unless_the_environment_proxies_its_url(monkeypatch):
    async with Server(lambda head, body: response(body=b'{"balance": 1234}')) as srv:
        api = KalshiRest(srv.url + "/trade-api/v2", max_retries=0)
        try:
            assert await api.request("GET", "/portfolio/balance", params={"a": [1, 2]}) == {"balance": 1234}
        finally:
            await api.aclose()
        for k in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
            monkeypatch.delenv(k, raising=False)
            monkeypatch.delenv(k.lower(), raising=False)
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        other_scheme = KalshiRest(srv.url + "/trade-api/v2", max_retries=0)  # srv.url is http://
        await other_scheme.aclose()
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        proxied = KalshiRest(srv.url + "/trade-api/v2", max_retries=0)
        await proxied.aclose()
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        bypassed = KalshiRest(srv.url + "/trade-api/v2", max_retries=0)
        await bypassed.aclose()
    head = srv.requests[0][0]
    assert head.startswith(b"GET /trade-api/v2/portfolio/balance?a=1%2C2 HTTP/1.1\r\n")
    assert b"user-agent: kmm/0.1" in head.lower() and b"accept: application/json" in head.lower()
    assert api.pooled and not proxied.pooled
    assert other_scheme.pooled and bypassed.pooled


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused(pool):
    async with Server(lambda head, body: response()) as srv:
        p = pool(srv.url)
        assert (await p.request("GET", "/a", [])).status == 200
        assert p.idle_connections == 1
        srv.writers[0].close()  # the server's keep-alive timeout
        await aeventually(lambda: not p.usable_connections, what="the closed connection seen")
        r = await p.request("GET", "/b", [])
    assert r.status == 200
    assert srv.connections == 2


async def test_connection_close_is_honoured(pool):
    async with Server(lambda head, body: response(headers="connection: close\r\n")) as srv:
        p = pool(srv.url)
        await p.request("GET", "/a", [])
        await p.request("GET", "/b", [])
    assert srv.connections == 2


async def test_a_server_that_hangs_up_after_reading_a_write_leaves_it_ambiguous():
    async with Server(lambda head, body: None) as srv:
        api = KalshiRest(srv.url + "/trade-api/v2", max_retries=0)
        try:
            with pytest.raises(e.Ambiguous):
                await api.request("POST", "/portfolio/orders", json={"ticker": "T"})
            with pytest.raises(e.ConnectionFailed):  # a read that lost its answer is just retryable
                await api.request("GET", "/markets")
        finally:
            await api.aclose()
    assert len(srv.requests) == 2  # each request did reach the server


async def test_a_refused_connection_is_provably_not_sent():
    async with Server(lambda head, body: response()) as srv:
        url = srv.url
    api = KalshiRest(url + "/trade-api/v2", max_retries=0)
    try:
        with pytest.raises(e.ConnectionFailed) as info:
            await api.request("POST", "/portfolio/orders", json={"ticker": "T"})
    finally:
        await api.aclose()
    assert "not sent" in str(info.value)


async def test_a_slow_answer_times_out_as_a_read_timeout(pool):
    gate = asyncio.Event()

    class Slow(Server):
        async def serve(self, reader, writer):
            self.connections += 1
            self.writers.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            await gate.wait()

    async with Slow(lambda head, body: response()) as srv:
        p = pool(srv.url)
        with pytest.raises(httpx.ReadTimeout):
            await p.request("GET", "/slow", [], timeout=0.05)
        assert p.idle_connections == 0  # the timed-out connection is closed, not kept
        gate.set()


async def test_bad_responses_are_protocol_errors(pool):
    answers = iter([b"HTTP/1.1 20x OK\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"])

    async with Server(lambda head, body: next(answers)) as srv:
        p = pool(srv.url)
        with pytest.raises(httpx.RemoteProtocolError, match="status line"):
            await p.request("GET", "/a", [])
        task = asyncio.create_task(p.request("GET", "/b", []))
        await aeventually(lambda: len(srv.requests) == 2, what="the second request read")
        # the server has sent 5 of 10 bytes: hang up
        srv.writers[-1].transport.abort()
        with pytest.raises(httpx.RemoteProtocolError, match="middle of a response"):
            await task


def self_signed(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_verifies_the_server_certificate(tmp_path, monkeypatch):
    import ssl

    cert, key = self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    srv = Server(lambda head, body: response())
    tls_server = await asyncio.start_server(srv.serve, "127.0.0.1", 0, ssl=server_ctx)
    port = tls_server.sockets[0].getsockname()[1]
    try:
        untrusting = Http1Pool(f"https://localhost:{port}")
        with pytest.raises(httpx.ConnectError):  # certifi's bundle does not know our certificate
            await untrusting.request("GET", "/a", [])
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusting = Http1Pool(f"https://localhost:{port}")
        r = await trusting.request("GET", "/a", [])
        r2 = await trusting.request("GET", "/b", [])
        await trusting.aclose()
        assert (json.loads(r.body), r2.status) == ({"ok": True}, 200)
        assert srv.connections == 1  # the refused handshake never got this far; both requests shared one
    finally:
        for w in srv.writers:
            w.transport.abort()
        tls_server.close()
