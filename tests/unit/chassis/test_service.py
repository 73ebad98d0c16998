"""Service task supervision: one-off tasks are never fatal; long-lived loops are."""

import asyncio

import pytest

from kmm.chassis import metrics
from kmm.chassis.service import Service
from kmm.chassis.settings import ServiceSettings
from tests.helpers import aeventually


class StubService(Service):
    name = "stub"


@pytest.fixture
def service() -> StubService:
    s = StubService(ServiceSettings())
    s.fatal_codes: list[int] = []  # type: ignore[misc]
    s.on_fatal = s.fatal_codes.append  # type: ignore[attr-defined]
    return s


def failures(task: str) -> float:
    return metrics.TASK_FAILURES.labels("stub", task)._value.get()


async def _true(v: bool) -> bool:
    return v


async def test_one_off_tasks_that_raise_or_return_leave_the_service_running(service: StubService) -> None:
    before = failures("resolve")

    async def boom() -> None:
        raise RuntimeError("exchange said no")

    async def fine() -> int:
        return 7

    bad = service.spawn_task(boom(), "resolve:kmm-abc-123")
    good = service.spawn_task(fine(), "poll-after-lifecycle:x")
    await asyncio.gather(bad, good, return_exceptions=True)
    await aeventually(lambda: _true(not service._oneoffs))
    assert service.fatal_codes == [] and service.exit_code == 0  # type: ignore[attr-defined]
    assert failures("resolve") == before + 1  # labelled by the name up to the first ':'
    assert failures("poll-after-lifecycle") == 0
    assert good.result() == 7


async def test_a_long_lived_loop_that_returns_is_fatal(service: StubService) -> None:
    async def loop() -> None:
        return None

    await asyncio.gather(service.spawn(loop(), "refresh"), return_exceptions=True)
    await aeventually(lambda: _true(service.fatal_codes == [1]))  # type: ignore[attr-defined]
    assert service.exit_code == 1


async def test_a_long_lived_loop_that_raises_is_fatal(service: StubService) -> None:
    async def loop() -> None:
        raise ValueError("bad state")

    await asyncio.gather(service.spawn(loop(), "sync"), return_exceptions=True)
    await aeventually(lambda: _true(service.fatal_codes == [1]))  # type: ignore[attr-defined]


async def test_one_off_tasks_are_cancelled_at_stop(service: StubService) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()

    task = service.spawn_task(slow(), "resolve:1")
    await started.wait()
    await service.stop()
    assert task.cancelled()
    assert service.fatal_codes == []  # type: ignore[attr-defined]


async def test_a_parent_that_is_not_ours_stops_the_service_with_code_0(service: StubService) -> None:
    import os

    task = service.spawn(service._watch_parent(os.getppid() + 1_000_000), "parent")
    await aeventually(lambda: _true(service.fatal_codes == [0]))  # type: ignore[attr-defined]
    assert service.exit_code == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_our_own_parent_keeps_the_service_running(service: StubService) -> None:
    import os

    task = service.spawn(service._watch_parent(os.getppid()), "parent")
    await asyncio.sleep(0)  # yield once: the watcher runs its first check
    assert service.fatal_codes == []  # type: ignore[attr-defined]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
