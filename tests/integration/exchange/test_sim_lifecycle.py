"""Synthetic events close and settle on the virtual clock, a new event rolls in, WS sees the lifecycle."""

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from kmm.kalshi.auth import WS_SIGN_PATH, Signer
from kmm_services.exchange.harness import running_simulator


async def test_close_settle_and_roll(signer: Signer) -> None:
    async with running_simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=3) as sim:
        async with connect(sim.ws_url, additional_headers=signer.headers("GET", WS_SIGN_PATH)) as conn:
            await conn.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}}))
            await conn.recv()
            async with httpx.AsyncClient() as client:
                before = (await client.get(sim.base_url + "/markets")).json()["markets"]
                r = await client.post(sim.admin_url + "/clock/advance", json={"seconds": 7 * 3600})
                assert r.status_code == 200
                after = {m["ticker"]: m for m in (await client.get(sim.base_url + "/markets")).json()["markets"]}
            old = [after[m["ticker"]] for m in before]
            assert all(m["status"] == "finalized" for m in old)
            assert sorted(m["result"] for m in old) == ["no", "no", "yes"]  # brackets are exclusive
            assert len(after) == 6 and sum(m["status"] == "active" for m in after.values()) == 3
            events = []
            while len({e["event_type"] for e in events} & {"determined", "settled"}) < 2:
                events.append(json.loads(await asyncio.wait_for(conn.recv(), 5))["msg"])
            settled = [e for e in events if e["event_type"] == "determined"]
            assert {e["result"] for e in settled} <= {"yes", "no"}


async def test_short_synthetic_markets_settle_on_their_own(signer: Signer) -> None:
    """With ``first_close_minutes`` a test (or a soak at --speed 5) sees settlements within minutes."""
    from kmm_services.exchange.orders import ASK, BID, IOC, CreateOrder

    async with running_simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=3,
                                 first_close_minutes=10, close_spacing_minutes=5) as sim:
        ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)

        def trade() -> str:
            sim.exchange.open_account("mm", 10**12)
            sim.exchange.create_order("mm", CreateOrder(ticker, ASK, 4000, 500))
            sim.exchange.create_order(signer.key_id, CreateOrder(ticker, BID, 4000, 500, time_in_force=IOC))
            return sim.exchange.create_order(signer.key_id, CreateOrder(ticker, BID, 3000, 100)).order_id

        resting = sim.call(trade)
        path = "/trade-api/v2/portfolio/settlements"
        async with httpx.AsyncClient() as client:
            r = await client.post(sim.admin_url + "/clock/advance", json={"seconds": 9 * 60})
            assert r.status_code == 200
            assert (await client.get(sim.base_url + f"/markets/{ticker}")).json()["market"]["status"] == "active"
            await client.post(sim.admin_url + "/clock/advance", json={"seconds": 2 * 60})
            market = (await client.get(sim.base_url + f"/markets/{ticker}")).json()["market"]
            rows = (await client.get(sim.root_url + path, headers=signer.headers("GET", path))).json()["settlements"]
            listed = (await client.get(sim.base_url + "/markets", params={"status": "open"})).json()["markets"]
        assert market["status"] == "finalized" and market["result"] in ("yes", "no")
        assert [(s["ticker"], s["yes_count_fp"], s["revenue"]) for s in rows] == [
            (ticker, "5.00", 500 if market["result"] == "yes" else 0)]
        assert sim.call(lambda: sim.exchange.get_order(signer.key_id, resting).status) == "canceled"
        assert len(listed) == 3 and ticker not in {m["ticker"] for m in listed}  # a new event rolled in


async def test_public_trades_and_candles_older_than_the_history_window_go_but_fills_stay(signer: Signer) -> None:
    """``history_hours`` bounds what the public tape and the candles keep; the account's records keep all."""
    from kmm_services.exchange.orders import ASK, BID, IOC, CreateOrder

    async with running_simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=1,
                                 history_hours=1) as sim:
        m = sim.call(lambda: sim.exchange.markets()[0])

        def trade(cents: int) -> None:
            sim.exchange.open_account("mm", 10**12)
            sim.exchange.create_order("mm", CreateOrder(m.ticker, ASK, cents * 100, 100))
            sim.exchange.create_order(signer.key_id, CreateOrder(m.ticker, BID, cents * 100, 100, time_in_force=IOC))

        fills_path = "/trade-api/v2/portfolio/fills"
        candles_url = sim.base_url + f"/series/{m.series_ticker}/markets/{m.ticker}/candlesticks"
        async with httpx.AsyncClient() as client:

            async def public() -> tuple[list[str], list[str]]:
                trades = (await client.get(sim.base_url + "/markets/trades", params={"ticker": m.ticker})).json()
                now_s = (await client.post(sim.admin_url + "/clock/advance", json={"seconds": 0})).json()["now_ns"]
                span = {"start_ts": now_s // 10**9 - 4 * 3600, "end_ts": now_s // 10**9 + 60, "period_interval": 1}
                bars = (await client.get(candles_url, params=span)).json()["candlesticks"]
                return ([t["yes_price_dollars"] for t in trades["trades"]],
                        [b["price"].get("close_dollars") for b in bars if b["price"]])

            sim.call(lambda: trade(40))
            assert await public() == (["0.4000"], ["0.4000"])
            await client.post(sim.admin_url + "/clock/advance", json={"seconds": 2 * 3600})
            sim.call(lambda: trade(45))
            assert await public() == (["0.4500"], ["0.4500"])
            fills = (await client.get(sim.root_url + fills_path, headers=signer.headers("GET", fills_path))).json()
        assert sorted(f["yes_price_dollars"] for f in fills["fills"]) == ["0.4000", "0.4500"]
