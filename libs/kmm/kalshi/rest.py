"""Async Kalshi Trade API v2 REST client (httpx), returning :mod:`kmm.kalshi.wire` types.

- Signs authenticated paths (portfolio, account) with :class:`kmm.kalshi.auth.Signer` over the full
  URL path (``/trade-api/v2/...``), without the query string.
- Optional client-side rate limiting (:class:`kmm.kalshi.ratelimit.RateLimiter`).
- Retries with exponential backoff and jitter: reads on 429/5xx/connection errors; writes only when
  the request provably was not processed (429, connection refused, no free connection). A create
  whose outcome is unknown (timeout or 5xx after sending) raises :class:`kmm.kalshi.errors.Ambiguous`
  for the caller to resolve by reading the exchange; with ``retry_unknown=True`` it is re-sent with the
  same ``client_order_id`` (one is generated when absent) and a 409 on that retry is resolved by
  reading the order back. That is safe only while the first order is still open. Kalshi answers a
  duplicate ``client_order_id`` with 409 (kalshi-api.md §3.4/§6.3, a third-party source, with no
  "open orders only" qualifier); whether it also refuses the id of an order that is already filled or
  cancelled is not confirmed. The simulator refuses a repeated id only among open orders, so there a
  first attempt that landed and was filled or cancelled before the retry arrives gets a second order
  (the soak saw it once during a 2 s latency spike); on Kalshi the same may happen. The gateway never
  asks for it: each placement it sends gets a new ``client_order_id``.
- Every failure is a classified :class:`kmm.kalshi.errors.KalshiError`.
- Requests go through :class:`kmm.kalshi.http1.Http1Pool` (kept-alive HTTP/1.1 on asyncio streams,
  a fraction of httpx's CPU per request). httpx is used instead when a ``transport`` is given (tests
  pass a ``MockTransport``) or the environment proxies the base URL (``HTTPS_PROXY`` or
  ``HTTP_PROXY`` for its scheme, ``ALL_PROXY``; not when ``NO_PROXY`` names its host): httpx knows
  proxies, the pool does not.
  Connections are kept alive (every connection kept). At most ``max_in_flight`` requests
  run at once, the pool's size: one more waits for a slot at most the request's timeout and otherwise
  fails as :class:`kmm.kalshi.errors.ConnectionFailed` (provably not sent). On the httpx path (a given
  transport, a proxy) httpx's own pool must never queue: a burst beyond its size (a latency spike
  with hundreds of orders in flight) ends requests in ``PoolTimeout`` and leaves their half-made
  connections counted as busy for good, until every request fails (seen in the soak: a gateway cut
  off from the exchange with 400 orders resting).
- With ``sign_executor`` RSA-PSS signing (0.2–0.5 ms of CPU per request on the project's machines) runs on
  that executor's threads instead of in the request. :class:`~kmm.kalshi.auth.Signer` signs through
  libcrypto without the GIL where it can (:mod:`kmm.kalshi.pss_native`), so those threads run beside
  the loop; with ``cryptography``'s fallback, which holds the GIL (a loop runs at about half speed
  beside a thread signing back to back), the process pays it all the same, but not in the request's path. :meth:`KalshiRest.presign_many` signs requests that are likely
  to come (a path is all a signature covers, with the time) ahead of them, in one job a turn of the
  loop on ``presign_executor`` (else ``sign_executor``), which lets the loop have the GIL between two
  signatures; the request itself then does not wait for signing: a presigned header is used once, only
  once its job is done (a request never queues behind a job of presigns: it is signed on demand
  instead), and only while it is younger than ``presign_max_age_s``.
- ``on_request(template, method, seconds, status)`` observes each attempt's duration (status 0 when
  no response arrived); ``on_error(template, error)`` sees each classified failure.
"""

import asyncio
import random
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from . import constants as c
from . import errors as e
from . import wire
from .auth import TIMESTAMP_HEADER, Signer
from .http1 import Http1Pool
from .ratelimit import RateLimiter, take_prepaid

# Kalshi takes a signature 5 s old and refuses one 30 s old (kalshi-api.md §2): one presigned is used up
# to 4 s after signing and renewed from 2.5 s (a refused stale timestamp is sent again, signed anew).
PRESIGN_MAX_AGE_S = 4.0
PRESIGN_RENEW_S = 2.5

T = TypeVar("T")
RequestHook = Callable[[str, str, float, int], None]
ErrorHook = Callable[[str, e.KalshiError], None]

