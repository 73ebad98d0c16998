"""Kalshi WebSocket v2 client: signed handshake, subscriptions, local books, reconnects, typed events.

Two layers:
- :class:`FeedState` is sans-IO: it turns decoded frames into typed events, keeps one
  :class:`~kmm.kalshi.book.LocalBook` per market, checks ``seq`` per subscription id (``sid``; command
  acks on that sid consume seq numbers too) and records which subscriptions need a resnapshot (a seq
  gap, a delta that does not fit the book, or an asynchronous error 10/17/25).
- :class:`KalshiWs` is the connection on ``websockets``: it sends commands, resnapshots by
  unsubscribing and re-subscribing the affected orderbook subscription, and on a dropped connection
  reconnects with backoff and jitter and replays every subscription (books rebuild from snapshots).

Events come out of an ``on_event`` callback when one is given, else of ``async for ev in ws``: :class:`kmm.messages.BookUpdate`
(always the full book; ``snapshot`` tells whether a snapshot produced it), ``wire.Ticker``,
``wire.PublicTrade``, ``wire.Fill``, ``wire.Order`` (user_order), ``wire.Position`` (market_position),
``wire.OrderGroupUpdate`` (order_group_updates), ``wire.Lifecycle``, and the control events below.
The private events (fill, user_order, market_position, order_group_updates) carry the envelope's
``sending_ts_ms`` (wall-clock ms the exchange sent the frame; 0 when absent).
"""

import asyncio
import contextlib
import dataclasses
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kmm import messages as m

from . import constants as c
from . import wire
from .auth import Signer
from .book import BookError, LocalBook

# --- control events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribed:
    channel: str
    sid: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    sid: int


@dataclass(frozen=True, slots=True)
class CommandOk:
    id: int
    sid: int | None
    msg: Any


@dataclass(frozen=True, slots=True)
class WsError:
    code: int
    message: str
    id: int = 0
    sid: int | None = None
    ticker: str = ""


@dataclass(frozen=True, slots=True)
class Resnapshot:
    """Subscription ``sid`` was lost and is being re-subscribed; books of ``tickers`` were discarded and
    rebuild from the fresh snapshot."""

    sid: int
    tickers: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Connected:
    reconnects: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class SeqGap:
    """A gap on a non-orderbook subscription (messages were lost; nothing to rebuild)."""

    sid: int
    expected: int
    got: int


class WsProtocolError(ValueError):
    """A frame that is not a JSON object."""


# --- sans-IO state ----------------------------------------------------------------------------


def _int_or_none(value: Any) -> bool:
    """A frame's ``sid``, ``seq`` and ``id`` are integers (a bool is not) or absent."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


# Channel of a data frame's type, for sids whose ``subscribed`` ack we did not see.
_TYPE_CHANNEL = {
    "orderbook_snapshot": c.CH_ORDERBOOK, "orderbook_delta": c.CH_ORDERBOOK, "ticker": c.CH_TICKER,
    "trade": c.CH_TRADE, "fill": c.CH_FILL, "user_order": c.CH_USER_ORDERS, "market_position": c.CH_POSITIONS,
    "market_lifecycle_v2": c.CH_LIFECYCLE, "event_lifecycle": c.CH_LIFECYCLE,
    "order_group_updates": c.CH_ORDER_GROUPS,
}


def _typed(parse: Callable[[Any], Any]) -> Callable[[Any, dict, Any, Any], list[Any]]:
    """A frame handler that parses ``msg`` into one typed event."""

    def handler(state: Any, frame: dict, sid: Any, msg: Any) -> list[Any]:
        return [parse(msg)]

    return handler


def _private(parse: Callable[[Any], Any]) -> Callable[[Any, dict, Any, Any], list[Any]]:
    """A frame handler for a private channel: one typed event carrying the frame's ``sending_ts_ms``."""

    def handler(state: Any, frame: dict, sid: Any, msg: Any) -> list[Any]:
        ev = parse(msg)
        sent = wire.sending_ts_ms(frame)
        return [dataclasses.replace(ev, sending_ts_ms=sent) if sent else ev]

    return handler


