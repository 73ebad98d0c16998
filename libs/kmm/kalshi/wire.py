"""The JSON edge: Kalshi REST/WS objects ↔ our fixed-point ints, as typed dataclasses.

Both dialects are read:
- today's fixed-point one: ``*_dollars`` price/money strings, ``*_fp`` count strings, V2 ``price`` /
  ``count`` strings, ``book_side``/``outcome_side`` direction fields;
- the legacy cents one that old recordings carry: ``yes_price`` integer cents, integer contract
  counts, ``side``/``action`` direction, ``orderbook.yes`` ``[[cents, qty]]`` levels.

Numbers may come as strings or JSON numbers. Decode JSON with :func:`loads` (floats become Decimal,
so nothing is lost); a Python float is accepted only when its binary value is exactly representable.
Anything that does not fit our units raises :class:`WireError`.
"""

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from kmm import messages as m
from kmm.kalshi import fees
from kmm.messages.units import (
    CENT,
    NS_PER_MS,
    NS_PER_S,
    ONE_DOLLAR,
    UnitError,
    cents_to_money,
    cents_to_price,
    count_to_fp,
    dollars_to_money,
    dollars_to_price,
    fp_to_count,
    price_to_dollars,
)

Json = Mapping[str, Any]


class WireError(ValueError):
    """A Kalshi JSON value that cannot be read into our types."""


P = ParamSpec("P")
R = TypeVar("R")


def _reading(parse: Callable[P, R]) -> Callable[P, R]:
    """Every ``parse_*``: a value of the wrong shape (``null`` for an object, a list for a string, a
    number too big for a Decimal, ...) raises :class:`WireError` naming the parser, nothing else."""

    @functools.wraps(parse)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return parse(*args, **kwargs)
        except WireError:
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, ArithmeticError) as exc:
            raise WireError(f"{parse.__name__}: {type(exc).__name__}: {exc}") from None

    return read


_DECODER = json.JSONDecoder(parse_float=Decimal)  # json.loads with a keyword builds a new decoder each call


def loads(data: str | bytes | bytearray) -> Any:
    """JSON decode with exact numbers (floats → Decimal); bytes in any encoding ``json.loads`` reads."""
    if not isinstance(data, str):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return _DECODER.decode(data)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=_default)


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# --- scalar readers ---------------------------------------------------------------------------


def _exact(value: Any, what: str) -> str | int | Decimal:
    if isinstance(value, bool) or value is None:
        raise WireError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, float):
        return Decimal(value)  # the float's exact binary value: 0.5 passes, 0.56 is refused later
    if isinstance(value, str | int | Decimal):
        return value.strip() if isinstance(value, str) else value
    raise WireError(f"{what}: expected a number, got {type(value).__name__}")


def dollars(value: Any, what: str = "price") -> int:
    """A dollar amount (string or number) → price units ($0.0001)."""
    try:
        return dollars_to_price(_exact(value, what))
    except UnitError as exc:
        raise WireError(f"{what}: {exc}") from None


def money(value: Any, what: str = "money") -> int:
    """A dollar amount (string or number, up to 6 decimals) → money units ($0.000001)."""
    try:
        return dollars_to_money(_exact(value, what))
    except UnitError as exc:
        raise WireError(f"{what}: {exc}") from None


def count(value: Any, what: str = "count") -> int:
    """A contract count (fp string, or legacy integer contracts) → count units (0.01 contract)."""
    try:
        return fp_to_count(_exact(value, what))
    except UnitError as exc:
        raise WireError(f"{what}: {exc}") from None


def cents(value: Any, what: str = "cents") -> int:
    """Legacy integer cents → price units."""
    v = _exact(value, what)
    try:
        d = Decimal(v) if not isinstance(v, Decimal) else v
    except ArithmeticError:
        raise WireError(f"{what}: not a number: {value!r}") from None
    if d != d.to_integral_value():
        raise WireError(f"{what}: cents must be whole, got {value!r}")
    return cents_to_price(int(d))


