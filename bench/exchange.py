"""Exchange simulator benchmarks. Ends by printing ONE JSON line of figures.

Engine part: a realistic random flow on a few markets (makers quoting around a random-walk mid,
cancels and amends, IOC takers crossing the spread) through ``Exchange`` with no listeners; reports
orders handled per second and trades (matches) per second. Then the served simulator: WS delivery to
one client (``exchange_ws.py``) and an unloaded amend's REST round trip with the simulator's CPU per
request (``exchange_rest.py``). Each measurement is one function returning a dict, merged into the
final line by :func:`main`.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmm_services.exchange.engine import AmendOrder, Exchange, ExchangeError  # noqa: E402
from kmm_services.exchange.orders import ASK, BID, GTC, IOC, CreateOrder  # noqa: E402


def engine_flow(n_orders: int = 200_000, seed: int = 7, n_markets: int = 4, n_users: int = 20) -> dict[str, float]:
    """Orders/s and matches/s of the matching engine on a random maker/taker flow."""
    rng = random.Random(seed)
    clock = [1_800_000_000_000_000_000]
    ex = Exchange(lambda: clock[0])
    tickers = [f"KXBENCH-26DEC31-M{i}" for i in range(n_markets)]
    for t in tickers:
        ex.create_market(t, "KXBENCH-26DEC31")
    users = [f"u{i}" for i in range(n_users)]
    for u in users:
        ex.open_account(u, 10**15)
    mids = {t: 5000 for t in tickers}
    live: dict[str, list[tuple[str, str]]] = {u: [] for u in users}
    reqs = []
    for _ in range(n_orders):
        t = rng.choice(tickers)
        mids[t] = min(9000, max(1000, mids[t] + rng.choice((-100, 0, 0, 0, 100))))
        u = rng.choice(users)
        r = rng.random()
        if r < 0.55:
            side = rng.choice((BID, ASK))
            off = rng.randint(1, 6) * 100
            price = mids[t] - off if side == BID else mids[t] + off
            reqs.append(("new", u, CreateOrder(t, side, price, rng.randint(1, 50) * 100, GTC)))
        elif r < 0.75:
            reqs.append(("cancel", u, None))
        elif r < 0.85:
            reqs.append(("amend", u, rng.randint(-2, 2) * 100))
        else:
            side = rng.choice((BID, ASK))
            price = mids[t] + 300 if side == BID else mids[t] - 300
            reqs.append(("new", u, CreateOrder(t, side, price, rng.randint(1, 30) * 100, IOC)))
    start = time.perf_counter()
    for kind, u, arg in reqs:
        clock[0] += 1_000_000
        try:
            if kind == "new":
                ack = ex.create_order(u, arg)
                if ack.remaining_count and ack.status == "resting":
                    live[u].append((ack.order_id, arg.ticker))
            elif live[u]:
                oid, _ = live[u].pop(rng.randrange(len(live[u])))
                o = ex.get_order(u, oid)
                if o.status != "resting":
                    continue
                if kind == "cancel":
                    ex.cancel_order(u, oid)
                else:
                    price = min(9900, max(100, o.price + arg))
                    ex.amend_order(u, oid, AmendOrder(price, o.fill_count + o.remaining))
                    if o.status == "resting":
                        live[u].append((oid, o.ticker))
        except ExchangeError:
            pass
    elapsed = time.perf_counter() - start
    ex.check_invariants()
    return {
        "orders_per_s": round(len(reqs) / elapsed),
        "matches_per_s": round(ex.trade_count / elapsed),
        "engine_requests": len(reqs),
        "engine_trades": ex.trade_count,
    }


def main() -> None:
    figures: dict[str, float] = {}
    figures.update(engine_flow())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from exchange_rest import rest_round_trips  # an amend's round trip against `kmm sim`
    from exchange_ws import ws_delivery  # the server helper's WS delivery measurement

    figures.update(ws_delivery())
    figures.update(rest_round_trips())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
