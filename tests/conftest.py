"""Fixtures shared by every test tier: a private Redis for the bus tests.

Resolution order: ``TEST_REDIS_URL`` → a ``redis-server`` binary on PATH (temp unix socket) →
testcontainers where a Docker engine answers → skip with the reason.
"""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run files of every ``kmm run`` a test starts go to a temp dir, never the user's ~/.kmm."""
    d = tmp_path_factory.mktemp("kmm-state")
    old = os.environ.get("KMM_STATE_DIR")
    os.environ["KMM_STATE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("KMM_STATE_DIR", None)
    else:
        os.environ["KMM_STATE_DIR"] = old


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No KMM_* setting of the shell that runs the tests (the state dir stays private); KMM_CONFIG, which
    ``kmm run --config`` sets in this process, is restored too."""
    monkeypatch.setenv("KMM_CONFIG", "")
    for var in list(os.environ):
        if (var.startswith("KMM_") and var != "KMM_STATE_DIR") or var in ("RUN_SECONDS", "REDIS_URL"):
            monkeypatch.delenv(var)
    return monkeypatch


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    env = os.environ.get("TEST_REDIS_URL")
    if env:
        yield env
        return
    from kmm.runner.redis_proc import RedisStartError, redis_server_binary, start_redis

    if redis_server_binary() is not None:
        try:
            rp = start_redis()
        except RedisStartError as exc:
            pytest.skip(f"redis-server failed to start: {exc}")
        try:
            yield rp.url
        finally:
            rp.stop()
        return
    try:
        try:
            from testcontainers.community.redis import RedisContainer  # type: ignore[import-not-found]
        except ImportError:
            from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]
        container = RedisContainer(image="redis:7.0")
        container.start()
    except Exception as exc:  # no Docker engine: docker.errors.DockerException and friends
        pytest.skip(f"no Redis: set TEST_REDIS_URL, install redis-server, or run Docker ({exc})")
    try:
        yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}"
    finally:
        container.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A clean private Redis for one test (FLUSHALL before)."""
    import redis

    c = redis.Redis.from_url(redis_server_url)
    c.flushall()
    c.close()
    return redis_server_url


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real Kalshi data not present at {SHARED_DATA}")
    return SHARED_DATA
