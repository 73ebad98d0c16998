"""Every message that crosses the bus, as frozen dataclasses.

Units (see :mod:`kmm.messages.units`): prices in $0.0001, counts in 0.01 contract, money in
$0.000001, times in integer nanoseconds. Book levels are ``((price, count), ...)`` tuples.

Common header on every message (keyword-only, all with defaults so producers set what they know):
- ``msg_id``: unique id of this message (consumers dedupe on it);
- ``corr_id``: correlation id that flows market event → intent → approval → order → fill;
- ``ts_event``: when it happened at the source (venue time where known);
- ``ts_init``: when we created this message;
- ``origin_ts``: ``ts_init`` of the market event that started the chain (tick-to-order latency).
"""

from dataclasses import dataclass
from typing import ClassVar

Level = tuple[int, int]
Levels = tuple[Level, ...]

# Trading states (risk engine), order sides (V2: bid = buy YES, ask = sell YES), taker sides.
ACTIVE = "ACTIVE"
REDUCING = "REDUCING"
HALTED = "HALTED"
TRADING_STATES = (ACTIVE, REDUCING, HALTED)
BID = "bid"
ASK = "ask"
SIDES = (BID, ASK)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    msg_id: str = ""
    corr_id: str = ""
    ts_event: int = 0
    ts_init: int = 0
    origin_ts: int = 0


# --- market data (marketdata → md:*) -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BookUpdate(Message):
    """Normalized YES book for one market: bids best-first, asks best-first (asks = 1 − NO bids).

    The levels are the complete top of the book (up to marketdata's depth), so every message replaces
    the previous one; ``snapshot`` only says whether an exchange snapshot (rather than a delta)
    produced it.
    """

    TYPE: ClassVar[str] = "book"
    market: str
    seq: int = 0
    bids: Levels = ()
    asks: Levels = ()
    snapshot: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade(Message):
    """A public print: ``taker_side`` is ``"yes"`` (bought YES) or ``"no"``; price is the YES price."""

    TYPE: ClassVar[str] = "trade"
    market: str
    trade_id: str
    price: int
    count: int
    taker_side: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketInfo(Message):
    """A market's metadata and 24h statistics as polled from ``GET /markets``.

    ``fee_type`` and ``fee_multiplier_ppm`` are the series' (``GET /series/{t}``); ``fee_type`` ""
    means the lookup failed or has not happened, and consumers then assume the standard maker fee
    (``kmm.kalshi.fees.maker_rate``). ``maker_fees`` is kept for older consumers.
    """

    TYPE: ClassVar[str] = "market"
    market: str
    event: str = ""
    series: str = ""
    status: str = "open"
    close_ts: int = 0
    volume_24h: int = 0
    open_interest: int = 0
    yes_bid: int = 0
    yes_ask: int = 0
    last_price: int = 0
    tick_ranges: tuple[tuple[int, int, int], ...] = ((0, 10_000, 100),)
    maker_fees: bool = False
    mutually_exclusive: bool = False
    result: str = ""
    fee_type: str = ""
    fee_multiplier_ppm: int = 1_000_000


# MarketInfo.status values that matter downstream (kmm.kalshi.wire maps the exchange's lifecycle onto
# unopened / open / paused / closed / settled): quotable, and ended (trading is over for good: closed,
# determined or settled), after which a market's state can go once nothing of ours is left in it.
MARKET_OPEN_STATUSES = ("open", "active")
MARKET_SETTLED = "settled"
MARKET_ENDED_STATUSES = ("closed", MARKET_SETTLED)


# --- selection (selector → sel:universe) ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Universe(Message):
    """The full set of markets to quote; each publication replaces the previous one."""

    TYPE: ClassVar[str] = "universe"
    markets: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()


