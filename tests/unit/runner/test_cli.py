"""The runner's wind-down check that risk has booked every fill the gateway reported, and its summary."""

from kmm.runner.cli import print_summary, risk_booked_every_fill


def test_booked_when_risk_has_each_markets_last_sequence_whatever_the_counters_say() -> None:
    gateway = {"fills": 10, "fill_seq": {"A": 6, "B": 4}}
    risk = {"counts": {"fills": 4}, "fill_seq": {"A": 6, "B": 4}}  # risk restarted: its counter began at 0
    assert risk_booked_every_fill(gateway, risk)


def test_not_booked_while_a_market_is_behind_or_missing() -> None:
    assert not risk_booked_every_fill({"fill_seq": {"A": 6, "B": 4}}, {"fill_seq": {"A": 6, "B": 3}})
    assert not risk_booked_every_fill({"fill_seq": {"A": 6, "B": 4}}, {"fill_seq": {"A": 6}})


def test_a_risk_ahead_of_the_gateway_has_booked_it() -> None:
    """A gateway that lost its sequence catches up from risk's approvals; risk is then ahead."""
    assert risk_booked_every_fill({"fill_seq": {"A": 2}}, {"fill_seq": {"A": 5}})
    assert risk_booked_every_fill({"fill_seq": {}}, {"fill_seq": {}})


def test_a_service_that_did_not_answer_has_not_booked_anything() -> None:
    assert not risk_booked_every_fill({}, {"fill_seq": {"A": 1}})
    assert not risk_booked_every_fill({"fill_seq": {"A": 1}}, {})


def test_the_summary_says_which_figures_count_from_a_restart(capsys) -> None:
    summary = {"services": {"gateway": {"restarts": 1, "summary": "open 0"}, "risk": {"restarts": 0}},
               "totals": {"fills": 12, "orders_placed": 17, "tick_to_order_p50_ms": None}, "workdir": "/tmp/run"}
    print_summary(summary)
    out = capsys.readouterr().out
    assert "  fills: 12\n" in out and "  orders_placed: 17\n" in out and "  tick_to_order_p50_ms: -\n" in out
    assert "(orders_placed and tick_to_order: since the gateway's restart #1)" in out
    assert "risk's restart" not in out
