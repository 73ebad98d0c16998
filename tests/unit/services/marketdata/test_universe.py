"""Marketdata keeps the last book it published only for the universe's markets (the ones it re-vouches
for), so markets passing through the universe over days leave nothing behind."""

from kmm.messages import BookUpdate, Universe
from kmm_services.marketdata.service import MarketDataService, MarketDataSettings


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
