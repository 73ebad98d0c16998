"""The ``Exchange`` facade: matching engine + ledger of the Kalshi-compatible simulator (no I/O).

Everything is an int: prices in $0.0001, counts in 0.01 contract, money in µ$, times in ns from the
injected ``now_ns`` clock (deterministic). Users are plain strings. Errors are :class:`ExchangeError`
with Kalshi's HTTP status and error code. State changes are reported to listeners (see ``events``)
once the call that caused them has finished.

Balance model: ``Account.cash`` is the ledger balance; resting orders reserve (``locked``) what their
opening part would cost (plus maker fees), so ``available = cash − locked`` never goes negative. A
fill that the payer could not afford (possible only when netting assumptions changed since the order
was placed) cancels that order instead of overdrawing the account.

Shards: Kalshi runs several exchange shards (``exchange_index``). Each event and its markets live on
one shard (``markets.shard_for``). Orders carry their market's shard; the V2 cancel, batch-cancel and
decrease calls take the shard they were routed to (see :meth:`Exchange.route`) and answer
``not_found`` for an order that lives on another shard. ``None`` means unrouted (internal callers).

Around it: ``book`` (price levels), ``orders`` (order records, requests, acks), ``ledger`` (positions,
netting, fills, settlements), ``markets`` (registry, tick grid, lifecycle), ``groups`` (order groups),
``events`` (listener events), ``queries`` (read-only side), ``views`` (result shapes, pagination),
and ``kmm.kalshi.fees`` (fee formulas and rounding).
"""

from __future__ import annotations

import heapq
import logging
from bisect import bisect_left
from collections.abc import Callable, Sequence

from kmm.kalshi.fees import CENT_MONEY, TAKER_RATE, FillFee, maker_rate, order_fill_fee, trade_fee
from kmm.messages.units import NS_PER_S, ONE_DOLLAR

from . import errors as E
from .book import Book
from .errors import ExchangeError, bad_request, not_found
from .events import (
    EVENT_METHODS,
    BookDelta,
    FillEvent,
    Listener,
    MarketLifecycle,
    OrderGroupUpdate,
    OrderUpdate,
    PositionUpdate,
    SettlementEvent,
    TradePrint,
)
from .groups import ORDER_GROUP_WINDOW_NS, OrderGroup
from .ledger import Account, FillRecord, Position, Settlement, apply_trade, trade_cash
from .markets import (
    ACTIVE,
    CLOSED,
    DETERMINED,
    EV_ACTIVATED,
    EV_CLOSE_DATE_UPDATED,
    EV_CLOSED,
    EV_CREATED,
    EV_DEACTIVATED,
    EV_DETERMINED,
    EV_OPENED,
    EV_SETTLED,
    FEE_TYPES,
    FINALIZED,
    INACTIVE,
    INITIALIZED,
    LINEAR_CENT,
    PRICE_LEVEL_STRUCTURES,
    RESULTS,
    YES,
    Event,
    Market,
    PriceRange,
    Series,
    shard_for,
)
from .orders import (
    ASK,
    BID,
    CANCELED,
    EXECUTED,
    FOK,
    GTC,
    IOC,
    POST_ONLY_CANCEL,
    POST_ONLY_CROSS_MODES,
    POST_ONLY_REJECT,
    R_AMENDED,
    R_CANCELED,
    R_DECREASED,
    R_EXPIRED,
    R_FILLED,
    R_FOK_UNFILLED,
    R_INSUFFICIENT,
    R_IOC_REMAINDER,
    R_MARKET_CLOSED,
    R_ORDER_GROUP,
    R_PAUSED,
    R_POST_ONLY_CROSS,
    R_REACTIVATED,
    R_REDUCE_ONLY,
    R_SELF_TRADE,
    RESTING,
    STP_MODES,
    STP_TAKER_AT_CROSS,
    TIMES_IN_FORCE,
    AmendOrder,
    CancelAck,
    CreateOrder,
    Order,
    OrderAck,
)
from .queries import ExchangeQueries
from .state import MarketState
from .views import BalanceView, BookLevels, EventPosition, MarketStats, Page

__all__ = [
    "AmendOrder", "Account", "BalanceView", "BookDelta", "BookLevels", "CancelAck", "CreateOrder", "EventPosition",
    "Exchange", "ExchangeError", "FillEvent", "FillRecord", "Listener", "Market", "MarketLifecycle",
    "MarketStats", "ORDER_GROUP_WINDOW_NS", "Order", "OrderAck", "OrderGroup", "OrderGroupUpdate", "OrderUpdate", "Page",
    "Position", "PositionUpdate", "Settlement", "SettlementEvent", "TradePrint",
]

_TRADED, _TAKER_BROKE, _MAKER_GONE = 0, 1, 2
TRADE_PRUNE_EVERY_NS = 60 * NS_PER_S  # how often (virtual time) trades past the history window are dropped
log = logging.getLogger(__name__)
_STRUCTURE_NAMES = {ranges: name for name, ranges in PRICE_LEVEL_STRUCTURES.items()}


def _trade_ts(t: TradePrint) -> int:
    return t.ts_ns


