"""The runner's wind-down check that risk has booked every fill the gateway reported, its summary, the
files it writes where asked, its settings check before the start and what it says about bad settings."""

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest

from kmm.runner import cli as runner
from kmm.runner.cli import Run, exit_report, print_summary, risk_booked_every_fill
from kmm.runner.session import JOURNAL


def run_args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    return parser.parse_args(list(flags))


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


class ReadyClient:
    """Every service answers /readyz ready."""

    def try_get(self, name: str, path: str, ok: tuple[int, ...] = (200,)) -> tuple[dict[str, Any], int]:
        return {"ready": True}, 200


def test_the_ports_file_goes_into_a_directory_that_did_not_exist(tmp_path: Path, clean_env) -> None:
    ports = tmp_path / "some" / "missing" / "dir" / "ports.json"
    run = Run(run_args("--workdir", str(tmp_path / "w"), "--ports-file", str(ports)))
    try:
        run.publish_when_ready(ReadyClient())  # type: ignore[arg-type]
    finally:
        runner.discovery.withdraw(os.getpid())
    assert run.published and json.loads(ports.read_text()) == {}


def test_the_summary_json_goes_into_a_directory_that_did_not_exist(tmp_path: Path, clean_env) -> None:
    """README's `kmm run --summary-json out/summary.json` on a fresh clone: out/ is made, not a traceback."""
    out = tmp_path / "out" / "summary.json"
    for step in ("start_all", "loop", "wind_down"):
        clean_env.setattr(Run, step, lambda self: None)
    clean_env.setattr(Run, "summary", lambda self: {"services": {}, "workdir": str(self.workdir)})
    clean_env.setattr(Run, "shutdown", lambda self: {})
    assert runner.main(run_args("--workdir", str(tmp_path / "w"), "--summary-json", str(out))) == 0
    assert json.loads(out.read_text())["exit_codes"] == {}


def test_a_bad_service_setting_refuses_the_run_before_anything_starts(tmp_path: Path, clean_env, capsys) -> None:
    config = tmp_path / "kmm.toml"
    config.write_text("[quoter]\ngamma = -7.25\n")

    def start_all(self: Run) -> None:
        raise AssertionError("kmm run started something despite a bad setting")

    clean_env.setattr(Run, "start_all", start_all)
    assert runner.main(run_args("--workdir", str(tmp_path / "w"), "--config", str(config))) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (f"quoter: invalid setting KMM_GAMMA (gamma at {config} line 2 [quoter]): "
                                   "Input should be greater than 0")
    assert "nothing was started" in err and "7.25" not in err and "Traceback" not in err


def test_the_settings_check_sees_what_the_runner_sets_for_each_service(tmp_path: Path, clean_env) -> None:
    """The runner gives each service its port, Redis and files: a bad one of this shell does not count."""
    clean_env.setenv("KMM_HTTP_PORT", "99999")
    clean_env.setenv("KMM_REDIS_URL", "http://not-redis")
    clean_env.setenv("KMM_GAMMA", "0.5")
    run = Run(run_args("--workdir", str(tmp_path)))
    assert run.settings_problems() == []
    assert run.live_parameters()["gamma"] == 0.5  # what the session records: as the quoter reads it
    clean_env.setenv("KMM_DEAD_MAN_TIMEOUT_S", "0")  # one the runner leaves to the service
    assert run.settings_problems() == ["gateway: invalid setting KMM_DEAD_MAN_TIMEOUT_S: Input should be greater than 0"]


def test_the_session_writer_names_a_bad_setting_not_its_value(tmp_path: Path, clean_env, capsys) -> None:
    """An old journal (no recorded parameters) under a bad KMM_GAMMA: the pydantic text would show the value."""
    (tmp_path / JOURNAL).write_bytes(b"")
    clean_env.setenv("KMM_GAMMA", "-7.25")
    run = Run(run_args("--workdir", str(tmp_path)))
    run.journal = object()  # type: ignore[assignment]  # the run recorded
    assert run.write_session() is None
    err = capsys.readouterr().err
    assert "kmm run: could not write the session (quoter: invalid setting KMM_GAMMA: Input should be greater than 0)" \
        in err
    assert "7.25" not in err and "input_value" not in err


def test_a_misconfigured_services_own_lines_are_all_that_is_repeated(tmp_path: Path) -> None:
    log = tmp_path / "quoter.log"
    log.write_text('{"msg": "started", "gamma": "-1"}\nquoter: invalid setting KMM_GAMMA: Input should be greater '
                   "than 0\nquoter: invalid setting KMM_KAPPA: Input should be greater than 0\n")
    assert runner.bad_setting_lines(log, "quoter") == ["quoter: invalid setting KMM_GAMMA: Input should be greater than 0",
                                                "quoter: invalid setting KMM_KAPPA: Input should be greater than 0"]
    log.write_text("Traceback (most recent call last):\n  ValueError: -1\n")
    assert runner.bad_setting_lines(log, "quoter") == []
    assert runner.bad_setting_lines(tmp_path / "missing.log", "quoter") == []


