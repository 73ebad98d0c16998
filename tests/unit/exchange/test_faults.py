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
