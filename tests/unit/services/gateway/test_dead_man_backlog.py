"""A gateway restarted while risk is silent counts the dead-man's switch from risk's last heartbeat on
``risk:control``, not from its own start (found by the soak: orders adopted after a restart rested
for the gateway's boot time plus a whole timeout with nobody supervising them)."""

import time
from typing import Any

from kmm.bus.publisher import FIELD
from kmm.messages import Control, Heartbeat, encode
from tests.unit.services.gateway.test_service import StubRedis, gateway


class ControlStream(StubRedis):
    def __init__(self, entries: list[Any]) -> None:
        super().__init__()
        self.entries = entries
        self.asked: dict[str, Any] = {}

    async def xrange(self, stream: str, min: str = "-", max: str = "+", count: int | None = None) -> list[Any]:
        self.asked = {"stream": stream, "min": min}
        return [(f"{i}-0".encode(), {FIELD: encode(m)}) for i, m in enumerate(self.entries)]


def beat(seconds_ago: float) -> Heartbeat:
    return Heartbeat(service="risk", ts_init=time.time_ns() - int(seconds_ago * 1e9))


async def test_no_heartbeat_within_the_timeout_makes_the_switch_due_at_once() -> None:
    svc, _ = gateway(dead_man_timeout_s=3.0)
    svc.redis = ControlStream([Control(state="ACTIVE")])  # type: ignore[assignment]
    assert await svc.risk_silent_s() > 3.0
    assert svc.redis.asked["stream"] == "risk:control"  # type: ignore[attr-defined]
    assert int(svc.redis.asked["min"]) >= time.time() * 1000 - 3000 - 1000  # type: ignore[attr-defined]


async def test_the_newest_heartbeat_sets_how_long_risk_has_been_silent() -> None:
    svc, _ = gateway(dead_man_timeout_s=3.0)
    svc.redis = ControlStream([beat(2.5), beat(1.0), Control(state="ACTIVE")])  # type: ignore[assignment]
    assert 0.9 <= await svc.risk_silent_s() < 2.0


async def test_an_unreadable_stream_leaves_the_switch_armed_from_the_start() -> None:
    svc, _ = gateway(dead_man_timeout_s=3.0)
    svc.redis = StubRedis()  # type: ignore[assignment]  # no xrange: the read fails
    assert await svc.risk_silent_s() == 0.0
