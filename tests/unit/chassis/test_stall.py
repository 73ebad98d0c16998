"""A service whose event loop stops running exits (stack on stderr) so its supervisor restarts it;
time the whole process was frozen does not count."""

import asyncio
import io
import threading

from kmm.chassis.stall import EXIT_STALLED, FROZEN_S, LoopStallWatchdog


def hung_work(released: threading.Event) -> None:
    released.wait(10.0)  # blocks the loop until the watchdog has fired (or 10 s: the test fails)


def test_a_loop_that_stops_running_exits_with_every_threads_stack() -> None:
    fired = threading.Event()
    codes: list[int] = []
    out = io.StringIO()

    def exit_stub(code: int) -> None:
        codes.append(code)
        fired.set()

    async def main() -> None:
        dog = LoopStallWatchdog("quoter", after_s=0.3, period_s=0.05, exit=exit_stub, out=out)
        dog.start(asyncio.get_running_loop())
        await asyncio.sleep(0.2)  # a running loop: its stamps keep the watchdog quiet
        assert not fired.is_set()
        hung_work(fired)
        dog.stop()

    asyncio.run(main())
    assert codes == [EXIT_STALLED]
    text = out.getvalue()
    assert text.startswith("quoter: the event loop has not run for ") and "KMM_LOOP_STALL_EXIT_S=0.3" in text
    assert "hung_work" in text  # where it hung


def test_a_busy_but_running_loop_and_a_stopped_watchdog_never_fire() -> None:
    codes: list[int] = []

    async def main() -> None:
        dog = LoopStallWatchdog("risk", after_s=0.3, period_s=0.05, exit=codes.append, out=io.StringIO())
        dog.start(asyncio.get_running_loop())
        for _ in range(40):  # 0.8 s of short turns: each one lets the loop stamp
            await asyncio.sleep(0.02)
        dog.stop()
        threading.Event().wait(0.4)  # the loop blocked after stop(): nothing may fire now
    asyncio.run(main())
    assert codes == []


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_time_the_whole_process_was_frozen_does_not_count() -> None:
    clock = Clock()
    dog = LoopStallWatchdog("gateway", after_s=30.0, period_s=0.5, clock=clock)
    for _ in range(10):  # the loop hangs while the watchdog wakes on time: the stall grows
        clock.t += 0.5
        stalled = dog.stalled_for(clock.t)
    assert stalled == 5.0
    clock.t += 60.0  # SIGSTOP for a minute: the watchdog's own wake-up is a minute late
    assert dog.stalled_for(clock.t) == 0.0
    clock.t += 0.5 + FROZEN_S / 2  # a late but not frozen wake-up counts
    assert dog.stalled_for(clock.t) == 0.5 + FROZEN_S / 2