GTC = "good_till_canceled"
IOC = "immediate_or_cancel"
FOK = "fill_or_kill"
STP_TAKER = "taker_at_cross"
STP_MAKER = "maker"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A V2 create request in our units (price = YES price units, count = 0.01-contract units)."""

    ticker: str
    side: str
    price: int
    count: int
    client_order_id: str = ""
    time_in_force: str = GTC
    self_trade_prevention_type: str = STP_TAKER
    post_only: bool | None = None
    reduce_only: bool | None = None
    expiration_ts: int | None = None  # Unix seconds
    cancel_order_on_pause: bool | None = None
    order_group_id: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.side not in ("bid", "ask"):
            raise ValueError(f"side must be 'bid' or 'ask', got {self.side!r}")
        body: dict[str, Any] = {
            "ticker": self.ticker, "side": self.side, "price": wire.price_str(self.price),
            "count": wire.count_str(self.count), "time_in_force": self.time_in_force,
            "self_trade_prevention_type": self.self_trade_prevention_type,
        }
        if self.client_order_id:
            body["client_order_id"] = self.client_order_id
        optional = {
            "post_only": self.post_only, "reduce_only": self.reduce_only, "expiration_time": self.expiration_ts,
            "cancel_order_on_pause": self.cancel_order_on_pause, "order_group_id": self.order_group_id,
            "subaccount": self.subaccount, "exchange_index": self.exchange_index,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    def with_client_order_id(self) -> "NewOrder":
        if self.client_order_id:
            return self
        return replace(self, client_order_id=new_client_order_id())


@dataclass(frozen=True, slots=True)
class CancelItem:
    """One batch-cancel item. Kalshi routes it to ``market_ticker``'s exchange shard; with neither
    ``market_ticker`` nor ``exchange_index`` it goes to exchange index 0, where an order resting on
    another shard is ``not_found`` and stays resting. Always give the ticker."""

    order_id: str
    market_ticker: str | None = None
    exchange_index: int | None = None
    subaccount: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"order_id": self.order_id}
        optional = {"market_ticker": self.market_ticker, "exchange_index": self.exchange_index,
                    "subaccount": self.subaccount}
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    @classmethod
    def of(cls, item: "CancelItem | tuple[str, str] | str") -> "CancelItem":
        """From a CancelItem, an (order_id, market_ticker) pair, or a bare order id (unrouted)."""
        if isinstance(item, CancelItem):
            return item
        if isinstance(item, str):
            return cls(item)
        order_id, market_ticker = item
        return cls(order_id, market_ticker)


def new_client_order_id() -> str:
    return f"kmm-{uuid.uuid4().hex}"


def _limit_body(contracts_limit: int) -> dict[str, Any]:
    """An order-group limit in both forms (integer contracts only when whole)."""
    body: dict[str, Any] = {"contracts_limit_fp": wire.count_str(contracts_limit)}
    if contracts_limit % 100 == 0:
        body["contracts_limit"] = contracts_limit // 100
    return body


def _fill(template: str, path_params: Mapping[str, str] | None) -> str:
    """A path template with its parameters filled in, each percent-encoded."""
    return template.format(**{k: quote(str(v), safe="") for k, v in (path_params or {}).items()})


def _sign_all(signer: Signer, keys: list[tuple[str, str]]) -> list[dict[str, str]]:
    out = []
    for method, path in keys:
        out.append(signer.headers(method, path))
        time.sleep(0)  # the GIL goes back to the event loop between two signatures, not a switch interval later
    return out


@dataclass(slots=True)
class PresignBatch:
    """Signatures asked for in one turn of the loop, made in one job."""

    keys: list[tuple[str, str]] = field(default_factory=list)
    job: "asyncio.Future[list[dict[str, str]]] | None" = None


def _usable(batch: PresignBatch) -> bool:
    job = batch.job
    return job is not None and job.done() and not job.cancelled() and job.exception() is None


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | list[tuple[str, str]]:
    """Drop None; bools → true/false; lists → comma-joined (Kalshi's list filters)."""
    out: dict[str, str] = {}
    for k, v in (params or {}).items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, list | tuple | set | frozenset):
            out[k] = ",".join(str(x) for x in v)
        else:
            out[k] = str(v)
    return out


def _proxied(url: str) -> bool:
    """True when the environment sends requests to ``url`` through a proxy: ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` for its scheme, or ``ALL_PROXY``, unless ``NO_PROXY`` names its host."""
    proxies = urllib.request.getproxies_environment()
    parts = urllib.parse.urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.hostname or "", proxies)