class FeedState:
    """Frames in, events out; books and seq per sid. ``pending_resnapshots`` is drained by the IO layer."""

    def __init__(self) -> None:
        self.books: dict[str, LocalBook] = {}
        self.sid_channel: dict[int, str] = {}
        self.sid_tickers: dict[int, set[str]] = {}
        self.last_seq: dict[int, int] = {}
        self.dead_sids: set[int] = set()
        self.pending_resnapshots: dict[int, str] = {}
        self.parse_errors = 0

    def book(self, ticker: str) -> LocalBook:
        b = self.books.get(ticker)
        if b is None:
            b = self.books[ticker] = LocalBook(ticker)
        return b

    def reset(self) -> None:
        """Connection lost: every book and sequence is void."""
        for b in self.books.values():
            b.invalidate()
        self.sid_channel.clear()
        self.sid_tickers.clear()
        self.last_seq.clear()
        self.dead_sids.clear()
        self.pending_resnapshots.clear()

    def forget_sid(self, sid: int) -> None:
        self.dead_sids.add(sid)
        self.last_seq.pop(sid, None)
        self.pending_resnapshots.pop(sid, None)

    def request_resnapshot(self, sid: int, reason: str) -> list[Any]:
        if sid in self.pending_resnapshots or sid in self.dead_sids:
            return []
        self.pending_resnapshots[sid] = reason
        if self.sid_channel.get(sid, c.CH_ORDERBOOK) != c.CH_ORDERBOOK:
            return [Resnapshot(sid=sid, tickers=(), reason=reason)]
        tickers = tuple(sorted(self.sid_tickers.get(sid, ())))
        for t in tickers:
            self.book(t).invalidate()
        return [Resnapshot(sid=sid, tickers=tickers, reason=reason)]

    def handle(self, frame: Any) -> list[Any]:
        if not isinstance(frame, dict):
            raise WsProtocolError(f"frame is not an object: {type(frame).__name__}")
        typ = frame.get("type")
        sid = frame.get("sid")
        msg = frame.get("msg")
        for key in ("sid", "seq", "id"):
            if not _int_or_none(frame.get(key)):
                raise WsProtocolError(f"{key} is not an integer: {type(frame.get(key)).__name__}")
        if sid is not None and sid in self.dead_sids:
            return []
        events: list[Any] = []
        seq = frame.get("seq")
        if typ == "ok" and seq is not None and self.last_seq.get(sid) == seq:
            seq = None  # an ack that repeats the last seq instead of taking the next one: not a gap
        if sid is not None and seq is not None:
            last = self.last_seq.get(sid)
            self.last_seq[sid] = seq
            if last is not None and seq != last + 1:
                channel = self.sid_channel.get(sid) or _TYPE_CHANNEL.get(str(typ), c.CH_ORDERBOOK)
                if channel == c.CH_ORDERBOOK:
                    return self.request_resnapshot(sid, f"seq gap {last}->{seq}")
                events.append(SeqGap(sid=sid, expected=last + 1, got=seq))
        handler = self._HANDLERS.get(str(typ))
        if handler is None:
            return events
        try:
            events.extend(handler(self, frame, sid, msg))
        except (wire.WireError, KeyError, TypeError, IndexError, AttributeError, ValueError, ArithmeticError):
            self.parse_errors += 1
            if typ in ("orderbook_snapshot", "orderbook_delta") and sid is not None:
                events.extend(self.request_resnapshot(sid, f"unreadable {typ}"))
        return events

    # each handler: (frame, sid, msg) -> events

    def _subscribed(self, frame: dict, sid: Any, msg: Any) -> list[Any]:
        s = int(msg["sid"])
        self.sid_channel[s] = str(msg["channel"])
        self.dead_sids.discard(s)
        return [Subscribed(channel=str(msg["channel"]), sid=s, id=int(frame.get("id") or 0))]

    def _unsubscribed(self, frame: dict, sid: Any, msg: Any) -> list[Any]:
        if sid is not None:
            self.forget_sid(int(sid))
        return [Unsubscribed(sid=int(sid or 0))]

    def _ok(self, frame: dict, sid: Any, msg: Any) -> list[Any]:
        if sid is not None and isinstance(msg, dict) and "market_tickers" in msg:
            self.sid_tickers[int(sid)] = set(msg["market_tickers"])
        return [CommandOk(id=int(frame.get("id") or 0), sid=sid, msg=msg)]

    def _error(self, frame: dict, sid: Any, msg: Any) -> list[Any]:
        msg = msg or {}
        code = int(msg.get("code", 0))
        err = WsError(code=code, message=str(msg.get("msg", "")), id=int(frame.get("id") or 0), sid=sid,
                      ticker=str(msg.get("market_ticker", "")))
        events: list[Any] = [err]
        if code in c.WS_RESNAPSHOT_CODES and sid is not None:
            events.extend(self.request_resnapshot(int(sid), f"error {code}"))
        return events

    def _snapshot(self, frame: dict, sid: Any, msg: Any) -> list[Any]:
        ticker = str(msg["market_ticker"])
        yes, no = wire.book_sides(msg)
        book = self.book(ticker)
        ts = wire.event_ts_ns(msg)
        try:
            book.apply_snapshot(yes, no, ts)
        except BookError:
            return self.request_resnapshot(int(sid), "bad snapshot") if sid is not None else []
        if sid is not None:
            self.sid_channel.setdefault(int(sid), c.CH_ORDERBOOK)
            self.sid_tickers.setdefault(int(sid), set()).add(ticker)
        return [book.to_book_update(seq=int(frame.get("seq") or 0), ts_event=ts, ts_init=time.time_ns())]

    def _delta(self, frame: dict, sid: Any, msg: Any) -> list[Any]:
        d = wire.parse_book_delta(msg)
        book = self.book(d.ticker)
        if sid is not None:
            self.sid_tickers.setdefault(int(sid), set()).add(d.ticker)
        if not book.valid:
            return []  # waiting for a snapshot
        try:
            book.apply_delta(d.side, d.price, d.delta, d.ts)
        except BookError as exc:
            return self.request_resnapshot(int(sid), str(exc)) if sid is not None else []
        return [book.to_book_update(seq=int(frame.get("seq") or 0), ts_event=d.ts, ts_init=time.time_ns(),
                                    snapshot=False)]

    _HANDLERS: dict[str, Callable[["FeedState", dict, Any, Any], list[Any]]] = {
        "subscribed": _subscribed,
        "unsubscribed": _unsubscribed,
        "ok": _ok,
        "error": _error,
        "orderbook_snapshot": _snapshot,
        "orderbook_delta": _delta,
        "ticker": _typed(wire.parse_ticker),
        "trade": _typed(wire.parse_trade),
        "fill": _private(wire.parse_fill),
        "user_order": _private(wire.parse_order),
        "market_position": _private(wire.parse_position),
        "order_group_updates": _private(wire.parse_order_group_update),
        "market_lifecycle_v2": _typed(wire.parse_lifecycle),
        "event_lifecycle": _typed(wire.parse_lifecycle),
    }