class Exchange(ExchangeQueries):
    """One simulated exchange: markets, books, accounts. Single-threaded; call from one thread/loop."""

    def __init__(
        self, now_ns: Callable[[], int], *, balance_step: int = CENT_MONEY, id_prefix: int = 0, shards: int = 1,
        post_only_cross: str = POST_ONLY_CANCEL, trade_history_ns: int | None = None,
    ) -> None:
        """``balance_step`` is the balance precision in µ$ ($0.01 for normal members, §9);
        ``id_prefix`` seeds the deterministic UUID-shaped ids; ``shards`` is the number of exchange
        indexes markets are spread over; ``post_only_cross`` is what a post-only create or amend that
        would cross gets: ``cancel`` (acknowledged, then cancelled with last_update_reason
        ``post_only_cross_cancel``) or ``reject`` (400 ``post_only_rejected``, an amended order unchanged);
        ``trade_history_ns``: how long public trades stay in ``GET /markets/trades`` (None: for ever; a
        long-running simulator keeps its memory flat with a window, see :meth:`_forget_old_trades`)."""
        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        if post_only_cross not in POST_ONLY_CROSS_MODES:
            modes = ", ".join(POST_ONLY_CROSS_MODES)
            raise ValueError(f"post_only_cross must be one of {modes}, not {post_only_cross!r}")
        if trade_history_ns is not None and trade_history_ns <= 0:
            raise ValueError(f"trade_history_ns must be positive (or None: keep every trade), not {trade_history_ns}")
        self._trade_history_ns = trade_history_ns
        self._next_trade_prune_ns = 0
        self._shards = shards
        self._post_only_cross = post_only_cross
        self._now = now_ns
        self._balance_step = balance_step
        self._id_prefix = id_prefix & 0xFFFF_FFFF
        self._ids = 0
        self._seq = 0
        self._trading_active = True
        self._series: dict[str, Series] = {}
        self._events: dict[str, Event] = {}
        self._markets: dict[str, MarketState] = {}
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, Order] = {}
        self._user_orders: dict[str, dict[str, Order]] = {}
        self._open: dict[str, dict[str, Order]] = {}
        self._coids: dict[tuple[str, str], str] = {}
        self._groups: dict[str, OrderGroup] = {}
        self._expiries: list[tuple[int, int, str]] = []
        self._schedule: list[tuple[int, int, str, str]] = []
        self._trades: list[TradePrint] = []
        self._trade_total = 0
        self._fees = 0
        self._deposits = 0
        self._out: list[object] = []
        self._listeners: list[object] = []
        self._handlers: dict[type, list[Callable[[object], None]]] = {t: [] for t in EVENT_METHODS}
        self._depth = 0

    # ---- plumbing -------------------------------------------------------------------------------
    def _next_id(self) -> str:
        """A deterministic UUID-shaped id (version nibble 4, variant 8)."""
        self._ids += 1
        return f"{self._id_prefix:08x}-0000-4000-8000-{self._ids:012x}"

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _enter(self) -> int:
        """Start a public call: apply what time made due (outermost call only). Pair with _exit."""
        now = self._now()
        self._depth += 1
        if self._depth == 1:
            try:
                self._process_time(now)
            except BaseException:
                self._depth -= 1
                raise
        return now

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._out:
            out, self._out = self._out, []
            handlers = self._handlers
            for ev in out:
                for fn in handlers[type(ev)]:
                    try:
                        fn(ev)
                    except Exception:
                        log.exception("exchange listener %r failed on %s", fn, type(ev).__name__)

    def _emit(self, ev: object) -> None:
        if self._listeners:
            self._out.append(ev)

    def _emit_order(self, user: str, kind: str, o: Order, now: int) -> None:
        if self._listeners:
            self._out.append(OrderUpdate(user, kind, o.snapshot(), now))

    # ---- listeners ------------------------------------------------------------------------------
    def add_listener(self, listener: object) -> None:
        """Register an object with some ``on_*`` methods of :class:`events.Listener`."""
        self._listeners.append(listener)
        self._rebuild_handlers()

    def remove_listener(self, listener: object) -> None:
        self._listeners.remove(listener)
        self._rebuild_handlers()

    def _rebuild_handlers(self) -> None:
        for typ, name in EVENT_METHODS.items():
            self._handlers[typ] = [
                fn for fn in (getattr(lst, name, None) for lst in self._listeners) if callable(fn)
            ]

    # ---- registry -------------------------------------------------------------------------------
    def add_series(self, series: Series) -> None:
        if series.fee_type not in FEE_TYPES:
            raise bad_request(E.INVALID_PARAMETERS, f"unknown fee_type {series.fee_type}")
        self._series[series.ticker] = series

    def add_event(self, event: Event) -> None:
        """The series must exist. The event (and its markets) get their shard here."""
        if event.series_ticker not in self._series:
            raise not_found(f"series {event.series_ticker} not found")
        event.exchange_index = shard_for(event.event_ticker, self._shards)
        self._events[event.event_ticker] = event

    def add_market(self, market: Market) -> Market:
        """Register a market (its event must exist). A market whose ``open_ns`` has passed and whose
        status is ``initialized`` opens at once; it closes by itself at ``close_ns`` (if > 0)."""
        now = self._enter()
        try:
            ev = self._events.get(market.event_ticker)
            if ev is None:
                raise not_found(f"event {market.event_ticker} not found")
            if market.ticker in self._markets:
                raise ExchangeError(E.CONFLICT, E.INVALID_PARAMETERS, f"market {market.ticker} exists")
            market.series_ticker = ev.series_ticker
            market.exchange_index = ev.exchange_index
            market.created_ns = market.created_ns or now
            market.updated_ns = now
            series = self._series[ev.series_ticker]
            self._markets[market.ticker] = MarketState(market, maker_rate(series.fee_type))
            ev.market_tickers.append(market.ticker)
            self._emit(MarketLifecycle(market.ticker, EV_CREATED, market.status, now, close_ns=market.close_ns))
            if market.status == INITIALIZED and market.open_ns <= now:
                self._set_status(market, ACTIVE, EV_OPENED, now)
            elif market.status == INITIALIZED:
                heapq.heappush(self._schedule, (market.open_ns, self._next_seq(), "open", market.ticker))
            if market.close_ns:
                heapq.heappush(self._schedule, (market.close_ns, self._next_seq(), "close", market.ticker))
            return market
        finally:
            self._exit()

    def create_market(
        self,
        ticker: str,
        event_ticker: str,
        *,
        series_ticker: str | None = None,
        title: str = "",
        open_ns: int = 0,
        close_ns: int = 0,
        price_ranges: tuple[PriceRange, ...] | None = None,
        fee_type: str = "quadratic",
        mutually_exclusive: bool = False,
    ) -> Market:
        """Convenience: create series/event on the fly (series ticker defaults to the part of the
        event ticker before the first '-') and an ``active`` market unless ``open_ns`` is future."""
        series_ticker = series_ticker or event_ticker.split("-", 1)[0]
        if series_ticker not in self._series:
            self.add_series(Series(series_ticker, fee_type=fee_type))
        if event_ticker not in self._events:
            self.add_event(Event(event_ticker, series_ticker, mutually_exclusive=mutually_exclusive))
        ranges = price_ranges or LINEAR_CENT
        structure = _STRUCTURE_NAMES.get(ranges, "custom")
        return self.add_market(Market(
            ticker, event_ticker, series_ticker, title=title, open_ns=open_ns, close_ns=close_ns,
            price_ranges=ranges, price_level_structure=structure,
        ))

    # ---- shards ---------------------------------------------------------------------------------
    @property
    def shards(self) -> int:
        return self._shards

    @property
    def post_only_cross(self) -> str:
        """``cancel`` or ``reject``: what a post-only order that would cross gets."""
        return self._post_only_cross

    def route(self, market_ticker: str | None = None, exchange_index: int | None = None) -> int:
        """The exchange index a V2 cancel / batch-cancel item / decrease goes to, as Kalshi's SDK
        documents it: an explicit index ≥ 0 wins; omitted (or −1) with a ``market_ticker`` routes to
        that market's shard; with neither it goes to index 0. −1 without a ticker is 400."""
        if exchange_index is not None and exchange_index != -1:
            if not 0 <= exchange_index < self._shards:
                raise bad_request(E.INVALID_PARAMETERS,
                                  f"exchange_index {exchange_index} is not one of 0..{self._shards - 1}")
            return exchange_index
        if market_ticker:
            return self._state(market_ticker).market.exchange_index
        if exchange_index == -1:
            raise bad_request(E.INVALID_PARAMETERS, "exchange_index -1 (auto-route) needs market_ticker")
        return 0

    def _on_shard(self, o: Order, exchange_index: int | None) -> Order:
        """``o`` if it lives on ``exchange_index`` (None: any); else 404 as that shard would say."""
        if exchange_index is not None and o.exchange_index != exchange_index:
            raise not_found(f"order {o.order_id} not found on exchange index {exchange_index}")
        return o

    # ---- exchange / market lifecycle -------------------------------------------------------------
    @property
    def trading_active(self) -> bool:
        return self._trading_active

    def set_trading_active(self, active: bool) -> None:
        """Pause/resume the whole exchange; pausing cancels orders with ``cancel_order_on_pause``."""
        now = self._enter()
        try:
            self._trading_active = active
            if not active:
                doomed = [o for opens in self._open.values() for o in opens.values() if o.cancel_order_on_pause]
                for o in doomed:
                    self._cancel(o, R_PAUSED, now)
        finally:
            self._exit()

    def _set_status(self, market: Market, status: str, event_type: str, now: int) -> None:
        market.status = status
        market.updated_ns = now
        self._emit(MarketLifecycle(market.ticker, event_type, status, now, result=market.result,
                                   close_ns=market.close_ns))

    def open_market(self, ticker: str) -> None:
        """initialized/inactive → active (``activated``). Reactivating a paused market cancels its
        resting orders, as Kalshi does."""
        now = self._enter()
        try:
            st = self._state(ticker)
            m = st.market
            if m.status not in (INITIALIZED, INACTIVE):
                raise bad_request(E.INVALID_PARAMETERS, f"market {ticker} is {m.status}")
            if m.status == INACTIVE:
                self._cancel_resting(st, R_REACTIVATED, now)
            self._set_status(m, ACTIVE, EV_ACTIVATED, now)
        finally:
            self._exit()

    def pause_market(self, ticker: str) -> None:
        """active → inactive (orders stay, trading rejected)."""
        now = self._enter()
        try:
            m = self._state(ticker).market
            if m.status != ACTIVE:
                raise bad_request(E.INVALID_PARAMETERS, f"market {ticker} is {m.status}")
            self._set_status(m, INACTIVE, EV_DEACTIVATED, now)
        finally:
            self._exit()

    def close_market(self, ticker: str) -> None:
        """→ closed; cancels every resting order."""
        now = self._enter()
        try:
            self._close(self._state(ticker), now)
        finally:
            self._exit()

    def _close(self, st: MarketState, now: int) -> None:
        """→ closed, its resting orders cancelled. Closing before ``close_time`` moves the close time
        to now, which Kalshi announces (``close_date_updated``); the close itself has no event."""
        m = st.market
        if m.status not in (INITIALIZED, INACTIVE, ACTIVE):
            return
        self._cancel_resting(st, R_MARKET_CLOSED, now)
        if not m.close_ns or now < m.close_ns:
            m.close_ns = now
            self._emit(MarketLifecycle(m.ticker, EV_CLOSE_DATE_UPDATED, m.status, now, close_ns=now))
        self._set_status(m, CLOSED, EV_CLOSED, now)

    def _cancel_resting(self, st: MarketState, reason: str, now: int) -> None:
        book = st.book
        doomed = [o for side in (book.bids, book.asks) for lv in side.levels.values() for o in lv.orders.values()]
        for o in doomed:
            self._cancel(o, reason, now)

    def set_close_time(self, ticker: str, close_ns: int) -> None:
        """``close_date_updated``; a closed, undetermined market whose close moves into the future
        reopens (then ``activated``), and one whose close moves into the past closes."""
        now = self._enter()
        try:
            m = self._state(ticker).market
            m.close_ns = close_ns
            m.updated_ns = now
            heapq.heappush(self._schedule, (close_ns, self._next_seq(), "close", ticker))
            self._emit(MarketLifecycle(ticker, EV_CLOSE_DATE_UPDATED, m.status, now, close_ns=close_ns))
            if m.status == CLOSED and close_ns > now:
                self._set_status(m, ACTIVE, EV_ACTIVATED, now)
        finally:
            self._exit()

    def determine_market(self, ticker: str, result: str) -> None:
        """closed → determined with result ``yes``/``no`` (closes first if needed). With a
        ``settlement_timer_seconds`` > 0 the market settles by itself that long after."""
        now = self._enter()
        try:
            self._determine(self._state(ticker), result, now)
        finally:
            self._exit()

    def _determine(self, st: MarketState, result: str, now: int) -> None:
        m = st.market
        if result not in RESULTS:
            raise bad_request(E.INVALID_PARAMETERS, f"result must be yes or no, not {result!r}")
        if m.status in (DETERMINED, FINALIZED):
            raise bad_request(E.INVALID_PARAMETERS, f"market {m.ticker} is already {m.status}")
        ev = self._events[m.event_ticker]
        if ev.mutually_exclusive and result == YES:
            for t in ev.market_tickers:
                other = self._markets[t].market
                if t != m.ticker and other.result == YES:
                    raise bad_request(E.INVALID_PARAMETERS, f"event {ev.event_ticker} already has yes: {t}")
        self._close(st, now)
        m.result = result
        m.determination_ns = now
        self._set_status(m, DETERMINED, EV_DETERMINED, now)
        if m.settlement_timer_seconds > 0:
            when = now + m.settlement_timer_seconds * NS_PER_S
            heapq.heappush(self._schedule, (when, self._next_seq(), "settle", m.ticker))

    def settle_market(self, ticker: str, result: str | None = None) -> list[Settlement]:
        """Pay $1 per winning contract, zero positions, write Settlement rows, status finalized.
        With ``result`` it closes and determines first as needed."""
        now = self._enter()
        try:
            st = self._state(ticker)
            m = st.market
            if m.status == FINALIZED:
                raise bad_request(E.INVALID_PARAMETERS, f"market {ticker} is already settled")
            if m.status != DETERMINED:
                if result is None:
                    raise bad_request(E.INVALID_PARAMETERS, f"market {ticker} has no result")
                self._determine(st, result, now)
            elif result is not None and result != m.result:
                raise bad_request(E.INVALID_PARAMETERS, f"market {ticker} was determined {m.result}")
            return self._settle(st, now)
        finally:
            self._exit()

    def _settle(self, st: MarketState, now: int) -> list[Settlement]:
        m = st.market
        ticker = m.ticker
        out: list[Settlement] = []
        for user in st.holders:
            acct = self._accounts[user]
            pos = acct.positions[ticker]
            if pos.settled:
                continue
            q = pos.position
            wins = (q > 0) == (m.result == YES)
            revenue = ONE_DOLLAR * abs(q) if q and wins else 0
            if q:
                s = Settlement(
                    user=user, ticker=ticker, event_ticker=m.event_ticker, market_result=m.result,
                    yes_count=max(q, 0), yes_total_cost=pos.cost if q > 0 else 0,
                    no_count=max(-q, 0), no_total_cost=pos.cost if q < 0 else 0,
                    revenue=revenue, fee_cost=pos.fees_paid, settled_ns=now, seq=self._next_seq(),
                    exchange_index=m.exchange_index,
                )
                acct.cash += revenue
                acct.updated_ns = now
                acct.settlements.append(s)
                out.append(s)
                pos.realized_pnl += revenue - pos.cost
                pos.cost = 0
                pos.position = 0
                self._emit(SettlementEvent(user, s))
            pos.settled = True
            pos.last_updated_ns = now
            if self._listeners:
                self._emit(PositionUpdate(user, pos.snapshot(), now))
        st.open_interest = 0
        m.settlement_ns = now
        self._set_status(m, FINALIZED, EV_SETTLED, now)
        return out

    def tick(self) -> None:
        """Apply time-driven changes due at ``now_ns()``: order expirations, scheduled market
        open/close. Every mutating call does this first too."""
        self._enter()
        self._exit()

    def _process_time(self, now: int) -> None:
        sched = self._schedule
        while sched and sched[0][0] <= now:
            when, _, kind, ticker = heapq.heappop(sched)
            m = self._markets[ticker].market
            if kind == "open" and m.status == INITIALIZED and m.open_ns == when:
                self._set_status(m, ACTIVE, EV_OPENED, now)
            elif kind == "close" and m.close_ns == when:
                self._close(self._markets[ticker], now)
            elif kind == "settle" and m.status == DETERMINED:
                self._settle(self._markets[ticker], now)
        exp = self._expiries
        while exp and exp[0][0] <= now:
            when, _, oid = heapq.heappop(exp)
            o = self._orders.get(oid)
            if o is not None and o.status == RESTING and o.expiration_ns == when:
                self._cancel(o, R_EXPIRED, now)
        if self._trade_history_ns is not None and now >= self._next_trade_prune_ns:
            self._forget_old_trades(now - self._trade_history_ns)
            self._next_trade_prune_ns = now + TRADE_PRUNE_EVERY_NS

    def _forget_old_trades(self, before_ns: int) -> None:
        """Drop the public trades older than ``before_ns`` (the lists are in time order). Only the public
        print goes: fills, positions, volumes and the accounts' records keep everything."""
        key = _trade_ts
        if self._trades and self._trades[0].ts_ns < before_ns:
            del self._trades[:bisect_left(self._trades, before_ns, key=key)]
        for st in self._markets.values():
            if st.trades and st.trades[0].ts_ns < before_ns:
                del st.trades[:bisect_left(st.trades, before_ns, key=key)]

    # ---- accounts -------------------------------------------------------------------------------
    def open_account(self, user: str, balance: int = 0, *, keep_history: bool = True) -> Account:
        """Create (or top up) an account with ``balance`` µ$ of cash. Without ``keep_history`` the
        engine forgets the user's orders once they close and keeps no fills (for synthetic flow:
        bounded memory; ``get_order`` of a closed order is then 404)."""
        acct = self._accounts.get(user)
        if acct is None:
            acct = Account(user, updated_ns=self._now(), keep_history=keep_history)
            self._accounts[user] = acct
            self._user_orders[user] = {}
            self._open[user] = {}
        if balance:
            self.deposit(user, balance)
        return acct

    def deposit(self, user: str, amount: int) -> None:
        """Add ``amount`` µ$ of cash (negative: withdraw, at most the available balance)."""
        acct = self._account(user)
        if acct.cash + amount < acct.locked:
            raise bad_request(E.INSUFFICIENT_BALANCE, "withdrawal exceeds available balance")
        acct.cash += amount
        acct.deposits += amount
        acct.updated_ns = self._now()
        self._deposits += amount

    # ---- orders: validation & reservation ---------------------------------------------------------
    def _check_tradable(self, st: MarketState) -> None:
        if not self._trading_active:
            raise bad_request(E.TRADING_PAUSED, "trading is paused on the exchange")
        st.market.check_trading()

    def _cost_estimate(self, acct: Account, ticker: str, side: str, price: int, count: int, as_maker: bool,
                       mrate: tuple[int, int]) -> int:
        """Cash an order of ``count`` may need: the opening part (what does not net against the current
        position) at its own price, plus the maker or taker fee."""
        pos = acct.positions.get(ticker)
        q = pos.position if pos else 0
        if side == BID:
            opening = count - min(count, -q) if q < 0 else count
            unit = price
        else:
            opening = count - min(count, q) if q > 0 else count
            unit = ONE_DOLLAR - price
        fee = trade_fee(mrate if as_maker else TAKER_RATE, price, count)
        return unit * opening + fee

    def _reserve(self, o: Order, acct: Account, st: MarketState) -> None:
        """(Re)compute a resting order's reservation, never beyond what the account has free."""
        acct.locked -= o.reserved
        need = self._cost_estimate(acct, o.ticker, o.side, o.price, o.remaining, True, st.maker_rate)
        o.reserved = max(0, min(need, acct.cash - acct.locked))
        acct.locked += o.reserved

    def _release(self, o: Order) -> None:
        if o.reserved:
            self._accounts[o.user].locked -= o.reserved
            o.reserved = 0

    # ---- orders: create -------------------------------------------------------------------------
    def create_order(self, user: str, req: CreateOrder) -> OrderAck:
        """Validate, match (price-time priority, at resting prices), rest the GTC remainder.

        Errors (400 unless said): ``invalid_parameters`` (count ≤ 0, bad side/tif/stp, reduce_only
        without IOC, expiration with IOC/FOK, expiration in the past), ``invalid_price`` (off-grid),
        ``market_closed``, ``trading_paused``, ``post_only_rejected`` (only in ``reject`` mode),
        ``insufficient_balance``, ``order_group_triggered``, 404 ``not_found`` (market / order group /
        account), 409 ``duplicate_client_order_id`` (among the user's open orders).
        An IOC/FOK that cannot (fully) fill is not an error: it acks with status ``canceled``; nor, in
        ``cancel`` mode, is a post-only that would cross (status ``canceled``, reason
        ``post_only_cross_cancel``, nothing filled)."""
        now = self._enter()
        try:
            return self._create(user, req, now)
        finally:
            self._exit()

    def _create(self, user: str, req: CreateOrder, now: int) -> OrderAck:
        acct = self._account(user)
        st = self._state(req.ticker)
        if req.side not in (BID, ASK):
            raise bad_request(E.INVALID_PARAMETERS, f"side must be bid or ask, not {req.side!r}")
        if req.time_in_force not in TIMES_IN_FORCE:
            raise bad_request(E.INVALID_PARAMETERS, f"bad time_in_force {req.time_in_force!r}")
        if req.self_trade_prevention not in STP_MODES:
            raise bad_request(E.INVALID_PARAMETERS, f"bad self_trade_prevention_type {req.self_trade_prevention!r}")
        if req.count <= 0:
            raise bad_request(E.INVALID_PARAMETERS, "count must be positive")
        if req.reduce_only and req.time_in_force != IOC:
            raise bad_request(E.INVALID_PARAMETERS, "reduce_only orders must be immediate_or_cancel")
        if req.expiration_ns:
            if req.time_in_force != GTC:
                raise bad_request(E.INVALID_PARAMETERS, "expiration_time is only valid with good_till_canceled")
            if req.expiration_ns <= now:
                raise bad_request(E.INVALID_PARAMETERS, "expiration_time is in the past")
        if req.post_only and req.time_in_force != GTC:
            raise bad_request(E.INVALID_PARAMETERS, "post_only orders must be good_till_canceled")
        if req.exchange_index is not None and req.exchange_index not in (-1, st.market.exchange_index):
            raise not_found(f"market {req.ticker} not found on exchange index {req.exchange_index}")
        st.market.check_price(req.price)
        self._check_tradable(st)
        group = None
        if req.order_group_id is not None:
            group = self._groups.get(req.order_group_id)
            if group is None or group.user != user:
                raise not_found(f"order group {req.order_group_id} not found")
            if group.triggered:
                raise bad_request(E.ORDER_GROUP_TRIGGERED, f"order group {group.order_group_id} is triggered")
        if req.client_order_id is not None and (user, req.client_order_id) in self._coids:
            raise ExchangeError(E.CONFLICT, E.DUPLICATE_CLIENT_ORDER_ID,
                                f"client_order_id {req.client_order_id} is already used by an open order")
        crosses = req.post_only and _would_cross(st.book, req.side, req.price)
        if crosses and self._post_only_cross == POST_ONLY_REJECT:
            raise bad_request(E.POST_ONLY_REJECTED, "post-only order would cross the book")
        count = req.count
        if req.reduce_only:
            pos = acct.positions.get(req.ticker)
            q = pos.position if pos else 0
            cap = max(0, -q) if req.side == BID else max(0, q)
            count = min(count, cap)
        if count > 0:
            need = self._cost_estimate(acct, req.ticker, req.side, req.price, count, req.post_only, st.maker_rate)
            if need > acct.cash - acct.locked:
                raise bad_request(E.INSUFFICIENT_BALANCE, f"order needs {need} µ$, {acct.cash - acct.locked} available")

        seq = self._next_seq()
        o = Order(
            order_id=self._next_id(), user=user, ticker=req.ticker, event_ticker=st.market.event_ticker,
            side=req.side, price=req.price, initial_count=req.count, time_in_force=req.time_in_force,
            self_trade_prevention=req.self_trade_prevention, client_order_id=req.client_order_id,
            post_only=req.post_only, reduce_only=req.reduce_only,
            expiration_ns=req.expiration_ns or None, order_group_id=req.order_group_id,
            cancel_order_on_pause=req.cancel_order_on_pause, created_ns=now, created_seq=seq, seq=seq,
            remaining=count, last_update_ns=now, exchange_index=st.market.exchange_index,
        )
        self._orders[o.order_id] = o
        self._user_orders[user][o.order_id] = o
        if count == 0:
            return self._finish_unrested(o, R_REDUCE_ONLY, now)
        if crosses:
            return self._finish_unrested(o, R_POST_ONLY_CROSS, now)
        if req.time_in_force == FOK and self._fillable(o, st) < count:
            return self._finish_unrested(o, R_FOK_UNFILLED, now)
        self._open[user][o.order_id] = o
        if o.client_order_id is not None:
            self._coids[(user, o.client_order_id)] = o.order_id
        if group is not None:
            group.order_ids[o.order_id] = None
        filled, cost, fees, stop = self._match(o, st, acct, now)
        if o.remaining == 0:
            self._close_order(o, EXECUTED, R_FILLED, now)
        elif stop is not None or o.time_in_force != GTC:
            self._close_order(o, CANCELED, stop or R_IOC_REMAINDER, now)
        else:
            self._rest(o, st, acct, now)
        kind = "created" if o.status == RESTING else o.status
        self._emit_order(user, kind, o, now)
        return OrderAck(o.order_id, o.client_order_id, o.status, filled, o.remaining, cost, fees, now)

    def _finish_unrested(self, o: Order, reason: str, now: int) -> OrderAck:
        """An order that never reached the book and filled nothing (FOK short, reduce-only flat,
        post-only that would cross)."""
        o.remaining = 0
        o.status = CANCELED
        o.last_update_reason = reason
        if not self._accounts[o.user].keep_history:
            self._forget(o)
        self._emit_order(o.user, CANCELED, o, now)
        return OrderAck(o.order_id, o.client_order_id, CANCELED, 0, 0, 0, 0, now)

    def _fillable(self, o: Order, st: MarketState) -> int:
        """Contracts an incoming order could match right now (for FOK), honouring STP."""
        book = st.book
        need = o.remaining
        got = 0
        if o.side == BID:
            side, prices, ok = book.asks, book.asks.prices, (lambda p: p <= o.price)
        else:
            side, prices, ok = book.bids, reversed(book.bids.prices), (lambda p: p >= o.price)
        for p in prices:
            if not ok(p):
                break
            for m in side.levels[p].orders.values():
                if m.user == o.user:
                    if o.self_trade_prevention == STP_TAKER_AT_CROSS:
                        return got
                    continue
                got += m.remaining
                if got >= need:
                    return got
        return got

    def _rest(self, o: Order, st: MarketState, acct: Account, now: int) -> None:
        st.book.add(o)
        self._reserve(o, acct, st)
        if o.expiration_ns:
            heapq.heappush(self._expiries, (o.expiration_ns, o.seq, o.order_id))
        self._emit_level(st, o, o.remaining, now)

    def _emit_level(self, st: MarketState, o: Order, delta: int, now: int) -> None:
        if self._listeners and delta:
            if o.side == BID:
                ev = BookDelta(st.market.ticker, "yes", o.price, delta, now, self._next_seq(), o.user, o.client_order_id)
            else:
                ev = BookDelta(st.market.ticker, "no", ONE_DOLLAR - o.price, delta, now, self._next_seq(),
                               o.user, o.client_order_id)
            self._out.append(ev)

    # ---- matching -------------------------------------------------------------------------------
    def _match(self, o: Order, st: MarketState, acct: Account, now: int) -> tuple[int, int, int, str | None]:
        """Match an incoming order against the book. Returns (filled, Σ price×count, fees, stop reason)."""
        book = st.book
        buy = o.side == BID
        opposite = book.asks if buy else book.bids
        prices = opposite.prices
        levels = opposite.levels
        limit = o.price
        filled = cost = fees = 0
        group = self._groups.get(o.order_group_id) if o.order_group_id else None
        while o.remaining > 0 and prices:
            best = prices[0] if buy else prices[-1]
            if (best > limit) if buy else (best < limit):
                break
            maker = next(iter(levels[best].orders.values()))
            if maker.user == o.user:
                if o.self_trade_prevention == STP_TAKER_AT_CROSS:
                    return filled, cost, fees, R_SELF_TRADE
                self._cancel(maker, R_SELF_TRADE, now)
                continue
            qty = o.remaining if o.remaining < maker.remaining else maker.remaining
            outcome, fee = self._execute(st, o, acct, maker, best, qty, now)
            if outcome == _TAKER_BROKE:
                return filled, cost, fees, R_INSUFFICIENT
            if outcome == _MAKER_GONE:
                continue
            filled += qty
            cost += best * qty
            fees += fee
            if group is not None and group.triggered:
                return filled, cost, fees, R_ORDER_GROUP
        return filled, cost, fees, None

    def _execute(self, st: MarketState, taker: Order, tacct: Account, maker: Order, price: int, qty: int,
                 now: int) -> tuple[int, int]:
        """One trade between ``taker`` (incoming) and ``maker`` (resting, front of its level).
        Returns (outcome, taker's net fee); on _TAKER_BROKE nothing happened, on _MAKER_GONE the maker
        could not pay and was canceled."""
        ticker = st.market.ticker
        tbuy = taker.side == BID
        macct = self._accounts[maker.user]
        tpos = tacct.positions.get(ticker)
        mpos = macct.positions.get(ticker)
        tq = tpos.position if tpos else 0
        mq = mpos.position if mpos else 0
        step = self._balance_step
        t_rev = trade_cash(tq, tbuy, price, qty)[2]
        t_fee = order_fill_fee(TAKER_RATE, price, qty, t_rev, taker.fee_accumulator, step)
        if tacct.cash + t_fee.balance_delta < tacct.locked:
            return _TAKER_BROKE, 0
        m_rev = trade_cash(mq, not tbuy, price, qty)[2]
        m_fee = order_fill_fee(st.maker_rate, price, qty, m_rev, maker.fee_accumulator, step)
        if macct.cash + m_fee.balance_delta < macct.locked - maker.reserved:
            self._cancel(maker, R_INSUFFICIENT, now)
            return _MAKER_GONE, 0
        trade_id = self._next_id()
        tseq = self._next_seq()
        # book first: the maker leaves the level
        st.book.reduce(maker, qty)
        self._emit_level(st, maker, -qty, now)
        # ledger
        tpos = self._apply_fill(tacct, st, taker, price, qty, True, t_fee, trade_id, now)
        mpos = self._apply_fill(macct, st, maker, price, qty, False, m_fee, trade_id, now)
        st.open_interest += max(tpos.position, 0) - max(tq, 0) + max(mpos.position, 0) - max(mq, 0)
        # maker order state
        if maker.remaining == 0:
            st.book.remove(maker)
            self._close_order(maker, EXECUTED, R_FILLED, now)
            self._emit_order(maker.user, EXECUTED, maker, now)
        else:
            maker.last_update_reason = R_FILLED
            self._reserve(maker, macct, st)
            self._emit_order(maker.user, "updated", maker, now)
        # public print & stats
        tp = TradePrint(trade_id, ticker, price, qty, "yes" if tbuy else "no", taker.side, now, tseq)
        self._trades.append(tp)
        self._trade_total += 1
        st.trades.append(tp)
        st.last_price = price
        st.last_size = qty
        st.volume += qty
        st.dollar_volume += price * qty
        st.recent.append((now, qty, price))
        st.volume_24h += qty
        self._emit(tp)
        # order groups (both sides)
        for o in (maker, taker):
            if o.order_group_id:
                g = self._groups.get(o.order_group_id)
                if g is not None:
                    self._group_matched(g, qty, now)
        return _TRADED, t_fee.net_fee

    def _apply_fill(self, acct: Account, st: MarketState, o: Order, price: int, qty: int, is_taker: bool,
                    fee: FillFee, trade_id: str, now: int) -> Position:
        ticker = st.market.ticker
        pos = acct.positions.get(ticker)
        if pos is None:
            pos = Position(ticker, st.market.event_ticker, exchange_index=st.market.exchange_index)
            acct.positions[ticker] = pos
            st.holders[acct.user] = None
        apply_trade(pos, o.side == BID, price, qty)
        net = fee.net_fee
        pos.fees_paid += net
        pos.last_updated_ns = now
        acct.cash += fee.balance_delta
        acct.updated_ns = now
        self._fees += net
        o.fee_accumulator = fee.accumulator
        if is_taker:
            o.remaining -= qty  # a maker's remaining was lowered with its book level
        o.fill_count += qty
        o.last_update_ns = now
        if is_taker:
            o.taker_fill_cost += price * qty
            o.taker_fill_count += qty
            o.taker_fees += net
        else:
            o.maker_fill_cost += price * qty
            o.maker_fill_count += qty
            o.maker_fees += net
        f = FillRecord(
            fill_id=self._next_id(), trade_id=trade_id, order_id=o.order_id, client_order_id=o.client_order_id,
            user=acct.user, ticker=ticker, side=o.side, price=price, count=qty, is_taker=is_taker, fee=net,
            trade_fee=fee.trade_fee, rounding_fee=fee.rounding_fee, rebate=fee.rebate,
            cash_delta=fee.balance_delta, post_position=pos.position, ts_ns=now, seq=self._next_seq(),
            exchange_index=st.market.exchange_index,
        )
        if acct.keep_history:
            acct.fills.append(f)
        if self._listeners:
            self._out.append(FillEvent(acct.user, f))
            self._out.append(PositionUpdate(acct.user, pos.snapshot(), now))
        return pos

    def _group_matched(self, g: OrderGroup, qty: int, now: int) -> None:
        if g.record_match(qty, now) and not g.triggered:
            self._trigger_group(g, now)

    def _trigger_group(self, g: OrderGroup, now: int) -> None:
        g.triggered = True
        for oid in list(g.order_ids):
            o = self._orders[oid]
            if o.status == RESTING and o.on_book:
                self._cancel(o, R_ORDER_GROUP, now)
        self._emit(OrderGroupUpdate(g.user, g.order_group_id, "triggered", g.contracts_limit, now))

    # ---- closing orders -------------------------------------------------------------------------
    def _close_order(self, o: Order, status: str, reason: str, now: int) -> None:
        """Bookkeeping when an order stops being open (the caller has taken it off the book)."""
        o.status = status
        o.last_update_reason = reason
        o.last_update_ns = now
        if status == CANCELED:
            o.remaining = 0
        self._release(o)
        self._open[o.user].pop(o.order_id, None)
        if o.client_order_id is not None and self._coids.get((o.user, o.client_order_id)) == o.order_id:
            del self._coids[(o.user, o.client_order_id)]
        if o.order_group_id:
            g = self._groups.get(o.order_group_id)
            if g is not None:
                g.order_ids.pop(o.order_id, None)
        if not self._accounts[o.user].keep_history:
            self._forget(o)

    def _forget(self, o: Order) -> None:
        self._orders.pop(o.order_id, None)
        self._user_orders[o.user].pop(o.order_id, None)

    def _cancel(self, o: Order, reason: str, now: int) -> int:
        """Cancel a resting order; return the count it had left."""
        left = o.remaining
        if o.on_book:
            st = self._markets[o.ticker]
            st.book.remove(o)
            self._emit_level(st, o, -left, now)
        self._close_order(o, CANCELED, reason, now)
        self._emit_order(o.user, CANCELED, o, now)
        return left

    # ---- cancel / batch -------------------------------------------------------------------------
    def batch_create(self, user: str, reqs: list[CreateOrder]) -> list[OrderAck | ExchangeError]:
        """Per-item results, order preserved."""
        now = self._enter()
        try:
            out: list[OrderAck | ExchangeError] = []
            for r in reqs:
                try:
                    out.append(self._create(user, r, now))
                except ExchangeError as exc:
                    out.append(exc)
            return out
        finally:
            self._exit()

    def cancel_order(self, user: str, order_id: str, exchange_index: int | None = None) -> CancelAck:
        """404 ``not_found`` for an unknown, foreign or no longer open order, or one that does not
        live on ``exchange_index`` (None: any shard)."""
        now = self._enter()
        try:
            o = self._on_shard(self._own_open_order(user, order_id), exchange_index)
            left = self._cancel(o, R_CANCELED, now)
            return CancelAck(o.order_id, o.client_order_id, left, now)
        finally:
            self._exit()

    def batch_cancel(
        self, user: str, items: Sequence[str | tuple[str, int | None]],
    ) -> list[CancelAck | ExchangeError]:
        """Per-item results, order preserved. An item is an order id (any shard) or (order id, the
        exchange index it was routed to)."""
        now = self._enter()
        try:
            out: list[CancelAck | ExchangeError] = []
            for item in items:
                oid, index = (item, None) if isinstance(item, str) else item
                try:
                    o = self._on_shard(self._own_open_order(user, oid), index)
                    out.append(CancelAck(o.order_id, o.client_order_id, self._cancel(o, R_CANCELED, now), now))
                except ExchangeError as exc:
                    out.append(exc)
            return out
        finally:
            self._exit()

    def cancel_all(self, user: str, ticker: str | None = None) -> list[CancelAck]:
        """Every resting order of ``user`` (optionally one market's), on every shard."""
        now = self._enter()
        try:
            self._account(user)
            doomed = [o for o in self._open[user].values() if ticker is None or o.ticker == ticker]
            return [CancelAck(o.order_id, o.client_order_id, self._cancel(o, R_CANCELED, now), now) for o in doomed]
        finally:
            self._exit()

    # ---- amend / decrease -----------------------------------------------------------------------
    def amend_order(self, user: str, order_id: str, req: AmendOrder, exchange_index: int | None = None) -> OrderAck:
        """New total ``count`` (filled + remaining) and/or price. Keeps time priority only when the
        price is unchanged and the size does not increase; otherwise it goes to the back (and may
        match if it now crosses). A post-only that would cross is, in ``cancel`` mode, amended and
        cancelled at once (ack status ``canceled``, remaining 0, nothing filled; reason
        ``post_only_cross_cancel``); in ``reject`` mode refused with 400 ``post_only_rejected``,
        order unchanged."""
        now = self._enter()
        try:
            o = self._on_shard(self._own_open_order(user, order_id), exchange_index)
            st = self._markets[o.ticker]
            acct = self._accounts[user]
            self._check_tradable(st)
            st.market.check_price(req.price)
            new_remaining = req.count - o.fill_count
            if new_remaining <= 0:
                raise bad_request(E.INVALID_PARAMETERS, "amended count must exceed the filled count")
            new_coid = req.updated_client_order_id
            if new_coid is not None and new_coid != o.client_order_id and (user, new_coid) in self._coids:
                raise ExchangeError(E.CONFLICT, E.DUPLICATE_CLIENT_ORDER_ID, f"client_order_id {new_coid} in use")
            if req.expiration_ns and req.expiration_ns <= now:
                raise bad_request(E.INVALID_PARAMETERS, "expiration_time is in the past")
            book = st.book
            keep = req.price == o.price and new_remaining <= o.remaining
            crosses = not keep and o.post_only and _would_cross(book, o.side, req.price)
            if not keep:
                if crosses and self._post_only_cross == POST_ONLY_REJECT:
                    raise bad_request(E.POST_ONLY_REJECTED, "amended post-only order would cross the book")
                need = self._cost_estimate(acct, o.ticker, o.side, req.price, new_remaining, o.post_only,
                                           st.maker_rate)
                if need > acct.cash - acct.locked + o.reserved:
                    raise bad_request(E.INSUFFICIENT_BALANCE, "amended order exceeds available balance")
            if new_coid is not None and new_coid != o.client_order_id:
                if o.client_order_id is not None:
                    self._coids.pop((user, o.client_order_id), None)
                o.client_order_id = new_coid
                self._coids[(user, new_coid)] = o.order_id
            if req.expiration_ns is not None:
                o.expiration_ns = req.expiration_ns or None
                if o.expiration_ns:
                    heapq.heappush(self._expiries, (o.expiration_ns, o.seq, o.order_id))
            o.initial_count = req.count
            o.last_update_ns = now
            o.last_update_reason = R_AMENDED
            if crosses:  # the amended order would take liquidity: it leaves the book instead
                book.remove(o)
                self._emit_level(st, o, -o.remaining, now)
                o.price = req.price
                self._close_order(o, CANCELED, R_POST_ONLY_CROSS, now)
                self._emit_order(user, CANCELED, o, now)
                return OrderAck(o.order_id, o.client_order_id, CANCELED, 0, 0, 0, 0, now)
            if keep:
                delta = o.remaining - new_remaining
                if delta:
                    book.reduce(o, delta)
                    self._emit_level(st, o, -delta, now)
                self._reserve(o, acct, st)
                self._emit_order(user, "updated", o, now)
                return OrderAck(o.order_id, o.client_order_id, o.status, 0, o.remaining, 0, 0, now)
            book.remove(o)
            self._emit_level(st, o, -o.remaining, now)
            self._release(o)
            o.price = req.price
            o.remaining = new_remaining
            o.seq = self._next_seq()
            if o.expiration_ns:
                heapq.heappush(self._expiries, (o.expiration_ns, o.seq, o.order_id))
            filled, cost, fees, stop = self._match(o, st, acct, now)
            if o.remaining == 0:
                self._close_order(o, EXECUTED, R_FILLED, now)
            elif stop is not None:
                self._close_order(o, CANCELED, stop, now)
            else:
                self._rest(o, st, acct, now)
            self._emit_order(user, "updated" if o.status == RESTING else o.status, o, now)
            return OrderAck(o.order_id, o.client_order_id, o.status, filled, o.remaining, cost, fees, now)
        finally:
            self._exit()

    def decrease_order(
        self, user: str, order_id: str, *, reduce_by: int | None = None, reduce_to: int | None = None,
        exchange_index: int | None = None,
    ) -> OrderAck:
        """Exactly one of ``reduce_by`` / ``reduce_to`` (the new remaining count). Keeps priority;
        reaching 0 cancels the order."""
        now = self._enter()
        try:
            if (reduce_by is None) == (reduce_to is None):
                raise bad_request(E.INVALID_PARAMETERS, "give exactly one of reduce_by and reduce_to")
            o = self._on_shard(self._own_open_order(user, order_id), exchange_index)
            if reduce_by is not None:
                if reduce_by <= 0:
                    raise bad_request(E.INVALID_PARAMETERS, "reduce_by must be positive")
                target = max(0, o.remaining - reduce_by)
            else:
                assert reduce_to is not None
                if reduce_to < 0 or reduce_to > o.remaining:
                    raise bad_request(E.INVALID_PARAMETERS, "reduce_to must be between 0 and the remaining count")
                target = reduce_to
            if target == 0:
                self._cancel(o, R_DECREASED, now)
            elif target < o.remaining:
                st = self._markets[o.ticker]
                delta = o.remaining - target
                st.book.reduce(o, delta)
                self._emit_level(st, o, -delta, now)
                o.last_update_ns = now
                o.last_update_reason = R_DECREASED
                self._reserve(o, self._accounts[user], st)
                self._emit_order(user, "updated", o, now)
            return OrderAck(o.order_id, o.client_order_id, o.status, 0, o.remaining, 0, 0, now)
        finally:
            self._exit()

    # ---- order groups ---------------------------------------------------------------------------
    def create_order_group(self, user: str, contracts_limit: int) -> OrderGroup:
        now = self._enter()
        try:
            self._account(user)
            if contracts_limit <= 0:
                raise bad_request(E.INVALID_PARAMETERS, "contracts_limit must be positive")
            g = OrderGroup(self._next_id(), user, contracts_limit, created_ns=now)
            self._groups[g.order_group_id] = g
            self._emit(OrderGroupUpdate(user, g.order_group_id, "created", contracts_limit, now))
            return g
        finally:
            self._exit()

    def order_group(self, user: str, order_group_id: str) -> OrderGroup:
        g = self._groups.get(order_group_id)
        if g is None or g.user != user:
            raise not_found(f"order group {order_group_id} not found")
        return g

    def order_groups(self, user: str) -> list[OrderGroup]:
        return [g for g in self._groups.values() if g.user == user]

    def order_group_orders(self, user: str, order_group_id: str) -> list[Order]:
        g = self.order_group(user, order_group_id)
        return [self._orders[oid] for oid in g.order_ids]

    def reset_order_group(self, user: str, order_group_id: str) -> None:
        """Clear the window and the triggered flag: orders may join the group again."""
        now = self._enter()
        try:
            g = self.order_group(user, order_group_id)
            g.reset()
            self._emit(OrderGroupUpdate(user, g.order_group_id, "reset", g.contracts_limit, now))
        finally:
            self._exit()

    def trigger_order_group(self, user: str, order_group_id: str) -> None:
        """Cancel all the group's orders and block it until reset."""
        now = self._enter()
        try:
            self._trigger_group(self.order_group(user, order_group_id), now)
        finally:
            self._exit()

    def set_order_group_limit(self, user: str, order_group_id: str, contracts_limit: int) -> None:
        now = self._enter()
        try:
            g = self.order_group(user, order_group_id)
            if contracts_limit <= 0:
                raise bad_request(E.INVALID_PARAMETERS, "contracts_limit must be positive")
            g.contracts_limit = contracts_limit
            self._emit(OrderGroupUpdate(user, g.order_group_id, "limit_updated", contracts_limit, now))
            if not g.triggered and g.matched_in_window >= contracts_limit:
                self._trigger_group(g, now)
        finally:
            self._exit()

    def delete_order_group(self, user: str, order_group_id: str) -> None:
        """Cancel the group's orders and forget the group."""
        now = self._enter()
        try:
            g = self.order_group(user, order_group_id)
            for oid in list(g.order_ids):
                o = self._orders[oid]
                if o.status == RESTING:
                    self._cancel(o, R_ORDER_GROUP, now)
            del self._groups[order_group_id]
            self._emit(OrderGroupUpdate(user, g.order_group_id, "deleted", g.contracts_limit, now))
        finally:
            self._exit()

    # ---- queries --------------------------------------------------------------------------------


def _would_cross(book: Book, side: str, price: int) -> bool:
    if side == BID:
        ba = book.best_ask_price()
        return ba is not None and price >= ba
    bb = book.best_bid_price()
    return bb is not None and price <= bb
