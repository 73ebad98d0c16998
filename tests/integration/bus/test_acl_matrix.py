"""The permission matrix, generated from the topology table and proven with ACL DRYRUN on Redis 7.

Three layers: (1) every (user, stream) pair allows XADD exactly when the table names that user the
writer, group commands exactly when the user's group reads that stream, XREAD when it reads it
fan-out and never when it neither reads nor writes it; (2) every (user, service) pair allows the state-hash commands on
``state:<service>`` exactly when they are the same service; (3) fixed policy that the table itself
must not break: only risk writes ord:approved, only gateway writes exec:report, no service may
delete, trim, destroy groups or flush.
"""

import dataclasses
from pathlib import Path

import pytest
import redis

from kmm.bus import acl, topology
from kmm.runner.redis_proc import redis_server_binary, start_redis

# Never allowed to a service user, on any stream.
FORBIDDEN = [
    ["XDEL", "{s}", "1-0"],
    ["XTRIM", "{s}", "MAXLEN", "0"],
    ["XGROUP", "DESTROY", "{s}", "g"],
    ["XGROUP", "SETID", "{s}", "g", "$"],
    ["XGROUP", "DELCONSUMER", "{s}", "g", "c"],
    ["XGROUP", "CREATECONSUMER", "{s}", "g", "c"],
    ["XSETID", "{s}", "1-0"],
    ["FLUSHALL"],
    ["DEL", "{s}"],
    ["HSET", "{s}", "f", "v"],
]


def group_commands(user: str, group: str, stream: str) -> list[list[str]]:
    """Every group command a consumer runs, as ``user`` would send them for ``group`` on ``stream``."""
    return [
        ["XREADGROUP", "GROUP", group, user, "STREAMS", stream, ">"],
        ["XACK", stream, group, "1-0"],
        ["XCLAIM", stream, group, user, "10", "1-0"],
        ["XAUTOCLAIM", stream, group, user, "10", "0-0"],
        ["XPENDING", stream, group, "-", "+", "10"],
        ["XINFO", "GROUPS", stream],
        ["XGROUP", "CREATE", stream, group, "0", "MKSTREAM"],
    ]


STATE_COMMANDS = [
    ["HSET", "{k}", "f", "1"],
    ["HGET", "{k}", "f"],
    ["HGETALL", "{k}"],
    ["HDEL", "{k}", "f"],
    ["HINCRBY", "{k}", "f", "1"],
    ["DEL", "{k}"],
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
        for spec in topology.TOPOLOGY:
            for cmd in FORBIDDEN:
                if dryrun(admin, user, *[a.format(s=spec.name) for a in cmd]):
                    bad.append(f"{user} {' '.join(cmd[:2])} {spec.name}")
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
            where = f"{user} on {spec.name}"
            assert dryrun(admin, user, "XADD", spec.name, "*", "m", "x") == (spec.writer == user), f"XADD {where}"
            xread = dryrun(admin, user, "XREAD", "COUNT", "1", "STREAMS", spec.name, "0")
            if user in spec.fanout_readers:
                assert xread, f"XREAD {where}"
            elif spec.writer != user:
                assert not xread, f"XREAD {where}"
            # The ACL cannot see group names: what keeps a service out of another's group is that a
            # group stream has one group, and only that group's service may run group commands on it.
            for group in topology.SERVICES:
                for cmd in group_commands(user, group, spec.name):
                    assert dryrun(admin, user, *cmd) == (user in spec.groups), f"{' '.join(cmd[:2])} {where}"
    for user in topology.SERVICES:
        inputs = topology.group_inputs(user)
        if len(inputs) > 1:
            args = ["XREADGROUP", "GROUP", user, user, "STREAMS", *inputs, *([">"] * len(inputs))]
            assert dryrun(admin, user, *args), f"{user} multi-stream group read"


def test_each_group_stream_is_readable_by_its_own_group_only(acl_redis) -> None:
    _, admin, _ = acl_redis()
    for spec in topology.TOPOLOGY:
        assert len(spec.groups) <= 1, spec.name
    for cmd in group_commands("quoter", "risk", topology.EXEC_REPORT) + group_commands(
            "quoter", "quoter", topology.EXEC_REPORT):
        assert not dryrun(admin, "quoter", *cmd), cmd
    for cmd in group_commands("risk", "quoter", topology.EXEC_REPORT_QUOTER) + group_commands(
            "risk", "risk", topology.EXEC_REPORT_QUOTER):
        assert not dryrun(admin, "risk", *cmd), cmd
    for cmd in group_commands("quoter", "quoter", topology.EXEC_REPORT_QUOTER):
        assert dryrun(admin, "quoter", *cmd), cmd
    for cmd in group_commands("risk", "risk", topology.EXEC_REPORT):
        assert dryrun(admin, "risk", *cmd), cmd


def test_state_keys_belong_to_their_service_alone(acl_redis) -> None:
    _, admin, _ = acl_redis()
    for owner in topology.SERVICES:
        key = topology.state_key(owner)
        assert key == f"state:{owner}"
        for user in (*topology.SERVICES, acl.PROBE):
            for cmd in STATE_COMMANDS:
                args = [a.format(k=key) for a in cmd]
                assert dryrun(admin, user, *args) == (user == owner), f"{user} {' '.join(args)}"
            assert not dryrun(admin, user, "XADD", key, "*", "m", "x"), f"{user} XADD {key}"
            assert not dryrun(admin, user, "SET", key, "x"), f"{user} SET {key}"
        assert dryrun(admin, acl.ADMIN, "HGETALL", key)
    for user in topology.SERVICES:
        for cmd in ("MULTI", "EXEC", "DISCARD"):
            assert dryrun(admin, user, cmd), f"{user} {cmd}"


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


def test_a_second_group_on_a_stream_is_refused_by_the_table() -> None:
    with pytest.raises(ValueError, match="give every group but one a copy"):
        topology._with_copies((topology.StreamSpec("x", "risk", groups=("quoter", "gateway")),))


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


def test_a_service_writes_a_message_its_copy_and_its_state_in_one_transaction(acl_redis) -> None:
    rp, admin, pw = acl_redis()
    gateway = rp.client("gateway", pw["gateway"])
    pipe = gateway.pipeline(transaction=True)
    pipe.xadd(topology.EXEC_REPORT, {"m": b"r"})
    pipe.xadd(topology.EXEC_REPORT_QUOTER, {"m": b"r"})
    pipe.hset(topology.state_key("gateway"), "last", "1")
    pipe.execute()
    assert admin.xlen(topology.EXEC_REPORT) == admin.xlen(topology.EXEC_REPORT_QUOTER) == 1
    assert admin.hgetall("state:gateway") == {b"last": b"1"}
    quoter = rp.client("quoter", pw["quoter"])
    pipe = quoter.pipeline(transaction=True)
    pipe.xadd(topology.ORD_INTENT, {"m": b"i"})
    pipe.hset(topology.state_key("risk"), "state", "ACTIVE")
    with pytest.raises((redis.exceptions.NoPermissionError, redis.exceptions.ExecAbortError)):
        pipe.execute()
    assert admin.xlen(topology.ORD_INTENT) == 0  # the transaction was refused as a whole
    assert admin.exists("state:risk") == 0
    with pytest.raises(redis.exceptions.NoPermissionError):
        quoter.xgroup_create(topology.EXEC_REPORT, "quoter", id="0", mkstream=True)
    assert quoter.xgroup_create(topology.EXEC_REPORT_QUOTER, "quoter", id="0", mkstream=True)
