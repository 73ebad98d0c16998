"""The simulator's state: engine, API keys, rate limits, faults, synthetic flow and the virtual clock.

One :class:`Simulator` is shared by the REST app, the WS hub and the admin endpoints. All of it runs
on one asyncio loop (the server's); nothing here is thread-safe.

Time: the engine reads :class:`SimClock`, virtual ns that start at the wall-clock time the simulator
was built and advance ``speed`` times faster than the wall clock (``speed=1`` is real time). Request
signatures are checked against the real wall clock.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kmm.messages.units import MONEY_SCALE, NS_PER_S

from .auth import KeyRegistry
from .engine import Exchange
from .errors import ExchangeError
from .events import DEFAULT_HISTORY_HOURS
from .faults import Faults
from .markets import DEFAULT_SHARDS, Event, Market, Series
from .orders import ASK, BID, GTC, IOC, POST_ONLY_CANCEL, CreateOrder
from .ratelimit import RateLimiter
from .replay import Replayer
from .synthetic import MarketSpec, Scenario, ScenarioConfig

log = logging.getLogger(__name__)

PARTICIPANT_BALANCE = 10**12 * MONEY_SCALE  # effectively unlimited money for synthetic participants


@dataclass
class SimClock:
    """Virtual time: ``start_ns + (monotonic elapsed) × speed``; ``advance`` jumps it forward."""

    speed: float = 1.0
    start_ns: int = field(default_factory=time.time_ns)
    _mono0: int = field(default_factory=time.monotonic_ns)
    _offset_ns: int = 0

    def now_ns(self) -> int:
        return self.start_ns + int((time.monotonic_ns() - self._mono0) * self.speed) + self._offset_ns

    def advance(self, ns: int) -> None:
        self._offset_ns += ns

    def wall_delay_s(self, virtual_ns: int) -> float:
        """Wall seconds until the virtual clock reaches ``virtual_ns``."""
        return max(0.0, (virtual_ns - self.now_ns()) / NS_PER_S / self.speed)


class EngineVenue:
    """The synthetic participants' view of the engine (:class:`synthetic.Venue`)."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._owner: dict[str, str] = {}

    def place(self, account: str, ticker: str, side: str, price: int, count: int, ioc: bool) -> str | None:
        req = CreateOrder(ticker=ticker, side=BID if side == "bid" else ASK, price=price, count=count,
                          time_in_force=IOC if ioc else GTC)
        try:
            ack = self.exchange.create_order(account, req)
        except ExchangeError:
            return None
        if ack.remaining_count > 0 and ack.status == "resting":
            self._owner[ack.order_id] = account
            return ack.order_id
        return None

    def cancel(self, account: str, order_id: str) -> None:
        self._owner.pop(order_id, None)
        try:
            self.exchange.cancel_order(account, order_id)
        except ExchangeError:
            pass

    def remaining(self, order_id: str) -> int:
        account = self._owner.get(order_id)
        if account is None:
            return 0
        try:
            o = self.exchange.get_order(account, order_id)
        except ExchangeError:
            return 0
        if not o.is_open:
            self._owner.pop(order_id, None)
            return 0
        return o.remaining

    def top(self, ticker: str) -> tuple[int | None, int | None]:
        return self.exchange.best_bid_ask(ticker)

    def settle(self, ticker: str, result: str) -> None:
        try:
            self.exchange.settle_market(ticker, result)
        except ExchangeError:
            pass


def open_participants(exchange: Exchange, scenario: Scenario) -> None:
    """Fund the synthetic participants. Their accounts keep no history: the liquidity providers cancel
    and repost all day, and keeping their closed orders grew the simulator without bound."""
    for account in scenario.accounts():
        exchange.open_account(account, PARTICIPANT_BALANCE, keep_history=False)


def list_markets(exchange: Exchange, specs: list[MarketSpec], strikes: dict[str, dict[str, object]]) -> None:
    """Register synthetic markets (series, mutually exclusive events, markets) with the engine."""
    for spec in specs:
        try:
            exchange.series(spec.series_ticker)
        except ExchangeError:
            exchange.add_series(Series(ticker=spec.series_ticker, title="Synthetic index", category="Simulated"))
        try:
            exchange.event(spec.event_ticker)
        except ExchangeError:
            exchange.add_event(Event(event_ticker=spec.event_ticker, series_ticker=spec.series_ticker,
                                     title=f"Synthetic index at close ({spec.event_ticker})",
                                     mutually_exclusive=True))
        exchange.add_market(Market(
            ticker=spec.ticker, event_ticker=spec.event_ticker, series_ticker=spec.series_ticker,
            title=spec.title, yes_sub_title=spec.yes_sub_title, no_sub_title=spec.no_sub_title,
            created_ns=spec.open_ns, updated_ns=spec.open_ns, open_ns=spec.open_ns, close_ns=spec.close_ns,
            latest_expiration_ns=spec.close_ns + 7 * 86400 * NS_PER_S,
            rules_primary=f"Resolves YES if the synthetic index ends {spec.yes_sub_title.lower()}.",
        ))
        strike: dict[str, object] = {"strike_type": spec.strike_type}
        if spec.floor_strike is not None:
            strike["floor_strike"] = spec.floor_strike
        if spec.cap_strike is not None:
            strike["cap_strike"] = spec.cap_strike
        strikes[spec.ticker] = strike


