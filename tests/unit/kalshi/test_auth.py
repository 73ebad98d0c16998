"""auth: sign → verify on the documented message, both PEM formats, no key material in text."""

import pytest

from kmm.kalshi import auth


@pytest.mark.parametrize("pkcs8", [False, True])
def test_sign_verify_roundtrip(pkcs8):
    pem = auth.generate_private_pem(bits=2048, pkcs8=pkcs8)
    assert (b"BEGIN PRIVATE KEY" in pem) == pkcs8
    signer = auth.Signer.from_pem("key-1", pem)
    h = signer.headers("GET", "/trade-api/v2/portfolio/orders?limit=5", now_ms=1703123456789)
    assert h[auth.KEY_HEADER] == "key-1" and h[auth.TIMESTAMP_HEADER] == "1703123456789"
    pub = auth.load_public_key(signer.public_pem())
    msg = b"1703123456789GET/trade-api/v2/portfolio/orders"
    assert auth.verify(pub, h[auth.SIGNATURE_HEADER], msg)
    assert not auth.verify(pub, h[auth.SIGNATURE_HEADER], b"1703123456789GET/trade-api/v2/portfolio/fills")


def test_key_never_in_repr_or_errors(tmp_path):
    pem = auth.generate_private_pem(bits=2048)
    signer = auth.Signer.from_pem("key-1", pem)
    body = pem.decode().splitlines()[1]
    assert body not in repr(signer) and body not in str(signer)
    bad = tmp_path / "bad.pem"
    bad.write_bytes(pem[:200])
    with pytest.raises(auth.KeyError_) as exc:
        auth.Signer.from_file("k", bad)
    assert pem[30:80].decode() not in str(exc.value)
    with pytest.raises(auth.KeyError_):
        auth.Signer.from_file("k", tmp_path / "missing.pem")
