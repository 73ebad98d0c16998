"""``kmm config check`` reads the files each service reads at start (password, admin token, Kalshi keys)
and names what is wrong with each, never a value or a key; a bad ``[run]`` option is one line."""

from pathlib import Path

from kmm.cli import main as kmm
from kmm.kalshi.auth import generate_private_pem
from kmm.ops import config_cmd


def test_files_a_service_cannot_read_fail_the_check_naming_the_setting(tmp_path: Path, clean_env, capsys) -> None:
    key = tmp_path / "write.pem"
    key.write_text("SECRET-MATERIAL\n")  # not a key: the message names the file, never its contents
    clean_env.setenv("KMM_REDIS_PASSWORD_FILE", str(tmp_path / "missing.password"))
    clean_env.setenv("KMM_ADMIN_TOKEN_FILE", str(tmp_path))  # a directory: unreadable as a file
    clean_env.setenv("KMM_KALSHI_PRIVATE_KEY_PATH", str(key))
    clean_env.setenv("KMM_KALSHI_READ_KEY_PATH", str(tmp_path / "missing.pem"))
    assert kmm(["config", "check"]) == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert "config OK" not in captured.out
    assert f"quoter: invalid setting KMM_REDIS_PASSWORD_FILE: cannot read {tmp_path / 'missing.password'}: " \
           "No such file or directory" in err
    assert f"gateway: invalid setting KMM_KALSHI_PRIVATE_KEY_PATH: {key} is not an unencrypted PEM private key " \
           "(PKCS#1 or PKCS#8)" in err
    assert f"marketdata: invalid setting KMM_KALSHI_READ_KEY_PATH: cannot read private key file " \
           f"{tmp_path / 'missing.pem'}: No such file or directory" in err
    assert "SECRET-MATERIAL" not in captured.err + captured.out
    clean_env.delenv("KMM_REDIS_PASSWORD_FILE")
    assert config_cmd.service_problems("risk") == [f"risk: invalid setting KMM_ADMIN_TOKEN_FILE: cannot read {tmp_path}: "
                                        "Is a directory"]


def test_readable_files_and_unset_key_paths_pass(tmp_path: Path, clean_env, capsys) -> None:
    assert kmm(["config", "check"]) == 0  # no key file configured: nothing to read
    assert "config OK" in capsys.readouterr().out
    (tmp_path / "redis.password").write_text("pw\n")
    (tmp_path / "write.pem").write_bytes(generate_private_pem())
    clean_env.setenv("KMM_REDIS_PASSWORD_FILE", str(tmp_path / "redis.password"))
    clean_env.setenv("KMM_KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "write.pem"))
    assert kmm(["config", "check"]) == 0
    out = capsys.readouterr()
    assert "PRIVATE KEY" not in out.out + out.err


def test_show_does_not_read_the_files(tmp_path: Path, clean_env, capsys) -> None:
    """Only check reads them: show still lists the settings of a machine without the files."""
    clean_env.setenv("KMM_REDIS_PASSWORD_FILE", str(tmp_path / "missing.password"))
    assert kmm(["config", "show", "--service", "quoter", "--json"]) == 0
    assert "redis_password_file" in capsys.readouterr().out


def test_a_bad_run_option_is_one_line_naming_the_type_not_the_value(clean_env, capsys) -> None:
    clean_env.setenv("KMM_SIM_SPEED", "fast")
    assert kmm(["config", "check"]) == 2
    assert capsys.readouterr().err == "run: invalid setting speed (env KMM_SIM_SPEED): expected a number\n"
