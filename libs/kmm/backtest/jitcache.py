"""Keeps numba's on-disk cache of the compiled backtest honest.

numba's ``cache=True`` checks only the source file of the function it loads, but a compiled function
carries the functions it calls from other modules and the module constants it reads, frozen at compile
time: after an edit to ``krisk.py`` alone, ``kernel.py``'s cached event loop goes on running the old
risk code, silently. :func:`guard` keys the whole compiled backtest on one hash of every source it is
built from and, when that hash changes, drops the cache indexes of every compiled module so numba
recompiles them. Each compiled module calls it at import, before any compiled function is loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit

import kmm

COMPILED = ("kernel", "krisk", "kquote", "kfees")  # modules of kmm.backtest with cache=True functions
SOURCES = ("backtest/kernel.py", "backtest/krisk.py", "backtest/kquote.py", "backtest/kfees.py",
           "kalshi/fees.py", "messages/units.py", "strategy/quoting.py")  # what they compile in, under kmm/
STAMP = "kmm-backtest-sources.sha256"

_checked = False


@njit(cache=True)
def _probe() -> int:  # pragma: no cover - never called; its dispatcher tells where the cache lives
    return 0


def sources_digest() -> str:
    root = Path(kmm.__file__).parent
    h = hashlib.sha256()
    for rel in SOURCES:
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def cache_dir() -> Path | None:
    """Where numba keeps this package's cache (``__pycache__``, the user cache or NUMBA_CACHE_DIR)."""
    cache = getattr(_probe, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    return Path(path) if path else None


def refresh(where: Path, digest: str) -> bool:
    """Drop the compiled modules' indexes in ``where`` unless its stamp says they were written from
    sources with ``digest``; returns True when it dropped them."""
    stamp = where / STAMP
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for module in COMPILED:
            for index in where.glob(f"{module}.*.nbi"):
                index.unlink(missing_ok=True)
        where.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a directory numba cannot write to is not where it caches
        return False
    return True


def guard() -> bool:
    """:func:`refresh` numba's cache for this package with the current sources, once per process."""
    global _checked
    if _checked:
        return False
    _checked = True
    where = cache_dir()
    return refresh(where, sources_digest()) if where is not None else False
