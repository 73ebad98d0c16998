"""The simulator's admin endpoints answer malformed bodies with 400 and a clear error, never 500
(what the HTTP fuzzer, tests/fuzz/test_fuzz_http.py, found)."""

from collections.abc import Iterator

import httpx
import pytest

from kmm_services.exchange.harness import SimHandle, start_simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    handle = start_simulator(n_markets=2, flow=False)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.mark.parametrize("path, body", [
    ("/markets", {"ticker": "X", "event_ticker": "E", "close_ts": [1]}),
    ("/markets", {"ticker": "X", "event_ticker": "E", "close_ts": {"a": 1}}),
    ("/clock/advance", {"seconds": "soon"}),
    ("/clock/advance", {"seconds": "NaN"}),
    ("/clock/advance", {"seconds": -5}),
    ("/accounts", {"key_id": "k", "public_key_pem": "x", "balance_dollars": [1]}),
])
def test_bad_admin_bodies_are_400(sim: SimHandle, path: str, body: dict) -> None:
    r = httpx.post(f"{sim.admin_url}{path}", json=body, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_parameters"
