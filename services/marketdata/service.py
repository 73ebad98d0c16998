"""Market data: Kalshi WS and REST in, normalized ``md:*`` messages out.

- polls ``GET /markets`` (open markets, with their event's mutual exclusivity and their series'
  ``fee_type`` and ``fee_multiplier``) and publishes ``md:market`` for the selector, quoter and risk;
  a series whose lookup failed is published with ``fee_type`` "" (consumers assume the standard maker
  fee) and looked up again after ``KMM_SERIES_RETRY_S``;
- follows ``sel:universe`` and keeps an ``orderbook_delta`` subscription on exactly those markets (this
  shard's share of them); trades and lifecycle events for all markets. No ``ticker`` channel: nothing
  here reads it, and it was a quarter of the frames Kalshi sent us;
- shards (``KMM_SHARD_COUNT`` replicas, ``KMM_SHARD_INDEX`` each): a market belongs to the replica
  ``crc32(ticker) % count``; each publishes only its own markets' books, trades and ``md:market``, so
  every message is on its stream once whatever the replica count;
- the WS client rebuilds books with per-subscription seq checks (a gap resnapshots) and reconnects;
  every book change is published to ``md:book`` as the top ``depth`` levels, stamped with
  ``origin_ts`` (the tick time that tick-to-order latency starts from);
- re-publishes each valid book at least every ``KMM_BOOK_REFRESH_S`` while the feed is live (with
  ``origin_ts`` 0: a refresh is not a market event), so a book's ``ts_init`` says when marketdata last
  vouched for it: quiet books stay fresh, books behind a dropped connection or a resnapshot go stale
  and downstream stops quoting them (``KMM_MAX_BOOK_AGE_S``);
- holds only a read-only key, never the write key.
"""

import asyncio
import contextlib
import dataclasses
import logging
import time
import zlib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from kmm.bus.entries import entry_message
from kmm.bus.ids import new_id
from kmm.bus.topology import MD_BOOK, MD_MARKET, MD_TRADE, SEL_UNIVERSE
from kmm.chassis import metrics
from kmm.chassis.service import Check, Service
from kmm.chassis.settings import KalshiVenueSettings, SettingError
from kmm.kalshi import constants as kc
from kmm.kalshi import errors as kerr
from kmm.kalshi import wire
from kmm.kalshi.auth import Signer
from kmm.kalshi.fees import PPM
from kmm.kalshi.rest import KalshiRest
from kmm.kalshi.ws import KalshiWs, Resnapshot, Subscription
from kmm.messages import BookUpdate, MarketInfo, Message, Universe

log = logging.getLogger(__name__)


class MarketDataSettings(KalshiVenueSettings):
    kalshi_read_key_id: str = ""
    kalshi_read_key_path: Path | None = None
    markets_interval_s: float = Field(5.0, gt=0)
    depth: int = Field(10, ge=1, le=100)
    max_markets: int = Field(2000, ge=1)
    book_refresh_s: float = Field(1.0, gt=0, description="re-publish an unchanged valid book this often")
    series_retry_s: float = Field(60.0, gt=0, description="retry a failed series (fee type) lookup after this")
    shard_count: int = Field(1, ge=1, description="marketdata replicas sharing the markets (= replicas)")
    shard_index: int = Field(0, ge=0, description="this replica's share: markets with crc32(ticker) % count == index")

    @field_validator("shard_index")
    @classmethod
    def _shard_index(cls, v: int, info: ValidationInfo) -> int:
        count = info.data.get("shard_count")
        if count is not None and v >= count:
            raise ValueError(f"must be below KMM_SHARD_COUNT ({count}): shards are numbered from 0")
        return v



