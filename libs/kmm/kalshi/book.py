"""A local Kalshi order book for one market, rebuilt from a snapshot plus signed deltas.

Kalshi publishes bids only: YES bids and NO bids (price → count, fixed-point ints). A NO bid at q is
a YES ask at 1 − q. A delta that would drive a level negative, or a delta before any snapshot,
marks the book invalid (``valid`` is False) until the next snapshot: the caller resnapshots.
"""

from collections.abc import Iterable

from kmm import messages as m
from kmm.messages.units import ONE_DOLLAR


class BookError(ValueError):
    """The book cannot apply this update (negative level, no snapshot yet, bad side)."""


class LocalBook:
    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}
        self.valid = False
        self.last_ts = 0

    def apply_snapshot(self, yes_bids: Iterable[m.Level], no_bids: Iterable[m.Level], ts: int = 0) -> None:
        self.yes = {}
        self.no = {}
        for side, levels in ((self.yes, yes_bids), (self.no, no_bids)):
            for price, count in levels:
                if count < 0:
                    self.valid = False
                    raise BookError(f"{self.ticker}: negative snapshot level {price}:{count}")
                if count:
                    side[price] = side.get(price, 0) + count
        self.valid = True
        self.last_ts = ts

    def apply_delta(self, side: str, price: int, delta: int, ts: int = 0) -> None:
        """Apply a signed change at a YES-bid (``side="yes"``) or NO-bid (``"no"``) level."""
        if not self.valid:
            raise BookError(f"{self.ticker}: delta before snapshot")
        levels = self.yes if side == "yes" else self.no if side == "no" else None
        if levels is None:
            raise BookError(f"{self.ticker}: unknown side {side!r}")
        new = levels.get(price, 0) + delta
        if new < 0:
            self.valid = False
            raise BookError(f"{self.ticker}: level {side}@{price} would go negative ({new})")
        if new:
            levels[price] = new
        else:
            levels.pop(price, None)
        if ts:
            self.last_ts = ts

    def invalidate(self) -> None:
        self.valid = False

    def bids(self, depth: int = 0) -> m.Levels:
        """YES bids best-first."""
        out = sorted(self.yes.items(), reverse=True)  # prices are unique keys: (price, count) sorts by price
        return tuple(out[:depth] if depth > 0 else out)

    def asks(self, depth: int = 0) -> m.Levels:
        """YES asks (1 − NO bids) best-first."""
        best_first = sorted(self.no.items(), reverse=True)  # the highest NO bid is the lowest YES ask
        return tuple([(ONE_DOLLAR - p, n) for p, n in (best_first[:depth] if depth > 0 else best_first)])

    def best_bid(self) -> m.Level | None:
        if not self.yes:
            return None
        p = max(self.yes)
        return (p, self.yes[p])

    def best_ask(self) -> m.Level | None:
        if not self.no:
            return None
        q = max(self.no)
        return (ONE_DOLLAR - q, self.no[q])

    def crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def to_book_update(
        self, seq: int = 0, depth: int = 0, ts_event: int = 0, ts_init: int = 0, snapshot: bool = True
    ) -> m.BookUpdate:
        return m.BookUpdate(
            market=self.ticker, seq=seq, bids=self.bids(depth), asks=self.asks(depth), snapshot=snapshot,
            ts_event=ts_event or self.last_ts, ts_init=ts_init,
        )