class KalshiRest:
    """One client per API key. Use as ``async with KalshiRest(...) as api:``."""

    def __init__(
        self, base_url: str = c.PROD_REST_URL, *, signer: Signer | None = None,
        limiter: RateLimiter | None = None, timeout: float = 10.0, max_retries: int = 3,
        backoff_base: float = 0.1, backoff_max: float = 2.0, on_request: RequestHook | None = None,
        on_error: ErrorHook | None = None, transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, rng: Callable[[], float] = random.random,
        headers: Mapping[str, str] | None = None, sign_executor: Executor | None = None,
        max_in_flight: int = 100, presign_executor: Executor | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self.sign_executor = sign_executor
        self.presign_executor = presign_executor
        self.presign_max_age_s = PRESIGN_MAX_AGE_S
        self.presign_renew_s = PRESIGN_RENEW_S
        self.presign_max_held = 4096
        self._presigned: dict[tuple[str, str], tuple[float, PresignBatch, int]] = {}
        self._batch: PresignBatch | None = None
        self.presigned_used = 0
        self._prefix = urlsplit(self.base_url).path.rstrip("/")
        self.signer = signer
        self.limiter = limiter
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_request = on_request
        self.on_error = on_error
        self._sleep = sleep
        self._rng = rng
        default_headers = {"Accept": "application/json", "User-Agent": "kmm/0.1", **dict(headers or {})}
        self._pool: Http1Pool | None = None
        self._http: httpx.AsyncClient | None = None
        if transport is None and not _proxied(self.base_url):
            self._pool = Http1Pool(self.base_url, max_idle=max_in_flight)
            self._pool_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in default_headers.items()]
        else:
            self._http = httpx.AsyncClient(
                base_url=self.base_url, timeout=httpx.Timeout(timeout), transport=transport,
                limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
                headers=default_headers,
            )

    @property
    def pooled(self) -> bool:
        """True when requests go through :class:`Http1Pool` (False: httpx)."""
        return self._pool is not None

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> "KalshiRest":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"KalshiRest(base_url={self.base_url!r}, signer={self.signer!r})"

    # --- core -----------------------------------------------------------------------------------

    def presign(self, method: str, template: str, path_params: Mapping[str, str] | None = None) -> None:
        """Sign the next ``method template`` request ahead of time (see :meth:`presign_many`)."""
        self.presign_many([(method, template, path_params)])

    def presign_many(self, requests: Iterable[tuple[str, str, Mapping[str, str] | None]], force: bool = False) -> int:
        """Sign ahead each of ``requests`` (method, path template, path parameters) whose held signature is
        missing or older than ``presign_renew_s`` (``force``: every one). What is asked in one turn of the
        loop is signed in one job on the presigning executor, sent at the turn's end. Returns how many went
        to be signed (0 without a signer or an executor)."""
        executor = self.presign_executor or self.sign_executor
        if self.signer is None or executor is None:
            return 0
        now = time.monotonic()
        keys = []
        for method, template, path_params in requests:
            key = (method.upper(), self._prefix + _fill(template, path_params))
            held = self._presigned.get(key)
            if force or held is None or now - held[0] >= self.presign_renew_s:
                keys.append(key)
        if not keys:
            return 0
        if len(self._presigned) + len(keys) > self.presign_max_held:
            self._presigned = {k: v for k, v in self._presigned.items() if now - v[0] < self.presign_max_age_s}
        batch = self._batch
        if batch is None:  # one job a turn of the loop: what an answer presigns waits for the turn's end
            batch = self._batch = PresignBatch()
            asyncio.get_running_loop().call_soon(self._submit, batch, executor)
        for key in keys:
            self._presigned[key] = (now, batch, len(batch.keys))
            batch.keys.append(key)
        return len(keys)

    def _submit(self, batch: PresignBatch, executor: Executor) -> None:
        self._batch = None
        signer, keys = self.signer, batch.keys
        assert signer is not None
        try:
            batch.job = asyncio.get_running_loop().run_in_executor(executor, _sign_all, signer, keys)
        except RuntimeError:  # the executor was shut down (the service is stopping): nothing is presigned
            return
        batch.job.add_done_callback(lambda f: f.cancelled() or f.exception())  # an unused failure is no error

    def presign_ready(self, method: str, template: str, path_params: Mapping[str, str] | None = None) -> bool:
        """True when a request like this would be sent with a signature made ahead."""
        return self._ready(self._presigned.get((method.upper(), self._prefix + _fill(template, path_params))))

    def _ready(self, held: tuple[float, PresignBatch, int] | None) -> bool:
        """A held presign that is signed and still young enough to send."""
        return held is not None and _usable(held[1]) and time.monotonic() - held[0] < self.presign_max_age_s

    async def _signed(self, method: str, path: str) -> dict[str, str]:
        assert self.signer is not None
        held = self._presigned.pop((method, path), None)
        # a presign still being signed is not waited for: its job may hold many signatures
        if held is not None and self._ready(held):
            headers: dict[str, str] = held[1].job.result()[held[2]]  # type: ignore[union-attr]
            # its timestamp is wall-clock time, which the exchange checks: after a clock step (NTP, a
            # resumed VM) a signature young by the monotonic clock can be stale or early by the wall's
            if abs(time.time() * 1000 - int(headers[TIMESTAMP_HEADER])) < self.presign_max_age_s * 1000:
                self.presigned_used += 1
                return headers
        if self.sign_executor is not None:
            return await asyncio.get_running_loop().run_in_executor(self.sign_executor, self.signer.headers, method,
                                                                    path)
        return self.signer.headers(method, path)

    def _backoff(self, attempt: int, err: e.KalshiError) -> float:
        if isinstance(err, e.RateLimited) and err.retry_after is not None:
            return min(self.backoff_max, err.retry_after)
        cap = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return cap / 2 + self._rng() * cap / 2

    async def request(
        self, method: str, template: str, *, path_params: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None, json: Any = None, items: int = 1,
        retry_ambiguous: bool = False, timeout: float | None = None,
        failures: list[e.KalshiError] | None = None,
    ) -> Any:
        """Send one logical request (with retries); return the decoded JSON body (None when empty).

        ``template`` is a path template from :mod:`constants`; ``retry_ambiguous`` allows retrying a
        write whose outcome is unknown (only for idempotent creates); ``failures`` collects every
        failed attempt (so a caller can tell a first-attempt 409 from one after a retry).
        """
        method = method.upper()
        path = _fill(template, path_params)
        query = params if isinstance(params, list) else _query(params)  # type: ignore[arg-type]
        content = wire.dumps(json).encode() if json is not None else None
        attempt = 0
        while True:
            try:
                return await self._once(method, template, path, query, content, items, timeout)
            except e.KalshiError as err:
                if self.on_error is not None:
                    self.on_error(template, err)
                if failures is not None:
                    failures.append(err)
                if not self._should_retry(method, err, retry_ambiguous) or attempt >= self.max_retries:
                    raise
                if isinstance(err, e.RateLimited) and self.limiter is not None:
                    self.limiter.bucket(method).drain()
                await self._sleep(self._backoff(attempt, err))
                attempt += 1

    @staticmethod
    def _should_retry(method: str, err: e.KalshiError, retry_ambiguous: bool) -> bool:
        if e.is_stale_timestamp(err):
            return True  # refused before it was processed: the next attempt is signed afresh
        if not e.is_write(method):
            return isinstance(err, e.Retryable)
        if isinstance(err, e.RateLimited | e.ConnectionFailed):
            return True  # provably not processed
        return retry_ambiguous and isinstance(err, e.Ambiguous)

    async def _once(
        self, method: str, template: str, path: str, query: Any, content: bytes | None, items: int,
        timeout: float | None,
    ) -> Any:
        if self.limiter is not None and not take_prepaid():
            await self.limiter.acquire(method, template, items)
        if self._slots.locked():
            try:
                async with asyncio.timeout(self.timeout if timeout is None else timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise e.ConnectionFailed("not sent: every connection busy", method=method, endpoint=template,
                                         details=f"{self.max_in_flight} requests in flight") from None
        else:
            await self._slots.acquire()  # free: no wait
        try:
            return await self._send(method, template, path, query, content, timeout)
        finally:
            self._slots.release()

    async def _send(self, method: str, template: str, path: str, query: Any, content: bytes | None,
                    timeout: float | None) -> Any:
        headers: dict[str, str] = {}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if self.signer is not None and not path.startswith(c.PUBLIC_PREFIXES):
            headers.update(await self._signed(method, self._prefix + path))
        start = time.perf_counter()
        status = 0
        try:
            if self._pool is not None:
                target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
                answer = await self._pool.request(
                    method, target, self._pool_headers + [(k.encode("latin-1"), v.encode("latin-1"))
                                                          for k, v in headers.items()],
                    content or b"", self.timeout if timeout is None else timeout)
                status, body, raw_headers = answer.status, answer.body, answer.headers
            else:
                assert self._http is not None
                kw: dict[str, Any] = {} if timeout is None else {"timeout": httpx.Timeout(timeout)}
                resp = await self._http.request(method, path, params=query or None, content=content,
                                                headers=headers, **kw)
                status, body, raw_headers = resp.status_code, resp.content, resp.headers.raw
        except httpx.HTTPError as exc:
            raise e.from_exception(exc, method=method, endpoint=template) from None
        finally:
            if self.on_request is not None:
                self.on_request(template, method, time.perf_counter() - start, status)
        if status >= 400:
            raise e.from_response(status, body, method=method, endpoint=template, headers=httpx.Headers(raw_headers))
        if not body:
            return None
        try:
            return wire.loads(body)
        except ValueError:
            raise e.ProtocolError("response is not JSON", status=status, method=method,
                                  endpoint=template) from None

    async def _get(self, template: str, path_params: Mapping[str, str] | None = None, **params: Any) -> Any:
        return await self.request("GET", template, path_params=path_params, params=params)

    async def _page(
        self, template: str, key: str, parse: Callable[[Any], T], params: Mapping[str, Any],
        path_params: Mapping[str, str] | None = None,
    ) -> Page[T]:
        body = await self._get(template, path_params, **params) or {}
        items = self._items(template, body, key)
        try:
            return Page([parse(x) for x in items], str(body.get("cursor") or ""))
        except (wire.WireError, KeyError, TypeError) as exc:
            raise e.ProtocolError(f"cannot read {key}: {exc}", method="GET", endpoint=template) from None

    async def _iterate(
        self, template: str, key: str, parse: Callable[[Any], T], params: Mapping[str, Any],
    ) -> AsyncIterator[T]:
        params = dict(params)
        seen: set[str] = set()
        while True:
            page = await self._page(template, key, parse, params)
            for item in page.items:
                yield item
            if not page.cursor:
                return
            if page.cursor in seen:
                raise e.ProtocolError(f"cursor {page.cursor!r} repeated", method="GET", endpoint=template)
            seen.add(page.cursor)
            params["cursor"] = page.cursor

    def _parsed(self, template: str, parse: Callable[[Any], T], obj: Any) -> T:
        try:
            return parse(obj)
        except (wire.WireError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise e.ProtocolError(f"cannot read response: {exc}", endpoint=template) from None

    @staticmethod
    def _items(template: str, body: Any, key: str) -> list[Any]:
        """``body[key]`` as a list of objects (absent or null: none); any other shape is a ProtocolError."""
        items = body.get(key) if isinstance(body, dict) else body
        if body is not None and (not isinstance(body, dict) or not isinstance(items, list | tuple | None)
                                 or not all(isinstance(x, dict) for x in items or ())):
            raise e.ProtocolError(f"cannot read {key}: not a list of objects", endpoint=template)
        return list(items or ())

    # --- exchange & market data -----------------------------------------------------------------

    async def get_exchange_status(self) -> wire.ExchangeStatus:
        return self._parsed(c.EXCHANGE_STATUS, wire.parse_exchange_status, await self._get(c.EXCHANGE_STATUS))

    async def get_exchange_schedule(self) -> dict[str, Any]:
        return await self._get(c.EXCHANGE_SCHEDULE)

    async def get_markets(self, **filters: Any) -> Page[wire.Market]:
        """One page. Filters: limit, cursor, event_ticker, series_ticker, status (unopened/open/paused/
        closed/settled), tickers (list), min/max_created_ts, min/max_close_ts, min/max_settled_ts,
        min/max_updated_ts, mve_filter."""
        return await self._page(c.MARKETS, "markets", wire.parse_market, filters)

    def iter_markets(self, **filters: Any) -> AsyncIterator[wire.Market]:
        return self._iterate(c.MARKETS, "markets", wire.parse_market, filters)

    async def get_market(self, ticker: str) -> wire.Market:
        body = await self._get(c.MARKET, {"ticker": ticker})
        return self._parsed(c.MARKET, lambda b: wire.parse_market(b["market"]), body)

    async def get_orderbook(self, ticker: str, depth: int = 0) -> wire.OrderBook:
        body = await self._get(c.ORDERBOOK, {"ticker": ticker}, depth=depth or None)
        return self._parsed(c.ORDERBOOK, lambda b: wire.parse_orderbook(ticker, b), body)

    async def get_orderbooks(self, tickers: Iterable[str]) -> dict[str, wire.OrderBook]:
        body = await self.request("GET", c.ORDERBOOKS, params=[("tickers", t) for t in tickers])
        books = [self._parsed(c.ORDERBOOKS, lambda b: wire.parse_orderbook(str(b.get("ticker", "")), b), ob)
                 for ob in self._items(c.ORDERBOOKS, body, "orderbooks")]
        return {b.ticker: b for b in books}

    async def get_trades(self, **filters: Any) -> Page[wire.PublicTrade]:
        """Filters: limit, cursor, ticker, min_ts, max_ts, is_block_trade."""
        return await self._page(c.TRADES, "trades", wire.parse_trade, filters)

    def iter_trades(self, **filters: Any) -> AsyncIterator[wire.PublicTrade]:
        return self._iterate(c.TRADES, "trades", wire.parse_trade, filters)

    async def get_candlesticks(
        self, series_ticker: str, ticker: str, *, start_ts: int, end_ts: int, period_interval: int = 60,
        include_latest_before_start: bool | None = None,
    ) -> list[wire.Candle]:
        body = await self._get(
            c.CANDLESTICKS, {"series_ticker": series_ticker, "ticker": ticker}, start_ts=start_ts,
            end_ts=end_ts, period_interval=period_interval, include_latest_before_start=include_latest_before_start,
        )
        return [self._parsed(c.CANDLESTICKS, wire.parse_candle, x) for x in self._items(c.CANDLESTICKS, body,
                                                                                           "candlesticks")]

    async def get_events(self, **filters: Any) -> Page[wire.Event]:
        """Filters: limit, cursor, status, series_ticker, with_nested_markets, min_close_ts."""
        return await self._page(c.EVENTS, "events", wire.parse_event, filters)

    def iter_events(self, **filters: Any) -> AsyncIterator[wire.Event]:
        return self._iterate(c.EVENTS, "events", wire.parse_event, filters)

    async def get_event(self, event_ticker: str, with_nested_markets: bool | None = None) -> wire.Event:
        body = await self._get(c.EVENT, {"event_ticker": event_ticker}, with_nested_markets=with_nested_markets)
        return self._parsed(c.EVENT, lambda b: wire.parse_event(b["event"], b.get("markets") or ()), body)

    async def get_series(self, series_ticker: str) -> wire.Series:
        body = await self._get(c.SERIES, {"series_ticker": series_ticker})
        return self._parsed(c.SERIES, lambda b: wire.parse_series(b["series"]), body)

    async def list_series(self, **filters: Any) -> list[wire.Series]:
        body = await self._get(c.SERIES_LIST, **filters) or {}
        return [self._parsed(c.SERIES_LIST, wire.parse_series, x) for x in self._items(c.SERIES_LIST, body, "series")]

    async def get_account_limits(self) -> dict[str, Any]:
        """``{usage_tier, read:{refill_rate,bucket_capacity}, write:{…}}``: feed it to
        :meth:`RateLimiter.from_account_limits`."""
        return await self._get(c.ACCOUNT_LIMITS)

    async def get_endpoint_costs(self) -> dict[str, Any]:
        """``{default_cost, endpoint_costs:[{method, path, cost}]}`` (non-default costs; batch ones
        per item)."""
        return await self._get(c.ACCOUNT_ENDPOINT_COSTS)

    # --- orders (V2) ----------------------------------------------------------------------------

    async def create_order(
        self, order: NewOrder | None = None, *, resolve_duplicate: bool = False, retry_unknown: bool = False,
        **fields: Any,
    ) -> wire.WriteAck:
        """Place one order (``NewOrder`` or its fields as keywords). An unknown outcome raises
        :class:`errors.Ambiguous`, or with ``retry_unknown`` is re-sent with the same ``client_order_id``
        (see the module's note on when that is safe).

        A 409 after a retry of ours is resolved by reading the order back; on the first attempt it
        raises :class:`errors.DuplicateOrder` unless ``resolve_duplicate`` (e.g. re-sending after a
        restart with a deterministic ``client_order_id``).
        """
        o = (order or NewOrder(**fields)).with_client_order_id()
        failures: list[e.KalshiError] = []
        try:
            body = await self.request("POST", c.CREATE_ORDER, json=o.to_json(), retry_ambiguous=retry_unknown,
                                      failures=failures)
        except e.DuplicateOrder:
            if len(failures) < 2 and not resolve_duplicate:
                raise
            return await self._resolve(o.ticker, o.client_order_id)
        return self._parsed(c.CREATE_ORDER, wire.parse_write_ack, body)

    async def _resolve(self, ticker: str, client_order_id: str) -> wire.WriteAck:
        """The order a duplicate ``client_order_id`` refers to, read back as a write ack."""
        order = await self.find_order(ticker, client_order_id)
        if order is None:
            raise e.Ambiguous(f"409 on retry but no order with client_order_id {client_order_id!r}",
                              status=409, method="POST", endpoint=c.CREATE_ORDER)
        return wire.WriteAck(order_id=order.order_id, client_order_id=order.client_order_id,
                             fill_count=order.fill_count, remaining_count=order.remaining_count,
                             ts=order.updated_ts or order.created_ts)

    async def find_order(self, ticker: str, client_order_id: str) -> wire.Order | None:
        async for order in self.iter_orders(ticker=ticker):
            if order.client_order_id == client_order_id:
                return order
        return None

    async def batch_create(self, orders: Sequence[NewOrder], *, retry_unknown: bool = False) -> list[wire.WriteAck]:
        """Place several orders; per-item failures come back in ``WriteAck.error`` (order kept). An
        unknown outcome of the whole batch raises :class:`errors.Ambiguous` (``retry_unknown``: as for
        :meth:`create_order`)."""
        batch = [o.with_client_order_id() for o in orders]
        failures: list[e.KalshiError] = []
        body = await self.request(
            "POST", c.BATCH_ORDERS, json={"orders": [o.to_json() for o in batch]}, items=len(batch),
            retry_ambiguous=retry_unknown, failures=failures)
        acks: list[wire.WriteAck] = []
        for o, item in zip(batch, self._items(c.BATCH_ORDERS, body, "orders"), strict=False):
            err = item.get("error")
            if not err:
                acks.append(self._parsed(c.BATCH_ORDERS, wire.parse_write_ack, item))
                continue
            failure = e.from_item(err, method="POST", endpoint=c.BATCH_ORDERS)
            if isinstance(failure, e.DuplicateOrder) and failures:
                acks.append(await self._resolve(o.ticker, o.client_order_id))
            else:
                acks.append(wire.WriteAck(client_order_id=o.client_order_id, error=failure))
        return acks

    async def cancel_order(
        self, order_id: str, *, market_ticker: str | None = None, subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> wire.WriteAck:
        body = await self.request("DELETE", c.CANCEL_ORDER, path_params={"order_id": order_id}, params={
            "market_ticker": market_ticker, "subaccount": subaccount, "exchange_index": exchange_index})
        return self._parsed(c.CANCEL_ORDER, wire.parse_write_ack, body)

    async def batch_cancel(self, items: Sequence[CancelItem | tuple[str, str] | str]) -> list[wire.WriteAck]:
        """Cancel several orders; ``items`` are (order_id, market_ticker) pairs or :class:`CancelItem`.
        Per-item failures come back in ``WriteAck.error`` (order kept). A bare order id (old callers)
        is sent without a ticker, so Kalshi routes it to exchange index 0 and misses other shards."""
        cancels = [CancelItem.of(i) for i in items]
        body = await self.request("DELETE", c.BATCH_ORDERS, json={"orders": [i.to_json() for i in cancels]},
                                  items=len(cancels))
        acks: list[wire.WriteAck] = []
        for ci, item in zip(cancels, self._items(c.BATCH_ORDERS, body, "orders"), strict=False):
            err = item.get("error")
            if err:
                acks.append(wire.WriteAck(order_id=ci.order_id, error=e.from_item(err, method="DELETE",
                                                                                  endpoint=c.BATCH_ORDERS)))
            else:
                acks.append(self._parsed(c.BATCH_ORDERS, wire.parse_write_ack, item))
        return acks

    async def amend_order(
        self, order_id: str, *, ticker: str, side: str, price: int, count: int, client_order_id: str | None = None,
        updated_client_order_id: str | None = None, expiration_ts: int | None = None,
        subaccount: int | None = None,
    ) -> wire.WriteAck:
        """Amend price and/or total count (``count`` = filled + desired remaining)."""
        body: dict[str, Any] = {"ticker": ticker, "side": side, "price": wire.price_str(price),
                                "count": wire.count_str(count)}
        for k, v in (("client_order_id", client_order_id), ("updated_client_order_id", updated_client_order_id),
                     ("expiration_time", expiration_ts)):
            if v is not None:
                body[k] = v
        resp = await self.request("POST", c.AMEND_ORDER, path_params={"order_id": order_id}, json=body,
                                  params={"subaccount": subaccount})
        return self._parsed(c.AMEND_ORDER, wire.parse_write_ack, resp)

    async def decrease_order(
        self, order_id: str, *, reduce_by: int | None = None, reduce_to: int | None = None,
        market_ticker: str | None = None, subaccount: int | None = None,
    ) -> wire.WriteAck:
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("give exactly one of reduce_by / reduce_to")
        body: dict[str, Any] = ({"reduce_by": wire.count_str(reduce_by)} if reduce_by is not None
                                else {"reduce_to": wire.count_str(reduce_to or 0)})
        if market_ticker:
            body["market_ticker"] = market_ticker
        resp = await self.request("POST", c.DECREASE_ORDER, path_params={"order_id": order_id}, json=body,
                                  params={"subaccount": subaccount})
        return self._parsed(c.DECREASE_ORDER, wire.parse_write_ack, resp)

    async def cancel_all(self, subaccount: int | None = None) -> None:
        await self.request("DELETE", c.CANCEL_ALL, params={"subaccount": subaccount})

    # --- portfolio ------------------------------------------------------------------------------

    async def get_orders(self, **filters: Any) -> Page[wire.Order]:
        """Filters: ticker, event_ticker, min_ts, max_ts, status (resting/canceled/executed), limit, cursor,
        subaccount."""
        return await self._page(c.ORDERS, "orders", wire.parse_order, filters)

    def iter_orders(self, **filters: Any) -> AsyncIterator[wire.Order]:
        return self._iterate(c.ORDERS, "orders", wire.parse_order, filters)

    async def get_order(self, order_id: str) -> wire.Order:
        body = await self._get(c.ORDER, {"order_id": order_id})
        return self._parsed(c.ORDER, lambda b: wire.parse_order(b["order"]), body)

    async def get_fills(self, **filters: Any) -> Page[wire.Fill]:
        """Filters: ticker, order_id, min_ts, max_ts, limit, cursor, subaccount."""
        return await self._page(c.FILLS, "fills", wire.parse_fill, filters)

    def iter_fills(self, **filters: Any) -> AsyncIterator[wire.Fill]:
        return self._iterate(c.FILLS, "fills", wire.parse_fill, filters)

    async def get_positions(self, **filters: Any) -> Page[wire.Position]:
        """Market positions. Filters: count_filter, settlement_status, ticker, event_ticker, limit, cursor."""
        return await self._page(c.POSITIONS, "market_positions", wire.parse_position, filters)

    def iter_positions(self, **filters: Any) -> AsyncIterator[wire.Position]:
        return self._iterate(c.POSITIONS, "market_positions", wire.parse_position, filters)

    async def get_balance(self, subaccount: int | None = None) -> wire.Balance:
        return self._parsed(c.BALANCE, wire.parse_balance, await self._get(c.BALANCE, subaccount=subaccount))

    async def get_settlements(self, **filters: Any) -> Page[wire.Settlement]:
        return await self._page(c.SETTLEMENTS, "settlements", wire.parse_settlement, filters)

    def iter_settlements(self, **filters: Any) -> AsyncIterator[wire.Settlement]:
        return self._iterate(c.SETTLEMENTS, "settlements", wire.parse_settlement, filters)

    async def get_queue_position(self, order_id: str) -> int:
        body = await self._get(c.QUEUE_POSITION, {"order_id": order_id})
        return self._parsed(c.QUEUE_POSITION, lambda b: wire.count_field(b, "queue_position") or 0, body)

    async def get_queue_positions(
        self, market_tickers: Sequence[str] | None = None, event_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> dict[str, int]:
        body = await self._get(c.QUEUE_POSITIONS, market_tickers=market_tickers, event_ticker=event_ticker,
                               subaccount=subaccount) or {}
        return self._parsed(c.QUEUE_POSITIONS, lambda b: {
            str(q["order_id"]): wire.count_field(q, "queue_position") or 0
            for q in self._items(c.QUEUE_POSITIONS, b, "queue_positions")}, body)

    # --- order groups ---------------------------------------------------------------------------

    async def create_order_group(self, contracts_limit: int, subaccount: int | None = None) -> wire.OrderGroup:
        body = _limit_body(contracts_limit)
        if subaccount is not None:
            body["subaccount"] = subaccount
        resp = await self.request("POST", c.ORDER_GROUP_CREATE, json=body)
        return self._parsed(c.ORDER_GROUP_CREATE, wire.parse_order_group, resp)

    async def get_order_group(self, order_group_id: str) -> wire.OrderGroup:
        body = await self._get(c.ORDER_GROUP, {"order_group_id": order_group_id})
        inner = body.get("order_group", body) if isinstance(body, dict) else body
        return self._parsed(c.ORDER_GROUP, lambda b: wire.parse_order_group(b, order_group_id), inner)

    async def list_order_groups(self, subaccount: int | None = None) -> list[wire.OrderGroup]:
        body = await self._get(c.ORDER_GROUPS, subaccount=subaccount) or {}
        return [self._parsed(c.ORDER_GROUPS, wire.parse_order_group, g)
                for g in self._items(c.ORDER_GROUPS, body, "order_groups")]

    async def reset_order_group(self, order_group_id: str) -> None:
        await self.request("PUT", c.ORDER_GROUP_RESET, path_params={"order_group_id": order_group_id}, json={})

    async def trigger_order_group(self, order_group_id: str) -> None:
        await self.request("PUT", c.ORDER_GROUP_TRIGGER, path_params={"order_group_id": order_group_id}, json={})

    async def set_order_group_limit(self, order_group_id: str, contracts_limit: int) -> None:
        await self.request("PUT", c.ORDER_GROUP_LIMIT, path_params={"order_group_id": order_group_id},
                           json=_limit_body(contracts_limit))

    async def delete_order_group(self, order_group_id: str) -> None:
        await self.request("DELETE", c.ORDER_GROUP, path_params={"order_group_id": order_group_id})
