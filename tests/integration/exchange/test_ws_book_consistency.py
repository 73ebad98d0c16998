"""With the synthetic flow running, a WS client that applies deltas to its snapshot holds exactly the
book a fresh snapshot shows, and seq is gap-free per sid."""

import asyncio
import json
from decimal import Decimal

from websockets.asyncio.client import connect

from kmm.kalshi.auth import WS_SIGN_PATH, Signer
from kmm_services.exchange.harness import running_simulator

Book = dict[str, dict[str, Decimal]]


def from_snapshot(msg: dict[str, object]) -> Book:
    return {side: {p: Decimal(c) for p, c in msg.get(f"{side}_dollars_fp", [])}  # type: ignore[union-attr]
            for side in ("yes", "no")}


async def test_deltas_rebuild_the_snapshot(signer: Signer) -> None:
    async with running_simulator(keys={signer.key_id: signer.public_pem()}, flow=True, speed=50.0,
                                 n_markets=5) as sim:
        tickers = sim.call(lambda: [m.ticker for m in sim.exchange.markets()][1:3])
        async with connect(sim.ws_url, additional_headers=signer.headers("GET", WS_SIGN_PATH)) as conn:
            await conn.send(json.dumps({"id": 1, "cmd": "subscribe",
                                        "params": {"channels": ["orderbook_delta"], "market_tickers": tickers}}))
            books: dict[str, Book] = {}
            last_seq = 0
            deltas = 0
            asked = False
            checked: set[str] = set()
            while len(checked) < len(tickers):
                m = json.loads(await asyncio.wait_for(conn.recv(), 10))
                if "seq" in m and m["type"] in ("orderbook_snapshot", "orderbook_delta"):
                    assert m["seq"] == last_seq + 1, m
                    last_seq = m["seq"]
                msg = m.get("msg", {})
                if m["type"] == "orderbook_snapshot":
                    fresh = from_snapshot(msg)
                    if asked:
                        assert books[msg["market_ticker"]] == fresh
                        checked.add(msg["market_ticker"])
                    books[msg["market_ticker"]] = fresh
                elif m["type"] == "orderbook_delta":
                    deltas += 1
                    level = books[msg["market_ticker"]][msg["side"]]
                    level[msg["price_dollars"]] = level.get(msg["price_dollars"], Decimal(0)) + Decimal(msg["delta_fp"])
                    assert level[msg["price_dollars"]] >= 0
                    if not level[msg["price_dollars"]]:
                        del level[msg["price_dollars"]]
                    if deltas == 300 and not asked:
                        asked = True
                        await conn.send(json.dumps({"id": 2, "cmd": "update_subscription", "params": {
                            "sid": 1, "action": "get_snapshot", "market_tickers": tickers}}))
            assert deltas >= 300
