"""WS delivery benchmark of the exchange simulator: orderbook messages per second a subscribed
client receives while the engine changes the book as fast as it can. Used by bench/exchange.py;
runnable alone (prints one JSON line)."""

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.client import connect  # noqa: E402

from kmm.kalshi.auth import WS_SIGN_PATH, Signer, generate_private_pem  # noqa: E402
from kmm.messages.units import COUNT_SCALE  # noqa: E402
from kmm_services.exchange.harness import running_simulator  # noqa: E402
from kmm_services.exchange.orders import BID, CreateOrder  # noqa: E402


async def _ws_delivery(n_messages: int, batch: int) -> dict[str, float]:
    signer = Signer.from_pem("bench", generate_private_pem())
    async with running_simulator(keys={"bench": signer.public_pem()}, flow=False, n_markets=1,
                                 rate_limit=False) as sim:
        ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
        sim.call(lambda: sim.exchange.open_account("mm", 10**15))
        async with connect(sim.ws_url, additional_headers=signer.headers("GET", WS_SIGN_PATH),
                           max_queue=None) as conn:
            await conn.send(json.dumps({"id": 1, "cmd": "subscribe",
                                        "params": {"channels": ["orderbook_delta"], "market_tickers": [ticker]}}))
            await conn.recv()
            await conn.recv()  # snapshot

            def burst(k: int) -> None:
                ex = sim.exchange
                for i in range(k):
                    ack = ex.create_order("mm", CreateOrder(ticker, BID, 100 * (1 + i % 40), COUNT_SCALE))
                    ex.cancel_order("mm", ack.order_id)

            received = 0
            start = time.perf_counter()
            for _ in range(n_messages // (2 * batch)):
                await sim.acall(lambda: burst(batch))
            expected = (n_messages // (2 * batch)) * 2 * batch
            while received < expected:
                await asyncio.wait_for(conn.recv(), 30)
                received += 1
            elapsed = time.perf_counter() - start
    return {"ws_messages_per_s": round(received / elapsed), "ws_messages": received}


def ws_delivery(n_messages: int = 40_000, batch: int = 1_000) -> dict[str, float]:
    """WS orderbook messages/s delivered to one subscribed client (engine + fan-out + socket)."""
    return asyncio.run(_ws_delivery(n_messages, batch))


if __name__ == "__main__":
    print(json.dumps(ws_delivery()))
