"""Shared fixtures for the simulator's HTTP/WS tests: one RSA key and a signing helper."""

import pytest

from kmm.kalshi.auth import Signer, generate_private_pem


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.from_pem("test-key", generate_private_pem())
