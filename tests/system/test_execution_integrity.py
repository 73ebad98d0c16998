"""Execution integrity under faults, asserted from the exchange's own records (issue 10, acceptance 1).

The whole system (real services as processes, a private Redis, the simulator with informed takers
hitting our quotes at 5× speed) runs with a small per-market limit while the test injects 5xx bursts,
request timeouts and 429 bursts, kills the gateway and risk with SIGKILL, stops risk with SIGSTOP and
restarts a halted risk. Throughout, a sampler reads the exchange's positions and resting orders. At the
end, from the exchange's records:

- |position| never exceeded the per-market limit, in any market, at any sample;
- no approval was filled beyond what it approved (an intent placed twice would be);
- never two of our orders resting on one (market, side);
- every exchange fill reached risk (risk applied exactly the fills the exchange lists);
- the dead-man's switch cancelled everything within its timeout while risk was stopped;
- the gateway restarted by its SIGKILL took risk's newest approvals back (the orders they cover stay,
  and every check above covers them);
- a halt survived a risk restart.
The figures go to ``execution_integrity.json`` in the run's workdir.
"""

import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kmm.bus import topology as t
from kmm.kalshi import auth
from kmm.messages import Approval, OrderAck
from kmm.messages.units import fp_to_count
from kmm.runner import cli as runner
from kmm_services.gateway.service import fill_key
from tests.helpers import eventually
from tests.system.conftest import System, running_system

pytestmark = pytest.mark.system
SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")
LIMIT_CONTRACTS = 15
DEAD_MAN_S = 3.0
ENV = {
    "KMM_POSITION_LIMIT_CONTRACTS": str(LIMIT_CONTRACTS),
    "KMM_MAX_POSITION_CONTRACTS": str(LIMIT_CONTRACTS),
    "KMM_BASE_CONTRACTS": "10",
    "KMM_DEAD_MAN_TIMEOUT_S": str(DEAD_MAN_S),
    "KMM_REQUEST_TIMEOUT_S": "2",
    "KMM_AMBIGUOUS_GRACE_S": "20",
}


