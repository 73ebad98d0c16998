"""Kalshi request authentication for the simulator: RSA-PSS signature and timestamp window.

Kalshi signs ``timestamp_ms + METHOD + path`` (path with the ``/trade-api/v2`` prefix, without the
query string; the WS handshake signs ``GET/trade-api/ws/v2``). The window follows kalshi-api.md §2:
a timestamp 30 s in the past fails and 5 s passes; 30 s in the future passes and 5 min fails.
We accept ``PAST_TOLERANCE_MS`` behind and ``FUTURE_TOLERANCE_MS`` ahead.

Errors become 401 bodies ``{"error": {"code", "message", "details"}}``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from kmm.kalshi.auth import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    load_public_key,
    signing_message,
    verify,
)

PAST_TOLERANCE_MS = 10_000
FUTURE_TOLERANCE_MS = 60_000

# Market-data paths (relative to /trade-api/v2) that need no signature for GET.
PUBLIC_PREFIXES = ("/exchange", "/markets", "/events", "/series")


class AuthError(Exception):
    """A request that failed authentication; ``body`` is the Kalshi-style JSON error body."""

    status = 401

    def __init__(self, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{code}: {details or message}")
        self.code = code
        self.message = message
        self.details = details

    @property
    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


@dataclass
class KeyRegistry:
    """API key id → RSA public key. Each key id is one simulator account."""

    _keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)

    def add(self, key_id: str, public_pem: bytes) -> None:
        self._keys[key_id] = load_public_key(public_pem)

    def get(self, key_id: str) -> rsa.RSAPublicKey | None:
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def ids(self) -> list[str]:
        return list(self._keys)


def is_public(method: str, api_path: str) -> bool:
    """True for market-data GETs; ``api_path`` is relative to ``/trade-api/v2``."""
    return method.upper() == "GET" and any(
        api_path == p or api_path.startswith(p + "/") for p in PUBLIC_PREFIXES
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def authenticate(
    keys: KeyRegistry, method: str, path: str, headers: Mapping[str, str], now_ms: int
) -> str:
    """Return the key id of a correctly signed request or raise :class:`AuthError`.

    ``path`` is the full URL path as received (``/trade-api/v2/...`` or ``/trade-api/ws/v2``).
    """
    key_id = _header(headers, KEY_HEADER)
    ts = _header(headers, TIMESTAMP_HEADER)
    sig = _header(headers, SIGNATURE_HEADER)
    if not key_id or not ts or not sig:
        raise AuthError("authentication_error", "authentication_error", "missing KALSHI-ACCESS-* headers")
    if not ts.isdigit():
        raise AuthError("header_timestamp_invalid", "invalid timestamp header", "timestamp must be ms digits")
    skew = int(ts) - now_ms
    if skew < -PAST_TOLERANCE_MS or skew > FUTURE_TOLERANCE_MS:
        raise AuthError(
            "header_timestamp_expired", "timestamp expired", f"timestamp is {skew} ms from server time"
        )
    public_key = keys.get(key_id)
    if public_key is None:
        raise AuthError("authentication_error", "authentication_error", "NOT_FOUND INCORRECT_API_KEY")
    if not verify(public_key, sig, signing_message(ts, method, path)):
        raise AuthError(
            "authentication_error", "authentication_error", "signature mismatch INCORRECT_API_KEY_SIGNATURE"
        )
    return key_id

