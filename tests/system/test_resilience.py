"""The whole system against ordinary faults: operator endpoints refuse requests without the token
(or from a foreign origin) and change nothing; a kill -9 of Redis under the running system is
ridden out — the runner restarts Redis on its AOF, no service exits, trading carries on."""

import signal

import pytest
import redis

from kmm.bus import topology as t
from kmm.messages import Control, QuoteIntent
from tests.helpers import eventually
from tests.system.conftest import System

pytestmark = pytest.mark.system
SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")


def halts(system: System) -> int:
    return sum(1 for _, m in system.messages(t.RISK_CONTROL) if isinstance(m, Control) and m.state == "HALTED")


def test_operator_requests_without_the_token_or_from_another_origin_change_nothing(system: System) -> None:
    state = system.http("risk", "GET", "/state").json()["state"]
    assert state != "HALTED"
    before = halts(system)
    token = system.admin_token()
    refused = [
        (system.http("risk", "POST", "/halt", operator=False, json={"reason": "no token"}), 401),
        (system.http("risk", "POST", "/halt", operator=False, headers={"Authorization": "Bearer nope"}), 401),
        (system.http("risk", "POST", "/halt", headers={"Origin": "http://evil.example"}), 403),
        (system.http("risk", "POST", "/halt", operator=False,
                     headers={"Authorization": f"Bearer {token}", "Origin": "null"}), 403),
        (system.http("risk", "POST", "/resume", operator=False), 401),
        (system.http("gateway", "POST", "/orders", operator=False), 401),
    ]
    assert [r.status_code for r, _ in refused] == [code for _, code in refused]
    assert all("access-control-allow-origin" not in r.headers for r, _ in refused)
    assert system.http("risk", "GET", "/state").json()["state"] == state
    assert halts(system) == before
    assert token not in (system.run.workdir / "logs" / "risk.log").read_text()


def test_kill_9_redis_under_the_running_system(system: System) -> None:
    restarts = {n: system.sup.children[n].restarts for n in SERVICES}
    redis_restarts = system.sup.children["redis"].restarts
    eventually(lambda: system.resting_orders(), timeout=30, interval=0.5, what="resting quotes")
    intents = len([m for _, m in system.messages(t.ORD_INTENT) if isinstance(m, QuoteIntent)])

    admin = system.redis()
    admin.set("test:marker", "before the crash")
    admin.bgrewriteaof()  # the marker is on disk once the rewrite is done (everysec may not have run)

    def rewritten() -> bool:
        info = admin.info("persistence")
        return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

    eventually(rewritten, timeout=30, what="AOF rewritten")

    system.sup.kill("redis", signal.SIGKILL)
    eventually(lambda: system.sup.children["redis"].restarts > redis_restarts, timeout=30,
               what="the runner restarts redis")

    def marker() -> bytes | None:
        try:
            return system.redis().get("test:marker")
        except redis.ConnectionError:  # still restarting (or loading the AOF)
            return None

    eventually(lambda: marker() == b"before the crash", timeout=30, what="redis back on its socket with its AOF")
    system.wait_ready(SERVICES, timeout=60)
    eventually(lambda: len([m for _, m in system.messages(t.ORD_INTENT) if isinstance(m, QuoteIntent)]) > intents + 20,
               timeout=60, interval=0.5, what="intents flow again")
    eventually(lambda: system.resting_orders(), timeout=60, interval=0.5, what="quotes rest again")
    assert {n: system.sup.children[n].restarts for n in SERVICES} == restarts  # no service exited
    for name in SERVICES:
        assert system.sup.alive(name), name
