"""Test policies for the backtester."""

from __future__ import annotations

from kmm.backtest.policy import StaticQuotes


def StaticPolicy(bid: int = 0, bid_n: int = 0, ask: int = 0, ask_n: int = 0, n_cells: int = 1) -> StaticQuotes:  # noqa: N802
    """Always quotes the same prices and sizes (count 0 = no quote)."""
    return StaticQuotes(bid, bid_n, ask, ask_n, n_cells)
