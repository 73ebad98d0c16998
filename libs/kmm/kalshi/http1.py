"""A lean HTTP/1.1 transport for httpx: kept-alive connections on asyncio streams, nothing else.

httpx's default transport (httpcore over anyio, h11) cost about 0.4 ms of CPU per request on the
project's machine, most of it cancellation scopes, locks and events a single-purpose client does not
need; the gateway sends every order through it. This transport does only what the Kalshi REST client
uses: one request at a time per connection, ``Content-Length`` or chunked bodies read whole, TLS for
``https``, and the timeouts httpx passes in ``request.extensions["timeout"]``.

Failures keep httpx's meaning, which :func:`kmm.kalshi.errors.from_exception` relies on to tell "not
sent" from "maybe sent":

- ``ConnectError`` / ``ConnectTimeout``: a new connection could not be made, so nothing was sent;
- ``WriteError`` / ``WriteTimeout``, ``ReadError`` / ``ReadTimeout``, ``RemoteProtocolError``: the
  request may have reached the exchange.

A kept-alive connection the server has closed meanwhile is noticed before reuse (end of stream
already seen) and dropped; if the server closes it at the very moment we send, the request fails as
``RemoteProtocolError``, as with httpx's own pool.
"""

import asyncio
import os
import ssl
from collections.abc import Callable
from typing import Any

import certifi
import httpx

MAX_HEADER_BYTES = 64 * 1024
NO_BODY_STATUS = (204, 304)


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.transport.is_closing()

    def close(self) -> None:
        self.writer.transport.abort()


class Http1Transport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=Http1Transport())``; ``max_idle`` connections are kept per origin."""

    def __init__(self, max_idle: int = 100, ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_idle = max_idle
        self._ssl = ssl_context
        self._idle: dict[tuple[bytes, bytes, int], list[_Conn]] = {}
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()

    @property
    def idle_connections(self) -> int:
        return sum(len(v) for v in self._idle.values())

    @property
    def usable_connections(self) -> int:
        return sum(c.usable() for v in self._idle.values() for c in v)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        body = await request.aread()
        head = _head(request, body)
        conn = self._reuse(origin)
        if conn is None:
            conn = await self._connect(origin, request, timeouts.get("connect"))
        try:
            await _timed(_send(conn, head, body), timeouts.get("write"), httpx.WriteTimeout, request)
            status, headers, content, keep = await _timed(
                _receive(conn.reader, request.method == "HEAD", request), timeouts.get("read"),
                httpx.ReadTimeout, request)
        except BaseException:
            conn.close()
            raise
        if keep and not self._closed and conn.usable() and len(self._idle.get(origin, ())) < self.max_idle:
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
        # a stream, not content=: httpx then decodes a gzip body as it reads it
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), request=request,
                              extensions={"http_version": b"HTTP/1.1"})

    def _reuse(self, origin: tuple[bytes, bytes, int]) -> _Conn | None:
        conns = self._idle.get(origin)
        while conns:
            c = conns.pop()
            if c.usable():
                return c
            c.close()
        return None

    async def _connect(self, origin: tuple[bytes, bytes, int], request: httpx.Request,
                       timeout: float | None) -> _Conn:
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == b"https":
            tls = self._ssl = self._ssl or tls_context()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host.decode("ascii"), port, ssl=tls, limit=MAX_HEADER_BYTES,
                    server_hostname=host.decode("ascii") if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connect failed: {exc}", request=request) from None
        return _Conn(reader, writer)


def tls_context() -> ssl.SSLContext:
    """Certificates verified as httpx verifies them: ``SSL_CERT_FILE`` when set, else certifi's bundle."""
    cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
    return ssl.create_default_context(cafile=cafile)


def _head(request: httpx.Request, body: bytes) -> bytes:
    url = request.url
    target = url.raw_path  # path and query, already encoded
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        low = name.lower()
        if low == b"content-length":
            has_length = True
        elif low == b"transfer-encoding":
            continue  # the body is sent whole, with its length
        lines.append(name + b": " + value)
    if body and not has_length:
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _send(conn: _Conn, head: bytes, body: bytes) -> None:
    try:
        conn.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            conn.writer.write(body)
        await conn.writer.drain()
    except (OSError, ConnectionError) as exc:
        raise httpx.WriteError(f"write failed: {exc}") from None


async def _receive(reader: asyncio.StreamReader, head_only: bool,
                   request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """(status, headers, body, keep-alive) of one response; 1xx interim answers are skipped."""
    try:
        while True:
            status, version, headers = await _read_head(reader, request)
            if status >= 200 or status == 101:
                break
        fields = {k.lower(): v for k, v in headers}
        connection = fields.get(b"connection", b"").lower()
        keep = connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
        if head_only or status in NO_BODY_STATUS or 100 <= status < 200:
            return status, headers, b"", keep
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            return status, headers, await _read_chunked(reader, request), keep
        length = fields.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise httpx.RemoteProtocolError(f"bad Content-Length {length!r}", request=request) from None
            return status, headers, await reader.readexactly(n), keep
        return status, headers, await reader.read(), False  # delimited by the end of the connection
    except asyncio.IncompleteReadError as exc:
        what = "without sending a response" if not exc.partial else "in the middle of a response"
        raise httpx.RemoteProtocolError(f"server disconnected {what}", request=request) from None
    except asyncio.LimitOverrunError:
        raise httpx.RemoteProtocolError("response head too long", request=request) from None
    except (OSError, ConnectionError) as exc:
        raise httpx.ReadError(f"read failed: {exc}", request=request) from None


async def _read_head(reader: asyncio.StreamReader,
                     request: httpx.Request) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"bad status line {status_line[:80]!r}", request=request)
    headers = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"bad header line {line[:80]!r}", request=request)
        headers.append((name, value.strip()))
    return int(parts[1]), parts[0], headers


async def _read_chunked(reader: asyncio.StreamReader, request: httpx.Request) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad chunk size {size_line[:40]!r}", request=request) from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise httpx.RemoteProtocolError("chunk not followed by CRLF", request=request)


async def _timed(coro: Any, timeout: float | None, exc: Callable[..., Exception], request: httpx.Request) -> Any:
    try:
        async with asyncio.timeout(timeout):
            return await coro
    except TimeoutError:
        raise exc("timed out", request=request) from None
