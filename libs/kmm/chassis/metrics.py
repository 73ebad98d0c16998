"""Every Prometheus metric kmm exports, in one place (prefix ``kmm_``, base units, bounded labels).

Services import the metric objects from here; nothing else calls ``Counter(...)``/``Histogram(...)``.
Label sets that are known at start are initialised by :func:`init_labels` so dashboards and alerts
see zeros instead of missing series. Per-market series: each service exports only its own
(:func:`init_market`); the quoter's follow the quoting universe (:func:`forget_market` when a market
leaves it), risk's the markets it has been in (an order, a fill or a position; dropped when such a
market's trading ends with no fill), the gateway's the markets it has ordered in.

Units: seconds, contracts (a count int / ``COUNT_SCALE``) and dollars (money int / 1e6). Money stays
exact in the services; only the exported gauge is a float.
"""

from typing import Any

from prometheus_client import Counter, Gauge, Histogram, Info

from kmm.kalshi import constants as kc
from kmm.risk import reasons as rk

# 50 µs … 1 s, roughly ×2 per bucket.
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)

# Finer steps where the order path lives (0.1 ms apart up to 1 ms), for per-hop and tick-to-order figures.
HOP_BUCKETS = (
    0.00005, 0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.0006, 0.0007, 0.0008, 0.0009, 0.001, 0.00125, 0.0015,
    0.00175, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)
HOPS = ("md_quoter", "quoter_risk", "risk_gateway", "gateway_exchange")

BUILD_INFO = Info("kmm_build", "kmm build and service identity")

# --- bus --------------------------------------------------------------------------------------
MESSAGES_PUBLISHED = Counter(
    "kmm_bus_messages_published_total", "Messages published to a stream", ["service", "stream"]
)
MESSAGES_CONSUMED = Counter(
    "kmm_bus_messages_consumed_total", "Messages handled from a stream", ["service", "stream"]
)
MESSAGES_DEAD_LETTERED = Counter(
    "kmm_bus_messages_dead_lettered_total", "Messages moved to the dead-letter stream", ["service", "stream"]
)
HANDLER_SECONDS = Histogram(
    "kmm_bus_handler_duration_seconds", "Time to handle one message", ["service", "stream"],
    buckets=LATENCY_BUCKETS,
)
MESSAGE_AGE_SECONDS = Histogram(
    "kmm_bus_message_age_seconds", "Age of a message when its handler starts (now - ts_init)",
    ["service", "stream"], buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "kmm_bus_consumer_lag_messages", "Entries not yet delivered to the group", ["stream", "group"]
)
CONSUMER_PENDING = Gauge(
    "kmm_bus_consumer_pending_messages", "Entries delivered but not acknowledged", ["stream", "group"]
)
DLQ_LENGTH = Gauge("kmm_bus_dlq_length_messages", "Length of a service's dead-letter stream", ["service"])
REDIS_UP = Gauge("kmm_redis_up", "1 when the service's last Redis call succeeded")
TASK_FAILURES = Counter(
    "kmm_task_failures_total", "One-off tasks that raised (task = the task's name up to the first ':')",
    ["service", "task"],
)

