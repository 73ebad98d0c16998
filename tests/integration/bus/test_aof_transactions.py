"""A Redis crash keeps what MULTI/EXEC wrote (found by the soak).

Redis 7.0 replays the AOF as its *default* user and re-checks the ACL at every EXEC
(redis/redis#14541, fixed upstream by #14545, not in Debian's 7.0.15). With the default user's
rules at ``-@all``, every transaction in the AOF was refused on reload, silently: after a kill -9,
``exec:report`` lost every message written with its copy, and risk lost the state it saves together
with a stream entry. The generated ACL keeps the default user ``off`` (nobody can authenticate as it)
but gives it the rules the replay needs.
"""

from pathlib import Path

import pytest
import redis

from kmm.bus import acl
from kmm.bus import topology as t
from kmm.runner.redis_proc import redis_server_binary, start_redis


@pytest.fixture
def aof_acl_redis(tmp_path: Path):
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")
    passwords = {u: f"pw-{u}" for u in acl.USERS}
    aclfile = tmp_path / "users.acl"
    aclfile.write_text(acl.render({u: acl.password_hash(p) for u, p in passwords.items()}))
    rp = start_redis(aclfile=aclfile, admin_password=passwords["admin"], workdir=tmp_path / "redis",
                     appendonly=True, appendfsync="always")
    yield rp, passwords
    rp.stop()


def test_transactions_survive_a_kill_9_and_the_aof_reload(aof_acl_redis) -> None:
    rp, pw = aof_acl_redis
    gateway = rp.client("gateway", pw["gateway"])
    with gateway.pipeline(transaction=True) as p:  # a report and its copy, as the publisher writes them
        p.xadd(t.EXEC_REPORT, {b"m": b"report"})
        p.xadd(t.EXEC_REPORT_QUOTER, {b"m": b"report"})
        p.execute()
    risk = rp.client("risk", pw["risk"])
    with risk.pipeline(transaction=True) as p:  # an approval and the state it was computed at
        p.xadd(t.ORD_APPROVED, {b"m": b"approval"})
        p.hset(t.state_key("risk"), "halted", "1")
        p.execute()
    gateway.xadd(t.EXEC_REPORT, {b"m": b"plain"})

    rp.kill()
    rp.restart()
    admin = rp.client("admin", pw["admin"])
    assert [f[b"m"] for _, f in admin.xrange(t.EXEC_REPORT)] == [b"report", b"plain"]
    assert admin.xlen(t.EXEC_REPORT_QUOTER) == 1
    assert admin.xlen(t.ORD_APPROVED) == 1
    assert admin.hget(t.state_key("risk"), "halted") == b"1"
    assert "NOPERM" not in (rp.dir / "redis.log").read_text()


def test_nobody_can_use_the_default_user(aof_acl_redis) -> None:
    rp, _ = aof_acl_redis
    anonymous = rp.client()
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.AuthenticationError):
        rp.client("default", "").ping()
    with pytest.raises(redis.AuthenticationError):
        rp.client("default", "anything").ping()
