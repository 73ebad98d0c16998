"""kmm: an automated market maker for Kalshi.

Libraries live here (messages, bus, kalshi client, strategy, risk, backtest, service chassis);
the processes that wire them together live in ``services/`` (imported as ``kmm_services``).
"""

__version__ = "0.1.0"
