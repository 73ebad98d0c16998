"""RSA-PSS/SHA-256 signing through the system's OpenSSL 3 ``libcrypto`` by ctypes, without the GIL.

``cryptography`` holds the GIL while it signs (0.2–0.5 ms for a 2048-bit key on the project's
machines), so a thread presigning requests stops the process's event loop for each signature: a loop
runs at about half speed beside a thread signing back to back. A ctypes call releases the GIL, so the
same thread signs here while the loop goes on, on the other core.

:func:`load` turns a private key (DER, PKCS#8) into a :class:`NativeKey`, or returns None when no
OpenSSL 3 ``libcrypto`` can be loaded, and :class:`kmm.kalshi.auth.Signer` keeps signing with
``cryptography`` then. The signatures are the same scheme either way (PSS, MGF1-SHA-256, salt length
= digest length, as Kalshi verifies them); the tests verify both with ``cryptography``. The key's
bytes go to OpenSSL and nowhere else; no error carries them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_void_p, create_string_buffer

RSA_PKCS1_PSS_PADDING = 6
SHA256_LEN = 32

_lib: ctypes.CDLL | None = None
_tried = False
_lock = threading.Lock()


def _load_lib() -> ctypes.CDLL | None:
    """OpenSSL 3's libcrypto with the signatures this module calls, or None."""
    global _lib, _tried
    with _lock:
        if _tried:
            return _lib
        _tried = True
        for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                version = lib.OpenSSL_version_num
                version.restype = ctypes.c_ulong
                if version() < 0x30000000:
                    continue
                _declare(lib)
            except (OSError, AttributeError):
                continue
            _lib = lib
            break
        return _lib


def _declare(lib: ctypes.CDLL) -> None:
    sigs: dict[str, tuple[list[type], type | None]] = {
        "d2i_AutoPrivateKey": ([c_void_p, POINTER(c_char_p), c_long], c_void_p),
        "EVP_PKEY_free": ([c_void_p], None),
        "EVP_PKEY_get_size": ([c_void_p], c_int),
        "EVP_PKEY_get_base_id": ([c_void_p], c_int),
        "EVP_PKEY_CTX_new": ([c_void_p, c_void_p], c_void_p),
        "EVP_PKEY_CTX_free": ([c_void_p], None),
        "EVP_PKEY_sign_init": ([c_void_p], c_int),
        "EVP_PKEY_CTX_set_rsa_padding": ([c_void_p, c_int], c_int),
        "EVP_PKEY_CTX_set_signature_md": ([c_void_p, c_void_p], c_int),
        "EVP_PKEY_CTX_set_rsa_mgf1_md": ([c_void_p, c_void_p], c_int),
        "EVP_PKEY_CTX_set_rsa_pss_saltlen": ([c_void_p, c_int], c_int),
        "EVP_PKEY_sign": ([c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t], c_int),
        "EVP_sha256": ([], c_void_p),
        "ERR_clear_error": ([], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res


class NativeKey:
    """An RSA private key held by libcrypto; :meth:`sign` is safe from any number of threads."""

    EVP_PKEY_RSA = 6

    def __init__(self, lib: ctypes.CDLL, pkey: int) -> None:
        self._lib = lib
        self._pkey = pkey
        self._md = lib.EVP_sha256()
        self._size = lib.EVP_PKEY_get_size(pkey)

    def __repr__(self) -> str:
        return "NativeKey(<redacted>)"

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._lib.EVP_PKEY_free(pkey)

    def sign(self, message: bytes) -> bytes:
        """The RSA-PSS signature (MGF1-SHA-256, salt 32 bytes) of SHA-256(``message``)."""
        lib = self._lib
        digest = hashlib.sha256(message).digest()
        ctx = lib.EVP_PKEY_CTX_new(self._pkey, None)
        if not ctx:
            raise RuntimeError("libcrypto: cannot make a signing context")
        try:
            sig = create_string_buffer(self._size)
            n = c_size_t(self._size)
            if (lib.EVP_PKEY_sign_init(ctx) <= 0
                    or lib.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0
                    or lib.EVP_PKEY_CTX_set_signature_md(ctx, self._md) <= 0
                    or lib.EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, self._md) <= 0
                    or lib.EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, SHA256_LEN) <= 0
                    or lib.EVP_PKEY_sign(ctx, sig, byref(n), digest, SHA256_LEN) <= 0):
                lib.ERR_clear_error()
                raise RuntimeError("libcrypto: RSA-PSS signing failed")
            return sig.raw[:n.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)


def load(der_pkcs8: bytes) -> NativeKey | None:
    """The key in libcrypto, or None when no OpenSSL 3 libcrypto is available or it will not take the
    key (the caller signs with ``cryptography`` then)."""
    lib = _load_lib()
    if lib is None:
        return None
    buf = c_char_p(der_pkcs8)
    pkey = lib.d2i_AutoPrivateKey(None, byref(buf), len(der_pkcs8))
    if not pkey:
        lib.ERR_clear_error()
        return None
    if lib.EVP_PKEY_get_base_id(pkey) != NativeKey.EVP_PKEY_RSA:
        lib.EVP_PKEY_free(pkey)
        return None
    return NativeKey(lib, pkey)