class Simulator:
    """Everything one simulated exchange needs, wired together."""

    def __init__(
        self,
        *,
        seed: int = 1,
        keys: dict[str, bytes] | None = None,
        n_markets: int = 10,
        flow: bool = True,
        speed: float = 1.0,
        balance_dollars: int = 10_000,
        tier: str = "basic",
        rate_limit: bool = True,
        clock: SimClock | None = None,
        replay_path: str | None = None,
        shards: int = DEFAULT_SHARDS,
        first_close_minutes: float | None = None,
        close_spacing_minutes: float | None = None,
        post_only_cross: str = POST_ONLY_CANCEL,
        history_hours: float | None = DEFAULT_HISTORY_HOURS,
    ) -> None:
        """``shards``: exchange indexes the markets are spread over; ``first_close_minutes`` /
        ``close_spacing_minutes``: virtual minutes until the first synthetic event closes and
        between closes (defaults: the scenario's 6.5 h and 1 h); ``post_only_cross``: ``cancel``
        (default) or ``reject``, what a post-only order that would cross gets (see ``engine.Exchange``);
        ``history_hours``: virtual hours of public trades and candles kept (None: all of them; accounts'
        orders, fills and settlements are always kept)."""
        self.clock = clock or SimClock(speed=speed)
        self.history_ns = None if history_hours is None else int(history_hours * 3600 * NS_PER_S)
        self.exchange = Exchange(self.clock.now_ns, shards=shards, post_only_cross=post_only_cross,
                                 trade_history_ns=self.history_ns)
        self.keys = KeyRegistry()
        self.faults = Faults()
        self.limiter = RateLimiter(tier=tier, clock=time.monotonic, enabled=rate_limit)
        self.balance_dollars = balance_dollars
        self.strikes: dict[str, dict[str, object]] = {}
        self.flow = flow
        timing: dict[str, float] = {}
        if first_close_minutes is not None:
            timing["first_close_h"] = first_close_minutes / 60
        if close_spacing_minutes is not None:
            timing["close_spacing_h"] = close_spacing_minutes / 60
        cfg = ScenarioConfig(seed=seed, n_markets=n_markets, start_ns=self.clock.now_ns(), **timing)
        self.venue = EngineVenue(self.exchange)
        self.scenario = Scenario(self.venue, cfg, flow=flow, on_new_event=self._on_new_event)
        list_markets(self.exchange, self.scenario.market_specs(), self.strikes)
        open_participants(self.exchange, self.scenario)
        for key_id, pem in (keys or {}).items():
            self.add_key(key_id, pem, balance_dollars)
        self.on_tick: list[Callable[[], None]] = []
        self.replay: Replayer | None = None
        if replay_path is not None:
            self.replay = Replayer.from_file(self.exchange, replay_path, self.clock.now_ns())
            self.on_tick.append(self._play_replay)
        self._task: asyncio.Task[None] | None = None

    def _play_replay(self) -> None:
        if self.replay is not None:
            self.replay.play_until(self.clock.now_ns())

    def _on_new_event(self, specs: list[MarketSpec]) -> None:
        list_markets(self.exchange, specs, self.strikes)

    def add_key(
        self, key_id: str, public_pem: bytes, balance_dollars: int | None = None, tier: str | None = None,
    ) -> None:
        """Register an API key; its account gets ``balance_dollars`` (only when new); ``tier`` gives
        the key its own rate-limit tier (default: the server's)."""
        if tier is not None:
            self.limiter.set_tier(key_id, str(tier))
        self.keys.add(key_id, public_pem)
        if not self.exchange.has_account(key_id):
            dollars = self.balance_dollars if balance_dollars is None else balance_dollars
            self.exchange.open_account(key_id, int(dollars) * MONEY_SCALE)

    # --- the clock loop: runs the synthetic flow and time-driven engine changes ----------------
    def step(self) -> None:
        """Bring the scenario and the engine up to the current virtual time."""
        self.scenario.run_until(self.clock.now_ns())
        self.exchange.tick()
        for fn in self.on_tick:
            fn()

    async def run(self, max_sleep_s: float = 0.05) -> None:
        """Forever: step, then sleep until the next scheduled action (at most ``max_sleep_s``)."""
        while True:
            try:
                self.step()
            except Exception:  # a bug in one action must not stop the market: log it and go on
                log.exception("simulator step failed")
            nxt = self.scenario.next_time()
            delay = max_sleep_s if nxt is None else min(max_sleep_s, self.clock.wall_delay_s(nxt))
            await asyncio.sleep(max(delay, 0.001))

    @property
    def running(self) -> bool:
        """True while the clock loop task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="sim-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
