"""A lean HTTP/1.1 client for one origin: kept-alive connections on asyncio streams, nothing else.

httpx cost about 0.7 ms of CPU per request on the project's machine (its client: URL and header
models, cookies, auth and redirect flows; its transport: anyio cancellation scopes, locks and events);
the gateway sends every order through it. :class:`Http1Pool` does only what the Kalshi REST client
needs: one request at a time per connection, ``Content-Length`` or chunked bodies read whole, TLS for
``https`` (verified as httpx verifies), one timeout for connecting, writing and reading each.

Failures are httpx's exception classes, which :func:`kmm.kalshi.errors.from_exception` relies on to
tell "not sent" from "maybe sent":

- ``ConnectError`` / ``ConnectTimeout``: a new connection could not be made, so nothing was sent;
- ``WriteError`` / ``WriteTimeout``, ``ReadError`` / ``ReadTimeout``, ``RemoteProtocolError``: the
  request may have reached the exchange.

A kept-alive connection the server has closed meanwhile is noticed before reuse (end of stream
already seen) and dropped; if the server closes it at the very moment we send, the request fails as
``RemoteProtocolError``, as with httpx's own pool. A connection whose request failed or was cancelled
is closed, never reused.
"""

import asyncio
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

MAX_HEADER_BYTES = 64 * 1024
NO_BODY_STATUS = (204, 304)
Headers = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.transport.is_closing()

    def close(self) -> None:
        self.writer.transport.abort()


def tls_context() -> ssl.SSLContext:
    """Certificates verified as httpx verifies them: ``SSL_CERT_FILE`` when set, else certifi's bundle."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())


class Http1Pool:
    """``await Http1Pool("https://host").request("GET", "/path?q=1", headers, b"", timeout=5)``;
    at most ``max_idle`` connections are kept open between requests (the caller bounds concurrency)."""

    def __init__(self, base_url: str, max_idle: int = 100) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        self.host_header = (self.host if default_port else f"{self.host}:{self.port}").encode("idna")
        self.max_idle = max_idle
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[_Conn] = []
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    @property
    def usable_connections(self) -> int:
        return sum(c.usable() for c in self._idle)

    async def aclose(self) -> None:
        self._closed = True
        for c in self._idle:
            c.close()
        self._idle.clear()

    async def request(self, method: str, target: str, headers: Headers, body: bytes = b"",
                      timeout: float | None = None) -> Answer:
        """Send ``method target`` (path and query, already encoded) with ``headers`` (Host and
        Content-Length are added) and return the whole answer."""
        head = _head(method, target, self.host_header, headers, body)
        conn = self._reuse() or await self._connect(timeout)
        try:
            await _timed(_send(conn, head, body), timeout, httpx.WriteTimeout)
            answer, keep = await _timed(_receive(conn.reader, method == "HEAD"), timeout, httpx.ReadTimeout)
        except BaseException:
            conn.close()
            raise
        if keep and not self._closed and conn.usable() and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    def _reuse(self) -> _Conn | None:
        while self._idle:
            c = self._idle.pop()
            if c.usable():
                return c
            c.close()
        return None

    async def _connect(self, timeout: float | None) -> _Conn:
        tls: ssl.SSLContext | None = None
        if self.tls:
            tls = self._ssl = self._ssl or tls_context()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=tls, limit=MAX_HEADER_BYTES,
                    server_hostname=self.host if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connect failed: {exc}") from None
        return _Conn(reader, writer)


def _head(method: str, target: str, host: bytes, headers: Headers, body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("ascii"), b"Host: " + host]
    lines += [name + b": " + value for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _send(conn: _Conn, head: bytes, body: bytes) -> None:
    try:
        conn.writer.write(head + body)
        await conn.writer.drain()
    except (OSError, ConnectionError) as exc:
        raise httpx.WriteError(f"write failed: {exc}") from None


async def _receive(reader: asyncio.StreamReader, head_only: bool) -> tuple[Answer, bool]:
    """One response and whether its connection may be kept; 1xx interim answers are skipped."""
    try:
        while True:
            status, version, headers = await _read_head(reader)
            if status >= 200:
                break
        fields = {k.lower(): v for k, v in headers}
        connection = fields.get(b"connection", b"").lower()
        keep = connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
        if head_only or status in NO_BODY_STATUS:
            return Answer(status, headers, b""), keep
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            return Answer(status, headers, await _read_chunked(reader)), keep
        length = fields.get(b"content-length")
        if length is None:
            return Answer(status, headers, await reader.read()), False  # ends with the connection
        try:
            n = int(length)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad Content-Length {length!r}") from None
        return Answer(status, headers, await reader.readexactly(n)), keep
    except asyncio.IncompleteReadError as exc:
        what = "without sending a response" if not exc.partial else "in the middle of a response"
        raise httpx.RemoteProtocolError(f"server disconnected {what}") from None
    except asyncio.LimitOverrunError:
        raise httpx.RemoteProtocolError("response head too long") from None
    except (OSError, ConnectionError) as exc:
        raise httpx.ReadError(f"read failed: {exc}") from None


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"bad status line {status_line[:80]!r}")
    headers = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"bad header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return int(parts[1]), parts[0], headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad chunk size {size_line[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise httpx.RemoteProtocolError("chunk not followed by CRLF")


async def _timed(coro: Any, timeout: float | None, exc: Callable[[str], Exception]) -> Any:
    try:
        async with asyncio.timeout(timeout):
            return await coro
    except TimeoutError:
        raise exc("timed out") from None
