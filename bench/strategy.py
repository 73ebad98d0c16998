"""Benchmark of the strategy library: quote updates for 1 and 1,000 parameter sets, and a risk check.

Each figure is the best of several repeats of the mean time per call (µs). Targets: one update ≤ 20 µs,
1,000 sets in one call ≤ 200 µs. The state exercises every binary rule (an hour to the close, so the
jump floor's ramp is live; a guarded bid; the cent-rounded fee floor). ``update_us`` is what the live
quoter does per book update: the two-scale σ, the guard, ``quote_one`` and the safe-side hold.
``sets_1000_us`` does not read the lazily packed reason masks; ``sets_1000_with_reasons_us`` does. The
last line is one JSON object of figures.
Run: .venv/bin/python bench/strategy.py
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable

import numpy as np

from kmm.messages import MarketInfo, QuoteIntent
from kmm.risk.engine import RiskEngine, RiskLimits
from kmm.strategy.estimators import TwoScaleVolatility
from kmm.strategy.guard import AdverseGuard
from kmm.strategy.quoting import MarketState, ParamGrid, QuoteParams, hold_quote, quote_arrays, quote_one
from kmm.strategy.ticks import tick_grid


def best_us(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    grid = tick_grid()
    params = QuoteParams(gamma=0.1, kappa=1.0, eta=0.5)
    state = MarketState(fair=5012.5, best_bid=4900, best_ask=5100, position=3000, sigma=10.0, tau_h=1.0,
                        maker_fee_rate=0.0175, bid_guard=1.0)
    vol = TwoScaleVolatility()
    guard = AdverseGuard.from_params(params)
    tick = [0]

    def update() -> None:
        tick[0] += 1
        t = tick[0] * 1_000_000_000
        mid = 5000.0 + 50.0 * (tick[0] % 3)
        vol.update(t, mid)
        bg, ag = guard.update1(t, mid)
        st = MarketState(fair=mid, best_bid=4900, best_ask=5100, position=3000, sigma=vol.sigma, tau_h=1.0,
                         maker_fee_rate=0.0175, bid_guard=bg, ask_guard=ag)
        q = quote_one(st, params, grid)
        hold_quote((4800, 1000, 5200, 1000), (q.bid_price, q.bid_count, q.ask_price, q.ask_count), 100, 0.5)

    sets = ParamGrid.product(np.linspace(0.05, 1.0, 40), np.linspace(0.5, 5.0, 25), base=params)
    one = ParamGrid.from_params([params])
    figures = {
        "one_set_us": best_us(lambda: quote_one(state, params, grid), 20_000),
        "update_us": best_us(update, 20_000),
        "one_set_logit_us": best_us(lambda: quote_one(state, params, grid, space="logit"), 20_000),
        "one_set_vectorized_us": best_us(lambda: quote_arrays(state, one, grid), 2_000),
        "sets_1000_us": best_us(lambda: quote_arrays(state, sets, grid), 1_000),
        "sets_1000_logit_us": best_us(lambda: quote_arrays(state, sets, grid, space="logit"), 1_000),
        "sets_1000_with_reasons_us": best_us(lambda: quote_arrays(state, sets, grid).reasons, 1_000),
    }
    figures["sets_1000_per_set_ns"] = figures["sets_1000_us"] * 1000 / len(sets)

    clock_now = [0]
    engine = RiskEngine(RiskLimits(rate_capacity=1e12, rate_per_s=1e12), lambda: clock_now[0])
    for i in range(20):
        engine.on_market(MarketInfo(market=f"M{i}", event="E", mutually_exclusive=True))
        engine.on_book(f"M{i}", 4900, 5100)
    intents = [QuoteIntent(intent_id="x", market="M3", bid_price=4800 - 100 * (k % 2), bid_count=1000,
                           ask_price=5200, ask_count=1000) for k in range(2)]
    counter = [0]

    def risk_check() -> None:
        counter[0] += 1
        clock_now[0] += 1_000_000
        engine.check(intents[counter[0] % 2])

    figures["risk_check_20_markets_us"] = best_us(risk_check, 5_000)
    for name, value in figures.items():
        print(f"{name:28s} {value:10.2f}")
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
