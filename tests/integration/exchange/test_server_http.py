"""The simulator over HTTP: auth failures with Kalshi's bodies, public GETs, faults, pause, 429."""

import time
from collections.abc import Iterator

import httpx
import pytest

from kmm.kalshi.auth import Signer, generate_private_pem
from kmm_services.exchange.harness import SimHandle, simulator

BALANCE = "/trade-api/v2/portfolio/balance"
ORDERS = "/trade-api/v2/portfolio/events/orders"


@pytest.fixture(scope="module")
def sim(signer: Signer) -> Iterator[SimHandle]:
    with simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=3) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset_faults(sim: SimHandle) -> Iterator[None]:
    yield
    httpx.post(sim.admin_url + "/faults/reset")


def get(sim: SimHandle, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(sim.root_url + path, headers=headers or {})


def test_public_market_data_needs_no_auth(sim: SimHandle) -> None:
    r = get(sim, "/trade-api/v2/markets")
    assert r.status_code == 200 and len(r.json()["markets"]) == 3
    status = get(sim, "/trade-api/v2/exchange/status").json()
    assert (status["exchange_active"], status["trading_active"]) == (True, True)
    assert [s["exchange_index"] for s in status["exchange_index_statuses"]] == [0, 1]


def test_signed_request_passes(sim: SimHandle, signer: Signer) -> None:
    r = get(sim, BALANCE + "?subaccount=0", signer.headers("GET", BALANCE))
    assert r.status_code == 200 and r.json()["balance"] == 1_000_000


def test_bad_signature_is_401(sim: SimHandle, signer: Signer) -> None:
    headers = signer.headers("GET", "/trade-api/v2/portfolio/orders")
    r = get(sim, BALANCE, headers)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "authentication_error" and "INCORRECT_API_KEY_SIGNATURE" in err["details"]


def test_stale_timestamp_is_401(sim: SimHandle, signer: Signer) -> None:
    headers = signer.headers("GET", BALANCE, now_ms=int(time.time() * 1000) - 60_000)
    r = get(sim, BALANCE, headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "header_timestamp_expired"


def test_unknown_key_and_no_headers_are_401(sim: SimHandle) -> None:
    stranger = Signer.from_pem("nobody", generate_private_pem())
    r = get(sim, BALANCE, stranger.headers("GET", BALANCE))
    assert r.status_code == 401 and r.json()["error"]["code"] == "authentication_error"
    assert get(sim, BALANCE).status_code == 401


def test_injected_5xx_and_429_bursts(sim: SimHandle) -> None:
    httpx.post(sim.admin_url + "/faults", json={"error_next": 1, "error_status": 503, "rate_limit_next": 1})
    first = get(sim, "/trade-api/v2/markets")
    second = get(sim, "/trade-api/v2/markets")
    third = get(sim, "/trade-api/v2/markets")
    assert first.status_code == 503 and "error" in first.json()
    assert second.status_code == 429 and second.json() == {"error": "too many requests"}
    assert third.status_code == 200


def test_pause_stops_trading(sim: SimHandle, signer: Signer) -> None:
    ticker = get(sim, "/trade-api/v2/markets").json()["markets"][0]["ticker"]
    httpx.post(sim.admin_url + "/pause")
    assert get(sim, "/trade-api/v2/exchange/status").json()["trading_active"] is False
    body = {"ticker": ticker, "side": "bid", "count": "1", "price": "0.1000",
            "time_in_force": "good_till_canceled", "self_trade_prevention_type": "maker"}
    r = httpx.post(sim.root_url + ORDERS, json=body, headers=signer.headers("POST", ORDERS))
    assert r.status_code == 400 and r.json()["error"]["code"] == "trading_paused"
    httpx.post(sim.admin_url + "/resume")
    r = httpx.post(sim.root_url + ORDERS, json=body, headers=signer.headers("POST", ORDERS))
    assert r.status_code == 201, r.text


def test_basic_tier_write_bucket_batch_limit_and_account_limits(signer: Signer) -> None:
    body = {"ticker": "NOPE", "side": "bid", "count": "1", "price": "0.1000",
            "time_in_force": "good_till_canceled", "self_trade_prevention_type": "maker"}
    batched = ORDERS + "/batched"
    with simulator(keys={signer.key_id: signer.public_pem()}, flow=False, n_markets=1, tier="basic") as basic:
        basic.sim.limiter.clock = lambda: 0.0  # frozen time: no refill, so the count is exact
        limits = httpx.get(basic.root_url + "/trade-api/v2/account/limits",
                           headers=signer.headers("GET", "/trade-api/v2/account/limits")).json()
        too_big = httpx.post(basic.root_url + batched, json={"orders": [body] * 21},
                             headers=signer.headers("POST", batched))
        codes = [httpx.post(basic.root_url + ORDERS, json=body, headers=signer.headers("POST", ORDERS)).status_code
                 for _ in range(25)]
    assert limits == {"usage_tier": "basic", "read": {"refill_rate": 200, "bucket_capacity": 200},
                      "write": {"refill_rate": 100, "bucket_capacity": 200}, "grants": []}
    assert too_big.status_code == 400 and "maximum of 20" in too_big.json()["error"]["message"]
    assert codes == [404] * 20 + [429] * 5  # the oversized batch spent nothing


def test_missing_fields_are_400(sim: SimHandle, signer: Signer) -> None:
    r = httpx.post(sim.root_url + ORDERS, json={"ticker": "X"}, headers=signer.headers("POST", ORDERS))
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_parameters"


def test_unknown_endpoint_is_kalshi_style_404(sim: SimHandle) -> None:
    r = get(sim, "/trade-api/v2/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = get(sim, "/trade-api/v2/markets/NOPE-1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_health_status_and_metrics(sim: SimHandle) -> None:
    assert get(sim, "/livez").json() == {"status": "ok"}
    ready = get(sim, "/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert "active markets" in get(sim, "/status").json()["summary"]
    get(sim, "/trade-api/v2/markets/NOPE-2")
    text = get(sim, "/metrics").text
    assert 'kmm_sim_markets{status="active"} 3' in text
    assert 'kmm_sim_http_responses_total{code="404"}' in text
