"""Legacy V1 order endpoints (compatibility mode): yes/no + buy/sell map onto the one YES book."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kmm.kalshi.auth import Signer
from kmm_services.exchange.harness import SimHandle, simulator

V1 = "/trade-api/v2/portfolio/orders"


@pytest.fixture(scope="module")
def sim(signer: Signer) -> Iterator[SimHandle]:
    with simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=2) as handle:
        yield handle


def call(sim: SimHandle, signer: Signer, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.request(method, sim.root_url + path, json=body, headers=signer.headers(method, path))


def sdk_check(model: str, body: dict[str, Any]) -> None:
    models = pytest.importorskip("kalshi_python_sync.models", reason="kalshi-python-sync not installed")
    getattr(models, model).from_dict(body)


def test_v1_buy_no_is_an_ask_at_the_yes_price(sim: SimHandle, signer: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[0].ticker)
    r = call(sim, signer, "POST", V1, {"ticker": ticker, "side": "no", "action": "buy", "count": 3, "no_price": 58,
                                       "client_order_id": "v1-a"})
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert (order["book_side"], order["yes_price_dollars"], order["remaining_count_fp"]) == ("ask", "0.4200", "3.00")
    sdk_check("CreateOrderResponse", r.json())

    amended = call(sim, signer, "POST", f"{V1}/{order['order_id']}/amend",
                   {"ticker": ticker, "side": "no", "action": "buy", "no_price_dollars": "0.5700", "count": 5})
    assert amended.status_code == 200, amended.text
    assert amended.json()["order"]["yes_price_dollars"] == "0.4300"
    sdk_check("AmendOrderResponse", amended.json())

    dec = call(sim, signer, "POST", f"{V1}/{order['order_id']}/decrease", {"reduce_by": 1})
    assert dec.json()["order"]["remaining_count_fp"] == "4.00"
    cancel = call(sim, signer, "DELETE", f"{V1}/{order['order_id']}")
    assert cancel.json()["reduced_by_fp"] == "4.00" and cancel.json()["order"]["status"] == "canceled"


def test_v1_batches(sim: SimHandle, signer: Signer) -> None:
    ticker = sim.call(lambda: sim.exchange.markets()[1].ticker)
    r = call(sim, signer, "POST", f"{V1}/batched", {"orders": [
        {"ticker": ticker, "side": "yes", "action": "buy", "count_fp": "2.00", "yes_price_dollars": "0.2000"},
        {"ticker": ticker, "side": "yes", "action": "hold", "count": 1, "yes_price": 20},
    ]})
    assert r.status_code == 201
    first, second = r.json()["orders"]
    assert first["order"]["book_side"] == "bid" and second["error"]["code"] == "invalid_parameters"
    sdk_check("BatchCreateOrdersResponse", r.json())
    cancelled = call(sim, signer, "DELETE", f"{V1}/batched", {"ids": [first["order"]["order_id"]]})
    assert cancelled.json()["orders"][0]["reduced_by_fp"] == "2.00"
    sdk_check("BatchCancelOrdersResponse", cancelled.json())