class Sampler:
    """Reads the exchange's positions and resting orders every ~0.25 s on its own thread."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.max_abs: dict[str, int] = defaultdict(int)
        self.max_per_side = 0
        self.samples = 0
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for market, pos in self.system.positions().items():
                    self.max_abs[market] = max(self.max_abs[market], abs(pos))
                per_side = Counter((o.ticker, o.side) for o in self.system.resting_orders()
                                   if o.client_order_id.startswith("kmm-"))
                self.max_per_side = max([self.max_per_side, *per_side.values()])
                self.samples += 1
            except Exception:  # noqa: BLE001 - the exchange may be answering 5xx on purpose
                self.errors += 1
            self.stop.wait(0.25)  # the sampling period


def admin(system: System, path: str, body: dict[str, Any] | None = None) -> None:
    port = system.sup.children["exchange"].spec.http_port
    r = httpx.post(f"http://127.0.0.1:{port}/admin{path}", json=body or {}, timeout=10)
    assert r.status_code < 300, r.text


def restarted(system: System, name: str, before: int) -> None:
    eventually(lambda: system.sup.children[name].restarts > before, timeout=30, what=f"{name} restarted")
    system.wait_ready((name,), timeout=60)


@pytest.fixture(scope="module")
def chaos_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        with running_system(tmp_path_factory.mktemp("kmm-chaos"), "--markets", "8", "--seed", "11", "--speed", "5",
                            "--tier", "premier") as system:
            yield system


def test_nothing_rests_beyond_what_risk_approved_through_faults_and_restarts(chaos_system: System) -> None:
    system = chaos_system
    sampler = Sampler(system)
    sampler.thread.start()
    figures: dict[str, Any] = {}
    try:
        eventually(lambda: system.resting_orders(), timeout=60, interval=0.5, what="quotes rest")
        # the faults below must meet the client the gateway trades with, not the proxy fallback
        assert system.status("gateway").get("http_client") == "http1-pool"
        # and the signer it trades with: libcrypto's, off the GIL, wherever this machine has one
        native = auth.Signer.from_pem("probe", auth.generate_private_pem()).releases_gil
        assert system.status("gateway").get("signing") == ("libcrypto" if native else "cryptography")
        eventually(lambda: len(system.fills()) >= 12, timeout=240, interval=1.0, what="informed takers hit us")

        # exchange faults on the order paths: 5xx, then timeouts (latency past the gateway's 2 s), then 429s
        admin(system, "/faults", {"error_next": 15, "error_status": 503, "paths": ["/portfolio/events/orders"]})
        eventually(lambda: system.status("gateway").get("counts", {}).get("ambiguous", 0) >= 1, timeout=60,
                   interval=0.5, what="the gateway met the 5xx")
        admin(system, "/faults", {"error_next": 0, "latency_ms": 3000})
        eventually(lambda: system.status("gateway").get("counts", {}).get("ambiguous", 0) >= 3, timeout=60,
                   interval=0.5, what="requests timed out")
        admin(system, "/faults", {"latency_ms": 0, "rate_limit_next": 15})
        eventually(lambda: system.resting_orders(), timeout=60, interval=0.5, what="quotes back after the faults")
        admin(system, "/faults/reset")
        assert system.sup.children["gateway"].restarts == 0, "the gateway died of exchange errors"

        # kill -9 the gateway, then risk
        for name in ("gateway", "risk"):
            before = system.sup.children[name].restarts
            system.sup.kill(name, signal.SIGKILL)
            restarted(system, name, before)
            eventually(lambda: system.resting_orders(), timeout=60, interval=0.5, what=f"quotes after {name}")
            if name == "gateway":  # risk kept approving: the restart took its newest approvals back
                figures["approvals_restored"] = system.http("gateway", "GET", "/status").json()["counts"][
                    "approvals_restored"]
                assert figures["approvals_restored"] >= 1

        # risk stopped (SIGSTOP): the dead-man's switch empties the book within its timeout
        risk_proc = system.sup.children["risk"].proc
        assert risk_proc is not None
        risk_proc.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            eventually(lambda: not [o for o in system.resting_orders() if o.client_order_id.startswith("kmm-")],
                       timeout=DEAD_MAN_S + 4, interval=0.1, what="dead-man cancel-all")
            figures["dead_man_cancel_s"] = round(time.monotonic() - stopped_at, 2)
        finally:
            risk_proc.send_signal(signal.SIGCONT)
        eventually(lambda: system.resting_orders(), timeout=90, interval=0.5, what="quotes after risk resumes")

        # a halt survives a risk restart
        assert system.http("risk", "POST", "/halt", json={"reason": "chaos test"}).status_code == 200
        eventually(lambda: not system.resting_orders(), timeout=5, interval=0.1, what="the halt cancels all")
        before = system.sup.children["risk"].restarts
        system.sup.kill("risk", signal.SIGKILL)
        restarted(system, "risk", before)
        state = system.http("risk", "GET", "/state").json()
        assert state["state"] == "HALTED" and state["reason"] == "chaos test"
        assert not system.resting_orders()
        assert system.http("risk", "POST", "/resume").status_code == 200
        eventually(lambda: system.resting_orders(), timeout=90, interval=0.5, what="quotes after resume")
    finally:
        sampler.stop.set()
        sampler.thread.join(5)

    # --- the exchange's own records -------------------------------------------------------------------
    limit = LIMIT_CONTRACTS * 100
    port = system.sup.children["exchange"].spec.http_port
    records = httpx.get(f"http://127.0.0.1:{port}/admin/positions", params={"user": runner.WRITE_KEY_ID},
                        timeout=10).json()["positions"]
    worst = max((fp_to_count(p["max_abs_position_fp"]) for p in records), default=0)  # at every fill
    assert worst >= max(sampler.max_abs.values(), default=0)
    figures.update(max_abs_position_over_limit=round(worst / limit, 3), samples=sampler.samples,
                   max_orders_per_side=sampler.max_per_side)
    assert sampler.samples >= 20
    assert worst <= limit, records
    assert sampler.max_per_side <= 1
    positions = system.positions()
    assert all(abs(p) <= limit for p in positions.values()), positions

    # no intent placed twice: its orders (one per attempt) never rested at the same time, no id reused
    coid_intent = {m.client_order_id: m.intent_id for _, m in system.messages(t.EXEC_REPORT)
                   if isinstance(m, OrderAck) and m.intent_id != "adopted"}
    orders = system.exchange(lambda api: _all_orders(api))
    per_intent: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for o in orders:
        if o.client_order_id in coid_intent:
            per_intent[(coid_intent[o.client_order_id], o.side)].append(o)
    overlaps = 0
    for placed in per_intent.values():
        placed.sort(key=lambda o: o.created_ts)
        for a, b in zip(placed, placed[1:], strict=False):
            if a.status == "resting" or b.created_ts < a.updated_ts:
                overlaps += 1
    figures["intents_placed_twice"] = overlaps
    assert overlaps == 0
    coids = Counter(o.client_order_id for o in orders)
    figures["client_order_ids_placed_twice"] = sum(1 for n in coids.values() if n > 1)
    assert figures["client_order_ids_placed_twice"] == 0
    assert any(isinstance(m, Approval) for _, m in system.messages(t.ORD_APPROVED))

    # every exchange fill reached risk
    exchange_fills = system.fills()
    keys = {fill_key(f) for f in exchange_fills}
    per_market = Counter(f.ticker for f in exchange_fills)

    def risk_has_them() -> bool:
        applied = system.http("risk", "GET", "/state").json().get("fills_applied", {})
        return {m: n for m, n in applied.items() if n} == dict(per_market)

    eventually(risk_has_them, timeout=30, interval=0.5, what="risk applied every exchange fill, once")
    figures.update(exchange_fills=len(keys), lost_fills=0,
                   restarts={n: system.sup.children[n].restarts for n in SERVICES})
    assert figures["restarts"] == {"marketdata": 0, "selector": 0, "quoter": 0, "risk": 2, "gateway": 1}
    eventually(lambda: system.http("risk", "GET", "/state").json()["positions"] == system.positions(),
               timeout=30, interval=0.5, what="risk agrees with the exchange")
    out = Path(system.run.workdir) / "execution_integrity.json"
    out.write_text(json.dumps(figures, indent=2))
    print("execution integrity:", json.dumps(figures))
    assert os.path.exists(out)


async def _all_orders(api: Any) -> list[Any]:
    return [o async for o in api.iter_orders()]


def test_a_minute_of_5xx_from_the_exchange_ends_no_service(chaos_system: System) -> None:
    system = chaos_system
    eventually(lambda: system.resting_orders(), timeout=90, interval=0.5, what="quotes rest")
    before = {n: system.sup.children[n].restarts for n in SERVICES}
    admin(system, "/faults", {"error_next": 10**9, "error_status": 500, "paths": []})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the invariant must hold at every poll for the whole minute
            assert all(system.sup.alive(n) for n in SERVICES), {n: system.sup.alive(n) for n in SERVICES}
            threading.Event().wait(0.5)
    finally:
        admin(system, "/faults/reset")
    assert {n: system.sup.children[n].restarts for n in SERVICES} == before
    eventually(lambda: system.resting_orders(), timeout=60, interval=0.5, what="quotes rest again")
    assert all(system.ready(n) for n in SERVICES)
