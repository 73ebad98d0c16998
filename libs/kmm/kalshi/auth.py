"""Kalshi request signing (RSA-PSS/SHA-256) and verification (for the simulator).

Signed message: ``timestamp_ms + METHOD + path`` where path includes ``/trade-api/v2`` and excludes
the query string. The private key is loaded from a file path and is never printed: :class:`Signer`
has a redacted repr and errors never include key material.
"""

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import pss_native

KEY_HEADER = "KALSHI-ACCESS-KEY"
TIMESTAMP_HEADER = "KALSHI-ACCESS-TIMESTAMP"
SIGNATURE_HEADER = "KALSHI-ACCESS-SIGNATURE"
WS_SIGN_PATH = "/trade-api/ws/v2"

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class KeyError_(ValueError):
    """The key file is missing or not an RSA private key (the message names the path, not the key)."""


def signing_message(timestamp_ms: int | str, method: str, path: str) -> bytes:
    path_only = urlsplit(path).path if "://" in path or "?" in path else path
    return f"{timestamp_ms}{method.upper()}{path_only}".encode()


@dataclass(frozen=True)
class Signer:
    """Signs requests for one API key. ``repr`` never shows the key."""

    key_id: str
    _key: rsa.RSAPrivateKey = field(repr=False, compare=False)
    _native: pss_native.NativeKey | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_file(cls, key_id: str, path: str | Path) -> "Signer":
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise KeyError_(f"cannot read private key file {p}: {exc.strerror}") from None
        return cls.from_pem(key_id, data, source=str(p))

    @classmethod
    def from_pem(cls, key_id: str, pem: bytes, source: str = "<pem>") -> "Signer":
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise KeyError_(f"{source} is not an unencrypted PEM private key (PKCS#1 or PKCS#8)") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyError_(f"{source} is not an RSA private key")
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return cls(key_id=key_id, _key=key, _native=pss_native.load(der))

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r}, key=<redacted>)"

    @property
    def releases_gil(self) -> bool:
        """True when signing runs in libcrypto without the GIL (:mod:`kmm.kalshi.pss_native`)."""
        return self._native is not None

    def sign(self, message: bytes) -> str:
        if self._native is not None:
            return base64.b64encode(self._native.sign(message)).decode()
        return base64.b64encode(self._key.sign(message, _PSS, hashes.SHA256())).decode()

    def headers(self, method: str, path: str, now_ms: int | None = None) -> dict[str, str]:
        ts = str(now_ms if now_ms is not None else int(time.time() * 1000))
        return {
            KEY_HEADER: self.key_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: self.sign(signing_message(ts, method, path)),
        }

    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def generate_private_pem(bits: int = 2048, pkcs8: bool = False) -> bytes:
    """A fresh RSA key as PEM (PKCS#1 like Kalshi's downloads, or PKCS#8)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyError_("not an RSA public key")
    return key


def verify(public_key: rsa.RSAPublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message, _PSS, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
