"""The simulator's HTTP/WS app: Kalshi REST under ``/trade-api/v2``, WS under ``/trade-api/ws/v2``,
admin endpoints under ``/admin`` (outside the Kalshi paths, no auth: loopback test control).

Every Kalshi REST request goes through ``guard``: the body is read first (so a client that gives up
during injected latency still has its request processed), then the injected latency, ``admit``'s
checks (5xx and 429 faults, authentication — market-data GETs are public —, the batch-size limit,
per-key rate limits), the handler, and last ``after``'s "processed, then 5xx" fault. The order writes
are also served without Starlette, inside the read that completes them (:class:`InlineWrites`), with
the same ``admit``, handlers and ``after``. Errors are Kalshi's nested body
``{"error": {"code", "message", "details"}}``.

Shard routing (the simulator's strict reading of Kalshi's SDK docs): a V2 cancel (query), batch-
cancel item and decrease (body) go to ``exchange_index`` when given, else to ``market_ticker``'s
shard, else to exchange index 0; an order on another shard is ``not_found``. Amend and create route
by their ``ticker``. Cancel-all covers every shard. Legacy V1 endpoints are not routed.
"""

import asyncio
import contextlib
import email.utils
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from kmm.messages.units import COUNT_SCALE, NS_PER_S, UnitError, dollars_to_price, fp_to_count

from . import legacy, render
from .auth import AuthError, authenticate, is_public
from .candles import PERIODS_MIN, CandleRecorder
from .errors import ExchangeError
from .orders import AmendOrder, CreateOrder
from .ratelimit import TOO_MANY_REQUESTS_BODY
from .sim import Simulator
from .ws import Connection, Hub

log = logging.getLogger(__name__)

API = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"

