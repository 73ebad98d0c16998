"""Operating a running system: ``kmm status|positions|orders|halt|resume|fills|config|doctor``.

The commands talk to the services' HTTP endpoints (reads need nothing; halt and resume need the
operator token), found from a local ``kmm run`` (:mod:`kmm.runner.discovery`) or given as URLs. The
live console of ``kmm run`` draws from the same snapshot (:mod:`.snapshot`). See docs/operations.md.
"""
