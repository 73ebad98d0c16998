"""Replay a recorded Kalshi orderbook WS log into the engine, so our orders match against it.

Input: JSON lines (optionally gzipped, blank lines ignored) of ``orderbook_snapshot`` /
``orderbook_delta`` messages in either dialect:

- legacy cents (``/work/shared/data`` book file): snapshot ``{"yes": [[cents, qty]], "no": [...]}``,
  delta ``{"price": cents, "delta": qty, "side": ...}``, receive time ``ts`` in Unix seconds;
- current fixed point: snapshot ``yes_dollars_fp`` / ``no_dollars_fp``, delta ``price_dollars`` /
  ``delta_fp``, time ``ts_ms`` (messages without a time inherit the previous one).

Each recorded level becomes resting orders of the ``replay`` account (a NO bid at q is a YES ask at
1 − q). A positive delta adds an order at the back of the level's queue; a negative one decreases the
level's newest orders. Our orders trade against these like against anyone. When our fills consumed
part of a level, later negative deltas are clamped at what is left: the replayed book then shows the
recording minus what we took. Markets are created on the fly (``active``, no close time).
"""

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from kmm.messages.units import (
    CENT,
    COUNT_SCALE,
    NS_PER_MS,
    NS_PER_S,
    ONE_DOLLAR,
    dollars_to_price,
    fp_to_count,
)

from .engine import Exchange
from .errors import ExchangeError
from .orders import ASK, BID, GTC, CreateOrder

REPLAY_ACCOUNT = "replay"
REPLAY_BALANCE = 10**12 * 1_000_000


@dataclass(frozen=True)
class BookMessage:
    """One normalised recorded message: a snapshot (levels) or a delta, time in ns."""

    ts_ns: int
    ticker: str
    kind: str  # snapshot | delta
    yes: tuple[tuple[int, int], ...] = ()
    no: tuple[tuple[int, int], ...] = ()
    side: str = ""
    price: int = 0
    delta: int = 0


def _count(value: Any) -> int:
    return fp_to_count(str(value)) if not isinstance(value, int) else value * COUNT_SCALE


def _time_ns(raw: dict[str, Any], msg: dict[str, Any]) -> int | None:
    if "ts_ms" in msg:
        return int(msg["ts_ms"]) * NS_PER_MS
    ts = raw.get("ts", msg.get("ts"))
    if isinstance(ts, int | float):
        return int(Decimal(str(ts)) * NS_PER_S)
    if isinstance(ts, str):
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * NS_PER_S)
    return None


def parse_line(raw: dict[str, Any], last_ns: int) -> BookMessage | None:
    kind = raw.get("type")
    msg = raw.get("msg")
    if kind not in ("orderbook_snapshot", "orderbook_delta") or not isinstance(msg, dict):
        return None
    ts = _time_ns(raw, msg) or last_ns
    ticker = str(msg["market_ticker"])
    if kind == "orderbook_snapshot":
        if "yes_dollars_fp" in msg or "no_dollars_fp" in msg:
            yes = tuple((dollars_to_price(p), _count(c)) for p, c in msg.get("yes_dollars_fp") or [])
            no = tuple((dollars_to_price(p), _count(c)) for p, c in msg.get("no_dollars_fp") or [])
        else:
            yes = tuple((int(p) * CENT, _count(c)) for p, c in msg.get("yes") or [])
            no = tuple((int(p) * CENT, _count(c)) for p, c in msg.get("no") or [])
        return BookMessage(ts, ticker, "snapshot", yes=yes, no=no)
    if "price_dollars" in msg:
        price, delta = dollars_to_price(msg["price_dollars"]), _count(msg["delta_fp"])
    else:
        price, delta = int(msg["price"]) * CENT, _count(msg["delta"])
    return BookMessage(ts, ticker, "delta", side=str(msg["side"]), price=price, delta=delta)