class MarketDataService(Service):
    name = "marketdata"
    settings_cls = MarketDataSettings

    def __init__(self, settings: MarketDataSettings) -> None:
        super().__init__(settings)
        self.s = settings
        self.signer: Signer | None = None
        if settings.kalshi_read_key_path is not None:
            try:
                self.signer = Signer.from_file(settings.kalshi_read_key_id, settings.kalshi_read_key_path)
            except ValueError as exc:
                raise SettingError("KMM_KALSHI_READ_KEY_PATH", str(exc)) from None
        self.api: KalshiRest | None = None
        self.ws: KalshiWs | None = None
        self.book_sub: Subscription | None = None
        self.universe: set[str] = set()
        self.subscribed: set[str] = set()
        self.markets: dict[str, wire.Market] = {}
        self.event_exclusive: dict[str, bool] = {}
        self.series_fees: dict[str, tuple[str, int]] = {}  # series → (fee_type, fee_multiplier_ppm)
        self.series_retry_ns: dict[str, int] = {}  # series whose lookup failed → when to try again
        self.books_published = 0
        self.trades_published = 0
        self.markets_polled = False
        self.universe_changed = asyncio.Event()
        self.poll_wanted = asyncio.Event()  # a lifecycle event asks the markets loop for a poll now
        self.last_book: dict[str, tuple[BookUpdate, int]] = {}  # market → last published, when (ns)

    def mine(self, market: str) -> bool:
        if self.s.shard_count == 1:
            return True
        return zlib.crc32(market.encode()) % self.s.shard_count == self.s.shard_index

    async def on_start(self) -> None:
        self.api = KalshiRest(
            self.s.kalshi_base_url, signer=self.signer, **metrics.exchange_hooks(),
        )
        self.ws = KalshiWs(self.s.kalshi_ws_url, signer=self.signer)
        await self.load_last_universe()
        self.consume_fanout((SEL_UNIVERSE,), self.on_universe)
        self.spawn(self.markets_loop(), "markets")
        self.spawn(self.ws_loop(), "ws")
        self.spawn(self.subscription_loop(), "subscriptions")
        self.spawn(self.refresh_loop(), "book-refresh")

    async def on_stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.api is not None:
            await self.api.aclose()

    async def ready_checks(self) -> dict[str, Check]:
        connected = self.ws is not None and self.ws.connected.is_set()
        return {
            "exchange_ws": (connected, "connected" if connected else "connecting"),
            "markets": (self.markets_polled, f"{len(self.markets)} markets" if self.markets_polled else "polling"),
        }

    # --- universe ---------------------------------------------------------------------------------
    async def load_last_universe(self) -> None:
        assert self.redis is not None
        rows = await self.redis.xrevrange(SEL_UNIVERSE, count=1)
        for _, fields in rows:
            msg = entry_message(fields)
            if msg is None:
                continue
            if isinstance(msg, Universe):
                self.set_universe(msg)

    async def on_universe(self, stream: str, msgs: list[Message]) -> None:
        for msg in msgs:
            if isinstance(msg, Universe):
                self.set_universe(msg)

    def set_universe(self, u: Universe) -> None:
        wanted = {m for m in u.markets if self.mine(m)}
        if len(wanted) > self.s.max_markets:
            wanted = set(sorted(wanted)[: self.s.max_markets])
        if wanted != self.universe:
            self.universe = wanted
            self.universe_changed.set()
            for market in set(self.last_book) - wanted:  # only the universe's books are re-vouched for
                del self.last_book[market]

    async def subscription_loop(self) -> None:
        """Keep the orderbook subscription equal to the universe."""
        assert self.ws is not None
        while True:
            await self.universe_changed.wait()
            self.universe_changed.clear()
            try:
                await self.ws.wait_connected(timeout=30)
            except TimeoutError:
                self.universe_changed.set()
                continue
            wanted = set(self.universe)
            try:
                if self.book_sub is None:
                    if wanted:
                        self.book_sub = await self.ws.subscribe(
                            [kc.CH_ORDERBOOK], sorted(wanted), timeout=15)
                else:
                    add, drop = sorted(wanted - self.subscribed), sorted(self.subscribed - wanted)
                    for ch in self.book_sub.channels:
                        if add:
                            await self.ws.update_subscription(self.book_sub, "add_markets", add, channel=ch)
                        if drop:
                            await self.ws.update_subscription(self.book_sub, "delete_markets", drop, channel=ch)
                self.subscribed = wanted
                log.info("subscribed to %d markets", len(wanted))
            except (ConnectionError, TimeoutError, kerr.KalshiError) as exc:
                log.warning("subscription update failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                self.universe_changed.set()

    # --- WS → md:book, md:trade -------------------------------------------------------------------
    async def ws_loop(self) -> None:
        assert self.ws is not None
        self.ws.start()
        await self.ws.wait_connected(timeout=60)
        await self.ws.subscribe([kc.CH_TRADE], None, timeout=15)
        await self.ws.subscribe([kc.CH_LIFECYCLE], None, timeout=15)
        async for ev in self.ws:
            self.on_ws_event(ev, time.time_ns())

    def on_ws_event(self, ev: object, now: int) -> None:
        """One venue event: books of this shard's universe to ``md:book``, this shard's trades to
        ``md:trade`` (every shard hears every trade: publishing only its own keeps each trade on the
        stream once), a lifecycle event triggers a markets poll."""
        if isinstance(ev, BookUpdate):
            metrics.MARKETDATA_EVENTS.labels("orderbook_snapshot" if ev.snapshot else "orderbook_delta").inc()
            if ev.market not in self.universe:
                return
            depth = self.s.depth
            book = dataclasses.replace(ev, msg_id=new_id(), corr_id=new_id(), bids=ev.bids[:depth],
                                       asks=ev.asks[:depth], ts_init=now, origin_ts=now)
            self.publish_nowait(MD_BOOK, book)
            self.last_book[ev.market] = (book, now)
            self.books_published += 1
        elif isinstance(ev, Resnapshot):
            metrics.MARKETDATA_RESNAPSHOTS.inc()
            log.info("resnapshot of %d books: %s", len(ev.tickers), ev.reason)
        elif isinstance(ev, wire.PublicTrade):
            metrics.MARKETDATA_EVENTS.labels("trade").inc()
            if not self.mine(ev.ticker):
                return
            t = ev.to_trade(ts_init=now)
            self.publish_nowait(MD_TRADE, dataclasses.replace(t, msg_id=new_id(), origin_ts=now))
            self.trades_published += 1
        elif isinstance(ev, wire.Lifecycle):
            metrics.MARKETDATA_EVENTS.labels("market_lifecycle").inc()
            log.info("lifecycle %s %s %s", ev.ticker, ev.event_type, ev.result)
            self.poll_wanted.set()

    async def refresh_loop(self) -> None:
        """Vouch for quiet books: re-publish each valid one not published within ``book_refresh_s``."""
        period = self.s.book_refresh_s
        while True:
            await asyncio.sleep(period / 2)
            if self.ws is None or not self.ws.connected.is_set():
                continue
            now = time.time_ns()
            for market, (book, at) in list(self.last_book.items()):
                local = self.ws.book(market)
                if market not in self.universe or local is None or not local.valid:
                    continue
                if now - at >= period * 1e9:
                    again = dataclasses.replace(book, msg_id=new_id(), corr_id=new_id(), ts_init=now, origin_ts=0)
                    self.publish_nowait(MD_BOOK, again)
                    self.last_book[market] = (again, now)

    # --- REST → md:market -------------------------------------------------------------------------
    async def markets_loop(self) -> None:
        """Poll the markets every ``markets_interval_s``, and at once after lifecycle events. A burst of
        them (an event's markets closing, determined and settled, a new event listed: ~20 frames) costs
        one poll, or two when more arrive during it, not one each: a poll per frame ran into the
        exchange's read limit (429) at every close."""
        while True:
            self.poll_wanted.clear()
            try:
                await self.poll_markets()
            except kerr.KalshiError as exc:
                log.warning("markets poll failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poll_wanted.wait(), self.s.markets_interval_s)

    async def poll_markets(self) -> None:
        assert self.api is not None
        seen: dict[str, wire.Market] = {}
        async for mk in self.api.iter_markets(status="open", limit=1000):
            seen[mk.ticker] = mk
        await self.refresh_reference(seen.values())
        now = time.time_ns()
        for mk in seen.values():
            if not self.mine(mk.ticker):  # every shard polls every market; each publishes its own
                continue
            self.publish_nowait(MD_MARKET, dataclasses.replace(self.market_info(mk, now),
                                                               msg_id=new_id(), ts_event=now))
        for ticker in set(self.markets) - set(seen):  # closed or settled since the last poll
            if not self.mine(ticker):
                continue
            try:
                mk = await self.api.get_market(ticker)
            except kerr.KalshiError:
                continue
            self.publish_nowait(MD_MARKET, dataclasses.replace(self.market_info(mk, now),
                                                               msg_id=new_id(), ts_event=now))
        self.markets = seen
        self.markets_polled = True

    def market_info(self, mk: wire.Market, now: int) -> MarketInfo:
        fee_type, ppm = self.series_fees.get(mk.series, ("", PPM))
        return mk.to_market_info(
            maker_fees=fee_type in wire.MAKER_FEE_TYPES, fee_type=fee_type, fee_multiplier_ppm=ppm,
            mutually_exclusive=self.event_exclusive.get(mk.event_ticker, False), ts_init=now)

    async def refresh_reference(self, markets: Any) -> None:
        """Event exclusivity and series fee types, fetched once per event/series. A failed series
        lookup is not cached: the series stays unknown (fees assumed) and is retried later."""
        assert self.api is not None
        now = time.monotonic_ns()
        for mk in markets:
            if mk.event_ticker and mk.event_ticker not in self.event_exclusive:
                try:
                    ev = await self.api.get_event(mk.event_ticker)
                    self.event_exclusive[mk.event_ticker] = ev.mutually_exclusive
                except kerr.KalshiError:
                    self.event_exclusive[mk.event_ticker] = False
            if mk.series and mk.series not in self.series_fees and self.series_retry_ns.get(mk.series, 0) <= now:
                try:
                    se = await self.api.get_series(mk.series)
                except kerr.KalshiError as exc:
                    log.warning("series %s lookup failed (%s): assuming maker fees until it succeeds", mk.series, exc)
                    self.series_retry_ns[mk.series] = now + int(self.s.series_retry_s * 1e9)
                    continue
                self.series_fees[mk.series] = (se.fee_type, se.fee_multiplier_ppm)
                self.series_retry_ns.pop(mk.series, None)

    def status(self) -> dict[str, Any]:
        return {
            "summary": (f"markets {len(self.markets)}, subscribed {len(self.subscribed)}, "
                        f"books {self.books_published}, trades {self.trades_published}, "
                        f"ws reconnects {self.ws.reconnects if self.ws else 0}"),
            "markets": len(self.markets),
            "subscribed": sorted(self.subscribed),
            "books_published": self.books_published,
            "trades_published": self.trades_published,
        }


SERVICE = MarketDataService
