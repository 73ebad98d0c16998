"""http1: the lean transport against a real local server: keep-alive, bodies, and what each failure means."""

import asyncio
import gzip
import json
from collections.abc import Callable

import httpx
import pytest

from kmm.kalshi import errors as e
from kmm.kalshi.http1 import Http1Transport
from kmm.kalshi.rest import KalshiRest

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
async def client():
    clients: list[httpx.AsyncClient] = []

    def make(url: str, **kw) -> httpx.AsyncClient:
        c = httpx.AsyncClient(base_url=url, transport=Http1Transport(), **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def test_requests_share_one_kept_alive_connection_and_carry_method_path_query_and_body(client):
    async with Server(lambda head, body: response(body=body or b"{}")) as srv:
        c = client(srv.url)
        r1 = await c.post("/trade-api/v2/portfolio/orders", content=b'{"count":1}',
                          headers={"Content-Type": "application/json"})
        r2 = await c.get("/trade-api/v2/markets", params={"ticker": "A B", "limit": 2})
    assert (r1.status_code, r1.json(), r2.json()) == (200, {"count": 1}, {})
    assert srv.connections == 1
    head1, head2 = srv.requests[0][0], srv.requests[1][0]
    assert head1.startswith(b"POST /trade-api/v2/portfolio/orders HTTP/1.1\r\n")
    assert b"content-length: 11" in head1.lower() and b"host: 127.0.0.1" in head1.lower()
    assert head2.startswith(b"GET /trade-api/v2/markets?ticker=A+B&limit=2 HTTP/1.1\r\n")


async def test_chunked_and_gzipped_bodies_are_read_whole(client):
    payload = json.dumps({"orders": list(range(50))}).encode()
    zipped = gzip.compress(payload)

    def answer(head: bytes, body: bytes) -> bytes:
        if b"/chunked" in head:
            chunks = [payload[:10], payload[10:]]
            return (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                    + b"".join(f"{len(x):x};ext=1\r\n".encode() + x + b"\r\n" for x in chunks) + b"0\r\n\r\n")
        return response(body=zipped, headers="content-encoding: gzip\r\n")

    async with Server(answer) as srv:
        c = client(srv.url)
        chunked = await c.get("/chunked")
        zipped_r = await c.get("/gzip")
        again = await c.get("/chunked")
    assert chunked.json() == zipped_r.json() == again.json() == {"orders": list(range(50))}
    assert srv.connections == 1  # both framings left the connection reusable


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused():
    transport = Http1Transport()
    async with Server(lambda head, body: response()) as srv, \
            httpx.AsyncClient(base_url=srv.url, transport=transport) as c:
        assert (await c.get("/a")).status_code == 200
        assert transport.idle_connections == 1
        srv.writers[0].close()  # the server's keep-alive timeout
        await eventually(lambda: not transport.usable_connections)
        r = await c.get("/b")
    assert r.status_code == 200
    assert srv.connections == 2


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


async def test_connection_close_is_honoured(client):
    async with Server(lambda head, body: response(headers="connection: close\r\n")) as srv:
        c = client(srv.url)
        await c.get("/a")
        await c.get("/b")
    assert srv.connections == 2


async def test_a_server_that_hangs_up_after_reading_a_write_leaves_it_ambiguous():
    async with Server(lambda head, body: None) as srv:
        api = KalshiRest(srv.url + "/trade-api/v2", transport=Http1Transport(), max_retries=0)
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
    api = KalshiRest(url + "/trade-api/v2", transport=Http1Transport(), max_retries=0)
    try:
        with pytest.raises(e.ConnectionFailed) as info:
            await api.request("POST", "/portfolio/orders", json={"ticker": "T"})
    finally:
        await api.aclose()
    assert "not sent" in str(info.value)


async def test_a_slow_answer_times_out_as_a_read_timeout(client):
    gate = asyncio.Event()

    class Slow(Server):
        async def serve(self, reader, writer):
            self.connections += 1
            self.writers.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            await gate.wait()

    async with Slow(lambda head, body: response()) as srv:
        c = client(srv.url, timeout=httpx.Timeout(5.0, read=0.05))
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/slow")
        gate.set()


async def test_bad_responses_are_protocol_errors(client):
    answers = iter([b"HTTP/1.1 20x OK\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"])

    async with Server(lambda head, body: next(answers)) as srv:
        c = client(srv.url)
        with pytest.raises(httpx.RemoteProtocolError, match="status line"):
            await c.get("/a")

        async def cut_short() -> None:
            await c.get("/b")

        task = asyncio.create_task(cut_short())
        await eventually(lambda: len(srv.requests) == 2)  # the server has sent 5 of 10 bytes: hang up
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
        async with httpx.AsyncClient(transport=Http1Transport()) as untrusting:
            with pytest.raises(httpx.ConnectError):  # certifi's bundle does not know our certificate
                await untrusting.get(f"https://localhost:{port}/a")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        async with httpx.AsyncClient(transport=Http1Transport()) as trusting:
            r = await trusting.get(f"https://localhost:{port}/a")
            r2 = await trusting.get(f"https://localhost:{port}/b")
        assert (r.json(), r2.status_code) == ({"ok": True}, 200)
        assert srv.connections == 1  # the refused handshake never got this far; both requests shared one
    finally:
        for w in srv.writers:
            w.transport.abort()
        tls_server.close()
