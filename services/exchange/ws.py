"""Kalshi WebSocket API of the simulator: commands, subscriptions, channels (kalshi-api.md §8).

Commands ``subscribe`` / ``unsubscribe`` / ``update_subscription`` / ``list_subscriptions`` with ids
and per-channel ``sid``s. Every subscribe that passes validation gets a new sid per channel, even one
that repeats or overlaps an existing subscription (error 6 "Already subscribed" is retired, §8.2).
Subscriptions are independent streams: a market's event goes out once on *each* sid that covers it,
each with that sid's own ``seq`` (and an orderbook sid starts with its own snapshot), so a client that
subscribes the same market twice on one connection gets each delta twice, under two sids. Kalshi's
docs do not say how overlapping subscriptions are served; this is the only reading under which every
sid's seq stream is complete (sending an event on one sid only would leave the other's book silently
stale, with no seq gap to notice). Channels: ``orderbook_delta`` (``orderbook_snapshot`` then
``orderbook_delta``, ``seq`` per sid starting at 1), ``ticker``, ``trade``, ``fill``, ``user_orders``,
``market_positions``, ``market_lifecycle_v2``, ``order_group_updates`` (also with ``seq`` per sid).
The private channels (``fill``, ``user_orders``, ``market_positions``, ``order_group_updates``) carry
only the connection's own user's events; a ``user_order`` goes out for every change of an order
(placed, amended, decreased, filled, cancelled by the user or by the exchange).

Every data frame carries ``sending_ts_ms``: the **wall-clock** ms when the writer sent it. Event
times inside ``msg`` (``ts_ms``, ``created_ts_ms``…) are on the simulator's virtual clock, which runs
``--speed`` times faster than the wall clock, so wall-clock latency can only be measured from
``sending_ts_ms``.

The :class:`Hub` is an engine listener that fans events out to every :class:`Connection`; each
connection queues its messages and a writer task sends them, so engine calls never wait on a
socket. A connection whose queue overflows gets error 25 on each sid and loses its subscriptions
(the client must resubscribe).
"""

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from . import render
from .engine import Exchange
from .errors import ExchangeError
from .events import (
    BookDelta,
    FillEvent,
    MarketLifecycle,
    OrderGroupUpdate,
    OrderUpdate,
    PositionUpdate,
    TradePrint,
)
from .faults import Faults
from .markets import SILENT_EVENTS

ORDERBOOK = "orderbook_delta"
TICKER = "ticker"
TRADE = "trade"
FILL = "fill"
USER_ORDERS = "user_orders"
POSITIONS = "market_positions"
LIFECYCLE = "market_lifecycle_v2"
ORDER_GROUPS = "order_group_updates"
CHANNELS = (ORDERBOOK, TICKER, TRADE, FILL, USER_ORDERS, POSITIONS, LIFECYCLE, ORDER_GROUPS)
CONTROL_TYPES = frozenset({"subscribed", "unsubscribed", "ok", "error"})
MARKET_FILTERED = (ORDERBOOK, TICKER, TRADE, FILL, USER_ORDERS, POSITIONS)

ERR_UNPROCESSABLE = 1
ERR_PARAMS_REQUIRED = 2
ERR_CHANNELS_REQUIRED = 3
ERR_SIDS_REQUIRED = 4
ERR_UNKNOWN_COMMAND = 5
# 6 ("Already subscribed" in older docs) is retired and never sent (kalshi-api.md §8.2).
ERR_UNKNOWN_SID = 7
ERR_UNKNOWN_CHANNEL = 8
ERR_INVALID_PARAMETER = 11
ERR_ONE_SID = 12
ERR_UNSUPPORTED_ACTION = 13
ERR_TICKER_REQUIRED = 14
ERR_ACTION_REQUIRED = 15
ERR_MARKET_NOT_FOUND = 16
ERR_BUFFER_OVERFLOW = 25

QUEUE_LIMIT = 100_000
_CLOSE = object()