def test_a_bad_run_option_is_one_line_naming_its_type_not_its_value(clean_env, capsys) -> None:
    clean_env.setenv("KMM_SIM_SPEED", "fast")
    with pytest.raises(SystemExit) as exc:
        runner.resolve_options(run_args())
    assert exc.value.code == 2
    assert capsys.readouterr().err == "kmm run: invalid setting speed (env KMM_SIM_SPEED): expected a number\n"


@pytest.mark.parametrize("raw", ["-1", "nan", "soon"])
def test_a_liveness_timeout_is_seconds_not_below_zero(raw: str, clean_env, capsys) -> None:
    clean_env.setenv("KMM_LIVENESS_S", raw)
    with pytest.raises(SystemExit) as exc:
        runner.resolve_options(run_args())
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("kmm run: invalid setting liveness_s (env KMM_LIVENESS_S): "
                                       "expected a number of seconds >= 0\n")
    with pytest.raises(SystemExit):
        run_args("--liveness-s", raw)
    assert "argument --liveness-s: invalid seconds (>= 0) value" in capsys.readouterr().err


def test_liveness_defaults_to_the_clusters_probe_and_0_turns_it_off(clean_env) -> None:
    assert runner.resolve_options(args := run_args()) and args.liveness_s == 30.0
    off = run_args("--liveness-s", "0")
    runner.resolve_options(off)
    assert off.liveness_s == 0.0


def test_the_exit_report_names_the_services_the_stop_had_to_kill() -> None:
    assert exit_report({"quoter": 2}) == ["services exited badly: {'quoter': 2}"]
    assert exit_report({"gateway": -9, "quoter": 2})[1:] == [
        "  gateway did not stop within its timeout and was killed (SIGKILL)"]


def test_the_summary_says_when_the_recording_dropped_old_entries(capsys) -> None:
    session = {"events": 10, "overall": {"fills": 1, "pnl_usd": 0.5},
               "market_data_dropped": {"frames": 12345, "bytes": 1, "until_ns": 0}}
    print_summary({"services": {}, "workdir": "/w", "session": session})
    out = capsys.readouterr().out
    assert "12,345 older entries dropped at --record-max-mb); every fill and settlement is in it" in out


def test_the_recording_cap_must_be_a_whole_number_of_mib_at_least_0(clean_env, capsys) -> None:
    assert runner.resolve_options(args := run_args()) and args.record_max_mb == 128
    off = run_args("--record-max-mb", "0")
    runner.resolve_options(off)
    assert off.record_max_mb == 0
    with pytest.raises(SystemExit):
        run_args("--record-max-mb", "-1")
    assert "argument --record-max-mb: invalid MiB" in capsys.readouterr().err
    clean_env.setenv("KMM_RECORD_MAX_MB", "1.5")
    with pytest.raises(SystemExit):
        runner.resolve_options(run_args())
    assert "invalid setting record_max_mb (env KMM_RECORD_MAX_MB): expected a whole number of MiB >= 0" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "inf", "soon"])
def test_a_simulated_close_schedule_is_minutes_above_zero(raw: str, clean_env, capsys) -> None:
    clean_env.setenv("KMM_SIM_FIRST_CLOSE_MINUTES", raw)
    with pytest.raises(SystemExit) as exc:
        runner.resolve_options(run_args())
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("kmm run: invalid setting first_close_minutes (env "
                                       "KMM_SIM_FIRST_CLOSE_MINUTES): expected a number of minutes > 0\n")
    with pytest.raises(SystemExit):
        run_args("--close-spacing-minutes", raw)
    assert "argument --close-spacing-minutes: invalid minutes (> 0) value" in capsys.readouterr().err


def test_the_close_schedule_reaches_the_simulator_only_when_set(clean_env, tmp_path: Path) -> None:
    def sim_argv(*flags: str) -> list[str]:
        runner.resolve_options(args := run_args(*flags))
        return runner.simulator_argv(args, 8000, tmp_path / "keys", tmp_path / "sim.ready")

    argv = sim_argv()
    assert "--first-close-minutes" not in argv and "--close-spacing-minutes" not in argv
    argv = sim_argv("--first-close-minutes", "6", "--close-spacing-minutes", "2.5")
    assert argv[argv.index("--first-close-minutes") + 1] == "6.0"
    assert argv[argv.index("--close-spacing-minutes") + 1] == "2.5"
    clean_env.setenv("KMM_SIM_CLOSE_SPACING_MINUTES", "4")
    assert sim_argv()[sim_argv().index("--close-spacing-minutes") + 1] == "4.0"
