"""promtool checks the Prometheus configs and alert rules; the rules' own unit tests pass; every
metric they name exists in the catalog."""

import yaml

from tests.unit.deploy.catalog import exported_names, referenced_names
from tests.unit.deploy.tools import DEPLOY, run_promtool

PROM = DEPLOY / "prometheus"
REQUIRED_ALERTS = {
    "KmmServiceDown", "KmmDeadLettersGrowing", "KmmConsumerLagHigh", "KmmTradingHalted",
    "KmmDeadManFired", "KmmPositionNearLimit", "KmmExchangeRateLimited",
}


def _check(*args: str) -> str:
    out = run_promtool(*args)
    assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def test_compose_config_is_valid() -> None:
    assert "SUCCESS" in _check("check", "config", str(PROM / "prometheus.yml"))


def test_kubernetes_config_is_valid() -> None:
    assert "SUCCESS" in _check("check", "config", str(PROM / "prometheus-k8s.yml"))


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS" in _check("check", "rules", str(PROM / "rules" / "kmm-alerts.yml"))


def test_alert_rules_fire_on_their_unit_test_series() -> None:
    assert "SUCCESS" in _check("test", "rules", str(PROM / "tests" / "kmm-alerts.test.yml"))


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "rules" / "kmm-alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_required_alerts_exist_with_severity_and_summary() -> None:
    rules = alert_rules()
    assert REQUIRED_ALERTS <= {r["alert"] for r in rules}
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        assert r["annotations"]["summary"], r["alert"]


def test_alerts_name_only_exported_metrics() -> None:
    known = exported_names()
    for r in alert_rules():
        unknown = referenced_names(r["expr"]) - known
        assert not unknown, f"{r['alert']} uses unknown metrics {unknown}"


def test_every_alert_has_a_unit_test_and_a_runbook_entry() -> None:
    tests_text = (PROM / "tests" / "kmm-alerts.test.yml").read_text()
    ops = (DEPLOY.parent / "docs" / "operations.md").read_text()
    for r in alert_rules():
        assert r["alert"] in ops, f"{r['alert']} missing from docs/operations.md"
    for name in REQUIRED_ALERTS:
        assert name in tests_text, f"{name} has no promtool unit test"
