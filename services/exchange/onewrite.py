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

An order write (the app's :class:`~kmm_services.exchange.app.InlineWrites`) is answered inside the read
that completes its request: no ASGI task is started for it, so the answer does not wait behind the rest
of the loop's turn, and it skips Starlette's routing, middleware and request and response objects. A
request it cannot take (a chunked or large body, ``Expect: 100-continue``, a pipelined request, a path
an injected latency holds) goes the ASGI way.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle


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
    # an order write answered inline, until its body is in: its cycle, the app's InlineWrites and the route
    _inline: tuple[RequestResponseCycle, Any, Any] | None = None
    _in_headers = False

    def on_headers_complete(self) -> None:
        self._in_headers = True
        try:
            super().on_headers_complete()
        finally:
            self._in_headers = False
        cycle = self.cycle
        inline = self._inline is not None and self._inline[0] is cycle
        if cycle is not None and cycle.scope is self.scope and not inline:  # not an upgrade
            cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self._in_headers and app is self.app:
            inline = getattr(getattr(app, "state", None), "inline", None)
            route = self._inline_route(cycle, inline)
            if route is not None:
                self._inline = (cycle, inline, route)
                return
        super()._start_asgi_task(cycle, app)

    @staticmethod
    def _inline_route(cycle: RequestResponseCycle, inline: Any) -> Any:
        """The order write ``inline`` serves this request as, or None: it goes the ASGI way."""
        if inline is None or cycle.waiting_for_100_continue:
            return None
        for name, value in cycle.scope["headers"]:
            if name == b"transfer-encoding" or (name == b"content-length" and int(value) > HIGH_WATER_LIMIT):
                return None
        return inline.route(cycle.scope["method"], cycle.scope["path"])

    def on_message_complete(self) -> None:
        if self._inline is None or self._inline[0] is not self.cycle:
            super().on_message_complete()
            return
        (cycle, inline, route), self._inline = self._inline, None
        scope = cycle.scope
        client = scope.get("client")
        status, body = inline.answer(route, scope["method"], scope["path"], scope["query_string"], scope["headers"],
                                     bytes(cycle.body), client[0] if client else "")
        out = [STATUS_LINE[status]]
        out += [b"%s: %s\r\n" % (name, value) for name, value in self.server_state.default_headers]
        if status not in (204, 304):
            out.append(b"content-length: %d\r\n" % len(body))
        if body:
            out.append(b"content-type: application/json\r\n")
        out += [b"date: ", inline.date(), b"\r\n"]
        if not cycle.keep_alive:
            out.append(b"connection: close\r\n")
        out += [b"\r\n", body]
        self.transport.write(b"".join(out))
        cycle.response_started = cycle.response_complete = True
        cycle.more_body = False
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        self.transport = WritesPerTurn(self.transport)  # type: ignore[assignment]  # the WebSocket protocol's
        super().handle_websocket_upgrade()
