"""Run the simulator in-process for tests: uvicorn on 127.0.0.1, a free port, its own thread.

The server gets its own thread and event loop so both sync clients (the official SDK) and async
clients (on the test's loop) can talk to it. Touch the engine only through :meth:`SimHandle.call`
(runs a function on the server's loop) or the admin endpoints; reading is fine from anywhere.

    async with running_simulator(keys={"k1": public_pem}, flow=False) as sim:
        httpx.get(sim.base_url + "/markets")
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn

from .app import create_app
from .engine import Exchange
from .onewrite import OneWriteHttpToolsProtocol
from .sim import Simulator

T = TypeVar("T")


@dataclass
class SimHandle:
    """A running simulator: URLs, the engine, and a way to run code on the server loop."""

    sim: Simulator
    host: str = "127.0.0.1"
    port: int = 0
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/trade-api/v2"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/trade-api/ws/v2"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}/admin"

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def exchange(self) -> Exchange:
        return self.sim.exchange

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn()`` on the server's loop (thread-safe access to the engine) and return its result."""
        assert self._loop is not None
        fut: Future[T] = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    async def acall(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        return await asyncio.to_thread(self.call, fn, timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """How the simulator is served, by ``kmm sim`` and by tests: httptools (uvicorn's C parser; h11 costs
    ~0.25 ms more a request) with each answer written at once (:mod:`.onewrite`), WS pings every 10 s,
    no uvicorn Date header (``app.ServerDate`` sets it from the server clock) and no proxy headers
    (it is never behind a proxy)."""
    return uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", ws_ping_interval=10.0,
                          ws_ping_timeout=20.0, http=OneWriteHttpToolsProtocol, date_header=False, proxy_headers=False)


def start_simulator(
    *,
    seed: int = 1,
    keys: dict[str, bytes] | None = None,
    n_markets: int = 10,
    flow: bool = True,
    speed: float = 1.0,
    port: int = 0,
    balance_dollars: int = 10_000,
    tier: str = "prestige",
    rate_limit: bool = True,
    replay_path: str | None = None,
    startup_timeout: float = 15.0,
    **sim_kwargs: Any,
) -> SimHandle:
    """Start a simulator thread and return once it is listening (call ``.stop()`` when done).
    ``sim_kwargs`` go to :class:`Simulator` (``shards``, ``first_close_minutes``, …)."""
    sim = Simulator(seed=seed, keys=keys, n_markets=n_markets, flow=flow, speed=speed,
                    balance_dollars=balance_dollars, tier=tier, rate_limit=rate_limit, replay_path=replay_path,
                    **sim_kwargs)
    app = create_app(sim)
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    handle = SimHandle(sim=sim, _server=server)
    failure: list[BaseException] = []

    async def serve() -> None:
        handle._loop = asyncio.get_running_loop()
        await server.serve()

    def thread_main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            failure.append(exc)

    thread = threading.Thread(target=thread_main, name="kmm-sim", daemon=True)
    handle._thread = thread
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive():
            raise RuntimeError(f"simulator failed to start: {failure[0] if failure else 'thread exited'}")
        if time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError("simulator did not start in time")
        threading.Event().wait(0.01)  # polling the server's started flag
    handle.port = server.servers[0].sockets[0].getsockname()[1]
    return handle


@contextlib.contextmanager
def simulator(**kwargs: Any) -> Iterator[SimHandle]:
    """Sync context manager around :func:`start_simulator`."""
    handle = start_simulator(**kwargs)
    try:
        yield handle
    finally:
        handle.stop()


@contextlib.asynccontextmanager
async def running_simulator(
    *,
    seed: int = 1,
    keys: dict[str, bytes] | None = None,
    n_markets: int = 10,
    flow: bool = True,
    speed: float = 1.0,
    port: int = 0,
    balance_dollars: int = 10_000,
    **kwargs: Any,
) -> AsyncIterator[SimHandle]:
    """Async context manager: a simulator listening on 127.0.0.1 (its own thread and loop).

    ``keys`` maps API key id → public key PEM; each key gets an account with ``balance_dollars``.
    Extra keyword arguments: ``tier`` (rate-limit tier, default ``prestige``), ``rate_limit``,
    ``replay_path`` (drive markets from a recorded orderbook log; use with ``n_markets=0``),
    ``shards`` (exchange indexes, default 2), ``first_close_minutes`` / ``close_spacing_minutes``.
    """
    handle = await asyncio.to_thread(
        start_simulator, seed=seed, keys=keys, n_markets=n_markets, flow=flow, speed=speed, port=port,
        balance_dollars=balance_dollars, **kwargs,
    )
    try:
        yield handle
    finally:
        await asyncio.to_thread(handle.stop)
