"""A real service chassis on a private Redis with the generated ACL file and no bootstrap: the
service creates its own groups, reads exec:report through its copy transparently, ``/readyz`` says
Redis is down during an outage and recovers after, a publish queued meanwhile arrives, and nothing
exits."""

import io
import threading
from pathlib import Path

import pytest

from kmm.bus import acl
from kmm.bus import topology as t
from kmm.bus.connection import connect
from kmm.bus.consumer import Delivery
from kmm.bus.publisher import Publisher
from kmm.chassis import metrics
from kmm.chassis.service import Service
from kmm.chassis.settings import ServiceSettings
from kmm.chassis.stall import EXIT_STALLED
from kmm.messages import Fill, Message
from kmm.runner.redis_proc import redis_server_binary, start_redis
from tests.helpers import aeventually


class Quoter(Service):
    name = "quoter"

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.got: list[tuple[str, str]] = []

    async def on_start(self) -> None:
        self.consume_group((t.EXEC_REPORT, t.RISK_DENIED), self.on_report)

    async def on_report(self, msg: Message, d: Delivery) -> None:
        self.got.append((msg.msg_id, d.stream))


def fill(i: int) -> Fill:
    return Fill(msg_id=f"f{i}", fill_id=f"f{i}", order_id="o", client_order_id="c", market="M", side="bid",
                price=5000, count=100)


async def _true(v: bool) -> bool:
    return v


PASSWORDS = {u: f"pw-{u}" for u in acl.USERS}


@pytest.fixture
def aof_redis(tmp_path: Path):
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")
    aclfile = tmp_path / "users.acl"
    aclfile.write_text(acl.render({u: acl.password_hash(p) for u, p in PASSWORDS.items()}))
    rp = start_redis(workdir=tmp_path / "redis", aclfile=aclfile, admin_password=PASSWORDS["admin"],
                     appendonly=True, appendfsync="always")
    yield rp
    rp.stop()


async def test_the_quoter_ensures_its_group_and_reads_exec_report_through_its_copy(aof_redis) -> None:
    svc = Quoter(ServiceSettings(redis_url=aof_redis.url, redis_password=PASSWORDS["quoter"]))
    fatal: list[int] = []
    svc.on_fatal = fatal.append
    await svc.start()
    gateway = connect(aof_redis.url, "gateway", PASSWORDS["gateway"])
    admin = connect(aof_redis.url, "admin", PASSWORDS["admin"])
    pub = Publisher(gateway, "gateway")

    async def ready() -> bool:
        return all(ok for ok, _ in (await svc.readiness()).values())

    try:
        await aeventually(ready, what="ready: groups ensured by the service itself, no bootstrap")
        assert (await svc.readiness())["groups"] == (True, "ok")
        for i in range(3):
            await pub.publish(t.EXEC_REPORT, fill(i))
        await aeventually(lambda: _true(len(svc.got) == 3))
        assert {s for _, s in svc.got} == {t.EXEC_REPORT_QUOTER}
        assert {g["name"] for g in await admin.xinfo_groups(t.EXEC_REPORT_QUOTER)} == {b"quoter"}
        assert {g["name"] for g in await admin.xinfo_groups(t.RISK_DENIED)} == {b"quoter"}
        assert await admin.xinfo_groups(t.EXEC_REPORT) == []  # risk's stream: the quoter has no group there

        aof_redis.kill()

        async def says_down() -> bool:
            checks = await svc.readiness()
            return not checks["redis"][0] and checks["redis"][1].startswith("down")

        await aeventually(says_down, what="/readyz says redis down")
        pub.publish_nowait(t.EXEC_REPORT, fill(3))  # queued while Redis is down
        await aeventually(lambda: _true(metrics.REDIS_UP._value.get() == 0), what="kmm_redis_up 0")
        aof_redis.restart()
        await aeventually(lambda: _true(len(svc.got) == 4), timeout=20, what="the queued fill arrives")

        await aeventually(ready, what="ready again")
        assert fatal == [] and svc.exit_code == 0
        assert [m for m, _ in svc.got] == ["f0", "f1", "f2", "f3"]
    finally:
        await pub.close(timeout=5)
        await gateway.aclose()
        await admin.aclose()
        await svc.stop()


class Stuck(Quoter):
    """A quoter whose report handler blocks its event loop (a call that never returns) until released."""

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.released = threading.Event()

    async def on_report(self, msg: Message, d: Delivery) -> None:
        self.got.append((msg.msg_id, d.stream))
        self.released.wait(10.0)  # the hang: nothing else runs on the loop meanwhile


class Idle(Service):
    name = "selector"


async def test_a_service_whose_loop_hangs_exits_with_where_it_hung(aof_redis) -> None:
    svc = Stuck(ServiceSettings(redis_url=aof_redis.url, redis_password=PASSWORDS["quoter"], loop_stall_exit_s=0.5))
    quiet = Idle(ServiceSettings(redis_url=aof_redis.url, redis_password=PASSWORDS["selector"], loop_stall_exit_s=0))
    await svc.start()
    await quiet.start()
    assert svc.stall_watchdog is not None and quiet.stall_watchdog is None
    codes: list[int] = []
    out = io.StringIO()

    def exit_stub(code: int) -> None:  # instead of os._exit: the test process goes on
        codes.append(code)
        svc.released.set()

    svc.stall_watchdog._exit, svc.stall_watchdog._out = exit_stub, out
    gateway = connect(aof_redis.url, "gateway", PASSWORDS["gateway"])
    pub = Publisher(gateway, "gateway")
    try:
        await pub.publish(t.EXEC_REPORT, fill(0))
        await aeventually(lambda: _true(svc.released.is_set()), timeout=15, what="the watchdog fired")
        assert codes == [EXIT_STALLED]
        assert "quoter: the event loop has not run for" in out.getvalue() and "in on_report" in out.getvalue()
    finally:
        await pub.close(timeout=5)
        await gateway.aclose()
        await svc.stop()
        await quiet.stop()
