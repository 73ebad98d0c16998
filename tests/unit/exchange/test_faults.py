"""Fault-injection state: bursts are consumed one request at a time, path filters, validation."""

import pytest

from kmm_services.exchange.faults import Faults


def test_bursts_are_consumed_per_request() -> None:
    f = Faults()
    f.update({"rate_limit_next": 2, "error_next": 1, "error_status": 503})
    assert f.take_error("/markets") == 503
    assert f.take_error("/markets") is None
    assert [f.take_rate_limit("/markets") for _ in range(3)] == [True, True, False]


def test_paths_limit_the_bursts() -> None:
    f = Faults()
    f.update({"error_next": 1, "paths": ["/portfolio"]})
    assert f.take_error("/markets") is None
    assert f.take_error("/portfolio/balance") == 500


def test_seq_gaps_and_reset_keep_the_drop_generation() -> None:
    f = Faults()
    f.update({"ws_seq_gaps": 1, "drop_ws": True, "paused": True, "latency_ms": 20})
    assert f.take_seq_gap() and not f.take_seq_gap()
    f.reset()
    assert (f.paused, f.latency_ms, f.ws_drop_generation) == (False, 0, 1)


def test_update_rejects_unknown_fields_and_non_5xx() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Faults().update({"explode": True})
    with pytest.raises(ValueError, match="5xx"):
        Faults().update({"error_status": 404})


def test_error_after_and_latency_paths() -> None:
    f = Faults()
    f.update({"error_after_next": 2, "error_status": 503, "paths": ["/portfolio/events/orders"],
              "latency_ms": 250, "latency_paths": ["/portfolio/events/orders"]})
    assert f.take_error("/portfolio/events/orders") is None  # the before-processing burst is separate
    assert f.take_error_after("/markets") is None
    assert [f.take_error_after("/portfolio/events/orders/batched") for _ in range(3)] == [503, 503, None]
    assert f.latency_s("/portfolio/events/orders") == 0.25 and f.latency_s("/markets") == 0.0
    f.update({"latency_paths": []})
    assert f.latency_s("/markets") == 0.25


def test_bad_values_change_nothing() -> None:
    f = Faults()
    for bad in ({"error_after_next": -1}, {"latency_paths": "/portfolio"}, {"latency_ms": "9"},
                {"error_next": 3, "error_status": 404}, {"paused": "yes"}):
        with pytest.raises(ValueError):
            f.update(bad)
    assert f.as_dict() == Faults().as_dict()
