"""numba's cache of kmm's compiled code is dropped when any source compiled into it changes (numba itself
only checks a function's own file, so an edit to krisk.py, or to the quoting core the kernel inlines,
would leave kernel.py's loop stale)."""

from pathlib import Path

import kmm
from kmm import jitcache


def test_a_changed_source_drops_every_compiled_modules_index(tmp_path: Path) -> None:
    names = ["kernel.run_events-600.py311.nbi", "krisk.check-350.py311.nbi", "quote_core.quote_core-80.py311.nbi",
             "kfees.fill_fee-30.py311.nbi", "ksignals.guard_update-90.py311.nbi", "kernel.run_events-600.py311.1.nbc",
             "other.f-1.py311.nbi"]
    for n in names:
        (tmp_path / n).write_text("x")
    assert jitcache.refresh(tmp_path, "a")  # no stamp yet: whatever is there may be stale
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["kernel.run_events-600.py311.1.nbc", "other.f-1.py311.nbi", jitcache.STAMP])
    (tmp_path / "kernel.run_events-600.py311.nbi").write_text("x")  # numba recompiled and indexed
    assert not jitcache.refresh(tmp_path, "a")  # same sources: kept
    assert (tmp_path / "kernel.run_events-600.py311.nbi").exists()
    assert jitcache.refresh(tmp_path, "b")  # krisk.py (say) changed: dropped
    assert not (tmp_path / "kernel.run_events-600.py311.nbi").exists()


def test_the_digest_covers_every_compiled_module_and_what_they_import() -> None:
    root = Path(kmm.__file__).parent
    assert all((root / rel).is_file() for rel in jitcache.SOURCES)
    assert {f"{m}.py" for m in jitcache.COMPILED} <= set(jitcache.SOURCES)
    for m in jitcache.COMPILED:  # every compiled module runs the guard before its functions can load
        assert "\nguard()" in (root / f"{m}.py").read_text()
    for m in jitcache.COMPILED:
        assert jitcache.cache_dir(m) is not None
    assert len(jitcache.sources_digest()) == 64
