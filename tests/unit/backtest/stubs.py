"""Hand-written test policies for the backtester."""

from __future__ import annotations

import numpy as np

from kmm.backtest.engine import Decision
from kmm.backtest.eventlog import EventLog


class StaticPolicy:
    """Always quotes the same prices and sizes (count 0 = no quote); records what it saw."""

    def __init__(self, bid: int = 0, bid_n: int = 0, ask: int = 0, ask_n: int = 0, n_cells: int = 1) -> None:
        self.n_cells = n_cells
        self.q = (bid, bid_n, ask, ask_n)
        self.seen: list[Decision] = []

    def start(self, log: EventLog, mid2: np.ndarray) -> None:
        self.log = log

    def cache_key(self, d: Decision) -> object:
        return None

    def decide(self, d: Decision) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.seen.append(d)
        c = self.n_cells
        return tuple(np.full(c, v, dtype=np.int64) for v in self.q)  # type: ignore[return-value]
