"""Seeded synthetic Kalshi-like markets: latent probabilities, liquidity providers and takers.

Model (calibrated to data/STATS.md; see docs/simulator.md):

- An *event* is a set of mutually exclusive brackets ``[k_i, k_{i+1})`` on a latent underlying X
  (the tails are open). X follows a random walk with Poisson jumps. The market-implied probability
  that X ends above k is ``sigmoid((X - k) / s(tau))`` with ``s`` shrinking as the close nears, so each
  threshold's logit is a random walk in X, bracket prices sum to 1, and they converge to 0/1 at the
  close, where the bracket holding X resolves YES.
- *Liquidity providers* (several per market) keep ladders of round-lot bids and asks on the 1c grid
  around their view of the fair value, each with its own half-spread and refresh rate, and churn
  sizes now and then.
- *Noise takers* arrive as a Poisson process with heavy-tailed sizes (the STATS.md bucket table) and
  send IOC orders that may sweep a few levels.
- *Informed takers* trade when the fair value has moved outside the quotes.

Everything runs on a virtual clock (integer ns) driven by a heap of timed actions, so the same seed
gives the same session and a report can run hours of market in seconds. The participants talk to
the exchange only through :class:`Venue`, which the engine adapter implements.
"""

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kmm.messages.units import CENT, COUNT_SCALE, NS_PER_S, ONE_DOLLAR

HOUR_NS = 3600 * NS_PER_S
TICK = CENT  # linear_cent markets


class Venue(Protocol):
    """What the participants need from the exchange (prices in $0.0001, counts in 0.01 contract)."""

    def place(self, account: str, ticker: str, side: str, price: int, count: int, ioc: bool) -> str | None:
        """Submit a limit order (``side`` bid|ask); return the order id if any part rests."""

    def cancel(self, account: str, order_id: str) -> None: ...

    def remaining(self, order_id: str) -> int:
        """Resting count of an order (0 once filled or cancelled)."""

    def top(self, ticker: str) -> tuple[int | None, int | None]:
        """Best YES bid and best YES ask prices (None when that side is empty)."""

    def settle(self, ticker: str, result: str) -> None:
        """Close and settle a market with ``result`` yes|no."""


# Trade-size buckets (STATS.md §2, KXINX tape): (low, high, share of prints). Sizes are drawn
# log-uniformly inside a bucket; the top bucket's upper end puts p99 near 2,000.
SIZE_BUCKETS: tuple[tuple[int, int, float], ...] = (
    (1, 1, 13.2), (2, 5, 16.1), (6, 10, 14.0), (11, 25, 21.0), (26, 50, 11.4), (51, 100, 11.6),
    (101, 250, 5.7), (251, 500, 3.4), (501, 1000, 1.9), (1001, 5400, 1.7),
)
# Resting order sizes in round lots (STATS.md §1: delta median 200, p90 400, p99 1,000-2,000).
LOTS: tuple[tuple[int, float], ...] = (
    (100, 0.28), (200, 0.32), (300, 0.14), (400, 0.16), (500, 0.04), (1000, 0.04), (2000, 0.02),
)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def draw_trade_size(rng: random.Random) -> int:
    """Whole contracts, heavy tailed (median ~17, p99 ~2,000)."""
    u = rng.random() * sum(b[2] for b in SIZE_BUCKETS)
    low, high = SIZE_BUCKETS[-1][:2]
    for lo, hi, share in SIZE_BUCKETS:
        u -= share
        if u <= 0:
            low, high = lo, hi
            break
    if low == high:
        return low
    return int(round(math.exp(rng.uniform(math.log(low - 0.5), math.log(high + 0.5)))))


def draw_lot(rng: random.Random) -> int:
    u = rng.random()
    for size, share in LOTS:
        u -= share
        if u <= 0:
            return size
    return LOTS[0][0]


