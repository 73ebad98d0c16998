"""The permission matrix, generated from the topology table and proven with ACL DRYRUN on Redis 7.

Two layers: (1) every (user, stream) pair allows XADD exactly when the table names that user the
writer; (2) fixed policy that the table itself must not break: only risk writes ord:approved,
only gateway writes exec:report, no service may delete, trim, destroy groups or flush.
"""

import dataclasses
from pathlib import Path

import pytest
import redis

from kmm.bus import acl, topology
from kmm.runner.redis_proc import redis_server_binary, start_redis

FORBIDDEN = [
    ["XDEL", "{s}", "1-0"],
    ["XTRIM", "{s}", "MAXLEN", "0"],
    ["XGROUP", "DESTROY", "{s}", "g"],
    ["XGROUP", "CREATE", "{s}", "g", "$"],
    ["XSETID", "{s}", "1-0"],
    ["FLUSHALL"],
    ["DEL", "{s}"],
]


def dryrun(admin: redis.Redis, user: str, *args: str) -> bool:
    try:
        return admin.execute_command("ACL", "DRYRUN", user, *args) == b"OK"
    except redis.ResponseError as exc:
        if "permission" in str(exc).lower() or "no permissions" in str(exc).lower():
            return False
        raise


def veto_violations(admin: redis.Redis) -> list[str]:
    """The fixed policy: what must hold whatever the table says."""
    bad = []
    for user in topology.SERVICES:
        if dryrun(admin, user, "XADD", topology.ORD_APPROVED, "*", "m", "x") != (user == "risk"):
            bad.append(f"{user} XADD ord:approved")
        if dryrun(admin, user, "XADD", topology.EXEC_REPORT, "*", "m", "x") != (user == "gateway"):
            bad.append(f"{user} XADD exec:report")
        for cmd in FORBIDDEN:
            stream = topology.ORD_APPROVED
            if dryrun(admin, user, *[a.format(s=stream) for a in cmd]):
                bad.append(f"{user} {cmd[0]}")
    return bad


@pytest.fixture
def acl_redis(tmp_path: Path):
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")

    def start(table: tuple[topology.StreamSpec, ...] = topology.TOPOLOGY):
        passwords = {u: f"pw-{u}" for u in acl.USERS}
        aclfile = tmp_path / f"users-{len(started)}.acl"
        aclfile.write_text(acl.render({u: acl.password_hash(p) for u, p in passwords.items()}, table))
        rp = start_redis(aclfile=aclfile, admin_password=passwords["admin"],
                         workdir=tmp_path / f"r{len(started)}")
        started.append(rp)
        return rp, rp.client("admin", passwords["admin"]), passwords

    started: list = []
    yield start
    for rp in started:
        rp.stop()


def test_generated_matrix_matches_the_table(acl_redis) -> None:
    _, admin, _ = acl_redis()
    for user in topology.SERVICES:
        for spec in topology.TOPOLOGY:
            allowed = dryrun(admin, user, "XADD", spec.name, "*", "m", "x")
            assert allowed == (spec.writer == user), f"{user} XADD {spec.name}"
            if user in spec.fanout_readers:
                assert dryrun(admin, user, "XREAD", "COUNT", "1", "STREAMS", spec.name, "0")
            if user in spec.groups:
                assert dryrun(admin, user, "XREADGROUP", "GROUP", user, user, "STREAMS", spec.name, ">")
                assert dryrun(admin, user, "XACK", spec.name, user, "1-0")
                assert dryrun(admin, user, "XAUTOCLAIM", spec.name, user, user, "10", "0-0")
            if user not in spec.readers and spec.writer != user:
                assert not dryrun(admin, user, "XREAD", "COUNT", "1", "STREAMS", spec.name, "0")
                assert not dryrun(admin, user, "XACK", spec.name, user, "1-0")
    for user in topology.SERVICES:
        inputs = topology.group_inputs(user)
        if len(inputs) > 1:
            args = ["XREADGROUP", "GROUP", user, user, "STREAMS", *inputs, *([">"] * len(inputs))]
            assert dryrun(admin, user, *args), f"{user} multi-stream group read"


def test_veto_policy_holds(acl_redis) -> None:
    _, admin, _ = acl_redis()
    assert veto_violations(admin) == []


def test_letting_quoter_write_approvals_breaks_the_policy(acl_redis) -> None:
    bent = tuple(
        dataclasses.replace(s, writer="quoter") if s.name == topology.ORD_APPROVED else s
        for s in topology.TOPOLOGY
    )
    _, admin, _ = acl_redis(bent)
    assert "quoter XADD ord:approved" in veto_violations(admin)


def test_real_connections_obey_the_acl(acl_redis) -> None:
    rp, admin, pw = acl_redis()
    quoter = rp.client("quoter", pw["quoter"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        quoter.xadd(topology.ORD_APPROVED, {"m": b"x"})
    risk = rp.client("risk", pw["risk"])
    assert risk.xadd(topology.ORD_APPROVED, {"m": b"x"})
    with pytest.raises(redis.exceptions.AuthenticationError):
        rp.client("risk", "wrong").ping()
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
        redis.Redis.from_url(rp.url).set("k", "v")