def _present(obj: Json, key: str) -> bool:
    return key in obj and obj[key] is not None and obj[key] != ""


def price_field(obj: Json, name: str, default: int | None = 0) -> int | None:
    """``name_dollars`` (dollars), else ``name`` (int = legacy cents; string/decimal = dollars)."""
    if _present(obj, f"{name}_dollars"):
        return dollars(obj[f"{name}_dollars"], f"{name}_dollars")
    if _present(obj, name):
        v = obj[name]
        return cents(v, name) if isinstance(v, int) else dollars(v, name)
    return default


def count_field(obj: Json, name: str, default: int | None = 0) -> int | None:
    """``name_fp`` (fp string), else ``name`` (fp string or legacy integer contracts)."""
    for key in (f"{name}_fp", name):
        if _present(obj, key):
            return count(obj[key], key)
    return default


def money_field(obj: Json, name: str, default: int = 0) -> int:
    """``name_dollars`` (dollars), else ``name`` (int = legacy cents; string/decimal = dollars)."""
    if _present(obj, f"{name}_dollars"):
        return money(obj[f"{name}_dollars"], f"{name}_dollars")
    if _present(obj, name):
        v = obj[name]
        return cents_to_money(v) if isinstance(v, int) and not isinstance(v, bool) else money(v, name)
    return default


