"""Trading on as markets close, settle and roll over, asserted from the exchange's own records.

The whole system (real services as processes, a private Redis, the simulator) runs with synthetic
events that close every few virtual minutes, each close rolling in a new event with its own flow; the
selector and the quoter are told not to step back before a close (their defaults, 30 minutes, would
see every event here as closing at once). Unless the flow has already left us a position, a second
account takes our quote in the market that closes first, so we hold one at a close. From the
exchange's records:

- the exchange settled that position and risk booked what the exchange paid: halted at the end, risk's
  cash equals the exchange's balance change (in risk's convention: $1 a short contract) to the µ$,
  settlements included, and risk holds nothing in a settled market;
- nothing of ours rests in a closed market, and orders of ours rest in markets of an event listed
  after the start; risk stayed ACTIVE until the test halted it.
"""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kmm.bus import topology as t
from kmm.kalshi import auth
from kmm.kalshi.rest import IOC, KalshiRest, NewOrder
from kmm.kalshi.wire import Market
from kmm.messages.units import MONEY_SCALE
from kmm.risk.engine import cash_from_exchange
from tests.helpers import eventually
from tests.system.conftest import System, running_system

pytestmark = pytest.mark.system
SPEED = 5
FIRST_CLOSE_MIN = 4.0  # virtual minutes: 48 s after the simulator starts, then one close every 24 s
CLOSE_SPACING_MIN = 2.0
START_BALANCE = 10_000 * MONEY_SCALE  # kmm sim's starting balance (kmm run leaves --balance at its default)
TAKER = "settlement-taker"
SWEEP_CONTRACTS = 1_000
ENV = {"KMM_MIN_HOURS_TO_CLOSE": "0", "KMM_CLOSE_REDUCE_MIN": "0"}


@pytest.fixture(scope="module")
def rolling_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        with running_system(tmp_path_factory.mktemp("kmm-settle"), "--markets", "10", "--seed", "5",
                            "--speed", str(SPEED), "--tier", "premier",
                            "--first-close-minutes", str(FIRST_CLOSE_MIN),
                            "--close-spacing-minutes", str(CLOSE_SPACING_MIN)) as system:
            yield system


def exchange_url(system: System, path: str) -> str:
    return f"http://127.0.0.1:{system.port('exchange')}{path}"


def markets(system: System) -> list[Market]:
    async def q(api: KalshiRest) -> list[Market]:
        return [m async for m in api.iter_markets()]

    return system.exchange(q)


def taker(system: System) -> auth.Signer:
    """A second account on the exchange, to take our quotes."""
    signer = auth.Signer.from_pem(TAKER, auth.generate_private_pem())
    r = httpx.post(exchange_url(system, "/admin/accounts"), timeout=10,
                   json={"key_id": TAKER, "public_key_pem": signer.public_pem().decode(), "tier": "premier",
                         "balance_dollars": 1_000_000})
    assert r.status_code < 300, r.text
    return signer


def take_one_quote(system: System, signer: auth.Signer, closes: dict[str, int]) -> None:
    """Sweep the book up to our price in the market of ours that closes first: our quotes rest behind
    the touch, so an IOC big enough for every better level and the queue ahead of us at ours (the caller
    looks at the exchange's positions to see whether it reached us)."""
    ours = [o for o in system.resting_orders() if o.client_order_id.startswith("kmm-") and o.ticker in closes]
    if not ours:
        return
    o = min(ours, key=lambda o: closes[o.ticker])

    async def go() -> None:
        async with KalshiRest(system.base_url, signer=signer) as api:
            await api.create_order(NewOrder(ticker=o.ticker, side="ask" if o.side == "bid" else "bid", price=o.price,
                                            count=SWEEP_CONTRACTS * 100, time_in_force=IOC))

    asyncio.run(go())


def risk_cash(system: System) -> int:
    saved = system.redis().hget(t.state_key("risk"), "global")
    return int(json.loads(saved or b"{}").get("cash", 0))


def exchange_cash(system: System) -> int:
    async def q(api: KalshiRest) -> int:
        balance = (await api.get_balance()).balance
        held = [p.position async for p in api.iter_positions() if p.position]
        return cash_from_exchange(balance - START_BALANCE, held)

    return system.exchange(q)


def test_the_system_books_each_settlement_and_trades_on_in_the_events_that_roll_in(rolling_system: System) -> None:
    system = rolling_system
    events_at_start = {m.event_ticker for m in markets(system)}
    signer = taker(system)

    def position_held() -> str | None:
        closes = {m.ticker: m.close_ts for m in markets(system) if m.status == "active"}
        held = [m for m in system.positions() if m in closes]
        if held:
            return min(held, key=lambda m: closes[m])
        take_one_quote(system, signer, closes)
        return None

    held = eventually(position_held, timeout=60, interval=0.5, what="we hold a position (our quotes taken)")

    async def settled_rows(api: KalshiRest) -> dict[str, Any]:
        return {s.ticker: s async for s in api.iter_settlements()}

    eventually(lambda: held in system.exchange(settled_rows), timeout=120, interval=0.5,
               what=f"the exchange settled our position in {held}")
    eventually(lambda: held in system.status("risk").get("settled", {}), timeout=30, interval=0.25,
               what="risk booked the settlement")
    risk = system.status("risk")
    assert risk["state"] == "ACTIVE", risk.get("reason")
    assert held not in risk["positions"]

    rolled = eventually(lambda: {o.ticker for o in system.resting_orders()}
                        & {m.ticker for m in markets(system) if m.event_ticker not in events_at_start},
                        timeout=90, interval=0.5, what="our quotes rest in an event listed after the start")
    assert rolled
    closed = {m.ticker for m in markets(system) if m.status != "active"}  # read first: a close cancels at once
    assert closed and not closed & {o.ticker for o in system.resting_orders()}

    # halted, nothing more can fill: risk's books against the exchange's, settlements included
    r = system.http("risk", "POST", "/halt", json={"reason": "settlement test ledger check"})
    assert r.status_code < 300, r.text
    eventually(lambda: not system.resting_orders(), timeout=30, interval=0.25, what="the halt cancelled our quotes")
    eventually(lambda: risk_cash(system) == exchange_cash(system), timeout=30, interval=0.25,
               what="risk's cash equals the exchange's balance change")
    settled = system.status("risk")["settled"]
    assert held in settled and not set(settled) & set(system.status("risk")["positions"])
