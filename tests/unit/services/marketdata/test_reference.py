"""Series fee types and multipliers reach MarketInfo; a failed lookup means "fees apply" and is retried."""

import asyncio

from kmm.kalshi import errors as kerr
from kmm.kalshi import wire
from kmm.kalshi.fees import MAKER_RATE, PPM, maker_rate
from kmm_services.marketdata.service import MarketDataService, MarketDataSettings


class StubApi:
    """Hand-written stand-in for KalshiRest's event/series lookups."""

    def __init__(self, series: dict[str, dict]) -> None:
        self.series = series
        self.calls: list[str] = []
        self.fail: set[str] = set()

    async def get_event(self, ticker: str) -> wire.Event:
        return wire.parse_event({"event_ticker": ticker, "mutually_exclusive": True})

    async def get_series(self, ticker: str) -> wire.Series:
        self.calls.append(ticker)
        if ticker in self.fail:
            raise kerr.ProtocolError("boom", endpoint="/series/{series_ticker}")
        return wire.parse_series({"ticker": ticker, **self.series[ticker]})


def service(api: StubApi) -> MarketDataService:
    svc = MarketDataService(MarketDataSettings(series_retry_s=60.0))
    svc.api = api  # type: ignore[assignment]
    return svc


def market(series: str) -> wire.Market:
    return wire.parse_market({"ticker": f"{series}-26JAN01-T1", "event_ticker": f"{series}-26JAN01"})


def test_fee_type_and_multiplier_come_from_the_series() -> None:
    api = StubApi({"KXA": {"fee_type": "quadratic_with_combo_maker_fees", "fee_multiplier": "0.5"},
                   "KXB": {"fee_type": "quadratic"}})
    svc = service(api)
    mks = [market("KXA"), market("KXB")]
    asyncio.run(svc.refresh_reference(mks))
    a, b = (svc.market_info(mk, 1) for mk in mks)
    assert (a.fee_type, a.fee_multiplier_ppm, a.maker_fees) == ("quadratic_with_combo_maker_fees", 500_000, True)
    assert (b.fee_type, b.fee_multiplier_ppm, b.maker_fees) == ("quadratic", PPM, False)
    assert maker_rate(a.fee_type, a.fee_multiplier_ppm) == (7, 400)  # 0.035 × 0.5
    assert maker_rate(b.fee_type, b.fee_multiplier_ppm) == (0, 1)
    asyncio.run(svc.refresh_reference(mks))
    assert api.calls == ["KXA", "KXB"]  # once per series


def test_a_failed_lookup_assumes_maker_fees_and_is_retried_later() -> None:
    api = StubApi({"KXC": {"fee_type": "quadratic"}})
    api.fail.add("KXC")
    svc = service(api)
    mk = market("KXC")
    asyncio.run(svc.refresh_reference([mk]))
    info = svc.market_info(mk, 1)
    assert info.fee_type == "" and maker_rate(info.fee_type, info.fee_multiplier_ppm) == MAKER_RATE
    asyncio.run(svc.refresh_reference([mk]))
    assert api.calls == ["KXC"]  # not hammered every poll
    api.fail.clear()
    svc.series_retry_ns["KXC"] = 0  # the retry interval has passed
    asyncio.run(svc.refresh_reference([mk]))
    assert svc.market_info(mk, 1).fee_type == "quadratic"
