"""Read-only queries of the exchange engine (a mixin of :class:`engine.Exchange`).

Orders, fills, positions, settlements, balances, books, trades, market statistics, registry
look-ups and the audit used by tests. Nothing here changes state.
"""

from __future__ import annotations

from collections.abc import Callable

from kmm.messages.units import ONE_DOLLAR

from . import errors as E
from .errors import bad_request, not_found
from .events import TradePrint
from .groups import OrderGroup
from .ledger import Account, FillRecord, Position, Settlement
from .markets import Event, Market, Series
from .orders import RESTING, Order
from .state import MarketState
from .views import BalanceView, BookLevels, EventPosition, MarketStats, Page, in_range, page

DAY_NS = 86_400_000_000_000


class ExchangeQueries:
    """Queries over the engine's state; the attributes below are owned by :class:`engine.Exchange`."""

    _now: Callable[[], int]
    _series: dict[str, Series]
    _events: dict[str, Event]
    _markets: dict[str, MarketState]
    _accounts: dict[str, Account]
    _orders: dict[str, Order]
    _user_orders: dict[str, dict[str, Order]]
    _open: dict[str, dict[str, Order]]
    _groups: dict[str, OrderGroup]
    _trades: list[TradePrint]
    _trade_total: int
    _fees: int
    _deposits: int

    def _state(self, ticker: str) -> MarketState:
        st = self._markets.get(ticker)
        if st is None:
            raise not_found(f"market {ticker} not found")
        return st

    def _account(self, user: str) -> Account:
        acct = self._accounts.get(user)
        if acct is None:
            raise not_found(f"account {user} not found")
        return acct

    def _own_order(self, user: str, order_id: str) -> Order:
        o = self._orders.get(order_id)
        if o is None or o.user != user:
            raise not_found(f"order {order_id} not found")
        return o

    def _own_open_order(self, user: str, order_id: str) -> Order:
        o = self._own_order(user, order_id)
        if o.status != RESTING:
            raise not_found(f"order {order_id} is {o.status}")
        return o

    def market(self, ticker: str) -> Market:
        """404 ``not_found`` when unknown."""
        return self._state(ticker).market

    def markets(self) -> list[Market]:
        return [st.market for st in self._markets.values()]

    def event(self, event_ticker: str) -> Event:
        ev = self._events.get(event_ticker)
        if ev is None:
            raise not_found(f"event {event_ticker} not found")
        return ev

    def events(self) -> list[Event]:
        return list(self._events.values())

    def series(self, series_ticker: str) -> Series:
        s = self._series.get(series_ticker)
        if s is None:
            raise not_found(f"series {series_ticker} not found")
        return s

    def all_series(self) -> list[Series]:
        return list(self._series.values())

    def has_account(self, user: str) -> bool:
        return user in self._accounts

    def balance(self, user: str) -> BalanceView:
        acct = self._account(user)
        value = 0
        for t, pos in acct.positions.items():
            q = pos.position
            if not q:
                continue
            last = self._markets[t].last_price
            if last is None:
                value += pos.cost
            elif q > 0:
                value += last * q
            else:
                value += (ONE_DOLLAR - last) * -q
        return BalanceView(acct.cash, acct.locked, acct.cash - acct.locked, value, acct.updated_ns)

    def get_order(self, user: str, order_id: str) -> Order:
        return self._own_order(user, order_id)

    def open_orders(self, user: str) -> list[Order]:
        return list(self._open.get(user, {}).values())

    def order_history(self, user: str) -> list[Order]:
        """Every order the user ever created, any status, oldest first (the live objects: read only).
        Accounts opened without ``keep_history`` forget closed orders."""
        return list(self._account_orders(user).values())

    def _account_orders(self, user: str) -> dict[str, Order]:
        self._account(user)
        return self._user_orders[user]

    def orders(
        self,
        user: str,
        *,
        ticker: str | None = None,
        tickers: list[str] | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ts_ns: int | None = None,
        max_ts_ns: int | None = None,
        exchange_index: int | None = None,
        limit: int = 100,
        cursor: str = "",
    ) -> Page[Order]:
        """Newest first (by creation). ``exchange_index`` None: every shard."""
        orders = self._account_orders(user)
        wanted = set(tickers) if tickers else ({ticker} if ticker else None)
        events = set(event_ticker.split(",")) if event_ticker else None

        def keep(o: Order) -> bool:
            return ((wanted is None or o.ticker in wanted) and (events is None or o.event_ticker in events)
                    and (status is None or o.status == status) and in_range(o.created_ns, min_ts_ns, max_ts_ns)
                    and (exchange_index is None or o.exchange_index == exchange_index))

        return page(list(orders.values()), _creation_key, keep, limit, cursor)

    def fills(
        self,
        user: str,
        *,
        ticker: str | None = None,
        tickers: list[str] | None = None,
        order_id: str | None = None,
        min_ts_ns: int | None = None,
        max_ts_ns: int | None = None,
        exchange_index: int | None = None,
        limit: int = 100,
        cursor: str = "",
    ) -> Page[FillRecord]:
        """Newest first. ``exchange_index`` None: every shard."""
        acct = self._account(user)
        wanted = set(tickers) if tickers else ({ticker} if ticker else None)

        def keep(f: FillRecord) -> bool:
            return ((wanted is None or f.ticker in wanted) and (order_id is None or f.order_id == order_id)
                    and in_range(f.ts_ns, min_ts_ns, max_ts_ns)
                    and (exchange_index is None or f.exchange_index == exchange_index))

        return page(acct.fills, _seq_key, keep, limit, cursor)

    def positions(
        self,
        user: str,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        settlement_status: str = "unsettled",
        include_flat: bool = False,
        exchange_index: int | None = None,
    ) -> list[Position]:
        """``settlement_status`` unsettled | settled | all. Flat unsettled positions (zero contracts)
        are shown only when ``include_flat`` (Kalshi's ``count_filter=total_traded`` shows
        traded-but-flat ones). Settled positions are always flat (settlement zeroes them), so the flat
        filter does not apply to them: ``settlement_status=settled`` lists every settled market.
        ``exchange_index`` None: every shard."""
        acct = self._account(user)
        if settlement_status not in ("unsettled", "settled", "all"):
            raise bad_request(E.INVALID_PARAMETERS, f"bad settlement_status {settlement_status!r}")
        out = []
        for pos in acct.positions.values():
            if ticker is not None and pos.ticker != ticker:
                continue
            if event_ticker is not None and pos.event_ticker != event_ticker:
                continue
            if exchange_index is not None and pos.exchange_index != exchange_index:
                continue
            if settlement_status == "unsettled" and pos.settled or settlement_status == "settled" and not pos.settled:
                continue
            if not include_flat and pos.position == 0 and not pos.settled:
                continue
            out.append(pos)
        return out

    def event_positions(self, user: str, *, event_ticker: str | None = None) -> list[EventPosition]:
        """Per-event sums of the user's positions (settled ones included only for realized PnL/fees)."""
        acct = self._account(user)
        sums: dict[str, list[int]] = {}
        for pos in acct.positions.values():
            if event_ticker is not None and pos.event_ticker != event_ticker:
                continue
            row = sums.setdefault(pos.event_ticker, [0, 0, 0, 0])
            row[0] += pos.cost
            row[1] += abs(pos.position)
            row[2] += pos.realized_pnl
            row[3] += pos.fees_paid
        return [EventPosition(ev, cost, shares, cost, pnl, fees) for ev, (cost, shares, pnl, fees) in sums.items()]

    def position(self, user: str, ticker: str) -> Position:
        """A zero position when the user never traded it."""
        acct = self._account(user)
        pos = acct.positions.get(ticker)
        if pos is None:
            m = self._state(ticker).market
            return Position(ticker, m.event_ticker, exchange_index=m.exchange_index)
        return pos

    def settlements(
        self,
        user: str,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ts_ns: int | None = None,
        max_ts_ns: int | None = None,
        limit: int = 100,
        cursor: str = "",
    ) -> Page[Settlement]:
        acct = self._account(user)

        def keep(s: Settlement) -> bool:
            return ((ticker is None or s.ticker == ticker) and (event_ticker is None or s.event_ticker == event_ticker)
                    and in_range(s.settled_ns, min_ts_ns, max_ts_ns))

        return page(acct.settlements, _seq_key, keep, limit, cursor)

    def queue_position(self, user: str, order_id: str) -> int:
        """Contracts resting ahead of the order at its price level (price-time priority)."""
        o = self._own_open_order(user, order_id)
        return self._markets[o.ticker].book.queue_ahead(o)

    def book(self, ticker: str, depth: int = 0) -> BookLevels:
        """YES bids and NO bids ascending (best last); ``depth`` > 0 keeps the best N of each."""
        b = self._state(ticker).book
        yes = b.bid_levels()
        no = [(ONE_DOLLAR - p, n) for p, n in reversed(b.ask_levels())]
        if depth > 0:
            yes, no = yes[-depth:], no[-depth:]
        return BookLevels(yes, no)

    def best_bid_ask(self, ticker: str) -> tuple[int | None, int | None]:
        """(best YES bid, best YES ask)."""
        b = self._state(ticker).book
        return b.best_bid_price(), b.best_ask_price()

    def trades(
        self,
        *,
        ticker: str | None = None,
        min_ts_ns: int | None = None,
        max_ts_ns: int | None = None,
        limit: int = 100,
        cursor: str = "",
    ) -> Page[TradePrint]:
        """Public trades, newest first."""
        src = self._state(ticker).trades if ticker else self._trades
        return page(src, _seq_key, lambda t: in_range(t.ts_ns, min_ts_ns, max_ts_ns), limit, cursor)

    def market_stats(self, ticker: str) -> MarketStats:
        st = self._state(ticker)
        horizon = self._now() - DAY_NS
        while st.recent and st.recent[0][0] <= horizon:
            _, qty, price = st.recent.popleft()
            st.volume_24h -= qty
            st.previous_price = price
        b = st.book
        bb, ba = b.best_bid(), b.best_ask()
        return MarketStats(
            ticker=ticker,
            yes_bid=bb.price if bb else None, yes_bid_size=bb.total if bb else 0,
            yes_ask=ba.price if ba else None, yes_ask_size=ba.total if ba else 0,
            last_price=st.last_price, previous_price=st.previous_price, last_trade_size=st.last_size,
            volume=st.volume, volume_24h=st.volume_24h,
            open_interest=st.open_interest, dollar_volume=st.dollar_volume,
            dollar_open_interest=ONE_DOLLAR * st.open_interest,
        )

    # ---- audit ----------------------------------------------------------------------------------
    @property
    def fees_collected(self) -> int:
        """Net fees (µ$) taken by the exchange so far."""
        return self._fees

    def total_deposits(self) -> int:
        return self._deposits

    @property
    def trade_count(self) -> int:
        """Trades since the start (the public history may keep fewer)."""
        return self._trade_total

    def check_invariants(self) -> None:
        """Raise AssertionError if money is not conserved, a balance is negative, a book is crossed
        or book totals disagree with the resting orders. For tests; O(state)."""
        cash = 0
        for acct in self._accounts.values():
            assert acct.cash >= 0, f"{acct.user} cash {acct.cash} < 0"
            assert 0 <= acct.locked <= acct.cash, f"{acct.user} locked {acct.locked} cash {acct.cash}"
            reserved = sum(o.reserved for o in self._open[acct.user].values())
            assert reserved == acct.locked, f"{acct.user} locked {acct.locked} != Σ reserved {reserved}"
            cash += acct.cash
        oi_total = 0
        for t, st in self._markets.items():
            longs = shorts = 0
            for user in st.holders:
                q = self._accounts[user].positions[t].position
                longs += max(q, 0)
                shorts += max(-q, 0)
            assert longs == shorts == st.open_interest, f"{t}: longs {longs} shorts {shorts} oi {st.open_interest}"
            oi_total += st.open_interest
            assert not st.book.is_crossed(), f"{t} book crossed"
            for side in (st.book.bids, st.book.asks):
                assert side.prices == sorted(side.levels), f"{t} price index out of order"
                for p, lv in side.levels.items():
                    assert lv.orders, f"{t} empty level {p}"
                    assert lv.total == sum(o.remaining for o in lv.orders.values()), f"{t} level {p} total"
                    for o in lv.orders.values():
                        assert o.status == RESTING and o.remaining > 0 and o.price == p and o.on_book
        assert cash + ONE_DOLLAR * oi_total + self._fees == self._deposits, (
            f"money not conserved: cash {cash} + collateral {ONE_DOLLAR * oi_total} + fees {self._fees}"
            f" != deposits {self._deposits}"
        )



def _seq_key(x: FillRecord | Settlement | TradePrint) -> int:
    return x.seq


def _creation_key(o: Order) -> int:
    return o.created_seq