def time_ns(value: Any) -> int:
    """RFC3339 string, Unix seconds (int/Decimal) → ns. Empty/None → 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, str):
        return rfc3339_ns(value)
    if isinstance(value, bool):
        raise WireError(f"bad timestamp {value!r}")
    return int(Decimal(_exact(value, "ts")) * NS_PER_S)


def rfc3339_ns(text: str) -> int:
    """``2026-07-01T02:31:45.308599Z`` → ns since the epoch, exact to the digits given."""
    s = text.strip()
    frac_ns = 0
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        tz = rest[len(digits):]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        s = head + tz
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise WireError(f"bad RFC3339 time {text!r}") from None
    if dt.tzinfo is None:
        raise WireError(f"RFC3339 time without zone: {text!r}")
    return (int(dt.timestamp()) * NS_PER_S) + frac_ns


def event_ts_ns(obj: Json) -> int:
    """The best timestamp of a WS/REST object: ``ts_ms``, else ``created_time``/``time``, else ``ts``."""
    if _present(obj, "ts_ms"):
        return int(Decimal(_exact(obj["ts_ms"], "ts_ms")) * NS_PER_MS)
    for key in ("created_time", "time"):
        if _present(obj, key):
            return time_ns(obj[key])
    if _present(obj, "ts"):
        return time_ns(obj["ts"])
    return 0


def _s(obj: Json, key: str, default: str = "") -> str:
    v = obj.get(key)
    return default if v is None else str(v)


def book_side(obj: Json) -> str:
    """V2 book side (``bid`` = buy YES, ``ask`` = sell YES) of an order or fill, in either dialect."""
    for key in ("book_side",):
        if obj.get(key) in (m.BID, m.ASK):
            return str(obj[key])
    side, action = obj.get("side"), obj.get("action")
    if side in (m.BID, m.ASK):
        return str(side)
    if side in ("yes", "no"):
        buy = action in (None, "", "buy")
        return m.BID if (side == "yes") == buy else m.ASK
    outcome = obj.get("outcome_side") or obj.get("purchased_side")
    if outcome in ("yes", "no"):
        return m.BID if outcome == "yes" else m.ASK
    raise WireError(f"cannot tell the book side of {dict(obj)!r}")


def yes_price(obj: Json, name: str = "yes_price") -> int:
    """The YES price of an order/fill/trade: ``yes_price[_dollars]``, else 1 − ``no_price[_dollars]``."""
    p = price_field(obj, name, None)
    if p is not None:
        return p
    no = price_field(obj, "no_price", None)
    if no is not None:
        return ONE_DOLLAR - no
    p = price_field(obj, "price", None)
    if p is not None:
        return p
    raise WireError(f"no price in {dict(obj)!r}")


# --- REST objects -----------------------------------------------------------------------------

TickRange = tuple[int, int, int]
DEFAULT_TICKS: tuple[TickRange, ...] = ((0, ONE_DOLLAR, CENT),)

# Market.status (lifecycle) → the list filter vocabulary that MarketInfo uses.
STATUS_TO_FILTER = {
    "initialized": "unopened", "unopened": "unopened", "active": "open", "open": "open",
    "inactive": "paused", "paused": "paused", "closed": "closed", "determined": "closed",
    "disputed": "closed", "amended": "closed", "finalized": "settled", "settled": "settled",
}


def tick_ranges(obj: Json) -> tuple[TickRange, ...]:
    """``price_ranges`` → ((start, end, step), ...) in price units; a linear-cent grid when absent."""
    ranges = obj.get("price_ranges")
    if not ranges:
        structure = obj.get("price_level_structure")
        if structure == "deci_cent":
            return ((0, ONE_DOLLAR, CENT // 10),)
        return DEFAULT_TICKS
    return tuple(
        (dollars(r["start"], "price_ranges.start"), dollars(r["end"], "price_ranges.end"),
         dollars(r["step"], "price_ranges.step"))
        for r in ranges
    )


def series_of(event_ticker: str) -> str:
    """Series ticker from an event ticker (``KXDEMO-26DEC31`` → ``KXDEMO``)."""
    return event_ticker.split("-", 1)[0] if event_ticker else ""


@dataclass(frozen=True, slots=True)
class Market:
    ticker: str
    event_ticker: str = ""
    series: str = ""
    title: str = ""
    status: str = ""
    market_type: str = "binary"
    open_ts: int = 0
    close_ts: int = 0
    yes_bid: int = 0
    yes_ask: int = 0
    yes_bid_size: int = 0
    yes_ask_size: int = 0
    last_price: int = 0
    volume: int = 0
    volume_24h: int = 0
    open_interest: int = 0
    tick_ranges: tuple[TickRange, ...] = DEFAULT_TICKS
    price_level_structure: str = "linear_cent"
    result: str = ""
    can_close_early: bool = False
    settlement_value: int | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    def to_market_info(
        self, *, maker_fees: bool = False, mutually_exclusive: bool = False, ts_init: int = 0,
        fee_type: str = "", fee_multiplier_ppm: int = fees.PPM,
    ) -> m.MarketInfo:
        return m.MarketInfo(
            market=self.ticker, event=self.event_ticker, series=self.series,
            status=STATUS_TO_FILTER.get(self.status, self.status), close_ts=self.close_ts,
            volume_24h=self.volume_24h, open_interest=self.open_interest, yes_bid=self.yes_bid,
            yes_ask=self.yes_ask, last_price=self.last_price, tick_ranges=self.tick_ranges,
            maker_fees=maker_fees, mutually_exclusive=mutually_exclusive, result=self.result,
            ts_init=ts_init, fee_type=fee_type, fee_multiplier_ppm=fee_multiplier_ppm,
        )


@_reading
def parse_market(obj: Json) -> Market:
    event = _s(obj, "event_ticker")
    settle = price_field(obj, "settlement_value", None)
    return Market(
        ticker=_s(obj, "ticker"), event_ticker=event, series=_s(obj, "series_ticker") or series_of(event),
        title=_s(obj, "title"), status=_s(obj, "status"), market_type=_s(obj, "market_type", "binary"),
        open_ts=time_ns(obj.get("open_time")), close_ts=time_ns(obj.get("close_time") or obj.get("close_ts")),
        yes_bid=price_field(obj, "yes_bid") or 0, yes_ask=price_field(obj, "yes_ask") or 0,
        yes_bid_size=count_field(obj, "yes_bid_size") or 0, yes_ask_size=count_field(obj, "yes_ask_size") or 0,
        last_price=price_field(obj, "last_price") or 0, volume=count_field(obj, "volume") or 0,
        volume_24h=count_field(obj, "volume_24h") or 0, open_interest=count_field(obj, "open_interest") or 0,
        tick_ranges=tick_ranges(obj), price_level_structure=_s(obj, "price_level_structure", "linear_cent"),
        result=_s(obj, "result"), can_close_early=bool(obj.get("can_close_early", False)),
        settlement_value=settle, raw=obj,
    )


@dataclass(frozen=True, slots=True)
class Event:
    event_ticker: str
    series_ticker: str = ""
    title: str = ""
    mutually_exclusive: bool = False
    markets: tuple[Market, ...] = ()
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@_reading
def parse_event(obj: Json, markets: Iterable[Json] = ()) -> Event:
    nested = obj.get("markets") or list(markets)
    return Event(
        event_ticker=_s(obj, "event_ticker"), series_ticker=_s(obj, "series_ticker"), title=_s(obj, "title"),
        mutually_exclusive=bool(obj.get("mutually_exclusive", False)),
        markets=tuple(parse_market(x) for x in nested), raw=obj,
    )


MAKER_FEE_TYPES = ("quadratic_with_maker_fees", "quadratic_with_combo_maker_fees")


@dataclass(frozen=True, slots=True)
class Series:
    ticker: str
    title: str = ""
    category: str = ""
    frequency: str = ""
    fee_type: str = ""
    fee_multiplier: str = "1"
    fee_multiplier_ppm: int = fees.PPM  # fee_multiplier exactly, in parts per million
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def maker_fees(self) -> bool:
        return self.fee_type in MAKER_FEE_TYPES


@_reading
def parse_series(obj: Json) -> Series:
    """A Series; a ``fee_multiplier`` that is not a non-negative decimal with ≤ 6 places is a WireError."""
    mult = obj.get("fee_multiplier")
    try:
        ppm = fees.PPM if mult is None else fees.parse_multiplier_ppm(mult)
    except ValueError as exc:
        raise WireError(str(exc)) from None
    return Series(
        ticker=_s(obj, "ticker"), title=_s(obj, "title"), category=_s(obj, "category"),
        frequency=_s(obj, "frequency"), fee_type=_s(obj, "fee_type"),
        fee_multiplier=_s(obj, "fee_multiplier", "1"), fee_multiplier_ppm=ppm, raw=obj,
    )


@dataclass(frozen=True, slots=True)
class ExchangeStatus:
    exchange_active: bool
    trading_active: bool
    resume_ts: int = 0


@_reading
def parse_exchange_status(obj: Json) -> ExchangeStatus:
    return ExchangeStatus(
        exchange_active=bool(obj.get("exchange_active")), trading_active=bool(obj.get("trading_active")),
        resume_ts=time_ns(obj.get("exchange_estimated_resume_time")),
    )


@dataclass(frozen=True, slots=True)
class OrderBook:
    """One market's book: YES bids best-first; YES asks (= 1 − NO bids) best-first."""

    ticker: str
    bids: m.Levels = ()
    asks: m.Levels = ()

    def to_book_update(self, seq: int = 0, ts_event: int = 0, ts_init: int = 0) -> m.BookUpdate:
        return m.BookUpdate(market=self.ticker, seq=seq, bids=self.bids, asks=self.asks, snapshot=True,
                            ts_event=ts_event, ts_init=ts_init)


