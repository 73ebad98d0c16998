"""Consumers killed with SIGKILL lose nothing: redelivery, exactly-once effects, DLQ for poison."""

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from kmm.bus.publisher import FIELD
from kmm.messages import DeadLetter, Trade, decode, encode
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
STREAM = "test:work"


def worker(url: str, consumer: str, **env: str) -> subprocess.Popen:
    full = {**os.environ, "REDIS_URL": url, "CONSUMER": consumer, "STREAM": STREAM, **env}
    return subprocess.Popen([sys.executable, "-m", "tests.system.bus_worker"], cwd=ROOT, env=full)


def publish(r: redis.Redis, n: int, start: int = 0) -> list[str]:
    ids = [f"m{i}" for i in range(start, start + n)]
    pipe = r.pipeline(transaction=False)
    for i, mid in enumerate(ids):
        pipe.xadd(STREAM, {FIELD: encode(Trade(msg_id=mid, market="M", trade_id=str(i), price=1, count=1,
                                                taker_side="yes"))})
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return ids


@pytest.fixture
def r(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(STREAM, "worker", id="0", mkstream=True)
    yield client
    client.close()


def kill(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)
    p.wait(10)


def test_kill_mid_batch_redelivers_and_effects_happen_once(r: redis.Redis, redis_url: str) -> None:
    ids = publish(r, 20)
    r.xadd(STREAM, {FIELD: b"\x93poison"})
    ids += publish(r, 10, start=20)
    p = worker(redis_url, "c1", PAUSE_AFTER="5")
    try:
        eventually(lambda: r.get("paused"), timeout=20, what="worker paused mid-batch")
        assert r.xpending(STREAM, "worker")["pending"] > 0  # the batch is in hand, unacked
        kill(p)
        p = worker(redis_url, "c1")  # same consumer name: replays its own pending entries
        eventually(lambda: r.hlen("effects") == 30, timeout=30, what="all 30 effects")
        eventually(lambda: r.xpending(STREAM, "worker")["pending"] == 0, timeout=10, what="all acked")
    finally:
        kill(p)
    effects = {k.decode(): int(v) for k, v in r.hgetall("effects").items()}
    invocations = {k.decode(): int(v) for k, v in r.hgetall("invocations").items()}
    assert set(effects) == set(ids) and set(effects.values()) == {1}
    assert max(invocations.values()) == 2  # what was in hand was handled again, and had no second effect
    letters = [decode(f[FIELD]) for _, f in r.xrange("dlq:worker")]
    assert len(letters) == 1 and isinstance(letters[0], DeadLetter)
    assert letters[0].stream == STREAM and letters[0].payload == b"\x93poison" and letters[0].reason


def test_100k_messages_with_random_kills_lose_nothing(r: redis.Redis, redis_url: str) -> None:
    n = 100_000
    rng = random.Random(7)
    ids = set(publish(r, n))
    procs = {c: worker(redis_url, c) for c in ("c1", "c2")}
    kills = 0
    try:
        while r.hlen("effects") < n and kills < 6:
            threading.Event().wait(rng.uniform(0.3, 1.2))  # random kill schedule, not a wait for an outcome
            victim = rng.choice(sorted(procs))
            kill(procs[victim])
            kills += 1
            procs[victim] = worker(redis_url, victim)
        eventually(lambda: r.hlen("effects") == n, timeout=240, interval=0.2, what="100k effects")
        eventually(lambda: r.xpending(STREAM, "worker")["pending"] == 0, timeout=30, what="all acked")
    finally:
        for p in procs.values():
            kill(p)
    assert kills >= 1
    effects = r.hgetall("effects")
    assert {k.decode() for k in effects} == ids
    assert {int(v) for v in effects.values()} == {1}
    assert r.xlen("dlq:worker") == 0
