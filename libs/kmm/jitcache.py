"""Keeps numba's on-disk cache of kmm's compiled code honest (the quoting core and the backtest kernel).

numba's ``cache=True`` checks only the source file of the function it loads, but a compiled function
carries the functions it calls from other modules and the module constants it reads, frozen at compile
time: after an edit to ``krisk.py`` alone (or to ``strategy/quote_core.py``, which the kernel inlines),
``kernel.py``'s cached event loop goes on running the old code, silently. :func:`guard` keys every
compiled module on one hash of every source they are built from and, when that hash changes, drops the
cache indexes of every compiled module so numba recompiles them. Each compiled module calls it at
import, before any compiled function is loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit
from numba.core.caching import FunctionCache

import kmm

# modules (under kmm/, without .py) with cache=True functions
COMPILED = ("backtest/kernel", "backtest/krisk", "backtest/kfees", "backtest/ksignals", "strategy/quote_core")
SOURCES = (*(f"{m}.py" for m in COMPILED), "kalshi/fees.py", "messages/units.py",
           "risk/engine.py", "risk/reasons.py", "jitcache.py", "jitborrow.py")  # what they compile in, under kmm/
STAMP = "kmm-compiled-sources.sha256"

_checked = False


@njit(cache=True)
def _probe() -> int:  # pragma: no cover - never called; numba's cache locator needs a function
    return 0


def sources_digest() -> str:
    root = Path(kmm.__file__).parent
    h = hashlib.sha256()
    for rel in SOURCES:
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def cache_dir(module: str = "backtest/kernel") -> Path | None:
    """Where numba keeps the cache of ``module``'s functions (``__pycache__`` beside it, the user cache or
    NUMBA_CACHE_DIR), found with numba's own locators."""
    source = str(Path(kmm.__file__).parent / f"{module}.py")
    for cls in FunctionCache._impl_class._locator_classes:
        try:
            locator = cls.from_function(_probe.py_func, source)
        except Exception:  # noqa: BLE001 - a locator that does not apply
            locator = None
        if locator is not None:
            return Path(locator.get_cache_path())
    return None


def refresh(where: Path, digest: str, modules: tuple[str, ...] | None = None) -> bool:
    """Drop the index files of ``modules`` (base names; default: every compiled module) in ``where``
    unless its stamp says they were written from sources with ``digest``; True when it dropped them."""
    names = modules if modules is not None else tuple(m.rsplit("/", 1)[-1] for m in COMPILED)
    stamp = where / STAMP
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for module in names:
            for index in where.glob(f"{module}.*.nbi"):
                index.unlink(missing_ok=True)
        where.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a directory numba cannot write to is not where it caches
        return False
    return True


def guard() -> bool:
    """:func:`refresh` numba's cache directory of every compiled module with the current sources, once
    per process; True when something was dropped."""
    global _checked
    if _checked:
        return False
    _checked = True
    digest = sources_digest()
    by_dir: dict[Path, list[str]] = {}
    for module in COMPILED:
        where = cache_dir(module)
        if where is not None:
            by_dir.setdefault(where, []).append(module.rsplit("/", 1)[-1])
    dropped = False
    for where, names in by_dir.items():
        dropped = refresh(where, digest, tuple(names)) or dropped
    return dropped
