"""Which system the operator commands talk to, and how refusals read."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kmm.ops.commands import parse_since
from kmm.ops.target import OpsClient, OpsError, Target, resolve
from kmm.runner import discovery
from kmm.runner.discovery import RunInfo


def ns(**kw: object) -> argparse.Namespace:
    base = {"url": [], "ports_file": None, "workdir": None, "token_file": None, "config": None}
    return argparse.Namespace(**(base | kw))


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KMM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KMM_CONFIG", raising=False)
    monkeypatch.delenv("KMM_ADMIN_TOKEN_FILE", raising=False)
    return tmp_path / "state"


def info(pid: int, workdir: Path, started: float, port: int = 8084) -> RunInfo:
    return RunInfo(pid=pid, workdir=str(workdir), mode="sim", started=started,
                   urls={"risk": f"http://127.0.0.1:{port}"}, token_file=str(workdir / "secrets" / "admin.token"))


def test_no_flags_finds_the_newest_live_run_and_forgets_dead_ones(state: Path, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    discovery.publish(info(dead.pid, tmp_path / "a", started=3.0, port=1))
    discovery.publish(info(os.getpid(), tmp_path / "b", started=1.0, port=2))
    t = resolve(ns())
    assert t.urls == {"risk": "http://127.0.0.1:2"}
    assert t.token_file == tmp_path / "b" / "secrets" / "admin.token"
    assert not (state / "runs" / f"{dead.pid}.json").exists()
    assert oct((state / "runs" / f"{os.getpid()}.json").stat().st_mode & 0o777) == "0o600"


def test_nothing_running_is_a_clear_error(state: Path) -> None:
    with pytest.raises(OpsError) as exc:
        resolve(ns())
    assert exc.value.code == 2
    assert "no running kmm found" in str(exc.value) and "--url SERVICE=URL" in str(exc.value)


def test_urls_ports_file_and_token_precedence(state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = tmp_path / "ports.json"
    ports.write_text(json.dumps({"risk": 1111, "gateway": 2222}))
    monkeypatch.setenv("KMM_ADMIN_TOKEN_FILE", "/env/token")
    t = resolve(ns(url=["risk=http://10.0.0.1:9"], ports_file=ports))
    assert t.urls == {"risk": "http://10.0.0.1:9", "gateway": "http://127.0.0.1:2222"}
    assert t.token_file == Path("/env/token")
    t = resolve(ns(url=["gateway=http://h:1"], token_file=Path("/flag/token")))
    assert t.token_file == Path("/flag/token")


def test_workdir_and_config_ops_table(state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wd = tmp_path / "wd"
    discovery.publish(info(os.getpid(), wd, started=1.0, port=7))
    discovery.withdraw(os.getpid())  # the workdir copy stays
    assert resolve(ns(workdir=wd)).urls == {"risk": "http://127.0.0.1:7"}
    cfg = tmp_path / "kmm.toml"
    cfg.write_text('[ops]\nurls = { risk = "http://r:8080", gateway = "http://g:8080" }\ntoken_file = "tok"\n')
    t = resolve(ns(config=cfg))
    assert t.urls == {"risk": "http://r:8080", "gateway": "http://g:8080"}
    assert t.token_file == tmp_path / "tok"  # relative to the config file


@pytest.mark.parametrize("bad", ["risk", "nosuch=http://x", "risk=ftp://x"])
def test_bad_url_flags(bad: str, state: Path) -> None:
    with pytest.raises(OpsError, match="--url expects SERVICE=http://HOST:PORT"):
        resolve(ns(url=[bad]))


def client_with(handler) -> OpsClient:  # type: ignore[no-untyped-def]
    c = OpsClient(Target({"risk": "http://risk"}, Path("/nonexistent/token"), "test"))
    c.http = httpx.Client(transport=httpx.MockTransport(handler))
    return c


def test_refusals_read_as_sentences(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "wrong bearer token"})

    c = client_with(handler)
    with pytest.raises(OpsError, match="no operator token|cannot read the token file"):
        c.post("risk", "/halt")
    token = tmp_path / "t"
    token.write_text("x\n")
    c.target.token_file = token
    with pytest.raises(OpsError) as exc:
        c.post("risk", "/halt")
    assert "risk refused POST /halt: HTTP 401 (wrong bearer token)" in str(exc.value)
    assert exc.value.code == 1
    with pytest.raises(OpsError, match="no URL for gateway"):
        c.get("gateway", "/orders")


def test_unreachable_service(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with pytest.raises(OpsError, match="cannot reach risk at http://risk: connection refused"):
        client_with(handler).get("risk", "/state")


def test_parse_since() -> None:
    now = 1_800_000_000.0
    assert parse_since("10m", now) == (now - 600) * 1000
    assert parse_since("2h", now) == (now - 7200) * 1000
    assert parse_since("1700000000", now) == 1_700_000_000_000
    assert parse_since("2026-01-01T00:00:00Z", now) == 1_767_225_600_000
    assert parse_since("2026-01-01T00:00:00", now) == 1_767_225_600_000
    with pytest.raises(OpsError, match="give a duration"):
        parse_since("yesterday", now)
