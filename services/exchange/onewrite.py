"""uvicorn's httptools protocol with fewer, larger writes: each answer's head with its body, and the
WebSocket frames of one turn of the event loop together.

uvicorn writes a response's status line and headers as soon as the app starts the response, and the
body in a second write: two ``send`` calls and, with ``TCP_NODELAY``, two segments for a 200-byte
order ack, which the client reads in two wake-ups of its event loop. Here the head waits for the body's
first write and goes out in the same one (as most HTTP servers write a small answer); should no body
write follow in the same turn of the loop, the head goes out by itself then.

On a WebSocket, uvicorn writes each frame as it is sent: one ``send`` call per book delta, a quarter of
the simulator's busy time with the pipeline bench's feed. Here the frames written in one turn of the
loop go out in one write at its end (order kept; a close writes what is pending first).
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class HeadWithBody:
    """One request's transport: the first write after its response started (the head) is held until
    the next write (the body) or the end of the loop's turn."""

    __slots__ = ("_transport", "_cycle", "_head", "_head_seen")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif self._cycle.response_started and not self._head_seen:
            self._head_seen = True
            self._head = bytes(data)
            asyncio.get_running_loop().call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class WritesPerTurn:
    """A WebSocket connection's transport: what is written in one turn of the loop goes out in one write."""

    __slots__ = ("_transport", "_pending")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(bytes(data))

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade to WebSocket: a new request's cycle
            cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        self.transport = WritesPerTurn(self.transport)  # type: ignore[assignment]  # the WebSocket protocol's
        super().handle_websocket_upgrade()