@_reading
def parse_levels(levels: Iterable[Any] | None, legacy_cents: bool = False) -> list[m.Level]:
    """``[[price, count], ...]`` in any dialect → [(price, count)] (order kept)."""
    out: list[m.Level] = []
    for lvl in levels or ():
        p, c = lvl[0], lvl[1]
        price = cents(p, "level price") if legacy_cents else dollars(p, "level price")
        out.append((price, count(c, "level count")))
    return out


def book_sides(obj: Json) -> tuple[list[m.Level], list[m.Level]]:
    """YES-bid and NO-bid levels from a REST ``orderbook[_fp]`` or WS snapshot ``msg``, any dialect."""
    for yes_key, no_key in (("yes_dollars_fp", "no_dollars_fp"), ("yes_dollars", "no_dollars")):
        if yes_key in obj or no_key in obj:
            return parse_levels(obj.get(yes_key)), parse_levels(obj.get(no_key))
    return parse_levels(obj.get("yes"), legacy_cents=True), parse_levels(obj.get("no"), legacy_cents=True)


def yes_book(ticker: str, yes_bids: Iterable[m.Level], no_bids: Iterable[m.Level]) -> OrderBook:
    bids = tuple(sorted(((p, c) for p, c in yes_bids if c > 0), key=lambda lv: -lv[0]))
    asks = tuple(sorted(((ONE_DOLLAR - p, c) for p, c in no_bids if c > 0), key=lambda lv: lv[0]))
    return OrderBook(ticker=ticker, bids=bids, asks=asks)