@dataclass(frozen=True)
class ScenarioConfig:
    """Knobs of a synthetic session; the defaults are the calibrated ones."""

    seed: int = 1
    n_markets: int = 10
    brackets_per_event: int = 5
    series_ticker: str = "KXSIM"
    start_ns: int = 1_795_000_000 * NS_PER_S
    first_close_h: float = 6.5
    close_spacing_h: float = 1.0
    bracket_width: float = 1.0
    sigma_per_sqrt_h: float = 0.55  # latent X units per sqrt(hour)
    jump_rate_per_h: float = 1.5
    jump_sigma: float = 0.25
    latent_step_s: float = 1.0
    noise_rate_per_h: float = 300.0  # noise taker orders per hour in an at-the-money market
    yes_taker_share: float = 0.55
    informed_edge: int = CENT
    informed_prob: float = 0.35
    makers: tuple[tuple[float, int, float], ...] = (
        # (half-spread in cents, ladder levels per side, refreshes per minute)
        (0.8, 3, 15.0), (1.5, 6, 6.0), (2.0, 10, 4.0), (2.6, 14, 2.0),
    )
    resize_prob: float = 0.35
    regimes: tuple[float, ...] = (0.4, 1.0, 1.3, 1.8)
    regime_switch_prob: float = 0.05
    view_noise_c: float = 0.6  # each maker's private error on the fair value, in cents
    block_min: int = 500  # takers at least this large meet a block provider at the touch
    roll_events: bool = True  # create a fresh event when one settles (endless live sessions)


@dataclass
class Bracket:
    ticker: str
    low: float | None
    high: float | None

    def prob(self, x: float, s: float) -> float:
        above_low = 1.0 if self.low is None else sigmoid((x - self.low) / s)
        above_high = 0.0 if self.high is None else sigmoid((x - self.high) / s)
        return max(0.0, above_low - above_high)

    def contains(self, x: float) -> bool:
        return (self.low is None or x >= self.low) and (self.high is None or x < self.high)


@dataclass
class SyntheticEvent:
    """One event: mutually exclusive brackets on the latent X, closing at ``close_ns``."""

    event_ticker: str
    open_ns: int
    close_ns: int
    brackets: list[Bracket]
    x: float = 0.0
    settled: bool = False

    def scale(self, now_ns: int, sigma: float) -> float:
        tau_h = max(0.0, (self.close_ns - now_ns) / HOUR_NS)
        # Logistic scale with the same variance as the remaining Gaussian move, floored near the close.
        return max(0.02, sigma * math.sqrt(tau_h + 0.01) * math.sqrt(3.0) / math.pi)

    def fair(self, ticker: str, now_ns: int, sigma: float) -> float:
        s = self.scale(now_ns, sigma)
        for b in self.brackets:
            if b.ticker == ticker:
                return b.prob(self.x, s)
        raise KeyError(ticker)


@dataclass
class Maker:
    """A liquidity provider's ladder in one market: price → order id on each side."""

    account: str
    half_spread_c: float
    levels: int
    refresh_per_min: float
    bids: dict[int, str] = field(default_factory=dict)
    asks: dict[int, str] = field(default_factory=dict)
    regime: float = 1.0  # current half-spread multiplier (makers tighten and widen for a while)


@dataclass
class MarketSpec:
    """What the engine needs to list a market."""

    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    yes_sub_title: str
    no_sub_title: str
    open_ns: int
    close_ns: int
    strike_type: str
    floor_strike: float | None
    cap_strike: float | None


def event_specs(event: SyntheticEvent, series: str) -> list[MarketSpec]:
    specs = []
    for b in event.brackets:
        if b.low is None:
            sub, strike = f"Below {b.high:g}", "less"
        elif b.high is None:
            sub, strike = f"{b.low:g} or above", "greater_or_equal"
        else:
            sub, strike = f"{b.low:g} to {b.high:g}", "between"
        specs.append(MarketSpec(
            ticker=b.ticker, event_ticker=event.event_ticker, series_ticker=series,
            title=f"Synthetic index {sub}", yes_sub_title=sub, no_sub_title=f"Not {sub.lower()}",
            open_ns=event.open_ns, close_ns=event.close_ns, strike_type=strike,
            floor_strike=b.low, cap_strike=b.high,
        ))
    return specs


