"""The approval rule, both halves: what risk counts as still able to rest, and what the gateway may send.

An approval is permission for at most N contracts per side at a price, computed by risk at a stated
fill sequence of its market (the number of our fills in that market risk had applied). Fills consume
it; only a newer approval adds size.

- :class:`Allowance` is the gateway's half, one per market: it accepts an approval only when the
  approval's ``fill_seq`` is not older than the fills the gateway has seen in that market (risk
  decided on the same position the exchange holds), then lets each side rest at most what is left of
  the approved count after the fills that followed. A fill never makes room for more: the gateway
  cannot refill a side past what risk approved.
- :class:`Permits` is risk's half, one per market: every approval it issued that the gateway may
  still be acting on, each reduced by the fills that followed. The worst case resting on a side is
  the largest of them; a gateway report (:data:`~kmm.messages.APPLIED`, ``REFUSED``, ``EXPIRED``)
  retires the ones that can no longer rest anything.

Counts are 0.01-contract units, prices $0.0001 units (:mod:`kmm.messages.units`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmm.messages import APPLIED, ASK, BID, EXPIRED, REFUSED

STALE = "stale_fill_seq"


@dataclass(slots=True)
class Side:
    price: int = 0
    count: int = 0  # still allowed to rest

    def consume(self, count: int) -> None:
        self.count = max(self.count - count, 0)
        if not self.count:
            self.price = 0


@dataclass(slots=True)
class Permit:
    """One approval as risk counts it: what it may still rest on each side."""

    intent_id: str
    bid: Side
    ask: Side
    expires_at_ns: int = 0

    def side(self, side: str) -> Side:
        return self.bid if side == BID else self.ask


@dataclass(slots=True)
class Permits:
    """Risk's outstanding approvals for one market, oldest first."""

    items: list[Permit] = field(default_factory=list)

    def issue(self, intent_id: str, bid_price: int, bid_count: int, ask_price: int, ask_count: int,
              expires_at_ns: int = 0) -> None:
        self.items.append(Permit(intent_id, Side(bid_price if bid_count else 0, bid_count),
                                 Side(ask_price if ask_count else 0, ask_count), expires_at_ns))

    def on_fill(self, side: str, count: int) -> None:
        for p in self.items:
            p.side(side).consume(count)

    def on_status(self, intent_id: str, status: str) -> None:
        """Retire what the gateway says can no longer rest anything."""
        idx = next((i for i, p in enumerate(self.items) if p.intent_id == intent_id), None)
        if idx is None:
            return
        if status == APPLIED:  # the orders now match it: every older approval is void
            del self.items[:idx]
        elif status == EXPIRED:  # its orders are pulled, and older ones were superseded by it
            del self.items[: idx + 1]
        elif status == REFUSED:  # never acted on
            del self.items[idx]

    def worst(self, side: str) -> list[tuple[int, int]]:
        """(price, count) of every approval still able to rest on ``side``."""
        return [(s.price, s.count) for p in self.items if (s := p.side(side)).count]

    def latest(self) -> Permit | None:
        return self.items[-1] if self.items else None

    def clear(self) -> None:
        self.items.clear()


@dataclass(slots=True)
class Allowance:
    """The gateway's half for one market: the approval in force and what is left of it per side."""

    fill_seq: int = 0  # fills of this market the gateway has seen (and reported)
    intent_id: str = ""
    expires_at_ns: int = 0
    bid: Side = field(default_factory=Side)
    ask: Side = field(default_factory=Side)

    def accept(self, intent_id: str, fill_seq: int, bid_price: int, bid_count: int, ask_price: int,
               ask_count: int, expires_at_ns: int = 0) -> str:
        """Take a newer approval; return "" if accepted, else why it is refused."""
        if fill_seq < self.fill_seq:
            return f"{STALE}: approved at fill {fill_seq}, the gateway has seen {self.fill_seq}"
        self.intent_id, self.expires_at_ns = intent_id, expires_at_ns
        self.bid = Side(bid_price if bid_count else 0, bid_count)
        self.ask = Side(ask_price if ask_count else 0, ask_count)
        return ""

    def on_fill(self, side: str, count: int) -> int:
        """A fill of ours: it consumes the side's permission. Returns the market's new fill sequence."""
        (self.bid if side == BID else self.ask).consume(count)
        self.fill_seq += 1
        return self.fill_seq

    def expire(self) -> None:
        self.bid, self.ask = Side(), Side()

    def target(self, side: str) -> tuple[int, int]:
        s = self.bid if side == BID else self.ask
        return (s.price, s.count) if s.count else (0, 0)


SIDES = (BID, ASK)
