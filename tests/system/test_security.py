"""Security checks on the running system (issue 15): the gateway refuses a forged approval above its
cap and the exchange never sees it; no secret (Redis passwords, the operator token, the private keys)
appears in any log, metric, status page, OpenAPI document or traceback; every service talks to Redis
as its own user; the resnapshot counter moves when the exchange skips a sequence number."""

import time
from pathlib import Path

import httpx
import pytest

from kmm.bus import topology as t
from kmm.bus.ids import new_id
from kmm.bus.publisher import FIELD
from kmm.messages import Approval, ApprovalStatus, encode
from kmm.messages.units import fp_to_count
from kmm.runner import cli as runner
from tests.helpers import eventually
from tests.system.conftest import System

pytestmark = pytest.mark.system
SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")
PAGES = {"marketdata": ["/status", "/readyz", "/metrics", "/openapi.json"],
         "selector": ["/status", "/readyz", "/metrics", "/openapi.json"],
         "quoter": ["/status", "/readyz", "/metrics", "/openapi.json"],
         "risk": ["/status", "/readyz", "/metrics", "/openapi.json", "/state"],
         "gateway": ["/status", "/readyz", "/metrics", "/openapi.json", "/orders"]}


def exchange_url(system: System, path: str) -> str:
    return f"http://127.0.0.1:{system.sup.children['exchange'].spec.http_port}{path}"


def test_a_forged_5000_contract_approval_is_refused_and_never_reaches_the_exchange(system: System) -> None:
    eventually(lambda: system.resting_orders(), timeout=60, interval=0.5, what="quotes rest")
    market = system.resting_orders()[0].ticker
    forged = Approval(msg_id=new_id(), intent_id=f"forged-{new_id()}", market=market, bid_price=100,
                      bid_count=5_000 * 100, expires_at_ns=time.time_ns() + 30 * 10**9, fill_seq=10**6,
                      ts_init=time.time_ns())
    system.redis("risk").xadd(t.ORD_APPROVED, {FIELD: encode(forged)})  # only risk's user may write it

    def refused() -> bool:
        return any(isinstance(m, ApprovalStatus) and m.intent_id == forged.intent_id and m.status == "refused"
                   for _, m in system.messages(t.EXEC_REPORT))

    eventually(refused, timeout=20, interval=0.2, what="the gateway refuses the forged approval")
    orders = httpx.get(exchange_url(system, "/admin/orders"), params={"user": runner.WRITE_KEY_ID}, timeout=10)
    biggest = max((fp_to_count(o["initial_count_fp"]) for o in orders.json()["orders"]), default=0)
    assert biggest <= 1_000 * 100  # KMM_MAX_ORDER_CONTRACTS


def secrets_of(system: System) -> dict[str, str]:
    out = {f"redis password {p.stem}": p.read_text().strip() for p in system.secrets.glob("*.password")}
    out["operator token"] = system.admin_token()
    for pem in (system.run.workdir / "keys").glob("*.pem"):
        if pem.name.endswith(".pub.pem"):
            continue
        body = [line for line in pem.read_text().splitlines() if line and not line.startswith("-----")]
        out[f"private key {pem.name}"] = "".join(body)[20:80]  # a slice of the key material
        out[f"private key {pem.name} line"] = body[1]
    return out


def test_no_secret_in_any_log_metric_status_page_or_traceback(system: System) -> None:
    # provoke tracebacks and refusals that could echo a secret: bad operator tokens, a bad password
    system.http("risk", "POST", "/halt", operator=False, headers={"Authorization": "Bearer " + system.admin_token()[:-1]})
    r = system.redis("quoter")
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        r.xadd(t.ORD_APPROVED, {FIELD: b"x"})
    texts: dict[str, str] = {}
    for name, paths in PAGES.items():
        for path in paths:
            texts[f"{name} {path}"] = system.http(name, "GET", path).text
    for path in ("/status", "/metrics", "/readyz", "/admin/state"):
        texts[f"exchange {path}"] = httpx.get(exchange_url(system, path), timeout=10).text
    for log in (system.run.workdir / "logs").glob("*.log"):
        texts[f"log {log.name}"] = log.read_text(errors="replace")
    redis_log = system.run.workdir / "redis" / "redis.log"
    if redis_log.exists():
        texts["redis.log"] = redis_log.read_text(errors="replace")
    assert "kmm_" in texts["risk /metrics"] and texts["log gateway.log"]
    leaks = [(what, where) for what, secret in secrets_of(system).items() for where, text in texts.items()
             if secret and secret in text]
    assert not leaks, leaks


def test_every_service_talks_to_redis_as_its_own_user(system: System) -> None:
    admin = system.redis()
    users = {c["user"] for c in admin.client_list()}
    assert set(SERVICES) <= users, users
    assert users <= {*SERVICES, "admin"}, users  # nobody as default, probe or another's user
    for name in SERVICES:
        env = Path(f"/proc/{system.sup.children[name].proc.pid}/environ").read_bytes().split(b"\0")
        assert f"KMM_REDIS_USERNAME={name}".encode() in env


def test_a_sequence_gap_moves_the_resnapshot_counter(system: System) -> None:
    def resnapshots() -> float:
        for line in system.http("marketdata", "GET", "/metrics").text.splitlines():
            if line.startswith("kmm_marketdata_resnapshots_total"):
                return float(line.split()[-1])
        return 0.0

    before = resnapshots()
    r = httpx.post(exchange_url(system, "/admin/faults"), json={"ws_seq_gaps": 3}, timeout=10)
    assert r.status_code == 200
    eventually(lambda: resnapshots() > before, timeout=30, interval=0.5, what="kmm_marketdata_resnapshots_total moves")
    system.wait_ready(SERVICES, timeout=60)