@_reading
def parse_orderbook(ticker: str, body: Json) -> OrderBook:
    """A ``GET /markets/{t}/orderbook`` body (or one ``orderbooks`` item) in any dialect."""
    inner = body.get("orderbook_fp") or body.get("orderbook") or {}
    yes, no = book_sides(inner)
    return yes_book(ticker or _s(body, "ticker"), yes, no)


@dataclass(frozen=True, slots=True)
class PublicTrade:
    trade_id: str
    ticker: str
    price: int
    count: int
    taker_side: str
    ts: int = 0
    is_block_trade: bool = False

    def to_trade(self, ts_init: int = 0) -> m.Trade:
        return m.Trade(market=self.ticker, trade_id=self.trade_id, price=self.price, count=self.count,
                       taker_side=self.taker_side, ts_event=self.ts, ts_init=ts_init)


@_reading
def parse_trade(obj: Json) -> PublicTrade:
    taker = obj.get("taker_outcome_side") or obj.get("taker_side")
    if taker not in ("yes", "no"):
        book = obj.get("taker_book_side")
        taker = "yes" if book == m.BID else "no" if book == m.ASK else ""
    return PublicTrade(
        trade_id=_s(obj, "trade_id"), ticker=_s(obj, "market_ticker") or _s(obj, "ticker"),
        price=yes_price(obj), count=count_field(obj, "count") or 0, taker_side=str(taker),
        ts=event_ts_ns(obj), is_block_trade=bool(obj.get("is_block_trade", False)),
    )


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    ticker: str
    side: str
    price: int
    status: str = ""
    client_order_id: str = ""
    initial_count: int = 0
    fill_count: int = 0
    remaining_count: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    taker_fill_cost: int = 0
    maker_fill_cost: int = 0
    created_ts: int = 0
    updated_ts: int = 0
    order_group_id: str = ""
    sending_ts_ms: int = 0  # WS user_order only: wall-clock ms the exchange sent the frame (0: absent)
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    def to_ack(self, intent_id: str = "", ts_init: int = 0) -> m.OrderAck:
        return m.OrderAck(client_order_id=self.client_order_id, order_id=self.order_id, market=self.ticker,
                          side=self.side, price=self.price, count=self.remaining_count, intent_id=intent_id,
                          ts_event=self.updated_ts or self.created_ts, ts_init=ts_init)


@_reading
def parse_order(obj: Json) -> Order:
    fill = count_field(obj, "fill_count") or 0
    remaining = count_field(obj, "remaining_count") or 0
    initial = count_field(obj, "initial_count", None)
    return Order(
        order_id=_s(obj, "order_id"), ticker=_s(obj, "ticker") or _s(obj, "market_ticker"),
        side=book_side(obj), price=yes_price(obj), status=_s(obj, "status"),
        client_order_id=_s(obj, "client_order_id"),
        initial_count=initial if initial is not None else fill + remaining, fill_count=fill,
        remaining_count=remaining, taker_fees=money_field(obj, "taker_fees"),
        maker_fees=money_field(obj, "maker_fees"), taker_fill_cost=money_field(obj, "taker_fill_cost"),
        maker_fill_cost=money_field(obj, "maker_fill_cost"),
        created_ts=time_ns(obj.get("created_time")) or _ms(obj.get("created_ts_ms")),
        updated_ts=time_ns(obj.get("last_update_time")) or _ms(obj.get("last_updated_ts_ms")),
        order_group_id=_s(obj, "order_group_id"), raw=obj,
    )


