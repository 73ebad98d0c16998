"""A gateway restarted while risk is silent counts the dead-man's switch from risk's last heartbeat
(read from the backlog), not from its own start (found by the soak: orders adopted after a restart
rested for the gateway's boot time plus a whole timeout with nobody supervising them)."""

import time

from kmm.messages import Heartbeat
from tests.unit.services.gateway.test_service import gateway


async def test_a_stale_backlog_heartbeat_makes_adopted_orders_stale_at_once() -> None:
    svc, _ = gateway(dead_man_timeout_s=3.0)
    assert time.monotonic() - svc.last_heartbeat < 3.0  # armed from the start
    await svc.on_message(Heartbeat(service="risk", ts_init=time.time_ns() - 5 * 1_000_000_000), None)  # type: ignore[arg-type]
    assert time.monotonic() - svc.last_heartbeat > 3.0  # the switch fires on its next tick
    assert not svc.heard_risk


async def test_a_live_heartbeat_is_not_pulled_back_by_an_old_one() -> None:
    svc, _ = gateway(dead_man_timeout_s=3.0)
    await svc.on_message(Heartbeat(service="risk", ts_init=time.time_ns()), None)  # type: ignore[arg-type]
    await svc.on_message(Heartbeat(service="risk", ts_init=time.time_ns() - 5 * 1_000_000_000), None)  # type: ignore[arg-type]
    assert svc.heard_risk and time.monotonic() - svc.last_heartbeat < 3.0
