"""Strategy library: Avellaneda–Stoikov quoting for binaries, streaming estimators, the
adverse-selection guard, market selection.

Pure functions and small state objects (no Redis, no I/O) shared by the live services and the
backtester. Units are documented in :mod:`kmm.strategy.quoting` and docs/strategy.md.
"""
