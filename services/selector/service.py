"""Selector: scores markets and publishes the quoting universe (``sel:universe``) with hysteresis.

Inputs are fan-out reads of ``md:market`` (status, close time, 24 h volume, quoted spread) and
``md:trade`` (σ from print prices and the trade arrival rate, per market). Every
``KMM_SELECT_INTERVAL_S`` it runs :class:`kmm.strategy.selection.UniverseSelector`: score =
(volume / σ) × exp(−(spread − target)² / (2·width²)) with filters and hysteresis, and publishes the
universe when it changes (and at least every ``KMM_REPUBLISH_S`` so late joiners see it). A market
whose trading ended (closed or settled) is forgotten: on Kalshi markets are listed and closed every day,
and each would otherwise stay in every selection's work and in memory for good.
"""

import asyncio
import logging
import math
import time
from typing import Any

from pydantic import Field

from kmm.bus.ids import new_id
from kmm.bus.topology import MD_MARKET, MD_TRADE, SEL_UNIVERSE
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import ServiceSettings
from kmm.messages import MARKET_ENDED_STATUSES, MarketInfo, Message, Trade, Universe
from kmm.messages.units import NS_PER_S
from kmm.strategy.estimators import ArrivalRate, EwmaVolatility, hours_to_close
from kmm.strategy.selection import MarketStats, SelectionConfig, UniverseSelector

log = logging.getLogger(__name__)


class SelectorSettings(ServiceSettings):
    select_interval_s: float = Field(5.0, gt=0)
    republish_s: float = Field(30.0, gt=0)
    target_spread_c: float = Field(3.0, gt=0)
    width_c: float = Field(2.0, gt=0)
    min_hours_to_close: float = Field(0.5, ge=0)
    min_trades_per_h: float = Field(1.0, ge=0)
    enter_score: float = Field(10.0, ge=0)
    exit_score: float = Field(5.0, ge=0)
    max_markets: int = Field(10, ge=1)
    min_dwell_s: float = Field(300.0, ge=0)
    sigma_prior_c: float = Field(5.0, ge=0)


class SelectorService(Service):
    name = "selector"
    settings_cls = SelectorSettings

    def __init__(self, settings: SelectorSettings) -> None:
        super().__init__(settings)
        self.s = settings
        self.selector = UniverseSelector(SelectionConfig(
            target_spread_c=settings.target_spread_c, width_c=settings.width_c,
            min_hours_to_close=settings.min_hours_to_close, min_trades_per_h=settings.min_trades_per_h,
            enter_score=settings.enter_score, exit_score=settings.exit_score, max_markets=settings.max_markets,
            min_dwell_s=settings.min_dwell_s))
        self.infos: dict[str, MarketInfo] = {}
        self.vols: dict[str, EwmaVolatility] = {}
        self.rates: dict[str, ArrivalRate] = {}
        self.universe: tuple[str, ...] = ()
        self.explain: dict[str, dict[str, Any]] = {}
        self.published_ns = 0
        self.publications = 0

    async def on_start(self) -> None:
        self.consume_fanout((MD_MARKET, MD_TRADE), self.on_market_data, start="0")
        self.spawn(self.select_loop(), "select")

    async def ready_checks(self) -> dict[str, Check]:
        return {"markets": (bool(self.infos), f"{len(self.infos)} markets known")}

    async def on_market_data(self, stream: str, msgs: list[Message]) -> None:
        for msg in msgs:
            if isinstance(msg, MarketInfo):
                if msg.status in MARKET_ENDED_STATUSES:  # it will never trade again: out of every selection
                    self.forget(msg.market)
                else:
                    self.infos[msg.market] = msg
            elif isinstance(msg, Trade):
                ts = msg.ts_event or msg.ts_init
                vol = self.vols.get(msg.market)
                if vol is None:
                    vol = self.vols[msg.market] = EwmaVolatility(prior_sigma=self.s.sigma_prior_c)
                    self.rates[msg.market] = ArrivalRate()
                vol.update(ts, float(msg.price))
                self.rates[msg.market].on_trade(ts)

    def forget(self, market: str) -> None:
        self.infos.pop(market, None)
        self.vols.pop(market, None)
        self.rates.pop(market, None)

    def stats(self, now: int) -> list[MarketStats]:
        out = []
        for market, info in self.infos.items():
            two_sided = 0 < info.yes_bid < info.yes_ask < 10_000
            vol = self.vols.get(market)
            rate = self.rates.get(market)
            out.append(MarketStats(
                market=market, status=info.status, volume_24h=info.volume_24h,
                sigma_c=vol.sigma if vol else self.s.sigma_prior_c,
                spread_c=(info.yes_ask - info.yes_bid) / 100.0 if two_sided else math.nan,
                hours_to_close=hours_to_close(info.close_ts, now),
                trades_per_h=(rate or ArrivalRate()).rate(now), two_sided=two_sided))
        return out

    async def select_loop(self) -> None:
        while True:
            await asyncio.sleep(self.s.select_interval_s if self.infos else 0.5)
            if not self.infos:
                continue
            now = time.time_ns()
            sel = self.selector.update(self.stats(now), now)
            self.explain = sel.explain
            if sel.entered or sel.left:
                log.info("universe: +%s -%s", list(sel.entered), list(sel.left))
            if sel.markets != self.universe or now - self.published_ns > self.s.republish_s * NS_PER_S:
                self.universe = sel.markets
                await self.publish(SEL_UNIVERSE, Universe(msg_id=new_id(), ts_event=now, ts_init=now,
                                                          markets=sel.markets, scores=sel.scores))
                self.published_ns = now
                self.publications += 1
                metrics.MARKETS_QUOTED.set(len(sel.markets))

    def status(self) -> dict[str, Any]:
        return {
            "summary": f"known {len(self.infos)}, universe {len(self.universe)}, publications {self.publications}",
            "universe": list(self.universe),
            "scores": {m: {k: v for k, v in e.items() if k in ("score", "failed", "volume", "sigma_c", "spread_c")}
                       for m, e in self.explain.items()},
        }


SERVICE = SelectorService
