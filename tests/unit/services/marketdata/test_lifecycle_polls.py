"""A burst of lifecycle frames (an event closing and settling its markets, a new event listed) asks
for one markets poll, not one each: a poll per frame ran into the exchange's read limit at every close."""

import asyncio
from collections.abc import AsyncIterator

from kmm.kalshi import wire
from kmm_services.marketdata.service import MarketDataService, MarketDataSettings
from tests.helpers import aeventually


class Recorder:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def publish_nowait(self, stream: str, msg: object) -> None:
        self.sent.append(msg)


class CountingApi:
    """The open markets; counts the polls (``GET /markets`` listings) started and finished. The second
    poll waits for ``gate``, so frames can arrive while it runs."""

    def __init__(self) -> None:
        self.polls = self.finished = 0
        self.gate = asyncio.Event()
        self.open = [wire.parse_market({"ticker": "KXEV-A", "event_ticker": "KXEV", "status": "active"})]

    async def iter_markets(self, **_: object) -> AsyncIterator[wire.Market]:
        self.polls += 1
        if self.polls == 2:
            await self.gate.wait()
        for mk in self.open:
            yield mk
        self.finished += 1

    async def get_market(self, ticker: str) -> wire.Market:
        return wire.parse_market({"ticker": ticker, "event_ticker": "KXEV", "status": "finalized"})

    async def get_event(self, ticker: str) -> wire.Event:
        return wire.parse_event({"event_ticker": ticker, "mutually_exclusive": True})

    async def get_series(self, ticker: str) -> wire.Series:
        return wire.parse_series({"ticker": ticker, "fee_type": "quadratic"})


def burst() -> list[wire.Lifecycle]:
    frames = [wire.Lifecycle(ticker=f"KXEV-{m}", event_type=e, result="no")
              for m in "ABCDE" for e in ("deactivated", "determined", "settled")]
    return frames + [wire.Lifecycle(ticker=f"KXEV2-{m}", event_type="created") for m in "ABCDE"]


async def test_a_burst_of_lifecycle_frames_costs_one_or_two_polls_and_the_last_follows_the_burst() -> None:
    svc = MarketDataService(MarketDataSettings(markets_interval_s=3600))
    svc.publisher = Recorder()  # type: ignore[assignment]
    api = CountingApi()
    svc.api = api  # type: ignore[assignment]
    loop = asyncio.create_task(svc.markets_loop())
    try:
        await aeventually(lambda: svc.markets_polled, timeout=5, what="the first poll")
        assert api.polls == 1
        frames = burst()
        for ev in frames[:10]:
            svc.on_ws_event(ev, 1)
        await aeventually(lambda: api.polls == 2, timeout=5, what="a poll after the frames")
        for ev in frames[10:]:  # more while that poll runs
            svc.on_ws_event(ev, 1)
        api.gate.set()
        await aeventually(lambda: api.finished == 3, timeout=5, what="one more poll for the frames during the last")
        # the loop now waits for the next frame or its interval (an hour): no poll is owed
        assert not svc.poll_wanted.is_set()
        assert api.polls == 3, f"{len(frames)} frames cost {api.polls - 1} polls"
    finally:
        loop.cancel()