Handler = Callable[[Request, str | None], Awaitable[Response]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad(message: str, code: str = "invalid_parameters") -> ApiError:
    return ApiError(400, code, message)


def error_response(status: int, code: str, message: str, details: str = "") -> JSONResponse:
    return JSONResponse(render.error(code, message, details), status_code=status)


# --- request parsing ------------------------------------------------------------------------------
def q_int(request: Request, name: str, default: int | None, lo: int | None = None, hi: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(f"{name} must be an integer") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad(f"{name} out of range")
    return value


def q_list(request: Request, name: str) -> list[str]:
    out: list[str] = []
    for raw in request.query_params.getlist(name):
        out.extend(t for t in raw.split(",") if t)
    return out


def q_ts(request: Request, name: str) -> int | None:
    secs = q_int(request, name, None)
    return None if secs is None else secs * NS_PER_S


def _as_str(value: Any, name: str) -> str:
    if isinstance(value, bool) or value is None:
        raise bad(f"{name} is required", "missing_parameters" if value is None else "invalid_parameters")
    if isinstance(value, float):
        return str(Decimal(str(value)))
    return str(value)


def parse_price(value: Any, name: str = "price") -> int:
    try:
        return dollars_to_price(_as_str(value, name))
    except UnitError:
        raise bad(f"{name} is not a valid dollar price", "invalid_price") from None


def parse_count(value: Any, name: str = "count") -> int:
    try:
        return fp_to_count(_as_str(value, name))
    except UnitError:
        raise bad(f"{name} is not a valid fixed-point count") from None


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad("body must be a JSON object")
    return data


async def body_json(request: Request) -> dict[str, Any]:
    return parse_body(await request.body())


def opt_int(value: Any, name: str) -> int | None:
    """An optional integer from a JSON body or query string (None when absent or empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise bad(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"{name} must be an integer") from None


def create_request(d: dict[str, Any]) -> CreateOrder:
    for name in ("ticker", "side", "count", "price", "time_in_force", "self_trade_prevention_type"):
        if d.get(name) is None:
            raise bad(f"{name} is required", "missing_parameters")
    exp = d.get("expiration_time")
    return CreateOrder(
        ticker=str(d["ticker"]),
        side=str(d["side"]),
        price=parse_price(d["price"]),
        count=parse_count(d["count"]),
        time_in_force=str(d["time_in_force"]),
        self_trade_prevention=str(d["self_trade_prevention_type"]),
        client_order_id=d.get("client_order_id"),
        post_only=bool(d.get("post_only", False)),
        reduce_only=bool(d.get("reduce_only", False)),
        expiration_ns=None if exp is None else int(exp) * NS_PER_S,
        order_group_id=d.get("order_group_id"),
        cancel_order_on_pause=bool(d.get("cancel_order_on_pause", False)),
        exchange_index=opt_int(d.get("exchange_index"), "exchange_index"),
    )


def _inner_error(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ExchangeError | ApiError):
        return {"code": exc.code, "message": exc.message, "details": ""}
    return {"code": "internal_error", "message": str(exc), "details": ""}


class TradeCounter:
    """Engine listener counting public trades for /status and /metrics."""

    def __init__(self, counters: "Counter[str]") -> None:
        self.counters = counters

    def on_trade(self, ev: Any) -> None:
        self.counters["trades"] += 1
        self.counters["contracts"] += ev.count


def render_metrics(sim: Simulator, hub: Hub, counters: "Counter[str]") -> str:
    """Prometheus text exposition of the simulator's own figures (prefix ``kmm_sim_``)."""
    lines = [
        "# HELP kmm_sim_ws_connections Open WebSocket connections.", "# TYPE kmm_sim_ws_connections gauge",
        f"kmm_sim_ws_connections {len(hub.connections)}",
        "# HELP kmm_sim_ws_messages_sent_total WS messages sent on open connections.",
        "# TYPE kmm_sim_ws_messages_sent_total counter",
        f"kmm_sim_ws_messages_sent_total {sum(c.sent for c in hub.connections)}",
        "# HELP kmm_sim_trades_total Public trades.", "# TYPE kmm_sim_trades_total counter",
        f"kmm_sim_trades_total {counters['trades']}",
        "# HELP kmm_sim_trading_active 1 when the exchange is not paused.", "# TYPE kmm_sim_trading_active gauge",
        f"kmm_sim_trading_active {int(bool(sim.exchange.trading_active))}",
        "# HELP kmm_sim_markets Markets by status.", "# TYPE kmm_sim_markets gauge",
    ]
    by_status = Counter(m.status for m in sim.exchange.markets())
    lines += [f'kmm_sim_markets{{status="{k}"}} {v}' for k, v in sorted(by_status.items())]
    lines += ["# HELP kmm_sim_http_responses_total Kalshi API responses by status code.",
              "# TYPE kmm_sim_http_responses_total counter"]
    lines += [f'kmm_sim_http_responses_total{{code="{k[5:]}"}} {v}'
              for k, v in sorted(counters.items()) if k.startswith("http_")]
    return "\n".join(lines) + "\n"


class HttpDate:
    """The server clock's HTTP ``Date`` (shifted by the ``clock_skew_ms`` fault), formatted once a second."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._date: tuple[int, bytes] = (-1, b"")

    def __call__(self) -> bytes:
        now_s = self.sim.faults.server_ms(time.time_ns() // 1_000_000) // 1000
        if now_s != self._date[0]:
            self._date = (now_s, email.utils.formatdate(now_s, usegmt=True).encode())
        return self._date[1]


class ServerDate:
    """ASGI middleware: every HTTP response's ``Date`` from :class:`HttpDate`. Servers using this app
    turn uvicorn's own Date header off."""

    def __init__(self, app: Any, date: HttpDate) -> None:
        self.app = app
        self.date = date

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_date(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", self.date()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_date)


# --- the order writes, served by Starlette and inline by the HTTP protocol ---------------------------
Answer = tuple[int, Any]  # an HTTP status and its JSON payload (None: no body)


@dataclass(frozen=True, slots=True)
class Call:
    """What an order write reads of its request: from Starlette's request, or straight from the HTTP
    protocol when it answers the write inline (:class:`InlineWrites`)."""

    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return parse_body(self.body)


Write = Callable[[Call, str | None], Answer]
WriteRoute = tuple[Write, dict[str, str]]  # an order write and its path parameters


@dataclass(frozen=True, slots=True)
class InlineWrites:
    """The Kalshi V2 order writes (create, amend, decrease, cancel, their batches, cancel-all) as
    :mod:`.onewrite`'s protocol serves them: inside the read that completed the request, without an
    ASGI task, Starlette's routing and middleware or its request and response objects (under the
    pipeline bench's load the task waited ~0.2 ms for its turn of the loop). The checks and handlers
    are the routes' own. ``route(method, path)`` is the write a request is, or None when it is none or a
    latency fault would hold it (that needs the loop); ``answer(route, ...)`` serves it: status and JSON
    body."""

    route: Callable[[str, str], WriteRoute | None]
    answer: Callable[[WriteRoute, str, str, bytes, list[tuple[bytes, bytes]], bytes, str], tuple[int, bytes]]
    date: HttpDate


def api_path_of(path: str) -> str:
    """A request path relative to ``/trade-api/v2`` (what the faults, the limits and ``is_public`` take)."""
    return path[len(API):] if path.startswith(API) else path


def json_bytes(payload: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` renders it."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def answer_response(answer: Answer) -> Response:
    status, payload = answer
    return Response(status_code=status) if payload is None else JSONResponse(payload, status_code=status)


REFUSED = (ExchangeError, ApiError, ValueError, TypeError, KeyError)  # what a handler raises to refuse a request


def refusal(exc: Exception) -> Answer:
    """The answer to one of :data:`REFUSED` raised by a handler (any other exception is a bug: a 500)."""
    if isinstance(exc, ExchangeError | ApiError):
        return exc.status, render.error(exc.code, exc.message)
    return 400, render.error("invalid_parameters", "bad request", str(exc))


def match_path(template: str, path: str) -> dict[str, str] | None:
    """The path parameters if ``path`` fits ``template`` (``{name}`` takes one non-empty segment)."""
    want, got = template.split("/"), path.split("/")
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for w, g in zip(want, got, strict=True):
        if w.startswith("{"):
            if not g:
                return None
            params[w[1:-1]] = g
        elif w != g:
            return None
    return params


# --- the app ---------------------------------------------------------------------------------------
def create_app(sim: Simulator) -> Starlette:
    """The ASGI app serving ``sim``; its lifespan runs the simulator's clock loop. ``app.state.inline``
    is its :class:`InlineWrites`."""
    ex = sim.exchange
    hub = Hub(ex, sim.clock.now_ns)
    ex.add_listener(hub)
    candles = CandleRecorder(ex, sim.history_ns)
    ex.add_listener(candles)
    counters: Counter[str] = Counter()
    ex.add_listener(TradeCounter(counters))
    faults = sim.faults

    def admit(method: str, path: str, headers: Mapping[str, str], body: bytes, client: str, public: bool,
              now_ms: int) -> tuple[Answer | None, str | None]:
        """A request's checks before its handler: a refusal, or none and the user (None: anonymous)."""
        api_path = api_path_of(path)
        status = faults.take_error(api_path)
        if status is not None:
            return (status, render.error("internal_server_error", "injected fault")), None
        if faults.take_rate_limit(api_path):
            return (429, TOO_MANY_REQUESTS_BODY), None
        user: str | None = None
        if public and is_public(method, api_path):
            with contextlib.suppress(AuthError):
                user = authenticate(sim.keys, method, path, headers, now_ms)
        else:
            try:
                user = authenticate(sim.keys, method, path, headers, now_ms)
            except AuthError as exc:
                return (401, exc.body), None
        key = user or f"anon:{client}"
        batch = 0
        if api_path.endswith("/batched"):
            with contextlib.suppress(Exception):
                d = parse_body(body)
                batch = len(d.get("orders") or d.get("ids") or [])
            limit = sim.limiter.max_batch(key)
            if batch > limit:
                return (400, render.error("invalid_parameters",
                                          f"batch of {batch} orders exceeds the maximum of {limit} for this tier")), None
        if not sim.limiter.allow(key, method, api_path, batch):
            return (429, TOO_MANY_REQUESTS_BODY), None
        return None, user

    def after(path: str, status: int) -> Answer | None:
        """The "processed, then 5xx" fault's answer when one is injected; counts the status sent."""
        injected = faults.take_error_after(api_path_of(path))
        counters[f"http_{status if injected is None else injected}"] += 1
        if injected is None:
            return None
        return injected, render.error("internal_server_error", "injected fault after processing")

    def guard(handler: Handler, public: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            path: str = request.scope["path"]  # request.url would build a URL object for nothing
            now_ms = faults.server_ms(time.time_ns() // 1_000_000)  # as of arrival, not after latency
            try:
                body = await request.body()  # cached: the handler still has it if the client leaves meanwhile
            except ClientDisconnect:
                return Response(status_code=499)
            delay = faults.latency_s(api_path_of(path))
            if delay > 0:
                await asyncio.sleep(delay)
            refused, user = admit(request.method, path, request.headers, body,
                                  request.client.host if request.client else "", public, now_ms)
            if refused is not None:
                return answer_response(refused)
            response = await run(handler, request, user)
            injected = after(path, response.status_code)
            return response if injected is None else answer_response(injected)

        return endpoint

    async def run(handler: Handler, request: Request, user: str | None) -> Response:
        try:
            return await handler(request, user)
        except REFUSED as exc:
            return answer_response(refusal(exc))

    def need_user(user: str | None) -> str:
        if user is None:
            raise ApiError(401, "authentication_error", "authentication required")
        return user

    def market_json(ticker: str) -> dict[str, Any]:
        return render.market(ex.market(ticker), ex.market_stats(ticker), sim.strikes.get(ticker))

    def page(items: list[Any], request: Request, default: int = 100, lo: int = 0) -> tuple[list[Any], str]:
        limit = q_int(request, "limit", default, lo, 1000) or default
        cursor = request.query_params.get("cursor") or "0"
        try:
            start = int(cursor)
        except ValueError:
            raise bad("invalid cursor") from None
        chunk = items[start:start + limit]
        nxt = start + limit
        return chunk, (str(nxt) if nxt < len(items) else "")

    # ---- exchange ----
    async def exchange_status(request: Request, user: str | None) -> Response:
        trading = bool(ex.trading_active)
        return JSONResponse({"exchange_active": True, "trading_active": trading, "exchange_index_statuses": [
            {"exchange_index": i, "description": f"simulated shard {i}", "exchange_active": True,
             "trading_active": trading, "intra_exchange_transfers_active": False}
            for i in range(ex.shards)
        ]})

    async def exchange_schedule(request: Request, user: str | None) -> Response:
        always = [{"open_time": "00:00", "close_time": "23:59"}]
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        week = {"start_time": "2020-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z"}
        week.update({d: always for d in days})  # type: ignore[misc]
        return JSONResponse({"schedule": {"standard_hours": [week], "maintenance_windows": []}})

    # ---- markets ----
    status_filter = {"unopened": ("initialized",), "open": ("active",), "paused": ("inactive",),
                     "closed": ("closed", "determined"), "settled": ("finalized",)}

    async def get_markets(request: Request, user: str | None) -> Response:
        status = request.query_params.get("status")
        if status and status not in status_filter:
            raise bad(f"invalid status filter {status!r}")
        tickers = set(q_list(request, "tickers"))
        ev = request.query_params.get("event_ticker")
        se = request.query_params.get("series_ticker")
        min_close, max_close = q_ts(request, "min_close_ts"), q_ts(request, "max_close_ts")
        sel = [
            m for m in ex.markets()
            if (not status or m.status in status_filter[status])
            and (not tickers or m.ticker in tickers)
            and (not ev or m.event_ticker == ev)
            and (not se or m.series_ticker == se)
            and (min_close is None or m.close_ns >= min_close)
            and (max_close is None or m.close_ns <= max_close)
        ]
        chunk, cursor = page(sel, request)
        return JSONResponse({"markets": [market_json(m.ticker) for m in chunk], "cursor": cursor})

    async def get_market(request: Request, user: str | None) -> Response:
        return JSONResponse({"market": market_json(request.path_params["ticker"])})

    async def get_orderbook(request: Request, user: str | None) -> Response:
        ticker = request.path_params["ticker"]
        depth = q_int(request, "depth", 0, None, 100) or 0
        ex.market(ticker)
        return JSONResponse({"orderbook_fp": render.orderbook(ex.book(ticker, max(depth, 0)))})

    async def get_orderbooks(request: Request, user: str | None) -> Response:
        tickers = q_list(request, "tickers")
        if not tickers:
            raise bad("tickers is required", "missing_parameters")
        return JSONResponse({"orderbooks": [
            {"ticker": t, "orderbook_fp": render.orderbook(ex.book(t))} for t in tickers
        ]})

    async def get_trades(request: Request, user: str | None) -> Response:
        limit = q_int(request, "limit", 100, 0, 1000) or 100
        p = ex.trades(ticker=request.query_params.get("ticker") or None, min_ts_ns=q_ts(request, "min_ts"),
                      max_ts_ns=q_ts(request, "max_ts"), limit=limit,
                      cursor=request.query_params.get("cursor") or "")
        return JSONResponse({"trades": [render.trade(t) for t in p.items], "cursor": p.cursor})

    def candle_range(request: Request) -> tuple[int, int, int]:
        start = q_int(request, "start_ts", None)
        end = q_int(request, "end_ts", None)
        period = q_int(request, "period_interval", None)
        if start is None or end is None or period is None:
            raise bad("start_ts, end_ts and period_interval are required", "missing_parameters")
        if period not in PERIODS_MIN:
            raise bad("period_interval must be 1, 60 or 1440")
        return start, end, period

    async def get_candlesticks(request: Request, user: str | None) -> Response:
        ticker = request.path_params["ticker"]
        m = ex.market(ticker)
        if m.series_ticker != request.path_params["series_ticker"]:
            raise ApiError(404, "not_found", f"market {ticker} is not in series {request.path_params['series_ticker']}")
        start, end, period = candle_range(request)
        return JSONResponse({"ticker": ticker, "candlesticks": candles.candles(ticker, start, end, period)})

    async def batch_candlesticks(request: Request, user: str | None) -> Response:
        tickers = q_list(request, "market_tickers")
        if not tickers or len(tickers) > 100:
            raise bad("market_tickers: 1 to 100 tickers", "missing_parameters" if not tickers else "invalid_parameters")
        start, end, period = candle_range(request)
        for t in tickers:
            ex.market(t)
        return JSONResponse({"markets": [
            {"market_ticker": t, "candlesticks": candles.candles(t, start, end, period)} for t in tickers
        ]})

    # ---- events / series ----
    async def get_events(request: Request, user: str | None) -> Response:
        nested = request.query_params.get("with_nested_markets") in ("true", "True", "1")
        se = request.query_params.get("series_ticker")
        status = request.query_params.get("status")
        if status and status not in status_filter:
            raise bad(f"invalid status filter {status!r}")
        evs = []
        for e in ex.events():
            if se and e.series_ticker != se:
                continue
            if status and not any(ex.market(t).status in status_filter[status] for t in e.market_tickers):
                continue
            evs.append(e)
        chunk, cursor = page(evs, request, 200, 1)
        return JSONResponse({"events": [
            render.event(e, [market_json(t) for t in e.market_tickers] if nested else None) for e in chunk
        ], "cursor": cursor})

    async def get_event(request: Request, user: str | None) -> Response:
        e = ex.event(request.path_params["event_ticker"])
        mk = [market_json(t) for t in e.market_tickers]
        return JSONResponse({"event": render.event(e), "markets": mk})

    async def get_series_list(request: Request, user: str | None) -> Response:
        return JSONResponse({"series": [render.series(s) for s in ex.all_series()]})

    async def get_series(request: Request, user: str | None) -> Response:
        return JSONResponse({"series": render.series(ex.series(request.path_params["series_ticker"]))})

    # ---- account ----
    async def account_limits(request: Request, user: str | None) -> Response:
        return JSONResponse(sim.limiter.limits_body(need_user(user)))

    async def endpoint_costs(request: Request, user: str | None) -> Response:
        return JSONResponse(sim.limiter.endpoint_costs_body(need_user(user)))

    def routed(params: Any) -> int:
        """The exchange index a V2 cancel / batch-cancel item / decrease is routed to."""
        ticker = params.get("market_ticker")
        if ticker is not None and not isinstance(ticker, str):
            raise bad("market_ticker must be a string")
        return ex.route(ticker or None, opt_int(params.get("exchange_index"), "exchange_index"))

    # ---- orders (V2): Writes, served by their routes and inline (InlineWrites) ----
    def create_order(call: Call, user: str | None) -> Answer:
        return 201, render.order_ack(ex.create_order(need_user(user), create_request(call.json())))

    def batch_create(call: Call, user: str | None) -> Answer:
        u = need_user(user)
        items = call.json().get("orders")
        if not isinstance(items, list) or not items:
            raise bad("orders is required", "missing_parameters")
        parsed: list[CreateOrder | ApiError] = []
        for item in items:
            try:
                parsed.append(create_request(item if isinstance(item, dict) else {}))
            except ApiError as exc:
                parsed.append(exc)
        good = [p for p in parsed if isinstance(p, CreateOrder)]
        results = iter(ex.batch_create(u, good) if good else [])
        out = []
        for item, p in zip(items, parsed, strict=True):
            res: Any = p if isinstance(p, ApiError) else next(results)
            if isinstance(res, ExchangeError | ApiError):
                entry: dict[str, Any] = {"error": _inner_error(res)}
                if isinstance(item, dict) and item.get("client_order_id") is not None:
                    entry["client_order_id"] = item["client_order_id"]
                out.append(entry)
            else:
                out.append(render.order_ack(res))
        return 201, {"orders": out}

    def cancel_order(call: Call, user: str | None) -> Answer:
        u = need_user(user)
        index = routed(call.query)
        return 200, render.cancel_ack(ex.cancel_order(u, call.path_params["order_id"], index))

    def batch_cancel(call: Call, user: str | None) -> Answer:
        u = need_user(user)
        items = call.json().get("orders")
        if not isinstance(items, list) or not items:
            raise bad("orders is required", "missing_parameters")
        parsed: list[tuple[str, int] | ExchangeError | ApiError] = []
        for item in items:
            try:
                if not isinstance(item, dict) or not item.get("order_id"):
                    raise bad("order_id is required", "missing_parameters")
                parsed.append((str(item["order_id"]), routed(item)))
            except (ExchangeError, ApiError) as exc:
                parsed.append(exc)
        routed_items = [p for p in parsed if isinstance(p, tuple)]
        results = iter(ex.batch_cancel(u, routed_items) if routed_items else [])
        out = []
        for item, p in zip(items, parsed, strict=True):
            res: Any = p if not isinstance(p, tuple) else next(results)
            if isinstance(res, ExchangeError | ApiError):
                oid = str(item.get("order_id", "")) if isinstance(item, dict) else ""
                out.append({"order_id": oid, "reduced_by": "0.00", "error": _inner_error(res)})
            else:
                out.append(render.cancel_ack(res))
        return 200, {"orders": out}

    def cancel_all(call: Call, user: str | None) -> Answer:
        ex.cancel_all(need_user(user))
        return 204, None

    def amend_order(call: Call, user: str | None) -> Answer:
        u = need_user(user)
        d = call.json()
        for name in ("ticker", "side", "price", "count"):
            if d.get(name) is None:
                raise bad(f"{name} is required", "missing_parameters")
        oid = call.path_params["order_id"]
        existing = ex.get_order(u, oid)
        if existing.ticker != d["ticker"] or existing.side != d["side"]:
            raise bad("ticker and side must match the order")
        exp = d.get("expiration_time")
        index = ex.route(existing.ticker, opt_int(d.get("exchange_index"), "exchange_index"))
        ack = ex.amend_order(u, oid, AmendOrder(
            price=parse_price(d["price"]), count=parse_count(d["count"]),
            updated_client_order_id=d.get("updated_client_order_id"),
            expiration_ns=None if exp is None else int(exp) * NS_PER_S,
        ), exchange_index=index)
        return 200, render.order_ack(ack)

    def decrease_order(call: Call, user: str | None) -> Answer:
        u = need_user(user)
        d = call.json()
        by, to = d.get("reduce_by"), d.get("reduce_to")
        if (by is None) == (to is None):
            raise bad("exactly one of reduce_by / reduce_to is required")
        ack = ex.decrease_order(
            u, call.path_params["order_id"],
            reduce_by=None if by is None else parse_count(by, "reduce_by"),
            reduce_to=None if to is None else parse_count(to, "reduce_to"),
            exchange_index=routed(d),
        )
        return 200, render.decrease_ack(ack)

    order_writes: list[tuple[str, str, Write]] = [  # (method, path, write)
        ("POST", API + "/portfolio/events/orders", create_order),
        ("DELETE", API + "/portfolio/events/orders", cancel_all),
        ("POST", API + "/portfolio/events/orders/batched", batch_create),
        ("DELETE", API + "/portfolio/events/orders/batched", batch_cancel),
        ("DELETE", API + "/portfolio/events/orders/{order_id}", cancel_order),
        ("POST", API + "/portfolio/events/orders/{order_id}/amend", amend_order),
        ("POST", API + "/portfolio/events/orders/{order_id}/decrease", decrease_order),
    ]

    def write_route(method: str, path: str) -> WriteRoute | None:
        for m, template, write in order_writes:
            if m == method:
                params = match_path(template, path)
                if params is not None:
                    return write, params
        return None

    def as_handler(write: Write) -> Handler:
        async def handler(request: Request, user: str | None) -> Response:
            return answer_response(write(Call(request.path_params, request.query_params, await request.body()), user))

        return handler

    def inline_route(method: str, path: str) -> WriteRoute | None:
        return None if faults.latency_s(api_path_of(path)) > 0 else write_route(method, path)

    def answer_inline(route: WriteRoute, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]],
                      body: bytes, client: str) -> tuple[int, bytes]:
        """One order write ``inline_route`` found: its status and JSON body (a bug: a 500)."""
        now_ms = faults.server_ms(time.time_ns() // 1_000_000)
        try:
            answer, user = admit(method, path, {k.decode("latin-1"): v.decode("latin-1") for k, v in headers},
                                 body, client, False, now_ms)
            if answer is None:
                write, params = route
                query_params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
                try:
                    answer = write(Call(params, query_params, body), user)
                except REFUSED as exc:
                    answer = refusal(exc)
                answer = after(path, answer[0]) or answer
        except Exception as exc:
            log.exception("order write %s %s failed", method, path)
            answer = 500, render.error("internal_server_error", "internal error", type(exc).__name__)
        status, payload = answer
        return status, b"" if payload is None else json_bytes(payload)

    # ---- legacy V1 orders (compatibility; they cost 10x tokens like on Kalshi) ----
    def v1(fn: Callable[[dict[str, Any]], Any], d: dict[str, Any]) -> Any:
        try:
            return fn(d)
        except legacy.LegacyRequestError as exc:
            raise bad(str(exc)) from None

    async def v1_create(request: Request, user: str | None) -> Response:
        u = need_user(user)
        ack = ex.create_order(u, v1(legacy.create_request, await body_json(request)))
        return JSONResponse({"order": render.order(ex.get_order(u, ack.order_id))}, status_code=201)

    async def v1_batch_create(request: Request, user: str | None) -> Response:
        u = need_user(user)
        items = (await body_json(request)).get("orders")
        if not isinstance(items, list) or not items:
            raise bad("orders is required", "missing_parameters")
        out: list[dict[str, Any]] = []
        for item in items:
            d = item if isinstance(item, dict) else {}
            entry: dict[str, Any] = {}
            if d.get("client_order_id") is not None:
                entry["client_order_id"] = d["client_order_id"]
            try:
                ack = ex.create_order(u, v1(legacy.create_request, d))
                entry["order"] = render.order(ex.get_order(u, ack.order_id))
            except (ExchangeError, ApiError) as exc:
                entry["error"] = _inner_error(exc)
            out.append(entry)
        return JSONResponse({"orders": out}, status_code=201)

    async def v1_cancel(request: Request, user: str | None) -> Response:
        u = need_user(user)
        ack = ex.cancel_order(u, request.path_params["order_id"])
        return JSONResponse({"order": render.order(ex.get_order(u, ack.order_id)),
                             "reduced_by_fp": render.fp(ack.reduced_by)})

    async def v1_batch_cancel(request: Request, user: str | None) -> Response:
        u = need_user(user)
        body = await body_json(request)
        ids = [str(i) for i in body.get("ids") or []] + [
            str(o.get("order_id")) for o in body.get("orders") or [] if isinstance(o, dict)]
        if not ids:
            raise bad("ids or orders is required", "missing_parameters")
        out: list[dict[str, Any]] = []
        for oid, res in zip(ids, ex.batch_cancel(u, ids), strict=True):
            if isinstance(res, ExchangeError):
                out.append({"order_id": oid, "reduced_by_fp": "0.00", "error": _inner_error(res)})
            else:
                out.append({"order_id": oid, "order": render.order(ex.get_order(u, oid)),
                            "reduced_by_fp": render.fp(res.reduced_by)})
        return JSONResponse({"orders": out})

    async def v1_amend(request: Request, user: str | None) -> Response:
        u = need_user(user)
        oid = request.path_params["order_id"]
        old = render.order(ex.get_order(u, oid))
        ack = ex.amend_order(u, oid, v1(legacy.amend_request, await body_json(request)))
        return JSONResponse({"old_order": old, "order": render.order(ex.get_order(u, ack.order_id))})

    async def v1_decrease(request: Request, user: str | None) -> Response:
        u = need_user(user)
        d = await body_json(request)
        by = d.get("reduce_by_fp", d.get("reduce_by"))
        to = d.get("reduce_to_fp", d.get("reduce_to"))
        if (by is None) == (to is None):
            raise bad("exactly one of reduce_by / reduce_to is required")

        def amount(v: Any, fp_key: str) -> int:
            return parse_count(v) if fp_key in d else int(v) * COUNT_SCALE

        ack = ex.decrease_order(u, request.path_params["order_id"],
                                reduce_by=None if by is None else amount(by, "reduce_by_fp"),
                                reduce_to=None if to is None else amount(to, "reduce_to_fp"))
        return JSONResponse({"order": render.order(ex.get_order(u, ack.order_id))})

    # ---- portfolio reads ----
    async def get_orders(request: Request, user: str | None) -> Response:
        u = need_user(user)
        tickers = q_list(request, "ticker")
        events = q_list(request, "event_ticker")
        status = request.query_params.get("status") or None
        if status and status not in ("resting", "canceled", "executed"):
            raise bad(f"invalid status {status!r}")
        p = ex.orders(
            u, tickers=tickers or None, event_ticker=events[0] if len(events) == 1 else None, status=status,
            min_ts_ns=q_ts(request, "min_ts"), max_ts_ns=q_ts(request, "max_ts"),
            exchange_index=q_int(request, "exchange_index", None, 0),
            limit=q_int(request, "limit", 100, 1, 1000) or 100, cursor=request.query_params.get("cursor") or "",
        )
        items = [o for o in p.items if len(events) <= 1 or o.event_ticker in events]
        return JSONResponse({"orders": [render.order(o) for o in items], "cursor": p.cursor})

    async def get_order(request: Request, user: str | None) -> Response:
        return JSONResponse({"order": render.order(ex.get_order(need_user(user), request.path_params["order_id"]))})

    async def queue_position(request: Request, user: str | None) -> Response:
        n = ex.queue_position(need_user(user), request.path_params["order_id"])
        return JSONResponse({"queue_position_fp": render.fp(n)})

    async def queue_positions(request: Request, user: str | None) -> Response:
        u = need_user(user)
        tickers = q_list(request, "market_tickers")
        ev = request.query_params.get("event_ticker") or None
        if not tickers and not ev:
            raise bad("market_tickers or event_ticker is required", "missing_parameters")
        p = ex.orders(u, tickers=tickers or None, event_ticker=ev, status="resting", limit=1000)
        return JSONResponse({"queue_positions": [
            {"order_id": o.order_id, "market_ticker": o.ticker,
             "queue_position_fp": render.fp(ex.queue_position(u, o.order_id))}
            for o in p.items
        ]})

    async def get_fills(request: Request, user: str | None) -> Response:
        u = need_user(user)
        p = ex.fills(
            u, tickers=q_list(request, "ticker") or None, order_id=request.query_params.get("order_id") or None,
            min_ts_ns=q_ts(request, "min_ts"), max_ts_ns=q_ts(request, "max_ts"),
            exchange_index=q_int(request, "exchange_index", None, 0),
            limit=q_int(request, "limit", 100, 1, 1000) or 100, cursor=request.query_params.get("cursor") or "",
        )
        return JSONResponse({"fills": [render.fill(f) for f in p.items], "cursor": p.cursor})

    async def get_positions(request: Request, user: str | None) -> Response:
        u = need_user(user)
        status = request.query_params.get("settlement_status") or "unsettled"
        if status not in ("unsettled", "settled", "all"):
            raise bad(f"invalid settlement_status {status!r}")
        count_filter = request.query_params.get("count_filter") or ""
        positions = ex.positions(
            u, ticker=request.query_params.get("ticker") or None,
            event_ticker=request.query_params.get("event_ticker") or None,
            settlement_status=status, include_flat="total_traded" in count_filter,
            exchange_index=q_int(request, "exchange_index", None, 0),
        )
        chunk, cursor = page(positions, request, 100, 1)
        return JSONResponse({"market_positions": [render.position(p) for p in chunk],
                             "event_positions": render.event_positions(chunk), "cursor": cursor})

    async def get_balance(request: Request, user: str | None) -> Response:
        index = q_int(request, "exchange_index", None, 0, ex.shards - 1)
        return JSONResponse(render.balance(ex.balance(need_user(user)), ex.shards, index))

    async def get_settlements(request: Request, user: str | None) -> Response:
        u = need_user(user)
        p = ex.settlements(
            u, ticker=request.query_params.get("ticker") or None,
            event_ticker=request.query_params.get("event_ticker") or None,
            min_ts_ns=q_ts(request, "min_ts"), max_ts_ns=q_ts(request, "max_ts"),
            limit=q_int(request, "limit", 100, 1, 1000) or 100, cursor=request.query_params.get("cursor") or "",
        )
        return JSONResponse({"settlements": [render.settlement(s) for s in p.items], "cursor": p.cursor})

    # ---- order groups ----
    def group_json(g: Any) -> dict[str, Any]:
        return {"id": g.order_group_id, "contracts_limit_fp": render.fp(g.contracts_limit),
                "is_auto_cancel_enabled": not g.triggered}

    async def create_group(request: Request, user: str | None) -> Response:
        u = need_user(user)
        d = await body_json(request)
        if d.get("contracts_limit_fp") is not None:
            limit = parse_count(d["contracts_limit_fp"], "contracts_limit_fp")
        elif d.get("contracts_limit") is not None:
            limit = parse_count(d["contracts_limit"], "contracts_limit")
        else:
            raise bad("contracts_limit is required", "missing_parameters")
        g = ex.create_order_group(u, limit)
        return JSONResponse({"order_group_id": g.order_group_id, "subaccount": 0}, status_code=201)

    async def list_groups(request: Request, user: str | None) -> Response:
        return JSONResponse({"order_groups": [group_json(g) for g in ex.order_groups(need_user(user))]})

    async def get_group(request: Request, user: str | None) -> Response:
        u = need_user(user)
        gid = request.path_params["order_group_id"]
        g = ex.order_group(u, gid)
        body = group_json(g)
        body.pop("id")
        body["orders"] = [o.order_id for o in ex.order_group_orders(u, gid)]
        return JSONResponse(body)

    async def group_action(request: Request, user: str | None) -> Response:
        u = need_user(user)
        gid = request.path_params["order_group_id"]
        action = request.path_params.get("action", "")
        if request.method == "DELETE":
            ex.delete_order_group(u, gid)
        elif action == "reset":
            ex.reset_order_group(u, gid)
        elif action == "trigger":
            ex.trigger_order_group(u, gid)
        elif action == "limit":
            d = await body_json(request)
            raw = d.get("contracts_limit_fp", d.get("contracts_limit"))
            if raw is None:
                raise bad("contracts_limit is required", "missing_parameters")
            ex.set_order_group_limit(u, gid, parse_count(raw, "contracts_limit"))
        else:
            raise ApiError(404, "not_found", "unknown action")
        return JSONResponse({})

    # ---- WebSocket ----
    async def websocket_endpoint(websocket: WebSocket) -> None:
        now_ms = sim.faults.server_ms(time.time_ns() // 1_000_000)
        try:
            user = authenticate(sim.keys, "GET", WS_PATH, websocket.headers, now_ms)
        except AuthError as exc:
            try:
                await websocket.send_denial_response(JSONResponse(exc.body, status_code=401))
            except RuntimeError:
                await websocket.close(code=1008)
            return
        await websocket.accept()
        conn = Connection(user=user, exchange=ex, faults=sim.faults, clock_ns=sim.clock.now_ns)
        hub.connections.add(conn)
        try:
            await conn.serve(websocket)
        finally:
            hub.connections.discard(conn)

    # ---- admin ----
    async def admin_state(request: Request) -> Response:
        return JSONResponse({
            "faults": sim.faults.as_dict(), "trading_active": bool(ex.trading_active),
            "now_ns": sim.clock.now_ns(), "speed": sim.clock.speed, "accounts": sim.keys.ids(),
            "markets": len(ex.markets()), "ws_connections": len(hub.connections), "flow": sim.flow,
            "tier": sim.limiter.tier, "tiers": {k: sim.limiter.tier_of(k) for k in sim.keys.ids()},
            "rate_limit": sim.limiter.enabled, "shards": ex.shards, "post_only_cross": ex.post_only_cross,
        })

    def admin_user(request: Request) -> str:
        user = request.query_params.get("user")
        if not user:
            raise bad("user is required (an API key id)", "missing_parameters")
        if not ex.has_account(user):
            raise ApiError(404, "not_found", f"no account {user!r}")
        return user

    async def admin_orders(request: Request) -> Response:
        """Every order the user ever created (any status, or only ``status``), oldest first."""
        try:
            user = admin_user(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)
        status = request.query_params.get("status")
        return JSONResponse({"user": user, "orders": [render.admin_order(o) for o in ex.order_history(user)
                                                      if not status or o.status == status]})

    async def admin_positions(request: Request) -> Response:
        """Every market the user ever traded: position now and the largest |position| ever held."""
        try:
            user = admin_user(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)
        rows = ex.positions(user, settlement_status="all", include_flat=True)
        return JSONResponse({"user": user, "positions": [render.admin_position(p) for p in rows]})

    async def admin_faults(request: Request) -> Response:
        try:
            changes = await body_json(request)
            sim.faults.update(changes)
        except (ApiError, ValueError, TypeError) as exc:
            return error_response(400, "invalid_parameters", str(exc))
        if "paused" in changes:
            ex.set_trading_active(not sim.faults.paused)
        if changes.get("drop_ws"):
            hub.drop_all()
        return JSONResponse(sim.faults.as_dict())

    async def admin_faults_reset(request: Request) -> Response:
        sim.faults.reset()
        ex.set_trading_active(True)
        return JSONResponse(sim.faults.as_dict())

    async def admin_drop_ws(request: Request) -> Response:
        return JSONResponse({"dropped": hub.drop_all()})

    async def admin_pause(request: Request) -> Response:
        sim.faults.paused = request.url.path.endswith("/pause")
        ex.set_trading_active(not sim.faults.paused)
        return JSONResponse({"trading_active": bool(ex.trading_active)})

    async def admin_accounts(request: Request) -> Response:
        try:
            d = await body_json(request)
            sim.add_key(str(d["key_id"]), str(d["public_key_pem"]).encode(), d.get("balance_dollars"),
                        tier=d.get("tier"))
        except (ApiError, KeyError, ValueError, TypeError) as exc:
            return error_response(400, "invalid_parameters", str(exc))
        return JSONResponse({"key_id": d["key_id"], "tier": sim.limiter.tier_of(str(d["key_id"]))},
                            status_code=201)

    async def admin_settle(request: Request) -> Response:
        ticker = request.path_params["ticker"]
        try:
            d = await body_json(request)
            result = str(d.get("result", ""))
            rows = ex.settle_market(ticker, result)
        except (ApiError, ExchangeError, ValueError, TypeError) as exc:
            return error_response(400, "invalid_parameters", str(exc))
        return JSONResponse({"ticker": ticker, "result": result, "settlements": len(rows)})

    async def admin_close(request: Request) -> Response:
        try:
            ex.close_market(request.path_params["ticker"])
        except ExchangeError as exc:
            return error_response(exc.status, exc.code, exc.message)
        return JSONResponse({"ticker": request.path_params["ticker"], "status": "closed"})

    async def admin_create_market(request: Request) -> Response:
        try:
            d = await body_json(request)
            now = sim.clock.now_ns()
            close_ns = int(d.get("close_ts", now // NS_PER_S + 86400)) * NS_PER_S
            m = ex.create_market(str(d["ticker"]), str(d["event_ticker"]), title=str(d.get("title", "")),
                                 close_ns=close_ns, fee_type=str(d.get("fee_type", "quadratic")))
        except (ApiError, ExchangeError, KeyError, ValueError, TypeError, OverflowError) as exc:
            return error_response(400, "invalid_parameters", str(exc))
        return JSONResponse({"ticker": m.ticker, "status": m.status}, status_code=201)

    async def admin_advance(request: Request) -> Response:
        try:
            d = await body_json(request)
            seconds = Decimal(str(d.get("seconds", 0)))
            if not seconds.is_finite() or seconds < 0:
                raise ValueError("seconds must be a non-negative number")
        except (ApiError, ValueError, ArithmeticError) as exc:
            return error_response(400, "invalid_parameters", str(exc))
        sim.clock.advance(int(seconds * NS_PER_S))
        sim.step()
        return JSONResponse({"now_ns": sim.clock.now_ns()})

    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        clock_ok = sim.running
        checks = {"clock_loop": clock_ok, "markets_listed": bool(ex.markets())}
        return JSONResponse({"ready": all(checks.values()), "checks": checks},
                            status_code=200 if all(checks.values()) else 503)

    async def status(request: Request) -> Response:
        active = sum(1 for m in ex.markets() if m.status == "active")
        summary = (f"{active} active markets, {len(hub.connections)} ws, {counters['trades']} trades, "
                   f"trading {'on' if ex.trading_active else 'PAUSED'}, speed x{sim.clock.speed:g}")
        return JSONResponse({"summary": summary, "active_markets": active, "ws_connections": len(hub.connections),
                             "trades": counters["trades"], "now_ns": sim.clock.now_ns()})

    async def metrics(request: Request) -> Response:
        return Response(render_metrics(sim, hub, counters), media_type="text/plain; version=0.0.4")

    def r(path: str, handler: Handler, methods: list[str], public: bool = False) -> Route:
        return Route(API + path, guard(handler, public), methods=methods)

    routes = [  # the order writes first: routes are tried in order, and these are the ones in a hurry
        *(Route(path, guard(as_handler(write)), methods=[method]) for method, path, write in order_writes),
        r("/exchange/status", exchange_status, ["GET"], True),
        r("/exchange/schedule", exchange_schedule, ["GET"], True),
        r("/markets", get_markets, ["GET"], True),
        r("/markets/trades", get_trades, ["GET"], True),
        r("/markets/orderbooks", get_orderbooks, ["GET"], True),
        r("/markets/candlesticks", batch_candlesticks, ["GET"], True),
        r("/markets/{ticker}", get_market, ["GET"], True),
        r("/markets/{ticker}/orderbook", get_orderbook, ["GET"], True),
        r("/events", get_events, ["GET"], True),
        r("/events/{event_ticker}", get_event, ["GET"], True),
        r("/series", get_series_list, ["GET"], True),
        r("/series/{series_ticker}", get_series, ["GET"], True),
        r("/series/{series_ticker}/markets/{ticker}/candlesticks", get_candlesticks, ["GET"], True),
        r("/account/limits", account_limits, ["GET"]),
        r("/account/endpoint_costs", endpoint_costs, ["GET"]),
        r("/portfolio/orders", get_orders, ["GET"]),
        r("/portfolio/orders", v1_create, ["POST"]),
        r("/portfolio/orders/batched", v1_batch_create, ["POST"]),
        r("/portfolio/orders/batched", v1_batch_cancel, ["DELETE"]),
        r("/portfolio/orders/queue_positions", queue_positions, ["GET"]),
        r("/portfolio/orders/{order_id}", get_order, ["GET"]),
        r("/portfolio/orders/{order_id}", v1_cancel, ["DELETE"]),
        r("/portfolio/orders/{order_id}/amend", v1_amend, ["POST"]),
        r("/portfolio/orders/{order_id}/decrease", v1_decrease, ["POST"]),
        r("/portfolio/orders/{order_id}/queue_position", queue_position, ["GET"]),
        r("/portfolio/fills", get_fills, ["GET"]),
        r("/portfolio/positions", get_positions, ["GET"]),
        r("/portfolio/balance", get_balance, ["GET"]),
        r("/portfolio/settlements", get_settlements, ["GET"]),
        r("/portfolio/order_groups/create", create_group, ["POST"]),
        r("/portfolio/order_groups", list_groups, ["GET"]),
        r("/portfolio/order_groups/{order_group_id}", get_group, ["GET"]),
        r("/portfolio/order_groups/{order_group_id}", group_action, ["DELETE"]),
        r("/portfolio/order_groups/{order_group_id}/{action}", group_action, ["PUT"]),
        WebSocketRoute(WS_PATH, websocket_endpoint),
        Route("/admin/state", admin_state, methods=["GET"]),
        Route("/admin/faults", admin_faults, methods=["POST"]),
        Route("/admin/faults/reset", admin_faults_reset, methods=["POST"]),
        Route("/admin/ws/drop", admin_drop_ws, methods=["POST"]),
        Route("/admin/pause", admin_pause, methods=["POST"]),
        Route("/admin/resume", admin_pause, methods=["POST"]),
        Route("/admin/accounts", admin_accounts, methods=["POST"]),
        Route("/admin/orders", admin_orders, methods=["GET"]),
        Route("/admin/positions", admin_positions, methods=["GET"]),
        Route("/admin/markets", admin_create_market, methods=["POST"]),
        Route("/admin/markets/{ticker}/settle", admin_settle, methods=["POST"]),
        Route("/admin/markets/{ticker}/close", admin_close, methods=["POST"]),
        Route("/admin/clock/advance", admin_advance, methods=["POST"]),
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.start()
        try:
            yield
        finally:
            hub.drop_all()
            await sim.stop()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return error_response(status, "not_found" if status == 404 else "method_not_allowed", "no such endpoint")

    async def internal(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal_server_error", "internal error", type(exc).__name__)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found, Exception: internal})
    date = HttpDate(sim)
    app.add_middleware(ServerDate, date=date)
    app.state.sim = sim
    app.state.inline = InlineWrites(inline_route, answer_inline, date)
    app.state.hub = hub
    return app
