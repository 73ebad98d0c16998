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
