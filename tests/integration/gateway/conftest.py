"""The gateway as a real process against the in-process simulator and a private Redis; the test is risk.

The test plays the risk service: it publishes heartbeats and approvals on the bus (as admin) and
reads ``exec:report``; a taker account on the simulator hits our orders. Every assertion about what
rests, what filled and what position we hold reads the simulator's own records.
"""

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from kmm.bus import acl
from kmm.bus.bootstrap import bootstrap
from kmm.bus.connection import connect
from kmm.bus.publisher import FIELD
from kmm.bus.topology import EXEC_REPORT, ORD_APPROVED, RISK_CONTROL
from kmm.kalshi import auth, wire
from kmm.kalshi.rest import IOC, KalshiRest, NewOrder
from kmm.messages import Approval, DecodeError, Fill, Heartbeat, Message, decode, encode
from kmm.runner.redis_proc import free_port, redis_server_binary, start_redis
from tests.helpers import eventually

harness = pytest.importorskip("kmm_services.exchange.harness")

GATEWAY_KEY, TAKER_KEY = "gw-key", "taker-key"


@dataclass
class Bench:
    sim: Any
    redis_url: str
    admin: redis.Redis
    keys: dict[str, auth.Signer]
    workdir: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    port: int = 0
    quiet: threading.Event = field(default_factory=threading.Event)
    _beater: threading.Thread | None = None
    _n: int = 0

    # --- the gateway process ----------------------------------------------------------------
    def start_gateway(self, wait: bool = True, **env: str) -> None:
        """Start the gateway process; with ``wait``, return once it answers ``/livez`` (its start-up done)."""
        self.port = free_port()
        full = {**os.environ, **self.env, "KMM_HTTP_PORT": str(self.port), **env}
        log = open(self.workdir / "gateway.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "kmm.cli", "service", "gateway"], env=full,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            eventually(self.gateway_up, timeout=30, interval=0.1, what="gateway answers /livez")

    def gateway_up(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/livez", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def gateway_status(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/status", timeout=5).json()

    def kill_gateway(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop_gateway(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_tail(self) -> str:
        path = self.workdir / "gateway.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- playing risk -------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """One heartbeat on ``risk:control``, as risk sends it."""
        now = time.time_ns()
        self.admin.xadd(RISK_CONTROL, {FIELD: encode(Heartbeat(msg_id=f"hb-{now}", ts_init=now, ts_event=now,
                                                               service="risk"))})

    def heartbeats(self, on: bool) -> None:
        if on and self._beater is None:
            self.quiet.clear()

            def beat() -> None:
                while not self.quiet.is_set():
                    self.heartbeat()
                    self.quiet.wait(0.3)  # the heartbeat period

            self._beater = threading.Thread(target=beat, daemon=True)
            self._beater.start()
        elif not on and self._beater is not None:
            self.quiet.set()
            self._beater.join(5)
            self._beater = None

    def approve(self, market: str, bid: tuple[int, int] = (0, 0), ask: tuple[int, int] = (0, 0),
                fill_seq: int | None = None, ttl_s: float = 60.0) -> str:
        self._n += 1
        intent = f"test-intent-{self._n}-{time.time_ns()}"
        now = time.time_ns()
        seq = self.fill_seq(market) if fill_seq is None else fill_seq
        a = Approval(msg_id=f"a-{intent}", intent_id=intent, market=market, bid_price=bid[0], bid_count=bid[1],
                     ask_price=ask[0], ask_count=ask[1], expires_at_ns=now + int(ttl_s * 1e9), ts_init=now,
                     fill_seq=seq)
        self.admin.xadd(ORD_APPROVED, {FIELD: encode(a)})
        return intent

    def reports(self) -> list[Message]:
        out = []
        for _, fields in self.admin.xrange(EXEC_REPORT):
            try:
                out.append(decode(fields.get(FIELD, b"")))
            except DecodeError:
                continue
        return out

    def fill_seq(self, market: str) -> int:
        return max((m.seq for m in self.reports() if isinstance(m, Fill) and m.market == market), default=0)

    # --- the exchange's own records -----------------------------------------------------------
    def api(self, key: str, fn: Callable[[KalshiRest], Any]) -> Any:
        async def go() -> Any:
            async with KalshiRest(self.sim.base_url, signer=self.keys[key]) as api:
                return await fn(api)

        return asyncio.run(go())

    def resting(self, market: str | None = None) -> list[wire.Order]:
        async def q(api: KalshiRest) -> list[wire.Order]:
            return [o async for o in api.iter_orders(status="resting") if market is None or o.ticker == market]

        return self.api(GATEWAY_KEY, q)

    def position(self, market: str) -> int:
        async def q(api: KalshiRest) -> int:
            page = await api.get_positions(ticker=market)
            return sum(p.position for p in page.items if p.ticker == market)

        return self.api(GATEWAY_KEY, q)

    def all_orders(self, market: str) -> list[wire.Order]:
        async def q(api: KalshiRest) -> list[wire.Order]:
            return [o async for o in api.iter_orders(ticker=market)]

        return self.api(GATEWAY_KEY, q)

    def all_fills(self) -> list[wire.Fill]:
        async def q(api: KalshiRest) -> list[wire.Fill]:
            return [f async for f in api.iter_fills()]

        return self.api(GATEWAY_KEY, q)

    def take(self, market: str, side: str, price: int, count: int) -> int:
        """The taker sends an IOC into our ``side``: returns the count it filled."""
        taker_side = "ask" if side == "bid" else "bid"

        async def q(api: KalshiRest) -> int:
            ack = await api.create_order(NewOrder(ticker=market, side=taker_side, price=price, count=count,
                                                  time_in_force=IOC))
            return ack.fill_count

        return self.api(TAKER_KEY, q)

    def new_market(self) -> str:
        self._n += 1
        ticker = f"KXGWTEST-{self._n}-{time.time_ns() % 1_000_000}"
        r = httpx.post(self.sim.admin_url + "/markets", json={"ticker": ticker, "event_ticker": f"KXGWTEST-EV{self._n}"})
        assert r.status_code == 201, r.text
        return ticker

    def faults(self, **changes: Any) -> None:
        r = httpx.post(self.sim.admin_url + "/faults", json=changes)
        assert r.status_code < 300, r.text


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")
    pems = {k: auth.generate_private_pem() for k in (GATEWAY_KEY, TAKER_KEY)}
    signers = {k: auth.Signer.from_pem(k, pem) for k, pem in pems.items()}
    key_file = tmp_path / "gw.pem"
    key_file.write_bytes(pems[GATEWAY_KEY])
    key_file.chmod(0o600)
    secrets = tmp_path / "secrets"
    aclfile = acl.write_acl(secrets / "users.acl", secrets)
    admin_pw = (secrets / "admin.password").read_text().strip()
    rp = start_redis(workdir=tmp_path / "redis", aclfile=aclfile, admin_password=admin_pw)
    with harness.simulator(keys={k: s.public_pem() for k, s in signers.items()}, flow=False, n_markets=2) as sim:
        async def groups() -> None:
            r = connect(rp.url, "admin", admin_pw)
            try:
                await bootstrap(r)
            finally:
                await r.aclose()

        asyncio.run(groups())
        env = {"KMM_REDIS_URL": rp.url, "KMM_REDIS_USERNAME": "gateway",
               "KMM_REDIS_PASSWORD_FILE": str(secrets / "gateway.password"), "KMM_HTTP_HOST": "127.0.0.1", "KMM_KALSHI_BASE_URL": sim.base_url,
               "KMM_KALSHI_WS_URL": sim.ws_url, "KMM_KALSHI_KEY_ID": GATEWAY_KEY,
               "KMM_KALSHI_PRIVATE_KEY_PATH": str(key_file), "KMM_KALSHI_TIER": "premier",
               "KMM_LOG_FORMAT": "text", "KMM_RECONCILE_INTERVAL_S": "1", "KMM_CLAIM_IDLE_MS": "1000"}
        b = Bench(sim=sim, redis_url=rp.url, admin=rp.client("admin", admin_pw), keys=signers, workdir=tmp_path, env=env)
        try:
            yield b
        finally:
            b.heartbeats(False)
            b.stop_gateway()
            b.admin.close()
            rp.stop()
            print(b.log_tail())