# --- orders (quoter → ord:intent → risk → ord:approved → gateway) ---------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteIntent(Message):
    """The quoter's target two-sided quote for one market. A count of 0 means no quote that side.

    It carries what risk checks it against, so risk never reads the book itself: the book's top
    (``book_bid``: best YES bid, 0 = none; ``book_ask``: best YES ask, 10_000 = none — the whole book,
    our own orders included), when marketdata last vouched for that book (``book_ts``), the exchange's
    time and sequence of it (``book_ts_event``, ``book_seq``) and σ of the mid in ¢/√h in price space
    (``sigma``, 0 = unknown). ``book_ts`` 0 means no book came with it.
    """

    TYPE: ClassVar[str] = "intent"
    intent_id: str
    market: str
    bid_price: int = 0
    bid_count: int = 0
    ask_price: int = 0
    ask_count: int = 0
    expires_at_ns: int = 0
    reason: str = ""
    book_ts: int = 0  # ts_init of the book it was priced from: when marketdata last vouched for that book
    book_seq: int = 0
    book_ts_event: int = 0
    book_bid: int = 0
    book_ask: int = 10_000
    sigma: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval(Message):
    """Risk's permission for one market: per side, the most that may rest, at a price.

    ``fill_seq`` is the market's fill sequence (see :class:`Fill`) risk had applied when it decided,
    and ``position`` its position then. Fills after ``fill_seq`` consume the permission; only a newer
    approval adds size; the gateway refuses an approval whose ``fill_seq`` is older than the fills it
    has seen (the approval rule, docs/life-of-an-order.md).
    """

    TYPE: ClassVar[str] = "approval"
    intent_id: str
    market: str
    bid_price: int = 0
    bid_count: int = 0
    ask_price: int = 0
    ask_count: int = 0
    expires_at_ns: int = 0
    state: str = ACTIVE
    fill_seq: int = 0
    position: int = 0


# --- risk (risk → risk:control, risk:denied) -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Control(Message):
    """Trading state change and/or cancel-all order from risk."""

    TYPE: ClassVar[str] = "control"
    state: str
    cancel_all: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Message):
    """Risk's liveness beacon on ``risk:control``; the gateway's dead-man's switch watches it."""

    TYPE: ClassVar[str] = "heartbeat"
    service: str
    state: str = ACTIVE
    seq: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial(Message):
    TYPE: ClassVar[str] = "denial"
    intent_id: str
    market: str
    code: str
    detail: str = ""


# --- execution reports (gateway → exec:report) ----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAck(Message):
    """An order resting at ``price`` with ``count`` remaining: sent on placement and after each amend or
    decrease, so the stream replays our resting orders."""

    TYPE: ClassVar[str] = "ack"
    client_order_id: str
    order_id: str
    market: str
    side: str
    price: int
    count: int
    intent_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReject(Message):
    TYPE: ClassVar[str] = "reject"
    client_order_id: str
    market: str
    side: str
    code: str
    reason: str = ""
    intent_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancel(Message):
    TYPE: ClassVar[str] = "cancel"
    client_order_id: str
    order_id: str
    market: str
    side: str
    canceled_count: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(Message):
    """One of our fills. ``side`` is the order's book side; ``fee`` is money (µ$)."""

    TYPE: ClassVar[str] = "fill"
    fill_id: str
    order_id: str
    client_order_id: str
    market: str
    side: str
    price: int
    count: int
    fee: int = 0
    is_taker: bool = False
    seq: int = 0  # the market's fill sequence: 1, 2, … in the order the gateway reported its fills


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReport(Message):
    """The exchange's view of one position (signed count: + YES, − NO), from reconciliation.

    ``fill_seq`` is the gateway's fill sequence for the market when it read the position: a reader
    that has applied exactly those fills can compare positions; one that has not must wait."""

    TYPE: ClassVar[str] = "position"
    market: str
    position: int
    realized_pnl: int = 0
    fees_paid: int = 0
    fill_seq: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement(Message):
    """A market we held settled: the exchange paid ``revenue`` (µ$) for ``position`` (+ YES / − NO)."""

    TYPE: ClassVar[str] = "settlement"
    market: str
    result: str
    position: int = 0
    revenue: int = 0
    fill_seq: int = 0


# ApprovalStatus.status values
APPLIED = "applied"  # the gateway's orders for the market now match this approval (older ones are void)
REFUSED = "refused"  # never acted on (stale fill_seq, above the gateway's cap, expired on arrival)
EXPIRED = "expired"  # its time ran out and the gateway has pulled its orders
APPROVAL_STATUSES = (APPLIED, REFUSED, EXPIRED)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalStatus(Message):
    """What the gateway did with an approval, so risk knows which approvals can still rest orders."""

    TYPE: ClassVar[str] = "approval_status"
    intent_id: str
    market: str
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceReport(Message):
    TYPE: ClassVar[str] = "balance"
    balance: int
    portfolio_value: int = 0


# --- operations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter(Message):
    """A message a service could not handle, kept with where it came from and why."""

    TYPE: ClassVar[str] = "dead_letter"
    service: str
    stream: str
    entry_id: str
    delivery_count: int
    reason: str
    payload: bytes = b""


EXEC_REPORTS = (OrderAck, OrderReject, OrderCancel, Fill, PositionReport, BalanceReport, Settlement, ApprovalStatus)
ALL_MESSAGES: tuple[type[Message], ...] = (
    BookUpdate, Trade, MarketInfo, Universe, QuoteIntent, Approval, Control,
    Heartbeat, Denial, *EXEC_REPORTS, DeadLetter,
)
