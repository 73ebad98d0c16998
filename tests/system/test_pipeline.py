"""The live pipeline end to end against the simulator: quoting, fills, veto, crashes, dead-man, bad input.

One system (module fixture) serves every test, in file order; the dead-man test stops risk, so it
runs last.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis

from kmm.bus import topology as t
from kmm.messages import Fill, PositionReport, QuoteIntent
from kmm_services.gateway.service import fill_key
from tests.helpers import eventually
from tests.system.conftest import System

pytestmark = pytest.mark.system
SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")


def universe(system: System) -> set[str]:
    return {m["market"] for m in system.status("quoter").get("markets", [])}


def risk_positions(system: System) -> dict[str, int]:
    return {k: v for k, v in system.http("risk", "GET", "/state").json()["positions"].items() if v}


def positions_agree(system: System) -> bool:
    return risk_positions(system) == system.positions()


def reported_fill_ids(system: System) -> set[str]:
    return {m.fill_id for _, m in system.messages(t.EXEC_REPORT) if isinstance(m, Fill)}


def no_duplicate_orders(system: System) -> None:
    resting = system.resting_orders()
    per_side = Counter((o.ticker, o.side) for o in resting)
    assert max(per_side.values(), default=0) <= 1, per_side
    coids = Counter(o.client_order_id for o in resting)
    assert max(coids.values(), default=0) <= 1, coids


def test_quotes_rest_fills_happen_and_positions_agree(system: System) -> None:
    eventually(lambda: universe(system), timeout=30, interval=0.5, what="a quoting universe")
    eventually(lambda: system.resting_orders() and {o.ticker for o in system.resting_orders()} <= universe(system),
               timeout=30, interval=0.5, what="our quotes rest on the selected markets")
    eventually(lambda: system.fills(), timeout=120, interval=1.0, what="our first fill")
    eventually(lambda: positions_agree(system), timeout=30, interval=0.5, what="risk agrees with the exchange")
    eventually(lambda: [m for _, m in system.messages(t.EXEC_REPORT) if isinstance(m, PositionReport)],
               timeout=15, what="the gateway publishes the exchange's positions")
    no_duplicate_orders(system)


def test_bad_input_is_dead_lettered_and_trading_continues(system: System) -> None:
    admin = system.redis()
    inputs = [s for s in t.TOPOLOGY if s.readers and not s.name.startswith("dlq:")]
    for spec in inputs:
        admin.xadd(spec.name, {b"m": b"\xc1 not a message"})
        admin.xadd(spec.name, {b"junk": b"no payload field"})
    for spec in inputs:
        for reader in spec.readers:
            eventually(lambda r=reader, s=spec.name: any(
                getattr(m, "stream", None) == s for _, m in system.messages(t.dlq_stream(r))),
                timeout=20, what=f"{reader} dead-letters bad {spec.name}")
    before = len([m for _, m in system.messages(t.ORD_INTENT) if isinstance(m, QuoteIntent)])
    eventually(lambda: len([m for _, m in system.messages(t.ORD_INTENT) if isinstance(m, QuoteIntent)]) > before + 5,
               timeout=20, what="intents keep flowing")
    assert all(system.ready(n) for n in SERVICES)


def test_bad_setting_stops_a_service_naming_it(system: System) -> None:
    env = {**os.environ, "KMM_GAMMA": "-1", "KMM_REDIS_URL": system.run.redis_url or ""}
    out = subprocess.run([sys.executable, "-m", "kmm.cli", "service", "quoter"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "KMM_GAMMA" in out.stderr


def test_kill_9_each_service_no_duplicates_no_lost_fills(system: System) -> None:
    for name in SERVICES:
        old = system.sup.children[name].restarts
        system.sup.kill(name, signal.SIGKILL)
        eventually(lambda n=name, o=old: system.sup.children[n].restarts > o, timeout=30, what=f"{name} restarted")
        system.wait_ready((name,), timeout=60)
        eventually(lambda: system.resting_orders(), timeout=30, interval=0.5, what=f"quotes back after {name}")
        no_duplicate_orders(system)
    eventually(lambda: {fill_key(f) for f in system.fills()} <= reported_fill_ids(system), timeout=30, interval=0.5,
               what="every exchange fill is on exec:report")
    eventually(lambda: positions_agree(system), timeout=30, interval=0.5, what="positions reconcile")
    no_duplicate_orders(system)


def test_halt_cancels_everything_and_the_veto_is_enforced_by_redis(system: System) -> None:
    eventually(lambda: system.resting_orders(), timeout=30, interval=0.5, what="resting quotes")
    halted_at = time.time()
    assert system.http("risk", "POST", "/halt", json={"reason": "test"}).status_code == 200
    eventually(lambda: not system.resting_orders(), timeout=2, interval=0.05, what="all canceled within 2 s")
    quoter = system.redis("quoter")
    with pytest.raises(redis.exceptions.NoPermissionError):
        quoter.xadd(t.ORD_APPROVED, {b"m": b"x"})
    placed = system.status("gateway")["counts"]["placed"]
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # nothing new may reach the exchange while halted
        assert not system.resting_orders()
    assert system.status("gateway")["counts"]["placed"] == placed
    assert system.http("risk", "GET", "/state").json()["state"] == "HALTED"
    assert time.time() - halted_at < 30
    assert system.http("risk", "POST", "/resume").status_code == 200
    eventually(lambda: system.resting_orders(), timeout=30, interval=0.5, what="quotes after resume")


def test_dead_man_cancels_when_risk_stops(system: System) -> None:
    eventually(lambda: system.resting_orders(), timeout=30, interval=0.5, what="resting quotes")
    system.sup.stop("risk")
    timeout = 3.0 + 2.0  # KMM_DEAD_MAN_TIMEOUT_S plus one cancel round trip and a poll
    eventually(lambda: not system.resting_orders(), timeout=timeout, interval=0.1, what="dead-man cancel-all")
    assert system.status("gateway")["dead_man_fired"] is True