class CommandError(Exception):
    def __init__(self, code: int, msg: str, ticker: str | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.ticker = ticker


@dataclass
class Subscription:
    sid: int
    channel: str
    tickers: set[str] | None  # None = all markets
    seq: int = 0

    def wants(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers


@dataclass(eq=False)
class Connection:
    """One client connection: its user (API key id), subscriptions and outgoing queue."""

    user: str
    exchange: Exchange
    faults: Faults
    clock_ns: Callable[[], int]
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    subs: dict[int, Subscription] = field(default_factory=dict)
    next_sid: int = 1
    sent: int = 0

    # --- outgoing ------------------------------------------------------------------------------
    def push(self, message: dict[str, Any]) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:
            self._overflow()
            return
        self.queue.put_nowait(message)

    def _overflow(self) -> None:
        closing = False
        while not self.queue.empty():
            closing = self.queue.get_nowait() is _CLOSE or closing
        for sid in list(self.subs):
            self.queue.put_nowait({"id": 0, "type": "error", "sid": sid,
                                   "msg": {"code": ERR_BUFFER_OVERFLOW, "msg": "Subscription buffer overflow"}})
        self.subs.clear()
        if closing:
            self.queue.put_nowait(_CLOSE)

    def close(self) -> None:
        self.queue.put_nowait(_CLOSE)

    def _data(self, sub: Subscription, type_: str, msg: Any, seq: bool = False) -> None:
        out: dict[str, Any] = {"type": type_, "sid": sub.sid}
        if seq:
            sub.seq += 2 if type_ == "orderbook_delta" and self.faults.take_seq_gap() else 1
            out["seq"] = sub.seq
        out["msg"] = msg
        self.push(out)

    def _subs(self, channel: str, ticker: str | None = None) -> list[Subscription]:
        return [s for s in self.subs.values() if s.channel == channel and (ticker is None or s.wants(ticker))]

    def _snapshot(self, sub: Subscription, ticker: str) -> None:
        self._data(sub, "orderbook_snapshot", render.ws_snapshot(ticker, self.exchange.book(ticker)), seq=True)

    # --- engine events ------------------------------------------------------------------------
    def book_delta(self, ev: BookDelta) -> None:
        for sub in self._subs(ORDERBOOK, ev.ticker):
            self._data(sub, "orderbook_delta", render.ws_delta(ev, self.user), seq=True)

    def trade(self, ev: TradePrint) -> None:
        for sub in self._subs(TRADE, ev.ticker):
            self._data(sub, "trade", render.ws_trade(ev))

    def ticker(self, ticker: str, msg: dict[str, Any]) -> None:
        for sub in self._subs(TICKER, ticker):
            self._data(sub, "ticker", msg)

    def wants_ticker(self, ticker: str) -> bool:
        return bool(self._subs(TICKER, ticker))

    def fill(self, ev: FillEvent) -> None:
        if ev.user != self.user:
            return
        for sub in self._subs(FILL, ev.fill.ticker):
            self._data(sub, "fill", render.ws_fill(ev.fill))

    def order(self, ev: OrderUpdate) -> None:
        if ev.user != self.user:
            return
        for sub in self._subs(USER_ORDERS, ev.order.ticker):
            self._data(sub, "user_order", render.ws_user_order(ev.order))

    def position(self, ev: PositionUpdate) -> None:
        if ev.user != self.user:
            return
        for sub in self._subs(POSITIONS, ev.position.ticker):
            self._data(sub, "market_position", render.ws_position(ev.user, ev.position))

    def lifecycle(self, ev: MarketLifecycle) -> None:
        if ev.event_type in SILENT_EVENTS:
            return
        for sub in self._subs(LIFECYCLE):
            self._data(sub, "market_lifecycle_v2", render.ws_lifecycle(ev))

    def order_group(self, ev: OrderGroupUpdate) -> None:
        if ev.user != self.user:
            return
        for sub in self._subs(ORDER_GROUPS):
            self._data(sub, "order_group_updates", render.ws_order_group(ev), seq=True)

    # --- commands ----------------------------------------------------------------------------
    def handle_text(self, text: str) -> None:
        cmd_id: Any = 0
        try:
            try:
                frame = json.loads(text)
            except ValueError:
                raise CommandError(ERR_UNPROCESSABLE, "Unable to process message") from None
            if not isinstance(frame, dict):
                raise CommandError(ERR_UNPROCESSABLE, "Unable to process message")
            cmd_id = frame.get("id", 0)
            cmd = frame.get("cmd")
            params = frame.get("params")
            if cmd == "list_subscriptions":
                self.push({"id": cmd_id, "type": "ok",
                           "msg": [{"channel": s.channel, "sid": s.sid} for s in self.subs.values()]})
                return
            handler = {"subscribe": self._subscribe, "unsubscribe": self._unsubscribe,
                       "update_subscription": self._update}.get(cmd)  # type: ignore[arg-type]
            if handler is None:
                raise CommandError(ERR_UNKNOWN_COMMAND, "Unknown command")
            if not isinstance(params, dict):
                raise CommandError(ERR_PARAMS_REQUIRED, "Params required")
            handler(cmd_id, params)
        except CommandError as exc:
            msg: dict[str, Any] = {"code": exc.code, "msg": exc.msg}
            if exc.ticker:
                msg["market_ticker"] = exc.ticker
            self.push({"id": cmd_id, "type": "error", "msg": msg})

    def _tickers(self, params: dict[str, Any]) -> list[str] | None:
        tickers = params.get("market_tickers")
        single = params.get("market_ticker")
        if tickers is None and single is None:
            return None
        out: list[str] = []
        if isinstance(single, str):
            out.append(single)
        if isinstance(tickers, list):
            out.extend(t for t in tickers if isinstance(t, str))
        elif tickers is not None:
            raise CommandError(ERR_INVALID_PARAMETER, "market_tickers must be a list")
        for t in out:
            try:
                self.exchange.market(t)
            except ExchangeError:
                raise CommandError(ERR_MARKET_NOT_FOUND, "Market not found", t) from None
        return out

    def _subscribe(self, cmd_id: Any, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not channels or not isinstance(channels, list):
            raise CommandError(ERR_CHANNELS_REQUIRED, "Channels required")
        for ch in channels:
            if ch not in CHANNELS:
                raise CommandError(ERR_UNKNOWN_CHANNEL, "Unknown channel name")
        tickers = self._tickers(params)
        if ORDERBOOK in channels and not tickers:
            raise CommandError(ERR_TICKER_REQUIRED, "Market Ticker required")
        for ch in channels:
            sub = Subscription(self.next_sid, ch, set(tickers) if tickers and ch in MARKET_FILTERED else None)
            self.next_sid += 1
            self.subs[sub.sid] = sub
            self.push({"id": cmd_id, "type": "subscribed", "msg": {"channel": ch, "sid": sub.sid}})
            if ch == ORDERBOOK:
                for t in tickers or []:
                    self._snapshot(sub, t)
            elif ch == TICKER and params.get("send_initial_snapshot"):
                now = self.clock_ns()
                for t in sorted(sub.tickers or []):
                    self._data(sub, "ticker", render.ws_ticker(self.exchange.market_stats(t), now))

    def _unsubscribe(self, cmd_id: Any, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if not sids or not isinstance(sids, list):
            raise CommandError(ERR_SIDS_REQUIRED, "Subscription IDs required")
        for sid in sids:
            if sid not in self.subs:
                raise CommandError(ERR_UNKNOWN_SID, "Unknown subscription ID")
        for sid in sids:
            sub = self.subs.pop(sid)
            self.push({"id": cmd_id, "sid": sid, "seq": sub.seq, "type": "unsubscribed"})

    def _update(self, cmd_id: Any, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        sid = params.get("sid")
        if sid is None:
            if not sids:
                raise CommandError(ERR_SIDS_REQUIRED, "Subscription IDs required")
            if not isinstance(sids, list) or len(sids) != 1:
                raise CommandError(ERR_ONE_SID, "Exactly one subscription ID is required")
            sid = sids[0]
        sub = self.subs.get(sid)
        if sub is None:
            raise CommandError(ERR_UNKNOWN_SID, "Unknown subscription ID")
        action = params.get("action")
        if not action:
            raise CommandError(ERR_ACTION_REQUIRED, "Action required")
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise CommandError(ERR_UNSUPPORTED_ACTION, "Unsupported action")
        tickers = self._tickers(params)
        if not tickers:
            raise CommandError(ERR_TICKER_REQUIRED, "Market Ticker required")
        if action == "get_snapshot":
            if sub.channel != ORDERBOOK:
                raise CommandError(ERR_UNSUPPORTED_ACTION, "Unsupported action")
            for t in tickers:
                self._snapshot(sub, t)
        elif action == "add_markets":
            new = [t for t in tickers if sub.tickers is not None and t not in sub.tickers]
            if sub.tickers is not None:
                sub.tickers.update(new)
            if sub.channel == ORDERBOOK:
                for t in new:
                    self._snapshot(sub, t)
        elif sub.tickers is not None:
            sub.tickers.difference_update(tickers)
        if sub.channel == ORDERBOOK:
            sub.seq += 1  # acks on an orderbook sid take a seq number, as Kalshi's do
        self.push({"id": cmd_id, "sid": sub.sid, "seq": sub.seq, "type": "ok",
                   "msg": {"market_tickers": sorted(sub.tickers or [])}})

    # --- socket loop -------------------------------------------------------------------------
    async def serve(self, websocket: WebSocket) -> None:
        writer = asyncio.create_task(self._writer(websocket))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = (message.get("bytes") or b"").decode("utf-8", "replace")
                self.handle_text(raw)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            writer.cancel()
            try:
                await writer
            except (asyncio.CancelledError, Exception):
                pass

    async def _writer(self, websocket: WebSocket) -> None:
        while True:
            item = await self.queue.get()
            if item is _CLOSE:
                await websocket.close(code=1001)
                return
            if item.get("type") not in CONTROL_TYPES:
                item["sending_ts_ms"] = time.time_ns() // 1_000_000
            await websocket.send_text(json.dumps(item, separators=(",", ":")))
            self.sent += 1


class Hub:
    """Engine listener fanning events out to every open connection."""

    def __init__(self, exchange: Exchange, clock_ns: Callable[[], int]) -> None:
        self.exchange = exchange
        self.clock_ns = clock_ns
        self.connections: set[Connection] = set()
        self._last_ticker: dict[str, tuple[object, ...]] = {}

    def on_book_delta(self, ev: BookDelta) -> None:
        for c in self.connections:
            c.book_delta(ev)
        self._tickers(ev.ticker, ev.ts_ns)

    def on_trade(self, ev: TradePrint) -> None:
        for c in self.connections:
            c.trade(ev)
        self._tickers(ev.ticker, ev.ts_ns)

    def _tickers(self, ticker: str, ts_ns: int) -> None:
        """Send a ``ticker`` message when the top of book, last price or volume changed."""
        conns = [c for c in self.connections if c.wants_ticker(ticker)]
        if not conns:
            return
        stats = self.exchange.market_stats(ticker)
        key = (stats.yes_bid, stats.yes_bid_size, stats.yes_ask, stats.yes_ask_size, stats.last_price, stats.volume)
        if self._last_ticker.get(ticker) == key:
            return
        self._last_ticker[ticker] = key
        msg = render.ws_ticker(stats, ts_ns)
        for c in conns:
            c.ticker(ticker, msg)

    def on_fill(self, ev: FillEvent) -> None:
        for c in self.connections:
            c.fill(ev)

    def on_order(self, ev: OrderUpdate) -> None:
        for c in self.connections:
            c.order(ev)

    def on_position(self, ev: PositionUpdate) -> None:
        for c in self.connections:
            c.position(ev)

    def on_market(self, ev: MarketLifecycle) -> None:
        for c in self.connections:
            c.lifecycle(ev)

    def on_order_group(self, ev: OrderGroupUpdate) -> None:
        for c in self.connections:
            c.order_group(ev)

    def drop_all(self) -> int:
        """Close every connection (fault injection); returns how many."""
        n = len(self.connections)
        for c in list(self.connections):
            c.close()
        return n