class Scenario:
    """The whole synthetic session: events, participants and the virtual-clock action heap."""

    def __init__(
        self,
        venue: Venue,
        config: ScenarioConfig,
        flow: bool = True,
        on_new_event: Callable[[list[MarketSpec]], None] | None = None,
    ) -> None:
        self.venue = venue
        self.cfg = config
        self.flow = flow
        self.rng = random.Random(config.seed)
        self.now_ns = config.start_ns
        self.on_new_event = on_new_event
        self.events: dict[str, SyntheticEvent] = {}
        self.market_event: dict[str, str] = {}
        self.makers: dict[str, list[Maker]] = {}
        self._heap: list[tuple[int, int, str, str]] = []
        self._seq = 0
        self._n_events = 0
        n_events = math.ceil(max(0, config.n_markets) / config.brackets_per_event)
        remaining = config.n_markets
        for i in range(n_events):
            k = min(config.brackets_per_event, remaining)
            remaining -= k
            close = config.start_ns + int((config.first_close_h + i * config.close_spacing_h) * HOUR_NS)
            self._new_event(max(1, k), close, announce=False)

    # --- setup ------------------------------------------------------------------------------
    def _new_event(self, k: int, close_ns: int, announce: bool = True) -> SyntheticEvent:
        idx = self._n_events
        self._n_events += 1
        ev_ticker = f"{self.cfg.series_ticker}-E{idx:03d}"
        w = self.cfg.bracket_width
        edges = [(j - k / 2.0) * w for j in range(1, k)]  # k-1 inner edges, centred on 0
        brackets = []
        if k == 1:  # a lone binary threshold market: "X ends at or above 0"
            brackets.append(Bracket(ticker=f"{ev_ticker}-T0", low=0.0, high=None))
        for j in range(k if k > 1 else 0):
            low = edges[j - 1] if j > 0 else None
            high = edges[j] if j < k - 1 else None
            label = f"B{j}" if 0 < j < k - 1 else ("T0" if j == 0 else f"T{j}")
            brackets.append(Bracket(ticker=f"{ev_ticker}-{label}", low=low, high=high))
        # A small offset so the event does not start exactly on a bracket edge.
        x0 = self.rng.uniform(-0.4, 0.4) * w
        event = SyntheticEvent(ev_ticker, self.now_ns, close_ns, brackets, x=x0)
        self.events[ev_ticker] = event
        for b in brackets:
            self.market_event[b.ticker] = ev_ticker
            self.makers[b.ticker] = [
                Maker(f"sim-lp{m}", hs, lv, rate) for m, (hs, lv, rate) in enumerate(self.cfg.makers)
            ]
        if announce and self.on_new_event is not None:
            self.on_new_event(event_specs(event, self.cfg.series_ticker))
        self._schedule_event(event)
        return event

    def accounts(self) -> set[str]:
        """Every synthetic participant's account: the liquidity providers' and the takers'."""
        return {m.account for ms in self.makers.values() for m in ms} | set(TAKER_ACCOUNTS)

    def market_specs(self) -> list[MarketSpec]:
        out: list[MarketSpec] = []
        for ev in self.events.values():
            out.extend(event_specs(ev, self.cfg.series_ticker))
        return out

    def _push(self, t_ns: int, kind: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t_ns, self._seq, kind, key))

    def _schedule_event(self, event: SyntheticEvent) -> None:
        self._push(self.now_ns + int(self.cfg.latent_step_s * NS_PER_S), "latent", event.event_ticker)
        self._push(event.close_ns, "close", event.event_ticker)
        if not self.flow:
            return
        for b in event.brackets:
            for m in range(len(self.makers[b.ticker])):
                self._push(self.now_ns + self.rng.randrange(1, NS_PER_S), "maker", f"{b.ticker}|{m}")
            self._push(self.now_ns + self._exp_ns(self.cfg.noise_rate_per_h / 3600.0), "noise", b.ticker)

    def _exp_ns(self, rate_per_s: float) -> int:
        return max(1, int(self.rng.expovariate(max(rate_per_s, 1e-9)) * NS_PER_S))

    # --- running ----------------------------------------------------------------------------
    def next_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, t_ns: int) -> int:
        """Run every action due at or before ``t_ns``; returns how many ran."""
        n = 0
        while self._heap and self._heap[0][0] <= t_ns:
            at, _, kind, key = heapq.heappop(self._heap)
            self.now_ns = at
            getattr(self, f"_on_{kind}")(key)
            n += 1
        self.now_ns = max(self.now_ns, t_ns)
        return n

    def fair(self, ticker: str) -> float:
        ev = self.events[self.market_event[ticker]]
        return ev.fair(ticker, self.now_ns, self.cfg.sigma_per_sqrt_h)

    def _on_latent(self, ev_ticker: str) -> None:
        ev = self.events[ev_ticker]
        if ev.settled or self.now_ns >= ev.close_ns:
            return
        dt_h = self.cfg.latent_step_s / 3600.0
        ev.x += self.rng.gauss(0.0, self.cfg.sigma_per_sqrt_h * math.sqrt(dt_h))
        if self.rng.random() < self.cfg.jump_rate_per_h * dt_h:
            ev.x += self.rng.gauss(0.0, self.cfg.jump_sigma)
        self._push(self.now_ns + int(self.cfg.latent_step_s * NS_PER_S), "latent", ev_ticker)
        if self.flow:
            for b in ev.brackets:
                self._informed(b.ticker)

    def _on_close(self, ev_ticker: str) -> None:
        ev = self.events[ev_ticker]
        if ev.settled:
            return
        ev.settled = True
        for b in ev.brackets:
            for maker in self.makers[b.ticker]:
                for oid in list(maker.bids.values()) + list(maker.asks.values()):
                    self.venue.cancel(maker.account, oid)
                maker.bids.clear()
                maker.asks.clear()
            self.venue.settle(b.ticker, "yes" if b.contains(ev.x) else "no")
        if self.cfg.roll_events:
            span = int((self.cfg.first_close_h + self.cfg.close_spacing_h) * HOUR_NS)
            self._new_event(len(ev.brackets), self.now_ns + span)

    def _live(self, ticker: str) -> bool:
        ev = self.events[self.market_event[ticker]]
        return not ev.settled and self.now_ns < ev.close_ns

    def _on_maker(self, key: str) -> None:
        ticker, m = key.split("|")
        if not self._live(ticker):
            return
        maker = self.makers[ticker][int(m)]
        self._refresh(ticker, maker)
        self._push(self.now_ns + self._exp_ns(maker.refresh_per_min / 60.0), "maker", key)

    def _refresh(self, ticker: str, maker: Maker) -> None:
        fair_c = self.fair(ticker) * 100.0 + self.rng.gauss(0.0, self.cfg.view_noise_c)
        if self.rng.random() < self.cfg.regime_switch_prob:
            maker.regime = self.rng.choice(self.cfg.regimes)
        hs = maker.half_spread_c * maker.regime * self.rng.uniform(0.7, 1.3)
        best_bid, best_ask = self.venue.top(ticker)
        bid0 = math.floor(fair_c - hs) * TICK
        ask0 = math.ceil(fair_c + hs) * TICK
        # Post-only: never cross the other participants' quotes.
        own_bids, own_asks = set(maker.bids), set(maker.asks)
        if best_ask is not None and best_ask not in own_asks:
            bid0 = min(bid0, best_ask - TICK)
        if best_bid is not None and best_bid not in own_bids:
            ask0 = max(ask0, best_bid + TICK)
        bid0 = min(bid0, ask0 - TICK)
        want_bids = {bid0 - j * TICK for j in range(maker.levels) if TICK <= bid0 - j * TICK <= ONE_DOLLAR - TICK}
        want_asks = {ask0 + j * TICK for j in range(maker.levels) if TICK <= ask0 + j * TICK <= ONE_DOLLAR - TICK}
        self._reconcile(ticker, maker, "bid", maker.bids, want_bids)
        self._reconcile(ticker, maker, "ask", maker.asks, want_asks)
        if self.rng.random() < self.cfg.resize_prob:
            book = maker.bids if self.rng.random() < 0.5 else maker.asks
            if book:
                price = self.rng.choice(sorted(book))
                self.venue.cancel(maker.account, book.pop(price))
                side = "bid" if book is maker.bids else "ask"
                self._post(ticker, maker, side, book, price)

    def _reconcile(self, ticker: str, maker: Maker, side: str, book: dict[int, str], want: set[int]) -> None:
        for price in [p for p in book if p not in want]:
            self.venue.cancel(maker.account, book.pop(price))
        for price in [p for p in book if self.venue.remaining(book[p]) <= 0]:
            del book[price]
        # Touch first, so a crossing order never rests behind a stale one.
        for price in sorted(want - set(book), reverse=(side == "bid")):
            self._post(ticker, maker, side, book, price)

    def _post(self, ticker: str, maker: Maker, side: str, book: dict[int, str], price: int) -> None:
        oid = self.venue.place(maker.account, ticker, side, price, draw_lot(self.rng) * COUNT_SCALE, ioc=False)
        if oid is not None:
            book[price] = oid

    def _activity(self, ticker: str) -> float:
        p = self.fair(ticker)
        return min(1.0, 4.0 * p * (1.0 - p)) ** 2

    def _on_noise(self, ticker: str) -> None:
        if not self._live(ticker):
            return
        act = self._activity(ticker)
        if self.rng.random() < act:
            buy = self.rng.random() < self.cfg.yes_taker_share
            self._take(ticker, buy, draw_trade_size(self.rng), slippage=2 * TICK, account="sim-noise")
        self._push(self.now_ns + self._exp_ns(self.cfg.noise_rate_per_h / 3600.0), "noise", ticker)

    def _informed(self, ticker: str) -> None:
        fair = int(round(self.fair(ticker) * ONE_DOLLAR))
        best_bid, best_ask = self.venue.top(ticker)
        edge = self.cfg.informed_edge
        if best_ask is not None and fair - best_ask >= edge and self.rng.random() < self.cfg.informed_prob:
            limit = min(fair - edge // 2, ONE_DOLLAR - TICK)
            self.venue.place("sim-informed", ticker, "bid", limit // TICK * TICK,
                             draw_trade_size(self.rng) * COUNT_SCALE, ioc=True)
        elif best_bid is not None and best_bid - fair >= edge and self.rng.random() < self.cfg.informed_prob:
            limit = max(fair + edge // 2, TICK)
            self.venue.place("sim-informed", ticker, "ask", -(-limit // TICK) * TICK,
                             draw_trade_size(self.rng) * COUNT_SCALE, ioc=True)

    def _take(self, ticker: str, buy: bool, size: int, slippage: int, account: str) -> None:
        best_bid, best_ask = self.venue.top(ticker)
        if size >= self.cfg.block_min and best_bid is not None and best_ask is not None:
            # Large prints meet large resting size: a block provider improves the touch by a tick
            # when it can (so it is first in the queue), the taker lifts it, the rest is cancelled.
            inside = best_ask - best_bid > TICK
            price = (best_ask - TICK if inside else best_ask) if buy else (best_bid + TICK if inside else best_bid)
            oid = self.venue.place("sim-block", ticker, "ask" if buy else "bid", price, size * COUNT_SCALE, ioc=False)
            self.venue.place(account, ticker, "bid" if buy else "ask", price, size * COUNT_SCALE, ioc=True)
            if oid is not None:
                self.venue.cancel("sim-block", oid)
            return
        if buy and best_ask is not None:
            self.venue.place(account, ticker, "bid", min(best_ask + slippage, ONE_DOLLAR - TICK),
                             size * COUNT_SCALE, ioc=True)
        elif not buy and best_bid is not None:
            self.venue.place(account, ticker, "ask", max(best_bid - slippage, TICK), size * COUNT_SCALE, ioc=True)


TAKER_ACCOUNTS = ("sim-noise", "sim-informed", "sim-block")
