"""Bad settings never give a traceback: ``kmm service`` exits 2 naming the variable, never its value."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmm.chassis.settings import ServiceSettings, SettingError, check_redis_url

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379", "redis://redis:6379/0", "rediss://user:pw@host:6380", "unix:///tmp/redis.sock",
    "unix:///run/r.sock?db=1", "redis://[::1]:6379",
])
def test_good_redis_urls(url: str) -> None:
    assert check_redis_url(url) == url


@pytest.mark.parametrize("url, problem", [
    ("garbage", "scheme"),
    ("http://127.0.0.1:6379", "scheme"),
    ("redis://127.0.0.1:notaport", "not a valid URL"),
    ("redis://127.0.0.1:99999", "not a valid URL"),
    ("redis://", "needs a host"),
    ("unix://", "socket path"),
    ("redis://host:6379/zero", "database number"),
])
def test_bad_redis_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_redis_url(url)


def test_http_host_defaults_to_loopback() -> None:
    assert ServiceSettings().http_host == "127.0.0.1"


def test_unreadable_or_empty_files_are_setting_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for kw, var in (({"admin_token_file": tmp_path / "missing"}, "KMM_ADMIN_TOKEN_FILE"),
                    ({"admin_token_file": empty}, "KMM_ADMIN_TOKEN_FILE"),
                    ({"redis_password_file": tmp_path / "missing"}, "KMM_REDIS_PASSWORD_FILE")):
        with pytest.raises(SettingError, match=f"invalid setting {var}"):
            ServiceSettings(**kw).check_files()


def run_service(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KMM_")}
    return subprocess.run([sys.executable, "-m", "kmm.cli", "service", name], env={**clean, **env},
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("env, variable", [
    ({"KMM_REDIS_URL": "garbage"}, "KMM_REDIS_URL"),
    ({"KMM_REDIS_URL": "redis://:hunter2-secret@host:notaport"}, "KMM_REDIS_URL"),
    ({"KMM_HTTP_PORT": "70000"}, "KMM_HTTP_PORT"),
    ({"KMM_MAX_DELIVERIES": "many"}, "KMM_MAX_DELIVERIES"),
    ({"KMM_PARENT_PID": "-4"}, "KMM_PARENT_PID"),
    ({"KMM_REDIS_PASSWORD_FILE": "/nonexistent/redis.password"}, "KMM_REDIS_PASSWORD_FILE"),
    ({"KMM_ADMIN_TOKEN_FILE": "/nonexistent/admin.token"}, "KMM_ADMIN_TOKEN_FILE"),
])
def test_a_bad_setting_exits_2_naming_it_without_a_traceback(env: dict[str, str], variable: str) -> None:
    out = run_service("selector", **env)
    assert out.returncode == 2, out.stderr
    assert f"selector: invalid setting {variable}: " in out.stderr
    assert "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr  # values are never echoed (a URL may hold a password)


def test_a_missing_key_file_exits_2_through_the_same_path(tmp_path: Path) -> None:
    out = run_service("gateway", KMM_KALSHI_KEY_ID="k", KMM_KALSHI_PRIVATE_KEY_PATH=str(tmp_path / "nope.pem"))
    assert out.returncode == 2, out.stderr
    assert "gateway: invalid setting KMM_KALSHI_PRIVATE_KEY_PATH: " in out.stderr
    assert "Traceback" not in out.stderr
