"""A real Prometheus (Debian's ``prometheus`` binary, on loopback) scrapes kmm and evaluates every
dashboard panel query and every alert expression through its HTTP API.

Two halves:
- ``test_catalog_*``: Prometheus scrapes a prometheus_client server exposing the whole metric
  catalog (:mod:`kmm.chassis.metrics` with its label sets initialised). Proves the launch
  harness, that every query parses, and that the dashboard has data when the metrics exist.
- ``test_live_*``: Prometheus scrapes the services of a short ``kmm run --ports-file`` and every
  panel must return data from the real system.

CI installs the binary with ``apt-get install -y --no-install-recommends prometheus``.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from kmm.runner.redis_proc import free_port
from tests.helpers import eventually

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "kmm-alerts.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
SCRAPE_SECONDS = 1
LIVE_RUN_SECONDS = 300  # an upper bound: the fixture ends the run when its tests are done


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen

    def api(self, path: str, **params: str) -> dict:
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = r.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip("prometheus not installed: apt-get install -y --no-install-recommends prometheus")
    return path


def start_prometheus(targets: dict[str, int], workdir: Path) -> Prometheus:
    """Start Prometheus on a free loopback port scraping ``{service: port}`` every second."""
    rules = workdir / "rules.yml"
    shutil.copy(RULES, rules)
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": f"{SCRAPE_SECONDS}s",
                   "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{
            "job_name": "kmm",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}
                               for name, port in sorted(targets.items())],
        }],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [prometheus_binary(), f"--config.file={workdir / 'prometheus.yml'}",
         f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
    )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited {proc.returncode}: {(workdir / 'prometheus.log').read_text()}")
        try:
            return httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually(ready, timeout=30, interval=0.1, what="prometheus ready")
    except BaseException:
        stop(proc)
        raise
    return prom


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_for_scrapes(prom: Prometheus, n_targets: int, timeout: float = 60) -> None:
    """Every target up and at least three scrapes stored (so 1m rates have two points)."""

    def scraped() -> bool:
        up = prom.query('count_over_time(up{job="kmm"}[1m]) >= 3 and up{job="kmm"} == 1')
        return len(up) == n_targets

    eventually(scraped, timeout=timeout, interval=0.5, what=f"{n_targets} targets up with 3 scrapes")


def panel_queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            for p in [panel, *panel.get("panels", [])]:
                for t in p.get("targets", []):
                    out.append((f"{path.stem}: {p['title']} [{t['refId']}]", t["expr"]))
    return out


def alert_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"] if "alert" in r]


def check_queries(prom: Prometheus) -> None:
    """Every alert expression parses; every panel query parses and returns data."""
    empty, broken = [], []
    for name, expr in alert_exprs():
        r = httpx.get(f"{prom.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if r.get("status") != "success":
            broken.append(f"alert {name}: {r.get('error')}")
    for name, expr in panel_queries():
        r = httpx.get(f"{prom.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if r.get("status") != "success":
            broken.append(f"panel {name}: {r.get('error')}")
        elif not r["data"]["result"]:
            empty.append(f"panel {name}: {expr}")
    assert not broken, "queries that do not evaluate:\n" + "\n".join(broken)
    assert not empty, "panels without data:\n" + "\n".join(empty)


def check_rules_loaded(prom: Prometheus) -> None:
    def evaluated() -> bool:
        groups = prom.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert {r["name"] for r in rules} >= {name for name, _ in alert_exprs()}
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert not bad, bad
        return True

    eventually(evaluated, timeout=30, interval=0.5, what="alert rules evaluated without error")


# --- half 1: the metric catalog ------------------------------------------------------------------


def populate_catalog() -> None:
    """Initialise every label set and give the catalog plausible values, as a live system would."""
    from kmm.bus.topology import SERVICES
    from kmm.chassis import metrics as m

    for service in SERVICES:
        m.init_labels(service)
    for market in ("KXCAT-A", "KXCAT-B"):
        for service in ("quoter", "risk", "gateway"):
            m.init_market(market, service)
        m.POSITION_LIMIT.labels(market).set(100)
        m.POSITION.labels(market).set(12)
        m.OPEN_ORDERS.labels(market).set(2)
        m.QUOTE_PRICE.labels(market, "bid").set(0.41)
        m.QUOTE_PRICE.labels(market, "ask").set(0.45)
        m.MARKET_QUOTES.labels(market).inc(3)
    m.set_trading_state("ACTIVE")
    m.REDIS_UP.set(1)
    m.MARKETS_QUOTED.set(2)
    m.TICK_TO_ORDER_SECONDS.observe(0.004)
    m.RATE_LIMIT_TOKENS.labels("write").set(9)


CATALOG_AS = ("catalog", "risk", "gateway")


@pytest.fixture(scope="module")
def catalog_target() -> Iterator[int]:
    from prometheus_client import start_http_server

    populate_catalog()
    server, thread = start_http_server(0, addr="127.0.0.1")
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def catalog_prometheus(catalog_target: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    # Also scraped as risk and gateway: the panels read the gauges every service exports (exposure, the
    # heartbeat age) from the service that sets them.
    prom = start_prometheus({name: catalog_target for name in CATALOG_AS}, tmp_path_factory.mktemp("prom-catalog"))
    try:
        wait_for_scrapes(prom, len(CATALOG_AS))
        yield prom
    finally:
        stop(prom.proc)


def test_catalog_is_scraped_with_service_label(catalog_prometheus: Prometheus) -> None:
    (info,) = catalog_prometheus.query('kmm_build_info{job="kmm", service="catalog"}')
    # The target's `service` label wins; the process's own label is kept as `exported_service`.
    assert info["metric"]["service"] == "catalog"
    assert info["metric"]["exported_service"] in ("marketdata", "selector", "quoter", "risk", "gateway")
    up = catalog_prometheus.query('up{job="kmm"}')
    assert sorted(r["metric"]["service"] for r in up) == sorted(CATALOG_AS)


def test_catalog_every_panel_has_data_and_every_alert_parses(catalog_prometheus: Prometheus) -> None:
    check_queries(catalog_prometheus)


def test_catalog_alert_rules_load_and_evaluate(catalog_prometheus: Prometheus) -> None:
    check_rules_loaded(catalog_prometheus)


def test_harness_reports_a_broken_query(catalog_prometheus: Prometheus) -> None:
    r = httpx.get(f"{catalog_prometheus.url}/api/v1/query", params={"query": "sum(rate(kmm_orders_total[1m]"})
    assert r.json()["status"] == "error"
    assert catalog_prometheus.query("kmm_no_such_metric") == []


# --- half 2: the live system ---------------------------------------------------------------------


def kmm_command() -> list[str]:
    script = Path(sys.executable).with_name("kmm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kmm.cli"]


@pytest.fixture(scope="module")
def live_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    help_text = subprocess.run([*kmm_command(), "run", "--help"], capture_output=True, text=True, timeout=60)
    if help_text.returncode != 0 or "--ports-file" not in help_text.stdout:
        pytest.skip("`kmm run --ports-file` is not available yet")
    workdir = tmp_path_factory.mktemp("kmm-run")
    ports_file = workdir / "ports.json"
    env = {**os.environ, "RUN_SECONDS": str(LIVE_RUN_SECONDS)}
    log = open(workdir / "run.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [*kmm_command(), "run", "--ports-file", str(ports_file), "--summary-json", str(workdir / "summary.json")],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env, start_new_session=True,
    )
    try:
        def ports() -> dict[str, int] | None:
            if proc.poll() is not None:
                raise RuntimeError(f"kmm run exited {proc.returncode}: {(workdir / 'run.log').read_text()[-4000:]}")
            if not ports_file.exists():
                return None
            try:
                return json.loads(ports_file.read_text())
            except json.JSONDecodeError:
                return None  # still being written

        yield eventually(ports, timeout=60, interval=0.2, what="kmm run wrote its ports file")
    finally:
        # The run's own session: ends `kmm run` and anything it left behind (redis-server, services).
        stop_session(proc)
        log.close()


def stop_session(proc: subprocess.Popen) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it if anything is left after 20 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        eventually(lambda: _group_gone(proc), timeout=20, interval=0.2, what="kmm run's processes exit")
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _group_gone(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader so its zombie does not keep the group alive
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def live_prometheus(live_ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    services = {"marketdata", "selector", "quoter", "risk", "gateway"}
    assert services <= set(live_ports), f"ports file lacks {services - set(live_ports)}"
    prom = start_prometheus({s: live_ports[s] for s in services}, tmp_path_factory.mktemp("prom-live"))
    try:
        wait_for_scrapes(prom, len(services))
        yield prom
    finally:
        stop(prom.proc)


def test_live_every_service_is_scraped(live_prometheus: Prometheus) -> None:
    up = {r["metric"]["service"]: r["value"][1] for r in live_prometheus.query('up{job="kmm"}')}
    assert up == dict.fromkeys(("marketdata", "selector", "quoter", "risk", "gateway"), "1")


def test_live_every_panel_has_data_and_every_alert_parses(live_prometheus: Prometheus) -> None:
    def quotes_flowing() -> bool:
        return bool(live_prometheus.query("sum(increase(kmm_market_quotes_total[1m])) > 0"))

    eventually(quotes_flowing, timeout=60, interval=1, what="quotes counted by Prometheus")

    def every_panel_has_data() -> bool:
        check_queries(live_prometheus)  # a market's series appear with its first orders: give them scrapes
        return True

    eventually(every_panel_has_data, timeout=90, interval=2, what="every panel has data, every alert parses")


def test_live_alert_rules_evaluate(live_prometheus: Prometheus) -> None:
    check_rules_loaded(live_prometheus)