def read_log(path: str | Path) -> Iterator[BookMessage]:
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    last = 0
    with opener(p, "rt") as fh:  # type: ignore[operator]
        for line in fh:
            line = line.strip()
            if not line:
                continue
            parsed = parse_line(json.loads(line), last)
            if parsed is not None:
                last = parsed.ts_ns
                yield parsed


@dataclass
class Replayer:
    """Plays a recorded log into ``exchange``; ``start_ns`` is the virtual time of the first message."""

    exchange: Exchange
    messages: list[BookMessage]
    start_ns: int
    # (ticker, book side, YES price) → the replay account's order ids at that level, oldest first
    levels: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)
    pos: int = 0

    @classmethod
    def from_file(cls, exchange: Exchange, path: str | Path, start_ns: int) -> "Replayer":
        msgs = list(read_log(path))
        first = next((m.ts_ns for m in msgs if m.ts_ns > 0), 0)
        # Messages recorded before the first timestamped one (snapshots without ``ts``) play at once.
        msgs = [m if m.ts_ns > 0 else replace(m, ts_ns=first) for m in msgs]
        r = cls(exchange, msgs, start_ns)
        if not exchange.has_account(REPLAY_ACCOUNT):
            exchange.open_account(REPLAY_ACCOUNT, REPLAY_BALANCE)
        for t in dict.fromkeys(m.ticker for m in r.messages):
            try:
                exchange.market(t)
            except ExchangeError:
                exchange.create_market(t, t.rsplit("-", 1)[0] if "-" in t else t, title=f"Replay of {t}")
        return r

    @property
    def done(self) -> bool:
        return self.pos >= len(self.messages)

    def virtual_ns(self, msg: BookMessage) -> int:
        return self.start_ns + (msg.ts_ns - self.messages[0].ts_ns)

    def play_until(self, now_ns: int) -> int:
        n = 0
        while self.pos < len(self.messages) and self.virtual_ns(self.messages[self.pos]) <= now_ns:
            self.apply(self.messages[self.pos])
            self.pos += 1
            n += 1
        return n

    def apply(self, m: BookMessage) -> None:
        if m.kind == "snapshot":
            for key in [k for k in self.levels if k[0] == m.ticker]:
                for oid in self.levels.pop(key):
                    self._cancel(oid)
            for price, count in m.yes:
                self._add(m.ticker, BID, price, count)
            for price, count in m.no:
                self._add(m.ticker, ASK, ONE_DOLLAR - price, count)
            return
        side, price = (BID, m.price) if m.side == "yes" else (ASK, ONE_DOLLAR - m.price)
        if m.delta > 0:
            self._add(m.ticker, side, price, m.delta)
        else:
            self._remove(m.ticker, side, price, -m.delta)

    def _add(self, ticker: str, side: str, price: int, count: int) -> None:
        if count <= 0 or not 0 < price < ONE_DOLLAR:
            return
        try:
            ack = self.exchange.create_order(REPLAY_ACCOUNT, CreateOrder(ticker, side, price, count, time_in_force=GTC))
        except ExchangeError:
            return
        if ack.remaining_count > 0:
            self.levels.setdefault((ticker, side, price), []).append(ack.order_id)

    def _remove(self, ticker: str, side: str, price: int, count: int) -> None:
        ids = self.levels.get((ticker, side, price), [])
        while count > 0 and ids:
            oid = ids[-1]
            try:
                remaining = self.exchange.get_order(REPLAY_ACCOUNT, oid).remaining
            except ExchangeError:
                remaining = 0
            if remaining <= count:
                self._cancel(oid)
                ids.pop()
                count -= remaining
            else:
                self.exchange.decrease_order(REPLAY_ACCOUNT, oid, reduce_by=count)
                count = 0

    def _cancel(self, oid: str) -> None:
        try:
            self.exchange.cancel_order(REPLAY_ACCOUNT, oid)
        except ExchangeError:
            pass
