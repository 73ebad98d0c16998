"""``kmm doctor`` against the simulator: every check passes; wrong key, unknown key id, a skewed clock, a
tier above the account's and an unreachable exchange each fail with their own message; ``kmm run
--mode live`` runs it first and refuses to start on a failure."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kmm.cli import main as kmm
from kmm.kalshi.auth import Signer, generate_private_pem
from kmm.ops.doctor import FAIL, PASS, SKIP, DoctorConfig, orders_allowed_at, run_checks
from kmm.runner.redis_proc import free_port
from kmm_services.exchange.harness import SimHandle, simulator

ROOT = Path(__file__).resolve().parents[3]
KEY_ID = "doctor-key"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("good", "other"):
        p = d / f"{name}.pem"
        p.write_bytes(generate_private_pem())
        p.chmod(0o600)
        out[name] = p
    return out


@pytest.fixture(scope="module")
def sim(keys: dict[str, Path]) -> Iterator[SimHandle]:
    public = Signer.from_file(KEY_ID, keys["good"]).public_pem()
    with simulator(keys={KEY_ID: public}, n_markets=3, speed=5, tier="basic") as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_faults(sim: SimHandle) -> Iterator[None]:
    yield
    httpx.post(f"{sim.admin_url}/faults/reset", timeout=5)


def check(sim: SimHandle, key: Path, key_id: str = KEY_ID, **kw: object) -> dict[str, tuple[str, str]]:
    cfg = DoctorConfig(base_url=sim.base_url, ws_url=sim.ws_url, key_id=key_id, key_path=str(key), timeout=5, **kw)
    return {r.name: (r.status, r.detail) for r in run_checks(cfg)}


def test_everything_passes_against_the_simulator_with_a_test_order(sim: SimHandle, keys: dict[str, Path]) -> None:
    res = check(sim, keys["good"], place_test_order=True, read_key_id=KEY_ID, read_key_path=str(keys["good"]))
    assert {n: s for n, (s, _) in res.items()} == dict.fromkeys(
        ["key file", "exchange reachable", "clock", "key id", "balance", "account limits", "markets", "read key",
         "websocket", "test order"], PASS), res
    assert res["balance"][1] == "$10,000.00 available"
    assert res["account limits"][1].startswith("tier basic: 100 write tokens/s")
    orders = httpx.get(f"{sim.admin_url}/orders", params={"user": KEY_ID}, timeout=5).json()["orders"]
    assert [(o["status"], o["yes_price_dollars"]) for o in orders] == [("canceled", "0.0100")]


def test_a_key_file_that_is_not_the_key_ids(sim: SimHandle, keys: dict[str, Path]) -> None:
    res = check(sim, keys["other"])
    assert res["key id"] == (FAIL, f"the key file {keys['other']} is not the private key of key id {KEY_ID} "
                                   "(signature mismatch)")
    assert res["balance"][0] == SKIP and res["websocket"][0] == SKIP


def test_a_key_id_the_exchange_does_not_know(sim: SimHandle, keys: dict[str, Path]) -> None:
    status, detail = check(sim, keys["good"], key_id="nobody")["key id"]
    assert status == FAIL and detail.startswith("the exchange does not know key id nobody")


def test_clock_skew(sim: SimHandle, keys: dict[str, Path]) -> None:
    r = httpx.post(f"{sim.admin_url}/faults", json={"clock_skew_ms": 45_000}, timeout=5)
    assert r.status_code == 200
    res = check(sim, keys["good"])
    status, detail = res["clock"]
    assert status == FAIL and detail.startswith("this machine is 4") and "s behind the exchange" in detail
    assert "sync the clock" in detail
    assert res["key id"][0] == FAIL and "header_timestamp_expired" in res["key id"][1]


def test_a_tier_above_the_accounts(sim: SimHandle, keys: dict[str, Path]) -> None:
    status, detail = check(sim, keys["good"], tier="advanced")["account limits"]
    assert (status, detail) == (FAIL, "the account is tier basic (100 write tokens/s) but the gateway would budget "
                                      "for advanced (300/s): run with --tier basic")


def test_unreachable_exchange(keys: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{free_port()}/trade-api/v2"
    res = run_checks(DoctorConfig(base_url=url, key_id=KEY_ID, key_path=str(keys["good"]), timeout=3))
    by = {r.name: (r.status, r.detail) for r in res}
    assert by["exchange reachable"] == (FAIL, f"cannot reach {url}: connection refused (nothing listens there)")
    assert by["key file"][0] == PASS
    assert {s for n, (s, _) in by.items() if n not in ("key file", "exchange reachable")} == {SKIP}


def test_unreadable_key_file(sim: SimHandle, tmp_path: Path) -> None:
    bad = tmp_path / "k.pem"
    bad.write_text("not a key")
    status, detail = check(sim, bad)["key file"]
    assert status == FAIL and "not an unencrypted PEM private key" in detail


def test_test_orders_only_on_demo_or_loopback() -> None:
    assert orders_allowed_at("http://127.0.0.1:8090/trade-api/v2")
    assert orders_allowed_at("https://demo-api.kalshi.co/trade-api/v2")
    assert not orders_allowed_at("https://api.elections.kalshi.com/trade-api/v2")


def test_the_command_exit_status_and_json(sim: SimHandle, keys: dict[str, Path], capsys) -> None:
    flags = ["doctor", "--kalshi-base-url", sim.base_url, "--kalshi-ws-url", sim.ws_url, "--key-id", KEY_ID,
             "--timeout", "5"]
    assert kmm([*flags, "--private-key-path", str(keys["good"])]) == 0
    assert "all checks passed" in capsys.readouterr().out
    assert kmm([*flags, "--private-key-path", str(keys["other"]), "--json"]) == 1
    out = capsys.readouterr().out
    assert '"ok": false' in out and "signature mismatch" in out


def test_kmm_run_live_refuses_to_start_on_a_failed_preflight(sim: SimHandle, keys: dict[str, Path],
                                                             tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMM_") or k == "KMM_STATE_DIR"}
    out = subprocess.run(
        [sys.executable, "-m", "kmm.cli", "run", "--mode", "live", "--kalshi-base-url", sim.base_url,
         "--kalshi-ws-url", sim.ws_url, "--key-id", KEY_ID, "--private-key-path", str(keys["other"]),
         "--workdir", str(tmp_path), "--view", "lines"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL  key id" in out.stdout
    assert "refusing to start live trading: 1 preflight check(s) failed (key id); nothing was started" in out.stderr
    assert not (tmp_path / "redis").exists() and not (tmp_path / "secrets").exists()
