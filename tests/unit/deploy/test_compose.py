"""docker-compose.yml structure (no Docker engine here): services, healthchecks, start order, and
the Kalshi keys mounted only where they belong."""

import pytest
import yaml

from tests.unit.deploy.tools import DEPLOY, ROOT

KMM_SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _secret_sources(svc: dict) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in svc.get("secrets", [])}


def test_every_part_is_present(compose: dict) -> None:
    assert set(compose["services"]) == {
        "redis", "bootstrap", "exchange", *KMM_SERVICES, "prometheus", "grafana",
    }


def test_redis_is_7_0_with_acl_file_aof_and_noeviction(compose: dict) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7.0"
    cmd = " ".join(redis["command"])
    assert "--aclfile /etc/redis/users.acl" in cmd
    assert "--appendonly yes" in cmd
    assert "--maxmemory-policy noeviction" in cmd
    assert "./deploy/redis/users.acl:/etc/redis/users.acl:ro" in redis["volumes"]
    assert "healthcheck" in redis


def test_bootstrap_runs_once_after_redis_is_healthy(compose: dict) -> None:
    boot = compose["services"]["bootstrap"]
    assert boot["command"] == ["bootstrap"]
    assert boot["restart"] == "no"
    assert boot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert boot["environment"]["KMM_REDIS_USERNAME"] == "admin"


@pytest.mark.parametrize("name", KMM_SERVICES)
def test_service_runs_with_readyz_healthcheck_and_ordered_start(compose: dict, name: str) -> None:
    svc = compose["services"][name]
    assert svc["command"] == ["service", name]
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    deps = svc["depends_on"]
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["bootstrap"]["condition"] == "service_completed_successfully"
    assert all(d["condition"] in ("service_healthy", "service_completed_successfully") for d in deps.values())
    env = svc["environment"]
    assert env["KMM_REDIS_USERNAME"] == name
    assert env["KMM_REDIS_URL"] == "redis://redis:6379"
    assert env["KMM_HTTP_PORT"] == "8080"


def test_write_key_is_mounted_into_the_gateway_only(compose: dict) -> None:
    holders = {n for n, s in compose["services"].items() if "kalshi_write_key" in _secret_sources(s)}
    assert holders == {"gateway"}
    gw = compose["services"]["gateway"]["environment"]
    assert gw["KMM_KALSHI_PRIVATE_KEY_PATH"] == "/run/secrets/kalshi_write_key"
    # Nobody gets the key through a bind mount either.
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            assert "kalshi-write.pem" not in str(vol), name
        for key in svc.get("environment") or {}:
            if "PRIVATE_KEY" in key:
                assert name == "gateway", f"{name} sets {key}"


def test_read_key_is_mounted_into_marketdata_only(compose: dict) -> None:
    holders = {n for n, s in compose["services"].items() if "kalshi_read_key" in _secret_sources(s)}
    assert holders == {"marketdata"}


def test_each_service_gets_only_its_own_redis_password(compose: dict) -> None:
    for name in KMM_SERVICES:
        redis_secrets = {s for s in _secret_sources(compose["services"][name]) if s.startswith("redis_")}
        assert redis_secrets == {f"redis_{name}"}, name


def test_only_monitored_services_join_the_exchange_network(compose: dict) -> None:
    on_exchange = {n for n, s in compose["services"].items() if "exchange" in s.get("networks", [])}
    assert on_exchange == {"exchange", "marketdata", "gateway"}
    assert compose["networks"]["bus"]["internal"] is True
    assert compose["networks"]["exchange"]["internal"] is True


def test_prometheus_and_grafana_mount_the_shared_config(compose: dict) -> None:
    prom = compose["services"]["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in prom["volumes"]
    graf = compose["services"]["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in graf["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in graf["volumes"]
    assert "127.0.0.1:3000:3000" in graf["ports"]
    for vol in prom["volumes"] + graf["volumes"]:
        src = vol.split(":")[0]
        if src.startswith("./"):
            assert (ROOT / src).exists(), src


def test_compose_scrapes_every_service() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "kmm"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{s}:8080" for s in KMM_SERVICES}


def test_dockerfile_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "USER 10001:10001" in text
    assert 'ENTRYPOINT ["kmm"]' in text


@pytest.mark.parametrize("name", KMM_SERVICES)
def test_services_listen_on_all_interfaces_explicitly(compose: dict, name: str) -> None:
    # KMM_HTTP_HOST defaults to 127.0.0.1; in a container the healthcheck and Prometheus need 0.0.0.0.
    assert compose["services"][name]["environment"]["KMM_HTTP_HOST"] == "0.0.0.0"


def test_the_admin_token_is_mounted_into_risk_only(compose: dict) -> None:
    holders = {n for n, s in compose["services"].items() if "admin_token" in _secret_sources(s)}
    assert holders == {"risk"}
    risk = compose["services"]["risk"]
    (mount,) = [s for s in risk["secrets"] if isinstance(s, dict) and s["source"] == "admin_token"]
    assert risk["environment"]["KMM_ADMIN_TOKEN_FILE"] == f"/run/secrets/{mount['target']}"
    assert compose["secrets"]["admin_token"]["file"] == "./deploy/secrets/admin.token"
