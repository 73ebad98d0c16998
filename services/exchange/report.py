"""``kmm sim --report``: run a synthetic session on the virtual clock and compare it with STATS.md.

The session runs the real engine with the synthetic participants, as fast as the CPU allows. A
listener measures, on *active* markets (two-sided at least ``ACTIVE_TWO_SIDED`` of the time, like the
near-the-money strikes STATS.md measured): the time-weighted spread distribution, time-weighted
best-level size, book deltas per hour, and mid-move sizes; and on every market the trade (print)
sizes. Each figure has a target from STATS.md and a tolerance (documented in docs/simulator.md).
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kmm.messages.units import CENT, COUNT_SCALE, NS_PER_S

from .engine import Exchange
from .events import BookDelta, TradePrint
from .sim import EngineVenue, list_markets, open_participants
from .synthetic import HOUR_NS, Scenario, ScenarioConfig

ACTIVE_TWO_SIDED = 0.9


@dataclass
class _MarketTrack:
    last_ns: int
    bid: int | None = None
    ask: int | None = None
    bid_size: int = 0
    deltas: int = 0
    two_sided_ns: int = 0
    total_ns: int = 0
    spread_ns: Counter[int] = field(default_factory=Counter)
    size_ns: Counter[int] = field(default_factory=Counter)
    mid_moves: Counter[int] = field(default_factory=Counter)  # in half cents
    minute_mids: dict[int, int] = field(default_factory=dict)  # minute index → last mid (2× price units)


class StatsCollector:
    """Engine listener accumulating the report's figures."""

    def __init__(self, exchange: Exchange, start_ns: int) -> None:
        self.exchange = exchange
        self.start_ns = start_ns
        self.tracks: dict[str, _MarketTrack] = {}
        self.trade_sizes: list[int] = []

    def _advance(self, tr: _MarketTrack, now: int) -> None:
        dt = now - tr.last_ns
        if dt <= 0:
            return
        tr.total_ns += dt
        if tr.bid is not None and tr.ask is not None:
            tr.two_sided_ns += dt
            tr.spread_ns[(tr.ask - tr.bid) // CENT] += dt
            tr.size_ns[tr.bid_size // COUNT_SCALE] += dt
        tr.last_ns = now

    def on_book_delta(self, ev: BookDelta) -> None:
        tr = self.tracks.get(ev.ticker)
        if tr is None:
            tr = self.tracks[ev.ticker] = _MarketTrack(last_ns=ev.ts_ns)
        self._advance(tr, ev.ts_ns)
        tr.deltas += 1
        stats = self.exchange.market_stats(ev.ticker)
        bid, ask = stats.yes_bid, stats.yes_ask
        if bid is not None and ask is not None and tr.bid is not None and tr.ask is not None:
            move = abs((bid + ask) - (tr.bid + tr.ask)) // CENT  # in half cents
            if move:
                tr.mid_moves[move] += 1
        tr.bid, tr.ask, tr.bid_size = bid, ask, stats.yes_bid_size
        if bid is not None and ask is not None:
            tr.minute_mids[(ev.ts_ns - self.start_ns) // (60 * NS_PER_S)] = bid + ask

    def on_trade(self, ev: TradePrint) -> None:
        self.trade_sizes.append(ev.count // COUNT_SCALE)

    def finish(self, now: int) -> None:
        for tr in self.tracks.values():
            self._advance(tr, now)


def hourly_mid_vol_c(tr: _MarketTrack, hours: float) -> float:
    """Realized volatility of the 1-minute mid, in cents per sqrt(hour) (STATS.md's "hourly vol")."""
    if not tr.minute_mids:
        return 0.0
    mids: list[int] = []
    last = None
    for minute in range(max(tr.minute_mids) + 1):
        last = tr.minute_mids.get(minute, last)
        if last is not None:
            mids.append(last)
    sq = sum(((b - a) / 2 / CENT) ** 2 for a, b in zip(mids, mids[1:], strict=False))
    return (sq / max(hours, 1e-9)) ** 0.5


def _quantile_weighted(weights: Counter[int], q: float) -> float:
    total = sum(weights.values())
    if not total:
        return float("nan")
    acc = 0
    for value in sorted(weights):
        acc += weights[value]
        if acc >= q * total:
            return float(value)
    return float(max(weights))


def _quantile(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    target: str
    low: float
    high: float

    @property
    def ok(self) -> bool:
        return self.low <= self.value <= self.high


def run_session(seed: int = 1, hours: float = 1.0, n_markets: int = 5) -> tuple[StatsCollector, Scenario]:
    """Run ``hours`` of virtual time with the synthetic flow; return the collected statistics."""
    cfg = ScenarioConfig(seed=seed, n_markets=n_markets, brackets_per_event=n_markets, roll_events=False)
    clock = [cfg.start_ns]
    exchange = Exchange(lambda: clock[0])
    scenario = Scenario(EngineVenue(exchange), cfg, flow=True)
    list_markets(exchange, scenario.market_specs(), {})
    open_participants(exchange, scenario)
    # Warm-up: let the makers build their ladders before measuring.
    warm = cfg.start_ns + 60 * NS_PER_S
    _drive(scenario, clock, warm)
    collector = StatsCollector(exchange, warm)
    exchange.add_listener(collector)
    end = warm + int(hours * HOUR_NS)
    _drive(scenario, clock, end)
    collector.finish(end)
    return collector, scenario


def _drive(scenario: Scenario, clock: list[int], until: int) -> None:
    while True:
        nxt = scenario.next_time()
        if nxt is None or nxt > until:
            break
        clock[0] = nxt
        scenario.run_until(nxt)
    clock[0] = until
    scenario.run_until(until)


def evaluate(collector: StatsCollector, hours: float) -> list[Check]:
    """The report's checks: each statistic with its STATS.md target and tolerance band."""
    active = [t for t in collector.tracks.values() if t.total_ns and t.two_sided_ns / t.total_ns >= ACTIVE_TWO_SIDED]
    spread: Counter[int] = Counter()
    sizes: Counter[int] = Counter()
    moves: Counter[int] = Counter()
    for t in active:
        spread.update(t.spread_ns)
        sizes.update(t.size_ns)
        moves.update(t.mid_moves)
    total_spread = sum(spread.values()) or 1
    share = {c: spread[c] / total_spread for c in range(1, 5)}
    n_moves = sum(moves.values()) or 1
    updates = [t.deltas / hours for t in active]
    vols = [hourly_mid_vol_c(t, hours) for t in active]
    return [
        Check("active markets (two-sided >= 90% of time)", float(len(active)), ">= 1", 1, 1e9),
        Check("spread median (c)", _quantile_weighted(spread, 0.5), "2", 1, 3),
        Check("spread p90 (c)", _quantile_weighted(spread, 0.9), "3-4", 2, 5),
        Check("spread 1c share", share[1], "0.22", 0.05, 0.45),
        Check("spread 2c share", share[2], "0.35", 0.15, 0.60),
        Check("spread <=4c share", sum(share.values()), "0.98", 0.85, 1.001),
        Check("best-level size median", _quantile_weighted(sizes, 0.5), "250-400", 150, 650),
        Check("trade size median", _quantile(collector.trade_sizes, 0.5), "17-23", 10, 35),
        Check("trade size p99", _quantile(collector.trade_sizes, 0.99), "2000-2500", 700, 5000),
        Check("book deltas per hour (active median)", _quantile(updates, 0.5) if updates else 0.0,
              "3000-6400", 1500, 13000),
        Check("hourly vol of 1-min mid (c, active median)", _quantile([round(v * 100) for v in vols], 0.5) / 100
              if vols else 0.0, "7-12", 2, 25),
        Check("mid moves of 0.5c share", moves[1] / n_moves, "0.90", 0.65, 1.001),
        Check("mid moves <=1.5c share", (moves[1] + moves[2] + moves[3]) / n_moves, "0.99", 0.90, 1.001),
    ]


def format_report(checks: list[Check], hours: float, seed: int, trades: int) -> str:
    lines = [f"synthetic session: seed={seed}, {hours:g} virtual hour(s), {trades} prints",
             f"{'statistic':44} {'value':>10}  {'STATS.md':>10}  {'tolerance':>15}  result"]
    for c in checks:
        high = "inf" if c.high >= 1e9 else f"{c.high:g}"
        lines.append(f"{c.name:44} {c.value:10.3f}  {c.target:>10}  {f'[{c.low:g}, {high}]':>15}  "
                     f"{'PASS' if c.ok else 'FAIL'}")
    return "\n".join(lines)


def report(seed: int = 1, hours: float = 1.0, n_markets: int = 5, as_json: bool = False) -> tuple[str, bool]:
    """Run, evaluate and format; returns (text, all passed)."""
    collector, _ = run_session(seed=seed, hours=hours, n_markets=n_markets)
    checks = evaluate(collector, hours)
    ok = all(c.ok for c in checks)
    if as_json:
        body: dict[str, Any] = {c.name: {"value": c.value, "low": c.low, "high": c.high, "ok": c.ok} for c in checks}
        return json.dumps(body), ok
    return format_report(checks, hours, seed, len(collector.trade_sizes)), ok
