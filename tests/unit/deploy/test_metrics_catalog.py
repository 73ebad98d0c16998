"""The metric catalog follows Prometheus conventions and initialises its bounded label sets."""

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kmm.bus.topology import SERVICES
from kmm.chassis import metrics
from tests.unit.deploy.catalog import exported_names


def _families() -> dict:
    return {f.name: f for f in text_string_to_metric_families(generate_latest(REGISTRY).decode())}


def test_names_follow_prometheus_conventions() -> None:
    names = exported_names()
    assert names, "no metrics found"
    for name in names:
        assert name.startswith("kmm_"), name
    for obj in vars(metrics).values():
        if isinstance(obj, metrics.Gauge):
            assert not obj._name.endswith("_total"), f"gauge {obj._name} named like a counter"
        if isinstance(obj, metrics.Histogram):
            assert obj._name.endswith("_seconds"), obj._name
            assert obj._upper_bounds[0] == 0.00005 and obj._upper_bounds[-2] == 1.0, obj._name


def test_issue_7_metrics_exist() -> None:
    names = exported_names()
    required = {
        "kmm_bus_messages_published_total", "kmm_bus_messages_consumed_total",
        "kmm_bus_messages_dead_lettered_total", "kmm_bus_handler_duration_seconds_bucket",
        "kmm_bus_consumer_lag_messages", "kmm_bus_consumer_pending_messages", "kmm_tick_to_order_seconds_bucket",
        "kmm_orders_total", "kmm_exchange_request_duration_seconds_bucket", "kmm_rate_limit_tokens",
        "kmm_risk_denials_total", "kmm_trading_state", "kmm_position_contracts", "kmm_pnl_dollars",
        "kmm_build_info",
    }
    assert required <= names, required - names


def test_init_labels_creates_the_series_dashboards_need() -> None:
    for service in SERVICES:
        metrics.init_labels(service)
    metrics.init_market("KXTEST-1", "risk")
    fams = _families()
    samples = {(s.name, tuple(sorted(s.labels.items()))) for f in fams.values() for s in f.samples}

    def has(name: str, **labels: str) -> bool:
        want = set(labels.items())
        return any(n == name and want <= set(lab) for n, lab in samples)

    assert has("kmm_bus_messages_published_total", service="risk", stream="ord:approved")
    assert has("kmm_bus_messages_consumed_total", service="gateway", stream="ord:approved")
    assert has("kmm_bus_consumer_lag_messages", stream="exec:report:quoter", group="quoter")
    assert has("kmm_bus_consumer_lag_messages", stream="exec:report", group="risk")
    assert not has("kmm_bus_consumer_lag_messages", stream="exec:report", group="quoter")
    assert has("kmm_risk_denials_total", reason="position_limit")
    assert has("kmm_trading_state", state="HALTED")
    assert has("kmm_orders_total", outcome="rejected")
    assert has("kmm_exchange_requests_total", endpoint="/portfolio/events/orders", code="429")
    assert has("kmm_position_contracts", market="KXTEST-1")
    assert has("kmm_build_info", service="gateway")


def test_set_trading_state_marks_exactly_one_state() -> None:
    metrics.set_trading_state("REDUCING")
    values = {s: metrics.TRADING_STATE.labels(s)._value.get() for s in metrics.TRADING_STATES}
    assert values == {"ACTIVE": 0, "REDUCING": 1, "HALTED": 0}
    metrics.set_trading_state("ACTIVE")


def test_each_service_creates_only_its_own_per_market_series() -> None:
    """A quoter's zero position beside risk's real short one would win a dashboard's max by (market)."""
    metrics.init_market("KXQUOTED-1", "quoter")
    text = generate_latest(REGISTRY).decode()
    assert 'kmm_market_quotes_total{market="KXQUOTED-1"}' in text
    assert 'kmm_position_contracts{market="KXQUOTED-1"}' not in text
    assert 'kmm_pnl_dollars{kind="realized",market="KXQUOTED-1"}' not in text


def test_forget_market_removes_its_series() -> None:
    metrics.init_market("KXGONE-1", "risk")
    metrics.POSITION.labels("KXGONE-1").set(3)
    metrics.forget_market("KXGONE-1", "risk")
    text = generate_latest(REGISTRY).decode()
    assert "KXGONE-1" not in text


def test_http_code_class_is_bounded() -> None:
    got = {metrics.http_code_class(c) for c in (200, 201, 400, 404, 429, 500, 503, 302, 99, None)}
    assert got <= set(metrics.HTTP_CODE_CLASSES)
    assert metrics.http_code_class(429) == "429" and metrics.http_code_class(503) == "5xx"
