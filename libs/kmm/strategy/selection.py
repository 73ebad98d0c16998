"""Market selection: score markets, filter them, and keep a universe that does not flap.

score = (volume / σ) × exp(−(spread − target)² / (2·width²))

- volume: 24 h volume in contracts; σ: ¢/√h (floored at ``sigma_floor_c`` so quiet markets do not
  divide by ~0); spread: the current quoted spread in ¢. The Gaussian factor prefers books whose
  spread leaves room for a maker (around ``target_spread_c``) over 1-tick books and empty ones.
- filters: status open, time to close ≥ ``min_hours_to_close``, trades per hour ≥ ``min_trades_per_h``,
  two-sided book (``require_two_sided``). A market failing a filter scores 0 and is not eligible.
- hysteresis: a market enters at score ≥ ``enter_score`` and leaves below ``exit_score`` (lower); it
  stays at least ``min_dwell_s`` unless a filter fails; at most ``max_markets``; when full, a newcomer
  replaces the weakest member (past its dwell) only if it scores ``swap_ratio`` times higher.

Every score comes with a dict explaining its factors (for logs and the selector's published reasons).
Deterministic: time is passed in (ns); ties break on the market ticker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kmm.messages import MARKET_OPEN_STATUSES
from kmm.messages.units import COUNT_SCALE, NS_PER_S


@dataclass(frozen=True, slots=True)
class SelectionConfig:
    target_spread_c: float = 3.0
    width_c: float = 2.0
    sigma_floor_c: float = 1.0
    min_hours_to_close: float = 0.5
    min_trades_per_h: float = 1.0
    require_two_sided: bool = True
    enter_score: float = 100.0
    exit_score: float = 50.0
    max_markets: int = 20
    min_dwell_s: float = 600.0
    swap_ratio: float = 1.5


@dataclass(frozen=True, slots=True)
class MarketStats:
    """What the selector knows about one market (volume in count units of 0.01 contract)."""

    market: str
    status: str = "open"
    volume_24h: int = 0
    sigma_c: float = 0.0
    spread_c: float = math.nan
    hours_to_close: float = math.inf
    trades_per_h: float = 0.0
    two_sided: bool = True


def score_market(stats: MarketStats, cfg: SelectionConfig) -> dict[str, Any]:
    """The market's score and its factors: ``score``, ``eligible``, ``failed`` filters, factor values."""
    failed = []
    if stats.status not in MARKET_OPEN_STATUSES:
        failed.append("status")
    if not stats.hours_to_close >= cfg.min_hours_to_close:
        failed.append("time_to_close")
    if not stats.trades_per_h >= cfg.min_trades_per_h:
        failed.append("trades_per_h")
    if cfg.require_two_sided and not stats.two_sided:
        failed.append("two_sided")
    volume = stats.volume_24h / COUNT_SCALE
    sigma = max(stats.sigma_c, cfg.sigma_floor_c) if math.isfinite(stats.sigma_c) else cfg.sigma_floor_c
    liquidity = volume / sigma
    if math.isfinite(stats.spread_c):
        spread_factor = math.exp(-((stats.spread_c - cfg.target_spread_c) ** 2) / (2.0 * cfg.width_c ** 2))
    else:
        spread_factor = 0.0
        if "two_sided" not in failed:
            failed.append("spread")
    raw = liquidity * spread_factor
    return {
        "market": stats.market, "score": 0.0 if failed else raw, "raw_score": raw, "eligible": not failed,
        "failed": tuple(failed), "volume": volume, "sigma_c": sigma, "volume_per_sigma": liquidity,
        "spread_c": stats.spread_c, "spread_factor": spread_factor,
    }


@dataclass(frozen=True, slots=True)
class Selection:
    markets: tuple[str, ...]
    scores: tuple[float, ...]
    entered: tuple[str, ...]
    left: tuple[str, ...]
    explain: dict[str, dict[str, Any]] = field(default_factory=dict)


class UniverseSelector:
    """Keeps the quoted universe between calls of :meth:`update` (see the module docstring)."""

    def __init__(self, cfg: SelectionConfig | None = None) -> None:
        self.cfg = cfg or SelectionConfig()
        if self.cfg.exit_score > self.cfg.enter_score:
            raise ValueError("exit_score must be <= enter_score")
        self.members: dict[str, int] = {}  # market → entry time (ns)

    def update(self, stats: list[MarketStats], now_ns: int) -> Selection:
        cfg = self.cfg
        explain = {s.market: score_market(s, cfg) for s in stats}
        dwell_ns = int(cfg.min_dwell_s * NS_PER_S)
        before = set(self.members)
        kept: dict[str, int] = {}
        for market, since in self.members.items():
            info = explain.get(market)
            if info is None or not info["eligible"]:
                continue
            if info["score"] >= cfg.exit_score or now_ns - since < dwell_ns:
                kept[market] = since
        candidates = sorted(
            (info for m, info in explain.items() if m not in kept and info["eligible"]
             and info["score"] >= cfg.enter_score),
            key=lambda i: (-i["score"], i["market"]),
        )
        for cand in candidates:
            if len(kept) < cfg.max_markets:
                kept[cand["market"]] = now_ns
                continue
            swappable = [m for m, since in kept.items() if now_ns - since >= dwell_ns]
            if not swappable:
                break
            weakest = min(swappable, key=lambda m: (explain[m]["score"], m))
            if cand["score"] >= cfg.swap_ratio * explain[weakest]["score"]:
                del kept[weakest]
                kept[cand["market"]] = now_ns
        self.members = kept
        ordered = sorted(kept, key=lambda m: (-explain[m]["score"], m))
        for m in explain:
            explain[m]["selected"] = m in kept
        return Selection(
            markets=tuple(ordered), scores=tuple(explain[m]["score"] for m in ordered),
            entered=tuple(sorted(set(kept) - before)), left=tuple(sorted(before - set(kept))), explain=explain,
        )
