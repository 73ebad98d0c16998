"""pss_native: libcrypto's RSA-PSS signatures verify as Kalshi verifies them (PSS, MGF1-SHA-256, salt =
digest length), from many threads at once; the Signer uses it when it loads and signs with
``cryptography`` when it does not; the key shows in no repr."""

import base64
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kmm.kalshi import auth, pss_native

PEM = auth.generate_private_pem(bits=2048)
DER = serialization.load_pem_private_key(PEM, None).private_bytes(
    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
NATIVE = pss_native.load(DER)
needs_native = pytest.mark.skipif(NATIVE is None, reason="no OpenSSL 3 libcrypto on this machine")


def public() -> rsa.RSAPublicKey:
    return auth.load_public_key(auth.Signer.from_pem("k", PEM).public_pem())


@needs_native
def test_native_signatures_verify_and_differ_by_their_salt() -> None:
    msg = b"1703123456789POST/trade-api/v2/portfolio/events/orders/abc/amend"
    a, b = NATIVE.sign(msg), NATIVE.sign(msg)
    assert len(a) == 256 and a != b  # 2048-bit key; a random salt each time
    for sig in (a, b):
        assert auth.verify(public(), base64.b64encode(sig).decode(), msg)
    assert not auth.verify(public(), base64.b64encode(a).decode(), msg + b"x")
    assert "BEGIN" not in repr(NATIVE) and repr(NATIVE) == "NativeKey(<redacted>)"


@needs_native
def test_the_signer_signs_natively_from_many_threads() -> None:
    signer = auth.Signer.from_pem("k", PEM)
    assert signer.releases_gil
    out: list[tuple[bytes, str]] = []

    def work(k: int) -> None:
        for i in range(20):
            path = f"/trade-api/v2/portfolio/events/orders/o{k}-{i}/amend"
            h = signer.headers("POST", path, now_ms=1703123456789)
            out.append((auth.signing_message(1703123456789, "POST", path), h[auth.SIGNATURE_HEADER]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 80
    pub = public()
    assert all(auth.verify(pub, sig, msg) for msg, sig in out)


def test_without_libcrypto_the_signer_signs_with_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pss_native, "load", lambda der: None)
    signer = auth.Signer.from_pem("k", PEM)
    assert not signer.releases_gil
    h = signer.headers("DELETE", "/trade-api/v2/portfolio/orders/x", now_ms=1703123456789)
    assert auth.verify(public(), h[auth.SIGNATURE_HEADER], b"1703123456789DELETE/trade-api/v2/portfolio/orders/x")


@needs_native
def test_a_key_libcrypto_cannot_use_for_rsa_is_refused() -> None:
    ec_der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert pss_native.load(ec_der) is None
    assert pss_native.load(b"not a key") is None
