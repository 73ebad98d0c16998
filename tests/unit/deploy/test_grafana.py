"""Grafana provisioning: the dashboard JSON parses, references only the provisioned datasource uid,
queries only exported metrics, and the provider path matches where compose and Kubernetes mount it."""

import json
import re

import pytest
import yaml

from tests.unit.deploy.catalog import exported_names, referenced_names
from tests.unit.deploy.tools import DEPLOY

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def provisioned_uid() -> str:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "kmm.yml").read_text())
    (ds,) = doc["datasources"]
    assert ds["type"] == "prometheus"
    return ds["uid"]


def panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return [p for p in out if p.get("type") != "row"]


def datasource_refs(node: object) -> list[object]:
    """Every value under a ``datasource`` key anywhere in the dashboard."""
    found: list[object] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "datasource":
                found.append(v)
            found.extend(datasource_refs(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(datasource_refs(v))
    return found


def test_there_is_a_dashboard() -> None:
    assert [p.name for p in DASHBOARDS] == ["kmm-overview.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_uses_only_the_provisioned_datasource(path) -> None:
    text = path.read_text()
    dash = json.loads(text)
    assert "${DS_" not in text and "__inputs" not in dash
    uid = provisioned_uid()
    refs = datasource_refs(dash)
    assert refs
    for ref in refs:
        assert ref == {"type": "prometheus", "uid": uid}, ref


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_queries_exported_metrics(path) -> None:
    dash = json.loads(path.read_text())
    known = exported_names()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in panels(dash):
        assert p["targets"], p["title"]
        for t in p["targets"]:
            unknown = referenced_names(t["expr"]) - known
            assert not unknown, f"panel {p['title']!r} uses unknown metrics {unknown}"


def test_dashboard_covers_the_issue_7_views() -> None:
    dash = json.loads((GRAFANA / "dashboards" / "kmm-overview.json").read_text())
    exprs = " ".join(t["expr"] for p in panels(dash) for t in p["targets"])
    for metric in ("kmm_pnl_dollars", "kmm_position_contracts", "kmm_market_quotes_total",
                   "kmm_market_filled_contracts_total", "kmm_tick_to_order_seconds_bucket",
                   "kmm_bus_consumer_lag_messages", "kmm_exchange_errors_total", "kmm_rate_limit_tokens",
                   "kmm_trading_state", "kmm_risk_denials_total"):
        assert metric in exprs, metric


def test_one_service_gauges_are_read_from_that_service() -> None:
    """Every service exports these gauges (at zero where it does not set them): a panel that does not
    select the service that sets them shows the zeros (a short position as 0, a dead gateway as fresh)."""
    dash = json.loads((GRAFANA / "dashboards" / "kmm-overview.json").read_text())
    owner = {"kmm_position_contracts": "risk", "kmm_position_limit_contracts": "risk",
             "kmm_exposure_dollars": "risk", "kmm_gateway_risk_heartbeat_age_seconds": "gateway"}
    seen = set()
    for p in panels(dash):
        for t in p["targets"]:
            for name, selector in re.findall(r"(kmm_[a-z_]+)(\{[^}]*\})?", t["expr"]):
                if name in owner:
                    seen.add(name)
                    assert f'service="{owner[name]}"' in selector, (p["title"], t["expr"])
    assert seen == set(owner)


def test_provider_path_matches_the_mounts() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "kmm.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    compose = (DEPLOY.parent / "docker-compose.yml").read_text()
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose
    monitoring = (DEPLOY / "k8s" / "components" / "monitoring" / "monitoring.yaml").read_text()
    assert f"mountPath: {path}" in monitoring