# --- connection -------------------------------------------------------------------------------


@dataclass
class Subscription:
    """What the caller asked for; replayed on reconnect. ``sids`` maps channel → current sid."""

    channels: tuple[str, ...]
    market_tickers: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    sids: dict[str, int] = field(default_factory=dict)
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    error: WsError | None = None
    generation: int = -1  # the connection it was last sent on

    def command_params(self, channels: Sequence[str] | None = None) -> dict[str, Any]:
        p: dict[str, Any] = {"channels": list(channels or self.channels), **self.params}
        if self.market_tickers:
            p["market_tickers"] = list(self.market_tickers)
        return p


EventCallback = Callable[[Any], None]


class KalshiWs:
    """``async with KalshiWs(url, signer=...) as ws: await ws.subscribe([...], [...]); async for ev in ws``."""

    def __init__(
        self, url: str = c.PROD_WS_URL, *, signer: Signer | None = None, on_event: EventCallback | None = None,
        backoff_base: float = 0.5, backoff_max: float = 30.0, open_timeout: float = 10.0,
        ping_interval: float | None = 20.0, max_size: int | None = 1 << 24,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.signer = signer
        self.on_event = on_event
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.max_size = max_size
        self._rng = rng
        self.state = FeedState()
        self.subscriptions: list[Subscription] = []
        self.reconnects = 0
        self.connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._by_id: dict[int, tuple[Subscription, tuple[str, ...]]] = {}
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._conn: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._generation = 0

    def __repr__(self) -> str:
        return f"KalshiWs(url={self.url!r}, signer={self.signer!r})"

    # lifecycle

    async def __aenter__(self) -> "KalshiWs":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kalshi-ws")

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    def book(self, ticker: str) -> LocalBook | None:
        return self.state.books.get(ticker)

    # events

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        while True:
            yield await self._queue.get()

    async def next_event(self, timeout: float | None = None) -> Any:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def _emit(self, events: Iterable[Any]) -> None:
        for ev in events:
            if self.on_event is not None:
                self.on_event(ev)
            else:
                self._queue.put_nowait(ev)

    # commands

    async def _send(self, cmd: str, params: dict[str, Any] | None = None, cmd_id: int | None = None) -> int:
        cmd_id = cmd_id if cmd_id is not None else next(self._ids)
        frame: dict[str, Any] = {"id": cmd_id, "cmd": cmd}
        if params is not None:
            frame["params"] = params
        if self._conn is None:
            raise ConnectionError("not connected")
        await self._conn.send(wire.dumps(frame))
        return cmd_id

    async def _request(self, cmd: str, params: dict[str, Any] | None, timeout: float) -> Any:
        cmd_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[cmd_id] = fut
        try:
            await self._send(cmd, params, cmd_id)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._replies.pop(cmd_id, None)

    async def subscribe(
        self, channels: Sequence[str], market_tickers: Sequence[str] | None = None, *, wait: bool = True,
        timeout: float = 10.0, **params: Any,
    ) -> Subscription:
        """Subscribe (now if connected, else at connect; replayed after reconnects)."""
        unknown = [ch for ch in channels if ch not in c.CHANNELS]
        if unknown:
            raise ValueError(f"unknown channels {unknown}")
        if c.CH_ORDERBOOK in channels and not market_tickers:
            raise ValueError("orderbook_delta needs market_tickers")
        sub = Subscription(channels=tuple(channels), market_tickers=list(market_tickers or ()), params=params)
        self.subscriptions.append(sub)
        if self._conn is not None and sub.generation != self._generation:
            sub.generation = self._generation
            with contextlib.suppress(ConnectionClosed):  # replayed on reconnect
                await self._send_subscribe(sub, sub.channels)
        if wait:
            await asyncio.wait_for(sub.acked.wait(), timeout)
            if sub.error is not None:
                self.subscriptions.remove(sub)
                raise ConnectionError(f"subscribe failed: {sub.error.code} {sub.error.message}")
        return sub

    async def _send_subscribe(self, sub: Subscription, channels: tuple[str, ...]) -> None:
        cmd_id = next(self._ids)
        self._by_id[cmd_id] = (sub, channels)
        await self._send("subscribe", sub.command_params(channels), cmd_id)

    async def unsubscribe(self, sub: Subscription, timeout: float = 10.0) -> None:
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)
        sids = list(sub.sids.values())
        sub.sids.clear()
        for sid in sids:
            self.state.forget_sid(sid)
        if sids and self._conn is not None:
            await self._send("unsubscribe", {"sids": sids})

    async def update_subscription(
        self, sub: Subscription, action: str, market_tickers: Sequence[str], channel: str | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """``action``: add_markets / delete_markets / get_snapshot. Returns the server's ``msg``."""
        ch = channel or sub.channels[0]
        if action == "add_markets":
            sub.market_tickers.extend(t for t in market_tickers if t not in sub.market_tickers)
        elif action == "delete_markets":
            sub.market_tickers[:] = [t for t in sub.market_tickers if t not in market_tickers]
        sid = sub.sids.get(ch)
        if sid is None:
            return None
        return await self._request("update_subscription", {"sids": [sid], "action": action,
                                                           "market_tickers": list(market_tickers)}, timeout)

    async def list_subscriptions(self, timeout: float = 10.0) -> Any:
        return await self._request("list_subscriptions", None, timeout)

    # connection loop

    def _headers(self) -> dict[str, str]:
        if self.signer is None:
            return {}
        return self.signer.headers("GET", urlsplit(self.url).path or c.WS_PATH)

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            reason = ""
            try:
                async with connect(
                    self.url, additional_headers=self._headers(), open_timeout=self.open_timeout,
                    ping_interval=self.ping_interval, max_size=self.max_size, compression=None,
                ) as conn:
                    self._conn = conn
                    attempt = 0
                    await self._on_connect()
                    await self._read(conn)
                    reason = "closed by server"
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                reason = f"handshake HTTP {exc.response.status_code}"
            except (OSError, ConnectionClosed, websockets.InvalidHandshake, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._conn = None
                self.connected.clear()
            if self._closing:
                return
            self._on_disconnect(reason)
            delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
            attempt += 1
            await asyncio.sleep(delay / 2 + self._rng() * delay / 2)

    async def _on_connect(self) -> None:
        self.state.reset()
        self._by_id.clear()
        self._generation += 1
        for sub in list(self.subscriptions):
            if sub.generation == self._generation:
                continue  # sent by subscribe() while this loop awaited
            sub.generation = self._generation
            sub.sids.clear()
            sub.acked.clear()
            await self._send_subscribe(sub, sub.channels)
        self.connected.set()
        self._emit([Connected(reconnects=self.reconnects)])

    def _on_disconnect(self, reason: str) -> None:
        self.reconnects += 1
        self.state.reset()
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"disconnected: {reason}"))
        self._emit([Disconnected(reason=reason)])

    async def _read(self, conn: ClientConnection) -> None:
        async for raw in conn:
            try:
                frame = wire.loads(raw)
                events = self.state.handle(frame)
            except (ValueError, WsProtocolError):
                self.state.parse_errors += 1
                continue
            self._route(frame, events)
            self._emit(events)
            if self.state.pending_resnapshots:
                await self._resnapshot()

    def _route(self, frame: dict[str, Any], events: list[Any]) -> None:
        """Tie acks and errors to the command that caused them."""
        cmd_id = int(frame.get("id") or 0)
        for ev in events:
            if isinstance(ev, Subscribed) and cmd_id in self._by_id:
                sub, channels = self._by_id[cmd_id]
                sub.sids[ev.channel] = ev.sid
                if all(ch in sub.sids for ch in channels):
                    self._by_id.pop(cmd_id, None)
                    sub.acked.set()
            elif isinstance(ev, WsError) and cmd_id:
                if cmd_id in self._by_id:
                    sub, _ = self._by_id.pop(cmd_id)
                    sub.error = ev
                    sub.acked.set()
                fut = self._replies.get(cmd_id)
                if fut is not None and not fut.done():
                    fut.set_exception(ConnectionError(f"ws error {ev.code}: {ev.message}"))
            elif isinstance(ev, CommandOk | Unsubscribed):
                fut = self._replies.get(cmd_id)
                if fut is not None and not fut.done():
                    fut.set_result(ev.msg if isinstance(ev, CommandOk) else ev)

    async def _resnapshot(self) -> None:
        """Re-subscribe each lost subscription (books discarded, or the server dropped the sid)."""
        for sid in list(self.state.pending_resnapshots):
            self.state.forget_sid(sid)
            found = next(((s, ch) for s in self.subscriptions for ch, x in s.sids.items() if x == sid), None)
            if found is None:
                continue
            sub, channel = found
            del sub.sids[channel]
            await self._send("unsubscribe", {"sids": [sid]})
            await self._send_subscribe(sub, (channel,))


def book_update_of(ev: Any) -> m.BookUpdate | None:
    """Narrow an event to a book update."""
    return ev if isinstance(ev, m.BookUpdate) else None
