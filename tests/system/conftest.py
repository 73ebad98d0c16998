"""The whole system as processes: private Redis with ACLs, the simulator, the five services.

Built with the local runner's own ``Run`` (what ``make run`` uses), so the tests exercise the real
startup path. Helpers read the exchange with the gateway's key (the test is the operator here).
"""

import argparse
import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from kmm.bus.publisher import FIELD
from kmm.kalshi.auth import Signer
from kmm.kalshi.rest import KalshiRest
from kmm.messages import DecodeError, Message, decode
from kmm.runner import cli as runner
from kmm.runner.redis_proc import redis_server_binary
from tests.helpers import eventually


class System:
    def __init__(self, run: runner.Run, base_url: str) -> None:
        self.run = run
        self.base_url = base_url
        self.sup = run.sup
        self.secrets = run.secrets

    def port(self, name: str) -> int:
        port = self.sup.children[name].spec.http_port
        assert port is not None
        return port

    def admin_token(self) -> str:
        return self.run.admin_token_file.read_text().strip()

    def http(self, name: str, method: str, path: str, *, operator: bool = True, **kw: Any) -> httpx.Response:
        """A request to a service; non-GET requests carry the operator token unless ``operator=False``."""
        headers = dict(kw.pop("headers", None) or {})
        if operator and method.upper() not in ("GET", "HEAD"):
            headers.setdefault("Authorization", f"Bearer {self.admin_token()}")
        return httpx.request(method, f"http://127.0.0.1:{self.port(name)}{path}", timeout=5, headers=headers, **kw)

    def status(self, name: str) -> dict[str, Any]:
        try:
            return self.http(name, "GET", "/status").json()
        except (httpx.HTTPError, ValueError):
            return {}

    def ready(self, name: str) -> bool:
        try:
            return self.http(name, "GET", "/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def redis(self, user: str = "admin") -> redis.Redis:
        pw = (self.secrets / f"{user}.password").read_text().strip()
        return redis.Redis.from_url(self.run.redis_url, username=user, password=pw)

    def messages(self, stream: str) -> list[tuple[str, Message]]:
        out = []
        for eid, fields in self.redis().xrange(stream):
            try:
                out.append((eid.decode(), decode(fields.get(FIELD, b""))))
            except DecodeError:  # the tests' own poison entries
                continue
        return out

    def exchange(self, coro_fn: Any) -> Any:
        """Run ``coro_fn(api)`` with an authenticated client using the gateway's key."""
        signer = Signer.from_file(self.run.args.key_id, self.run.args.private_key_path)

        async def go() -> Any:
            async with KalshiRest(self.base_url, signer=signer) as api:
                return await coro_fn(api)

        return asyncio.run(go())

    def resting_orders(self) -> list[Any]:
        async def q(api: KalshiRest) -> list[Any]:
            return [o async for o in api.iter_orders(status="resting")]

        return self.exchange(q)

    def fills(self) -> list[Any]:
        async def q(api: KalshiRest) -> list[Any]:
            return [f async for f in api.iter_fills()]

        return self.exchange(q)

    def positions(self) -> dict[str, int]:
        async def q(api: KalshiRest) -> dict[str, int]:
            return {p.ticker: p.position async for p in api.iter_positions() if p.position}

        return self.exchange(q)

    def wait_ready(self, names: tuple[str, ...], timeout: float = 60) -> None:
        for n in names:
            eventually(lambda n=n: self.ready(n), timeout=timeout, interval=0.2, what=f"{n} ready")


@contextlib.contextmanager
def running_system(workdir: Path, *argv: str) -> Iterator[System]:
    """``kmm run`` in this process with ``argv`` (plus ``--workdir`` and ``--seconds 0``), its supervisor
    polled on a thread, every service ready; stopped in order afterwards, with the log tails kept in
    ``<workdir>/logs-tail.json``."""
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    run = runner.Run(parser.parse_args(["--workdir", str(workdir), "--seconds", "0", *argv]))
    stop = threading.Event()
    polling = threading.Lock()
    paused = False

    def supervise() -> None:
        while not stop.wait(0.1):
            with polling:
                if not paused:
                    run.sup.poll()

    # Children the watcher restarts get SIGTERM when its thread ends (PR_SET_PDEATHSIG follows the
    # thread), so it stays alive, paused, until the runner has stopped everything in order.
    watcher = threading.Thread(target=supervise, daemon=True)
    try:
        sys_ = System(run, run.start_all())
        watcher.start()
        sys_.wait_ready(("marketdata", "selector", "quoter", "risk", "gateway"))
        yield sys_
    finally:
        with polling:
            paused = True
        try:
            run.shutdown()
        finally:
            stop.set()
            if watcher.is_alive():
                watcher.join(5)
        logs = {p.name: p.read_text()[-3000:] for p in (workdir / "logs").glob("*.log")}
        (workdir / "logs-tail.json").write_text(json.dumps(logs))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("kmm-system"), "--markets", "8", "--seed", "3", "--speed", "1") as s:
        yield s