def _ms(value: Any) -> int:
    return 0 if value in (None, "") else int(Decimal(_exact(value, "ms")) * NS_PER_MS)


@dataclass(frozen=True, slots=True)
class WriteAck:
    """A V2 write acknowledgement (create, cancel, amend, decrease), or one batch item.

    ``error`` is set (and the rest mostly empty) for a batch item the exchange rejected.
    """

    order_id: str = ""
    client_order_id: str = ""
    fill_count: int = 0
    remaining_count: int = 0
    reduced_by: int = 0
    average_fill_price: int | None = None  # µ$ a contract: an average over fill prices, off the price grid
    average_fee_paid: int | None = None  # µ$ a contract
    ts: int = 0
    error: Exception | None = None


@_reading
def parse_write_ack(obj: Json) -> WriteAck:
    avg_price, avg_fee = obj.get("average_fill_price"), obj.get("average_fee_paid")
    return WriteAck(
        order_id=_s(obj, "order_id"), client_order_id=_s(obj, "client_order_id"),
        fill_count=count_field(obj, "fill_count") or 0, remaining_count=count_field(obj, "remaining_count") or 0,
        reduced_by=count_field(obj, "reduced_by") or 0,
        average_fill_price=None if avg_price in (None, "") else money(avg_price, "average_fill_price"),
        average_fee_paid=None if avg_fee in (None, "") else money(avg_fee, "average_fee_paid"),
        ts=_ms(obj.get("ts_ms")),
    )


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    order_id: str
    ticker: str
    side: str
    price: int
    count: int
    fee: int = 0
    is_taker: bool = False
    trade_id: str = ""
    client_order_id: str = ""
    outcome_side: str = ""
    action: str = ""
    post_position: int | None = None
    ts: int = 0
    exchange_index: int | None = None
    sending_ts_ms: int = 0  # WS fill only: wall-clock ms the exchange sent the frame (0: absent)

    def to_fill(self, ts_init: int = 0) -> m.Fill:
        return m.Fill(fill_id=self.fill_id or self.trade_id, order_id=self.order_id,
                      client_order_id=self.client_order_id, market=self.ticker, side=self.side,
                      price=self.price, count=self.count, fee=self.fee, is_taker=self.is_taker,
                      ts_event=self.ts, ts_init=ts_init)


@_reading
def parse_fill(obj: Json) -> Fill:
    side = book_side(obj)
    return Fill(
        fill_id=_s(obj, "fill_id"), order_id=_s(obj, "order_id"),
        ticker=_s(obj, "market_ticker") or _s(obj, "ticker"), side=side, price=yes_price(obj),
        count=count_field(obj, "count") or 0, fee=_fee(obj), is_taker=bool(obj.get("is_taker", False)),
        trade_id=_s(obj, "trade_id"), client_order_id=_s(obj, "client_order_id"),
        outcome_side=_s(obj, "outcome_side") or ("yes" if side == m.BID else "no"), action=_s(obj, "action"),
        post_position=count_field(obj, "post_position", None), ts=event_ts_ns(obj),
        exchange_index=None if obj.get("exchange_index") is None else int(obj["exchange_index"]),
    )


def _fee(obj: Json) -> int:
    v = obj.get("fee_cost")
    if v in (None, ""):
        return money_field(obj, "fee")
    return cents_to_money(v) if isinstance(v, int) and not isinstance(v, bool) else money(v, "fee_cost")


@dataclass(frozen=True, slots=True)
class Position:
    """Signed position (+YES / −NO count units) and money fields in µ$."""

    ticker: str
    position: int
    market_exposure: int = 0
    realized_pnl: int = 0
    fees_paid: int = 0
    total_traded: int = 0
    updated_ts: int = 0
    sending_ts_ms: int = 0  # WS market_position only: wall-clock ms the exchange sent the frame

    def to_report(self, ts_init: int = 0) -> m.PositionReport:
        return m.PositionReport(market=self.ticker, position=self.position, realized_pnl=self.realized_pnl,
                                fees_paid=self.fees_paid, ts_event=self.updated_ts, ts_init=ts_init)


