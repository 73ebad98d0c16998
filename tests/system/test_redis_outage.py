"""A Redis crash (kill -9) under a running consumer, fan-out reader and publisher: Redis restarts on
the same socket and directory from its AOF, and the process carries on without exiting — every
message published before the crash (acknowledged, hence fsynced) and after it is handled once, and
no publish queued during the outage is lost."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from kmm.bus.publisher import FIELD
from kmm.messages import Trade, decode, encode
from kmm.runner.redis_proc import RedisProcess, redis_server_binary, start_redis
from tests.helpers import eventually

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aof_redis(tmp_path: Path):
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")
    # appendfsync always: an entry is on disk before XADD answers, so "published before the crash"
    # is exact (the runner uses everysec: up to a second of entries may be lost in a crash).
    rp = start_redis(workdir=tmp_path / "redis", appendonly=True, appendfsync="always")
    yield rp
    rp.stop()


def publish(c: redis.Redis, stream: str, start: int, n: int) -> list[str]:
    ids = [f"{stream}-{i}" for i in range(start, start + n)]
    pipe = c.pipeline(transaction=False)
    for i, mid in enumerate(ids):
        pipe.xadd(stream, {FIELD: encode(Trade(msg_id=mid, market="M", trade_id=str(i), price=1, count=1,
                                                taker_side="yes"))})
    pipe.execute()
    return ids


def published_seqs(c: redis.Redis) -> set[int]:
    return {int(decode(f[FIELD]).trade_id) for _, f in c.xrange("test:out")}  # type: ignore[attr-defined]


def test_kill_9_redis_under_a_running_consumer_and_publisher(aof_redis: RedisProcess, tmp_path: Path) -> None:
    c = aof_redis.client()
    env = {**os.environ, "REDIS_URL": aof_redis.url}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([sys.executable, "-m", "tests.system.outage_worker"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: c.exists("test:ready"), timeout=30, what="worker started")
        before = publish(c, "test:in", 0, 3000)
        fanned_before = publish(c, "test:fan", 0, 200)
        eventually(lambda: c.hlen("effects") > 100, timeout=30, what="consumption under way")
        eventually(lambda: len(published_seqs(c)) > 10, timeout=30, what="the worker publishes")

        aof_redis.kill()  # mid-batch, mid-publish: no shutdown, no final fsync
        for part in ("publisher worker", "consumer worker on test:in", "fan-out worker on test:fan"):
            eventually(lambda p=part: f"{p}: Redis unreachable" in (tmp_path / "worker.log").read_text(),
                       timeout=20, what=f"{part} sees the outage")
        assert worker.poll() is None
        aof_redis.restart()
        c = aof_redis.client()
        assert c.xlen("test:in") == 3000  # everything acknowledged before the crash was on disk

        after = publish(c, "test:in", 3000, 1000)
        fanned_after = publish(c, "test:fan", 200, 50)
        eventually(lambda: c.hlen("effects") == 4000, timeout=60, interval=0.2, what="all 4000 handled")
        eventually(lambda: c.xpending("test:in", "worker")["pending"] == 0, timeout=30, what="all acked")
        eventually(lambda: set(fanned_after) <= {m.decode() for m in c.lrange("fanned", 0, -1)},
                   timeout=30, what="fan-out reads the entries after the restart")
        top = max(published_seqs(c))
        eventually(lambda: max(published_seqs(c)) > top + 10, timeout=30, what="the worker publishes again")
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        log.close()
    effects = {k.decode(): int(v) for k, v in c.hgetall("effects").items()}
    assert set(effects) == set(before + after) and set(effects.values()) == {1}
    assert c.xlen("dlq:worker") == 0
    fanned = {m.decode() for m in c.lrange("fanned", 0, -1)}
    assert set(fanned_after) <= fanned and set(fanned_before) <= fanned
    seqs = published_seqs(c)
    assert seqs == set(range(1, max(seqs) + 1))  # no queued publish was dropped (a resend may duplicate one)
    assert "Redis unreachable" in (tmp_path / "worker.log").read_text()
