"""The one config file: precedence (env > [service] > [common] > default), errors that name the setting
and the file line, ``kmm config show|check``, and ``kmm run``'s ``[run]`` table."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from kmm.chassis.config import ConfigError, load_config
from kmm.chassis.settings import ServiceSettings, describe, explain
from kmm.cli import main as kmm
from kmm.runner import cli as runner
from kmm_services.quoter.service import QuoterSettings
from kmm_services.risk.service import RiskSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a config file, point KMM_CONFIG at it, return its path."""
    for var in ("KMM_GAMMA", "KMM_KAPPA", "KMM_LOG_LEVEL", "KMM_SIM_MARKETS", "KMM_MODE", "RUN_SECONDS"):
        monkeypatch.delenv(var, raising=False)

    def write(text: str) -> Path:
        path = tmp_path / "kmm.toml"
        path.write_text(text)
        monkeypatch.setenv("KMM_CONFIG", str(path))
        return path

    return write


def test_precedence_env_over_service_table_over_common_over_default(config, monkeypatch) -> None:
    config('[common]\nlog_level = "DEBUG"\n\n[quoter]\ngamma = 0.5\nkappa = 2.5\nlog_level = "WARNING"\n')
    monkeypatch.setenv("KMM_KAPPA", "3.0")
    q = QuoterSettings()
    assert (q.gamma, q.kappa, q.log_level) == (0.5, 3.0, "WARNING")
    r = RiskSettings()
    assert r.log_level == "DEBUG"  # [common] reaches every service
    assert r.position_limit_contracts == 200  # default


def test_explain_names_each_source_and_default(config, monkeypatch) -> None:
    path = config('[quoter]\n# comment\ngamma = 0.5\n')
    monkeypatch.setenv("KMM_KAPPA", "3.0")
    rows = {r["setting"]: r for r in explain(QuoterSettings)}
    assert rows["gamma"]["value"] == 0.5 and rows["gamma"]["default"] == 0.3
    assert rows["gamma"]["source"] == f"{path} line 3 [quoter]"
    assert rows["kappa"]["source"] == "env KMM_KAPPA"
    assert rows["eta"]["source"] == "default"


def test_secrets_are_masked_in_explain(config, monkeypatch) -> None:
    config("")
    monkeypatch.setenv("KMM_REDIS_PASSWORD", "hunter2")
    monkeypatch.setenv("KMM_REDIS_URL", "redis://user:hunter3@host:6379")
    text = json.dumps(explain(ServiceSettings))
    assert "hunter2" not in text and "hunter3" not in text
    assert "********" in text


def test_a_bad_value_names_the_setting_and_the_file_line(config) -> None:
    path = config('[quoter]\nkappa = 1.0\ngamma = -1\n')
    with pytest.raises(ValidationError) as exc:
        QuoterSettings()
    assert describe(exc.value, QuoterSettings) == [
        f"invalid setting KMM_GAMMA (gamma at {path} line 3 [quoter]): Input should be greater than 0"]


@pytest.mark.parametrize("text, problem", [
    ('[quoter]\ngama = 1\n', "unknown setting 'gama' at {path} line 2 [quoter] (not a quoter setting)"),
    ('[common]\ngamma = 1\n', "unknown setting 'gamma' at {path} line 2 [common]"),
    ('[quoterr]\ngamma = 1\n', "unknown table [quoterr] at {path} line 1"),
    ('gamma = 1\n', "setting 'gamma' at {path} line 1 is outside a table"),
    ('[quoter]\ngamma = \n', "{path} is not valid TOML"),
    ('[quoter]\ngamma = { a = 1 }\n', "setting 'gamma' at {path} line 2 [quoter] must be a value, not a table"),
])
def test_file_problems_are_config_errors_naming_the_place(config, text: str, problem: str) -> None:
    path = config(text)
    with pytest.raises(ConfigError) as exc:
        QuoterSettings()
    assert problem.format(path=path) in str(exc.value)


def test_a_service_with_a_bad_file_exits_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "kmm.toml"
    path.write_text("[gateway]\ndead_man_timeout_s = -3\n")
    env = {"PATH": "/usr/bin:/bin", "KMM_CONFIG": str(path)}
    out = subprocess.run([sys.executable, "-m", "kmm.cli", "service", "gateway"], env=env, capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert f"gateway: invalid setting KMM_DEAD_MAN_TIMEOUT_S (dead_man_timeout_s at {path} line 2 [gateway])" \
        in out.stderr
    assert "Traceback" not in out.stderr


def test_no_config_file_means_env_and_defaults(monkeypatch) -> None:
    monkeypatch.delenv("KMM_CONFIG", raising=False)
    assert load_config() is None
    assert QuoterSettings().gamma == 0.3


def parse_run(*flags: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    runner.add_arguments(p)
    args = p.parse_args(list(flags))
    runner.resolve_options(args)
    return args


def test_run_table_between_flags_env_and_defaults(config, monkeypatch) -> None:
    path = config('[run]\nmarkets = 4\nspeed = 2.5\nrecord = false\n')
    monkeypatch.setenv("KMM_SIM_SEED", "9")
    args = parse_run("--speed", "7")
    assert (args.markets, args.speed, args.seed, args.record, args.tier) == (4, 7.0, 9, False, "basic")
    assert args._sources["markets"] == f"{path} line 2 [run]"
    assert args._sources["speed"] == "flag" and args._sources["seed"] == "env KMM_SIM_SEED"


def test_run_table_bad_value_exits_2_naming_it(config, capsys) -> None:
    path = config('[run]\nmode = "paper"\n')
    with pytest.raises(SystemExit) as exc:
        parse_run()
    assert exc.value.code == 2
    assert f"invalid setting mode ({path} line 2 [run]): must be one of sim, dry-run, live" in capsys.readouterr().err


def test_run_table_unknown_key_exits_2_naming_it(config, capsys) -> None:
    path = config('[run]\nmarket = 4\n')
    with pytest.raises(SystemExit) as exc:
        parse_run()
    assert exc.value.code == 2
    assert f"unknown setting 'market' at {path} line 2 [run] (not a kmm run option)" in capsys.readouterr().err


def test_config_show_json_lists_every_service_and_run(config, capsys) -> None:
    path = config('[risk]\nmax_daily_loss_dollars = 50\n[run]\nmarkets = 3\n')
    assert kmm(["config", "show", "--json", "--changed"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == str(path)
    assert out["settings"]["risk"] == [{"setting": "max_daily_loss_dollars", "env": "KMM_MAX_DAILY_LOSS_DOLLARS",
                                        "value": 50, "source": f"{path} line 2 [risk]", "default": 200, "help": ""}]
    assert [r["setting"] for r in out["settings"]["run"]] == ["markets"]
    assert out["settings"]["quoter"] == []


def test_config_show_table_and_check(config, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no folding of the long temp path
    config('[quoter]\ngamma = 0.4\n')
    assert kmm(["config", "show", "--service", "quoter"]) == 0
    out = capsys.readouterr().out
    assert "gamma" in out and "0.4" in out and "line 2 [quoter]" in out
    assert kmm(["config", "check"]) == 0
    assert "config OK" in capsys.readouterr().out


def test_config_check_fails_with_the_setting_named(config, capsys) -> None:
    path = config('[selector]\nmax_markets = "many"\n')
    assert kmm(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert f"selector: invalid setting KMM_MAX_MARKETS (max_markets at {path} line 2 [selector])" in err