# --- trading path -----------------------------------------------------------------------------
TICK_TO_ORDER_SECONDS = Histogram(
    "kmm_tick_to_order_seconds", "Market event at marketdata to order request sent by the gateway",
    buckets=HOP_BUCKETS,
)
HOP_SECONDS = Histogram(
    "kmm_hop_seconds", "One hop of the order path: md_quoter (book published → quoter handles it), "
    "quoter_risk (intent published → risk handles it), risk_gateway (approval published → the gateway sends "
    "its first request), gateway_exchange (order request sent → the exchange's answer)", ["hop"],
    buckets=HOP_BUCKETS,
)
ORDERS = Counter("kmm_orders_total", "Order requests by outcome", ["outcome"])
EXCHANGE_REQUEST_SECONDS = Histogram(
    "kmm_exchange_request_duration_seconds", "Kalshi REST request duration", ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
EXCHANGE_ERRORS = Counter("kmm_exchange_errors_total", "Kalshi REST failures by class", ["endpoint", "kind"])
EXCHANGE_REQUESTS = Counter(
    "kmm_exchange_requests_total", "Kalshi REST requests by endpoint and HTTP status class", ["endpoint", "code"]
)
RATE_LIMIT_TOKENS = Gauge("kmm_rate_limit_tokens", "Tokens left in the Kalshi rate-limit bucket", ["bucket"])
DEAD_MAN_FIRED = Counter("kmm_gateway_dead_man_fired_total", "Cancel-alls fired by a stale risk heartbeat")
RISK_HEARTBEAT_AGE = Gauge(
    "kmm_gateway_risk_heartbeat_age_seconds", "Seconds since the gateway last saw risk's heartbeat"
)
OPEN_ORDERS = Gauge("kmm_gateway_open_orders", "Resting orders the gateway believes are open", ["market"])
APPROVALS = Counter("kmm_gateway_approvals_total", "Approvals the gateway accepted or refused", ["outcome"])
ORDER_ANOMALIES = Counter(
    "kmm_gateway_order_anomalies_total",
    "Order-tracking anomalies: illegal transitions, lost (never found) orders, unknown orders at the exchange",
    ["kind"],
)
FILL_SEQ_REUSED = Counter(
    "kmm_fill_seq_reused_total", "Fills applied although their sequence had been applied before: the gateway's "
    "count went back (lost Redis writes); see kmm.risk.fill_seq", ["service"],
)
FILL_LATENCY_SECONDS = Histogram(
    "kmm_fill_latency_seconds", "Exchange fill (as the venue sent it) to risk applying it",
    buckets=LATENCY_BUCKETS,
)
QUOTES = Counter("kmm_quotes_total", "Quote intents published by the quoter")
FILLS = Counter("kmm_fills_total", "Fills reported by the gateway")
MARKET_QUOTES = Counter("kmm_market_quotes_total", "Quote intents published per market", ["market"])
MARKET_FILLED_CONTRACTS = Counter(
    "kmm_market_filled_contracts_total", "Contracts filled per market and book side", ["market", "side"]
)
QUOTE_PRICE = Gauge("kmm_quote_price_dollars", "Current quoted YES price per side", ["market", "side"])
MARKETDATA_EVENTS = Counter(
    "kmm_marketdata_events_total", "Exchange WS messages received by channel", ["channel"]
)
MARKETDATA_RESNAPSHOTS = Counter(
    "kmm_marketdata_resnapshots_total", "Order book resnapshots after a sequence gap"
)

# --- risk -------------------------------------------------------------------------------------
RISK_DENIALS = Counter("kmm_risk_denials_total", "Intents denied or resized by risk", ["reason"])
TRADING_STATE = Gauge("kmm_trading_state", "1 for the current trading state", ["state"])
POSITION = Gauge("kmm_position_contracts", "Signed position (+YES / −NO) in contracts", ["market"])
POSITION_LIMIT = Gauge(
    "kmm_position_limit_contracts", "Current absolute position limit (volatility-scaled)", ["market"]
)
PNL = Gauge("kmm_pnl_dollars", "PnL in dollars", ["market", "kind"])
EXPOSURE = Gauge("kmm_exposure_dollars", "Global worst-case exposure in dollars")
QUOTE_SIDE_SECONDS = Counter(
    "kmm_gateway_quote_side_seconds_total", "Market-side seconds with a quote wanted or resting, by whether an "
    "order rested within 1c of the approved price (fresh) or not (stale)", ["state"],
)
WRITE_DEFERRED = Counter(
    "kmm_gateway_write_deferred_total",
    "Order requests held back for lack of write tokens (counted at each pass that holds one back)", ["kind"],
)
MARKETS_QUOTED = Gauge("kmm_markets_quoted", "Markets in the quoting universe")

# --- bounded label values ---------------------------------------------------------------------
ORDER_OUTCOMES = ("placed", "amended", "decreased", "canceled", "rejected", "ambiguous", "expired", "refused")
APPROVAL_OUTCOMES = ("accepted", "refused")
ORDER_ANOMALY_KINDS = ("illegal_transition", "lost", "unknown_at_exchange", "fill_for_unknown_order",
                       "order_group_triggered", "fill_seq_behind", "fills_resent")
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")
PNL_KINDS = ("realized", "unrealized", "fees")
BOOK_SIDES = ("bid", "ask")
# Label values come from the code that emits them, so initialised series are the ones that move.
# Risk's denial codes and resize reasons, plus "expired" (an intent past its expiry on arrival).
RISK_DENIAL_REASONS: tuple[str, ...] = (*rk.DENIAL_CODES, *rk.RESIZE_REASONS, "expired")
EXCHANGE_ENDPOINTS = (  # path templates, as the Kalshi client reports them
    kc.CREATE_ORDER, kc.BATCH_ORDERS, kc.CANCEL_ORDER, kc.AMEND_ORDER, kc.DECREASE_ORDER, kc.ORDERS, kc.ORDER,
    kc.FILLS, kc.POSITIONS, kc.BALANCE, kc.MARKETS, kc.MARKET, kc.EVENT, kc.SERIES, kc.ORDER_GROUP_CREATE,
)
EXCHANGE_ERROR_KINDS = ("retryable", "rejected", "ambiguous")  # kmm.kalshi.errors.KalshiError.kind
HTTP_CODE_CLASSES = ("2xx", "4xx", "429", "5xx", "error")
RATE_LIMIT_BUCKETS = ("read", "write")
MARKETDATA_CHANNELS = ("orderbook_snapshot", "orderbook_delta", "trade", "ticker", "market_lifecycle")

# Which services export which service-specific families (the rest export bus metrics only).
_ORDER_SERVICES = frozenset({"gateway"})
_EXCHANGE_SERVICES = frozenset({"gateway", "marketdata"})


def http_code_class(status: int | None) -> str:
    """The bounded ``code`` label for an HTTP status (``None`` = no response)."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx" if 200 <= status < 600 and status // 100 in (2, 4, 5) else "error"


def set_trading_state(state: str) -> None:
    """Mark ``state`` as the current trading state (1) and every other state 0."""
    if state not in TRADING_STATES:
        raise ValueError(f"unknown trading state {state!r}")
    for s in TRADING_STATES:
        TRADING_STATE.labels(s).set(1 if s == state else 0)


def _market_series(market: str, service: str) -> list[tuple[Any, tuple[str, ...]]]:
    """The per-market series ``service`` sets for ``market``, as (metric, labels) pairs. Each service
    exports only its own: a zero ``kmm_position_contracts`` from the quoter beside risk's real short
    position would win a ``max by (market)``."""
    sides = [(market, s) for s in BOOK_SIDES]
    per_service: dict[str, list[tuple[Any, list[tuple[str, ...]]]]] = {
        "quoter": [(MARKET_QUOTES, [(market,)]), (QUOTE_PRICE, sides)],
        "risk": [(POSITION, [(market,)]), (POSITION_LIMIT, [(market,)]),
                 (PNL, [(market, k) for k in PNL_KINDS])],
        "gateway": [(OPEN_ORDERS, [(market,)]), (MARKET_FILLED_CONTRACTS, sides)],
    }
    return [(metric, labels) for metric, label_sets in per_service.get(service, []) for labels in label_sets]


def init_market(market: str, service: str) -> None:
    """Create ``service``'s zero-valued per-market series when ``market`` joins its set."""
    for metric, labels in _market_series(market, service):
        metric.labels(*labels)


def forget_market(market: str, service: str) -> None:
    """Drop ``service``'s per-market series of ``market`` (it left the universe, or its trading ended)."""
    for metric, labels in _market_series(market, service):
        try:
            metric.remove(*labels)
        except KeyError:
            pass


def _topology_streams(service: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(streams written, streams read, (stream, group) pairs) for ``service`` from the topology."""
    from kmm.bus.topology import TOPOLOGY

    out = tuple(s.name for s in TOPOLOGY if s.writer == service)
    inp = tuple(s.name for s in TOPOLOGY if service in s.readers)
    groups = tuple((s.name, service) for s in TOPOLOGY if service in s.groups)
    return out, inp, groups


def init_labels(
    service: str,
    streams_out: tuple[str, ...] = (),
    streams_in: tuple[str, ...] = (),
    *,
    groups: tuple[tuple[str, str], ...] | None = None,
    denial_reasons: tuple[str, ...] = RISK_DENIAL_REASONS,
) -> None:
    """Create zero-valued series for the label sets a service will use.

    With no streams given, the streams and consumer groups come from :mod:`kmm.bus.topology`.
    """
    from kmm import __version__

    if not streams_out and not streams_in:
        streams_out, streams_in, topo_groups = _topology_streams(service)
        if groups is None:
            groups = topo_groups
    BUILD_INFO.info({"version": __version__, "service": service})
    for s in streams_out:
        MESSAGES_PUBLISHED.labels(service, s)
    for s in streams_in:
        MESSAGES_CONSUMED.labels(service, s)
        MESSAGES_DEAD_LETTERED.labels(service, s)
        HANDLER_SECONDS.labels(service, s)
        MESSAGE_AGE_SECONDS.labels(service, s)
    for stream, group in groups or ():
        CONSUMER_LAG.labels(stream, group)
        CONSUMER_PENDING.labels(stream, group)
    DLQ_LENGTH.labels(service)
    if service in _ORDER_SERVICES:
        for outcome in ORDER_OUTCOMES:
            ORDERS.labels(outcome)
        for outcome in APPROVAL_OUTCOMES:
            APPROVALS.labels(outcome)
        for kind in ORDER_ANOMALY_KINDS:
            ORDER_ANOMALIES.labels(kind)
        for bucket in RATE_LIMIT_BUCKETS:
            RATE_LIMIT_TOKENS.labels(bucket)
    if service in _EXCHANGE_SERVICES:
        for endpoint in EXCHANGE_ENDPOINTS:
            EXCHANGE_REQUEST_SECONDS.labels(endpoint)
            for kind in EXCHANGE_ERROR_KINDS:
                EXCHANGE_ERRORS.labels(endpoint, kind)
            for code in HTTP_CODE_CLASSES:
                EXCHANGE_REQUESTS.labels(endpoint, code)
    if service == "marketdata":
        for channel in MARKETDATA_CHANNELS:
            MARKETDATA_EVENTS.labels(channel)
    if service in ("risk", "quoter"):
        FILL_SEQ_REUSED.labels(service)
    if service == "risk":
        for reason in denial_reasons:
            RISK_DENIALS.labels(reason)
        for state in TRADING_STATES:
            TRADING_STATE.labels(state)


def exchange_hooks() -> dict[str, Any]:
    """``on_request`` / ``on_error`` for :class:`kmm.kalshi.rest.KalshiRest` that feed the exchange metrics."""

    def on_request(template: str, method: str, seconds: float, status: int) -> None:
        EXCHANGE_REQUEST_SECONDS.labels(template).observe(seconds)
        EXCHANGE_REQUESTS.labels(template, http_code_class(status or None)).inc()

    def on_error(template: str, err: Any) -> None:
        EXCHANGE_ERRORS.labels(template, err.kind).inc()

    return {"on_request": on_request, "on_error": on_error}
