"""Request authentication: signature, timestamp window (kalshi-api.md §2), unknown keys, public paths."""

import pytest

from kmm.kalshi.auth import Signer, generate_private_pem
from kmm_services.exchange.auth import AuthError, KeyRegistry, authenticate, is_public

NOW_MS = 1_795_558_161_000
PATH = "/trade-api/v2/portfolio/balance"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.from_pem("key-1", generate_private_pem())


@pytest.fixture(scope="module")
def keys(signer: Signer) -> KeyRegistry:
    reg = KeyRegistry()
    reg.add("key-1", signer.public_pem())
    return reg


def test_a_correct_signature_authenticates(signer: Signer, keys: KeyRegistry) -> None:
    headers = signer.headers("GET", PATH + "?limit=5", now_ms=NOW_MS)
    assert authenticate(keys, "GET", PATH, headers, NOW_MS) == "key-1"


@pytest.mark.parametrize("skew_ms, ok", [(-30_000, False), (-5_000, True), (30_000, True), (300_000, False)])
def test_timestamp_window(signer: Signer, keys: KeyRegistry, skew_ms: int, ok: bool) -> None:
    headers = signer.headers("GET", PATH, now_ms=NOW_MS + skew_ms)
    if ok:
        assert authenticate(keys, "GET", PATH, headers, NOW_MS) == "key-1"
    else:
        with pytest.raises(AuthError) as err:
            authenticate(keys, "GET", PATH, headers, NOW_MS)
        assert err.value.body["error"]["code"] == "header_timestamp_expired"


def test_signature_over_another_path_fails(signer: Signer, keys: KeyRegistry) -> None:
    headers = signer.headers("GET", "/trade-api/v2/portfolio/orders", now_ms=NOW_MS)
    with pytest.raises(AuthError) as err:
        authenticate(keys, "GET", PATH, headers, NOW_MS)
    assert err.value.status == 401
    assert err.value.body["error"]["code"] == "authentication_error"
    assert "INCORRECT_API_KEY_SIGNATURE" in err.value.body["error"]["details"]


def test_unknown_key_and_missing_headers_fail(signer: Signer, keys: KeyRegistry) -> None:
    other = Signer.from_pem("key-2", generate_private_pem())
    with pytest.raises(AuthError, match="authentication_error"):
        authenticate(keys, "GET", PATH, other.headers("GET", PATH, now_ms=NOW_MS), NOW_MS)
    with pytest.raises(AuthError, match="missing"):
        authenticate(keys, "GET", PATH, {}, NOW_MS)


def test_lower_case_header_names_are_accepted(signer: Signer, keys: KeyRegistry) -> None:
    headers = {k.lower(): v for k, v in signer.headers("POST", PATH, now_ms=NOW_MS).items()}
    assert authenticate(keys, "POST", PATH, headers, NOW_MS) == "key-1"


def test_public_paths_are_market_data_gets_only() -> None:
    assert is_public("GET", "/markets")
    assert is_public("GET", "/markets/X-1/orderbook")
    assert is_public("GET", "/exchange/status")
    assert not is_public("POST", "/markets")
    assert not is_public("GET", "/portfolio/balance")
    assert not is_public("GET", "/marketsX")
