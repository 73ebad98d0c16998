"""Every Prometheus metric kmm exports, in one place (prefix ``kmm_``, base units, bounded labels).

Services import the metric objects from here; nothing else calls ``Counter(...)``/``Histogram(...)``.
Label sets that are known at start are initialised by :func:`init_labels` so dashboards see zeros
instead of missing series.
"""

from prometheus_client import Counter, Gauge, Histogram, Info

# 50 µs … 1 s, roughly ×2 per bucket.
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)

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
CONSUMER_LAG = Gauge(
    "kmm_bus_consumer_lag_messages", "Entries not yet delivered to the group", ["stream", "group"]
)
CONSUMER_PENDING = Gauge(
    "kmm_bus_consumer_pending_messages", "Entries delivered but not acknowledged", ["stream", "group"]
)
DLQ_LENGTH = Gauge("kmm_bus_dlq_length_messages", "Length of a service's dead-letter stream", ["service"])
REDIS_UP = Gauge("kmm_redis_up", "1 when the service's last Redis call succeeded")

# --- trading path -----------------------------------------------------------------------------
TICK_TO_ORDER_SECONDS = Histogram(
    "kmm_tick_to_order_seconds", "Market event at marketdata to order request sent by the gateway",
    buckets=LATENCY_BUCKETS,
)
ORDERS = Counter("kmm_orders_total", "Order requests by outcome", ["outcome"])
EXCHANGE_REQUEST_SECONDS = Histogram(
    "kmm_exchange_request_duration_seconds", "Kalshi REST request duration", ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
EXCHANGE_ERRORS = Counter("kmm_exchange_errors_total", "Kalshi REST failures by class", ["endpoint", "kind"])
RATE_LIMIT_TOKENS = Gauge("kmm_rate_limit_tokens", "Tokens left in the Kalshi rate-limit bucket", ["bucket"])
DEAD_MAN_FIRED = Counter("kmm_gateway_dead_man_fired_total", "Cancel-alls fired by a stale risk heartbeat")
QUOTES = Counter("kmm_quotes_total", "Quote intents published by the quoter")
FILLS = Counter("kmm_fills_total", "Fills reported by the gateway")

# --- risk -------------------------------------------------------------------------------------
RISK_DENIALS = Counter("kmm_risk_denials_total", "Intents denied or resized by risk", ["reason"])
TRADING_STATE = Gauge("kmm_trading_state", "1 for the current trading state", ["state"])
POSITION = Gauge("kmm_position_contracts", "Signed position (+YES / −NO) in contracts", ["market"])
PNL = Gauge("kmm_pnl_dollars", "PnL in dollars", ["market", "kind"])
MARKETS_QUOTED = Gauge("kmm_markets_quoted", "Markets in the quoting universe")

ORDER_OUTCOMES = ("placed", "amended", "decreased", "canceled", "rejected", "ambiguous", "expired")
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


def init_labels(service: str, streams_out: tuple[str, ...] = (), streams_in: tuple[str, ...] = ()) -> None:
    """Create zero-valued series for the label sets a service will use."""
    from kmm import __version__

    BUILD_INFO.info({"version": __version__, "service": service})
    for s in streams_out:
        MESSAGES_PUBLISHED.labels(service, s)
    for s in streams_in:
        MESSAGES_CONSUMED.labels(service, s)
        MESSAGES_DEAD_LETTERED.labels(service, s)
        HANDLER_SECONDS.labels(service, s)
    DLQ_LENGTH.labels(service)
