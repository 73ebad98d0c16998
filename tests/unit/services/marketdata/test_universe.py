"""Marketdata keeps the last book it published only for the universe's markets (the ones it re-vouches
for), so markets passing through the universe over days leave nothing behind."""

from kmm.messages import BookUpdate, Universe
from kmm_services.marketdata.service import MarketDataService, MarketDataSettings
from tests.helpers import aeventually


def test_a_market_leaving_the_universe_drops_its_last_book() -> None:
    md = MarketDataService(MarketDataSettings())
    md.publish_nowait = lambda stream, msg: None  # type: ignore[method-assign]
    for day in range(10):
        names = tuple(f"KXDAY-{day}-T{i}" for i in range(5))
        md.set_universe(Universe(markets=names))
        for n in names:
            md.on_ws_event(BookUpdate(market=n, seq=1, bids=((4800, 100),), asks=((5200, 100),)), day)
        assert set(md.last_book) >= set(names)
    assert set(md.last_book) == {f"KXDAY-9-T{i}" for i in range(5)}


class StubWs:
    """A WS client that records what it is asked to subscribe to."""

    def __init__(self) -> None:
        self.subscribed: list[tuple[list[str], list[str]]] = []

    async def wait_connected(self, timeout: float) -> None:
        return None

    async def subscribe(self, channels: list[str], tickers: list[str], timeout: float) -> object:
        self.subscribed.append((channels, tickers))
        return object()


async def test_the_universe_is_subscribed_to_order_books_only() -> None:
    """Nothing reads the ``ticker`` channel: subscribing to it was a quarter of the frames for nothing."""
    import asyncio

    from kmm.kalshi import constants as kc

    md = MarketDataService(MarketDataSettings())
    md.ws = StubWs()  # type: ignore[assignment]
    md.set_universe(Universe(markets=("KXA-1", "KXB-2")))
    task = asyncio.ensure_future(md.subscription_loop())
    await aeventually(lambda: md.subscribed, what="the first subscription")
    task.cancel()
    assert md.ws.subscribed == [([kc.CH_ORDERBOOK], ["KXA-1", "KXB-2"])]  # type: ignore[attr-defined]
