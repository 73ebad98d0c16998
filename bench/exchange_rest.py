"""REST round trip of the exchange simulator with nothing else running: a resting order amended back
and forth over one kept-alive connection (the gateway's HTTP client, :class:`kmm.kalshi.http1.Http1Pool`)
against ``kmm sim`` in a process of its own, no synthetic flow, no rate limit. Reports the round trip's
p50/p90 and the simulator's CPU per request (user + system, from /proc). Signatures are made before
each timed batch, as the gateway presigns, so the round trip is the wire and the simulator.

Timed twice: alone (``rest_amend_*``, ``sim_cpu_per_request_ms``), then with the two WebSocket feeds the
live system keeps open subscribed as marketdata and the gateway subscribe them (``*_feeds``: order books,
trades and lifecycle of every market; fills, orders, positions and order groups), read with the
project's client in a process of their own, so each amend also renders and sends its feed messages,
as under the pipeline bench. Used by bench/exchange.py;
runnable alone (prints one JSON line)."""

import asyncio
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import cpu_seconds  # noqa: E402 - bench/pipeline.py: a process's CPU from /proc

from kmm.kalshi import constants as kc  # noqa: E402
from kmm.kalshi import wire  # noqa: E402
from kmm.kalshi.auth import WS_SIGN_PATH, Signer  # noqa: E402
from kmm.kalshi.http1 import Http1Pool  # noqa: E402
from kmm.kalshi.ws import KalshiWs  # noqa: E402
from kmm.runner.cli import write_key_pairs  # noqa: E402
from kmm.runner.redis_proc import free_port  # noqa: E402

API = "/trade-api/v2"
ORDERS = API + "/portfolio/events/orders"
# one connection each, subscribed as marketdata and the gateway subscribe: (channels, for every market's ticker?)
FEEDS = (
    (((kc.CH_ORDERBOOK,), True), ((kc.CH_TRADE,), False), ((kc.CH_LIFECYCLE,), False)),
    (((kc.CH_FILL, kc.CH_USER_ORDERS, kc.CH_POSITIONS, kc.CH_ORDER_GROUPS), False),),
)


def _read_feeds(ws_url: str, pem: bytes, tickers: list[str], subscribed: "mp.Queue[None]") -> None:
    """Open the feeds with the project's WebSocket client and read them until terminated (a process of
    its own); one ``subscribed`` put per connection once its subscriptions are in."""
    signer = Signer.from_pem("bench", pem)

    async def read(subs: tuple[tuple[tuple[str, ...], bool], ...]) -> None:
        async with KalshiWs(ws_url, signer=signer) as ws:
            for channels, per_market in subs:
                await ws.subscribe(channels, tickers if per_market else None, timeout=30)
            subscribed.put(None)
            async for _ in ws:
                pass

    async def all_feeds() -> None:
        await asyncio.gather(*(read(subs) for subs in FEEDS))

    asyncio.run(all_feeds())


async def _round_trips(n: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        keys = write_key_pairs(Path(d) / "keys", {"bench": "write"})
        ready, port = Path(d) / "ready", free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kmm.cli", "sim", "--port", str(port), "--key", f"bench:{keys / 'write.pub.pem'}",
             "--markets", "3", "--no-flow", "--no-rate-limit", "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not ready.exists():
                if proc.poll() is not None:
                    raise SystemExit("kmm sim did not start")
                await asyncio.sleep(0.05)
            signer = Signer.from_pem("bench", (keys / "write.pem").read_bytes())
            pool = Http1Pool(f"http://127.0.0.1:{port}")
            json_headers = [(b"Content-Type", b"application/json")]

            async def send(method: str, path: str, body: dict, headers: dict[str, str]) -> dict:
                h = json_headers + [(k.encode(), v.encode()) for k, v in headers.items()]
                a = await pool.request(method, path, h, json.dumps(body).encode(), timeout=10)
                assert a.status < 300, a.body
                return json.loads(a.body)

            markets = json.loads((await pool.request("GET", API + "/markets", [], timeout=10)).body)["markets"]
            ticker = markets[0]["ticker"]
            ack = await send("POST", ORDERS, {
                "ticker": ticker, "side": "bid", "price": wire.price_str(2000), "count": wire.count_str(100),
                "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"},
                signer.headers("POST", ORDERS))
            amend = f"{ORDERS}/{ack['order_id']}/amend"

            async def timed() -> tuple[list[float], float]:
                lat: list[float] = []
                cpu = 0.0
                for start in range(0, n, batch):
                    signed = [signer.headers("POST", amend) for _ in range(min(batch, n - start))]
                    c0 = cpu_seconds(proc.pid)
                    for i, headers in enumerate(signed):
                        body = {"ticker": ticker, "side": "bid",
                                "price": wire.price_str(2000 + 100 * ((start + i) % 2)), "count": wire.count_str(100)}
                        t0 = time.perf_counter()
                        await send("POST", amend, body, headers)
                        lat.append(time.perf_counter() - t0)
                    cpu += cpu_seconds(proc.pid) - c0
                return sorted(lat), cpu

            alone = await timed()
            spawn = mp.get_context("spawn")
            subscribed: mp.Queue[None] = spawn.Queue()
            feeds = spawn.Process(target=_read_feeds, daemon=True, args=(
                f"ws://127.0.0.1:{port}{WS_SIGN_PATH}", (keys / "write.pem").read_bytes(),
                [m["ticker"] for m in markets], subscribed))
            feeds.start()
            try:
                for _ in FEEDS:
                    await asyncio.to_thread(subscribed.get, True, 60)
                with_feeds = await timed()
            finally:
                feeds.terminate()
                feeds.join(10)
            await pool.aclose()
        finally:
            proc.terminate()
            proc.wait(10)
    out: dict[str, float] = {}
    for suffix, (lat, cpu) in (("", alone), ("_feeds", with_feeds)):
        out |= {f"rest_amend_rtt_p50_ms{suffix}": round(lat[len(lat) // 2] * 1e3, 3),
                f"rest_amend_rtt_p90_ms{suffix}": round(lat[int(len(lat) * 0.9)] * 1e3, 3),
                f"sim_cpu_per_request_ms{suffix}": round(cpu / len(lat) * 1e3, 3)}
    return out | {"rest_requests": len(alone[0]) + len(with_feeds[0])}


def rest_round_trips(n: int = 6_000, batch: int = 500) -> dict[str, float]:
    """Unloaded amend round trips against ``kmm sim`` and the simulator's CPU per request, without and
    with the feeds subscribed."""
    return asyncio.run(_round_trips(n, batch))


if __name__ == "__main__":
    print(json.dumps(rest_round_trips()))
