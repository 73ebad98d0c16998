"""Test helpers shared by every test tier: polling with a deadline instead of sleeping."""

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Call ``check`` until it returns a truthy value (returned) or raise AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
            if last:
                return last  # type: ignore[return-value]
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or check} (last: {last!r})")
        threading.Event().wait(interval)  # polling interval, not a wait for an outcome


async def aeventually(
    check: Callable[[], Awaitable[T] | T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Async form of :func:`eventually`: ``check`` may be a coroutine function or a plain one (a
    condition on state the event loop changes meanwhile)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last  # type: ignore[return-value]
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or check} (last: {last!r})")
        await asyncio.sleep(interval)


class StubWsConn:
    """A WebSocket connection for ``KalshiWs._read``: the frames the server sent, the commands we sent."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames
        self.sent: list[str] = []

    def __aiter__(self) -> "StubWsConn":
        return self

    async def __anext__(self) -> str:
        if not self.frames:
            raise StopAsyncIteration
        return self.frames.pop(0)

    async def send(self, data: str) -> None:
        self.sent.append(data)
