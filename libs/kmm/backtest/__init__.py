"""Research path: the event-log format, importers and recorder, the event-driven backtester that runs
the live quoting and risk code, the (γ, κ) grid search, reports and the fidelity check.
See docs/backtest.md."""