@_reading
def parse_position(obj: Json) -> Position:
    exposure = money_field(obj, "market_exposure") or money_field(obj, "position_cost")
    return Position(
        ticker=_s(obj, "ticker") or _s(obj, "market_ticker"), position=count_field(obj, "position") or 0,
        market_exposure=exposure, realized_pnl=money_field(obj, "realized_pnl"),
        fees_paid=money_field(obj, "fees_paid"), total_traded=money_field(obj, "total_traded"),
        updated_ts=time_ns(obj.get("last_updated_ts")),
    )


@dataclass(frozen=True, slots=True)
class Balance:
    balance: int
    portfolio_value: int = 0
    updated_ts: int = 0

    def to_report(self, ts_init: int = 0) -> m.BalanceReport:
        return m.BalanceReport(balance=self.balance, portfolio_value=self.portfolio_value,
                               ts_event=self.updated_ts, ts_init=ts_init)


@_reading
def parse_balance(obj: Json) -> Balance:
    """``balance``/``portfolio_value`` are integer cents even today; ``balance_dollars`` wins when present."""
    return Balance(
        balance=money_field(obj, "balance"), portfolio_value=money_field(obj, "portfolio_value"),
        updated_ts=time_ns(obj.get("updated_ts")),
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    ticker: str
    market_result: str
    event_ticker: str = ""
    yes_count: int = 0
    no_count: int = 0
    yes_total_cost: int = 0
    no_total_cost: int = 0
    revenue: int = 0
    value: int | None = None
    fee_cost: int = 0
    settled_ts: int = 0


@_reading
def parse_settlement(obj: Json) -> Settlement:
    value = obj.get("value")
    return Settlement(
        ticker=_s(obj, "ticker"), market_result=_s(obj, "market_result"), event_ticker=_s(obj, "event_ticker"),
        yes_count=count_field(obj, "yes_count") or 0, no_count=count_field(obj, "no_count") or 0,
        yes_total_cost=money_field(obj, "yes_total_cost"), no_total_cost=money_field(obj, "no_total_cost"),
        revenue=money_field(obj, "revenue"), value=None if value in (None, "") else cents(value, "value"),
        fee_cost=_fee(obj), settled_ts=time_ns(obj.get("settled_time")),
    )


@dataclass(frozen=True, slots=True)
class Candle:
    end_ts: int
    open: int | None = None
    high: int | None = None
    low: int | None = None
    close: int | None = None
    yes_bid_close: int | None = None
    yes_ask_close: int | None = None
    volume: int = 0
    open_interest: int = 0


def _ohlc(obj: Json | None, name: str) -> int | None:
    if not obj:
        return None
    return price_field(obj, name, None)


@_reading
def parse_candle(obj: Json) -> Candle:
    price = obj.get("price") or {}
    return Candle(
        end_ts=time_ns(obj.get("end_period_ts")), open=_ohlc(price, "open"), high=_ohlc(price, "high"),
        low=_ohlc(price, "low"), close=_ohlc(price, "close"), yes_bid_close=_ohlc(obj.get("yes_bid"), "close"),
        yes_ask_close=_ohlc(obj.get("yes_ask"), "close"), volume=count_field(obj, "volume") or 0,
        open_interest=count_field(obj, "open_interest") or 0,
    )


@dataclass(frozen=True, slots=True)
class OrderGroup:
    order_group_id: str
    contracts_limit: int | None = None
    is_auto_cancel_enabled: bool | None = None
    order_ids: tuple[str, ...] = ()
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@_reading
def parse_order_group(obj: Json, order_group_id: str = "") -> OrderGroup:
    enabled = obj.get("is_auto_cancel_enabled")
    return OrderGroup(
        order_group_id=_s(obj, "order_group_id") or _s(obj, "id") or order_group_id,
        contracts_limit=count_field(obj, "contracts_limit", None),
        is_auto_cancel_enabled=None if enabled is None else bool(enabled),
        order_ids=tuple(str(x) for x in obj.get("orders") or ()), raw=obj,
    )


# --- WS payloads --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookDelta:
    ticker: str
    side: str  # "yes" (a YES bid level) or "no" (a NO bid level)
    price: int
    delta: int
    ts: int = 0
    client_order_id: str = ""


@_reading
def parse_book_delta(msg: Json) -> BookDelta:
    side = _s(msg, "side")
    if side not in ("yes", "no"):
        raise WireError(f"orderbook_delta side {side!r}")
    delta = count_field(msg, "delta", None)
    if delta is None:
        raise WireError("orderbook_delta without delta")
    return BookDelta(
        ticker=_s(msg, "market_ticker"), side=side, price=price_field(msg, "price") or 0, delta=delta,
        ts=event_ts_ns(msg), client_order_id=_s(msg, "client_order_id"),
    )


@dataclass(frozen=True, slots=True)
class Ticker:
    ticker: str
    price: int = 0
    yes_bid: int = 0
    yes_ask: int = 0
    yes_bid_size: int = 0
    yes_ask_size: int = 0
    volume: int = 0
    open_interest: int = 0
    ts: int = 0


@_reading
def parse_ticker(msg: Json) -> Ticker:
    return Ticker(
        ticker=_s(msg, "market_ticker"), price=price_field(msg, "price") or 0,
        yes_bid=price_field(msg, "yes_bid") or 0, yes_ask=price_field(msg, "yes_ask") or 0,
        yes_bid_size=count_field(msg, "yes_bid_size") or 0, yes_ask_size=count_field(msg, "yes_ask_size") or 0,
        volume=count_field(msg, "volume") or 0, open_interest=count_field(msg, "open_interest") or 0,
        ts=event_ts_ns(msg),
    )


@dataclass(frozen=True, slots=True)
class Lifecycle:
    ticker: str
    event_type: str
    result: str = ""
    ts: int = 0
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@_reading
def parse_lifecycle(msg: Json) -> Lifecycle:
    ts = msg.get("determination_ts") or msg.get("settled_ts") or msg.get("ts")
    return Lifecycle(ticker=_s(msg, "market_ticker") or _s(msg, "event_ticker"),
                     event_type=_s(msg, "event_type"), result=_s(msg, "result"),
                     ts=_ms(msg["ts_ms"]) if _present(msg, "ts_ms") else time_ns(ts), raw=msg)


@dataclass(frozen=True, slots=True)
class OrderGroupUpdate:
    """A WS ``order_group_updates`` message. ``event_type``: created, triggered, reset, deleted,
    limit_updated; ``contracts_limit`` in count units (None when absent); ``ts`` ns."""

    order_group_id: str
    event_type: str
    contracts_limit: int | None = None
    ts: int = 0
    sending_ts_ms: int = 0


@_reading
def parse_order_group_update(msg: Json) -> OrderGroupUpdate:
    event_type = _s(msg, "event_type")
    if not event_type or not _s(msg, "order_group_id"):
        raise WireError("order_group_updates without event_type or order_group_id")
    return OrderGroupUpdate(order_group_id=_s(msg, "order_group_id"), event_type=event_type,
                            contracts_limit=count_field(msg, "contracts_limit", None), ts=event_ts_ns(msg))


def sending_ts_ms(frame: Json) -> int:
    """The envelope's ``sending_ts_ms`` (wall-clock ms the exchange sent the frame), 0 when absent."""
    value = frame.get("sending_ts_ms")
    return 0 if value in (None, "") else int(_exact(value, "sending_ts_ms"))


# --- requests -----------------------------------------------------------------------------------


def price_str(price: int) -> str:
    return price_to_dollars(price)


def count_str(n: int) -> str:
    return count_to_fp(n)
