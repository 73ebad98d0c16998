"""Kalshi Trade API v2 constants: hosts, path templates, rate-limit tiers and costs, WS channels.

Path templates are relative to the REST base (``…/trade-api/v2``) and double as metric labels: the
endpoint label of a request is its template (``/markets/{ticker}``), never the concrete path.
"""

# --- hosts ---------------------------------------------------------------------------------------
API_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"

PROD_REST_URL = "https://external-api.kalshi.com/trade-api/v2"
DEMO_REST_URL = "https://external-api.demo.kalshi.co/trade-api/v2"
PROD_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_WS_URL = "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
LEGACY_PROD_REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
LEGACY_DEMO_REST_URL = "https://demo-api.kalshi.co/trade-api/v2"
LEGACY_PROD_WS_URL = "wss://api.elections.kalshi.com/trade-api/ws/v2"
LEGACY_DEMO_WS_URL = "wss://demo-api.kalshi.co/trade-api/ws/v2"

REST_URLS = {"prod": PROD_REST_URL, "demo": DEMO_REST_URL}
WS_URLS = {"prod": PROD_WS_URL, "demo": DEMO_WS_URL}

# --- REST path templates (relative to the base) -------------------------------------------------
EXCHANGE_STATUS = "/exchange/status"
EXCHANGE_SCHEDULE = "/exchange/schedule"
MARKETS = "/markets"
MARKET = "/markets/{ticker}"
ORDERBOOK = "/markets/{ticker}/orderbook"
ORDERBOOKS = "/markets/orderbooks"
TRADES = "/markets/trades"
CANDLESTICKS = "/series/{series_ticker}/markets/{ticker}/candlesticks"
EVENTS = "/events"
EVENT = "/events/{event_ticker}"
SERIES_LIST = "/series"
SERIES = "/series/{series_ticker}"
ACCOUNT_LIMITS = "/account/limits"
ACCOUNT_ENDPOINT_COSTS = "/account/endpoint_costs"

CREATE_ORDER = "/portfolio/events/orders"
BATCH_ORDERS = "/portfolio/events/orders/batched"
CANCEL_ORDER = "/portfolio/events/orders/{order_id}"
CANCEL_ALL = "/portfolio/events/orders"
AMEND_ORDER = "/portfolio/events/orders/{order_id}/amend"
DECREASE_ORDER = "/portfolio/events/orders/{order_id}/decrease"
ORDERS = "/portfolio/orders"
ORDER = "/portfolio/orders/{order_id}"
QUEUE_POSITION = "/portfolio/orders/{order_id}/queue_position"
QUEUE_POSITIONS = "/portfolio/orders/queue_positions"
FILLS = "/portfolio/fills"
POSITIONS = "/portfolio/positions"
BALANCE = "/portfolio/balance"
SETTLEMENTS = "/portfolio/settlements"
ORDER_GROUPS = "/portfolio/order_groups"
ORDER_GROUP_CREATE = "/portfolio/order_groups/create"
ORDER_GROUP = "/portfolio/order_groups/{order_group_id}"
ORDER_GROUP_RESET = "/portfolio/order_groups/{order_group_id}/reset"
ORDER_GROUP_TRIGGER = "/portfolio/order_groups/{order_group_id}/trigger"
ORDER_GROUP_LIMIT = "/portfolio/order_groups/{order_group_id}/limit"

# Market-data paths need no signature; everything else (portfolio, account) does.
PUBLIC_PREFIXES = ("/exchange", "/markets", "/events", "/series")

# Templates whose writes create orders: re-sent (only when the caller asks) with the same client_order_id.
CREATE_TEMPLATES = (CREATE_ORDER, BATCH_ORDERS)

# --- pagination ----------------------------------------------------------------------------------
MAX_PAGE_LIMIT = 1000
DEFAULT_PAGE_LIMIT = 100

# --- rate limits (kalshi-api.md §3.5; one home for the client's limiter and the simulator's) -----
# (read, write) tokens per second per usage tier.
TIERS: dict[str, tuple[int, int]] = {
    "basic": (200, 100),
    "advanced": (300, 300),
    "expert": (600, 600),
    "premier": (1000, 1000),
    "paragon": (2000, 2000),
    "prime": (4000, 4000),
    "prestige": (6000, 8000),
}
READ_BURST_SECONDS = 1  # the read bucket holds one second of budget
WRITE_BURST_SECONDS = 2  # "Your Write bucket holds two seconds of your per-second budget"
DEFAULT_COST = 10
GET_ORDER_COST = 2
BATCH_CREATE_COST_PER_ORDER = 10
BATCH_CANCEL_COST_PER_CANCEL = 2
LEGACY_ORDER_COST_FACTOR = 10  # V1 /portfolio/orders writes cost 10x


def bucket_capacities(tier: str) -> tuple[int, int]:
    """(read, write) bucket capacities in tokens of a usage tier (KeyError when unknown)."""
    read, write = TIERS[tier]
    return read * READ_BURST_SECONDS, write * WRITE_BURST_SECONDS


def max_batch_size(write_capacity: int) -> int:
    """The most orders one batch create or batch cancel may carry: the write bucket's capacity / 10
    (Basic: 200 / 10 = 20, the older fixed limit). Kalshi: it "scales with your tier's write budget"."""
    return write_capacity // DEFAULT_COST


def cancel_all_cost(write_capacity: int) -> int:
    """Tokens ``DELETE /portfolio/events/orders`` costs: what a maximum-size batch cancel costs."""
    return max_batch_size(write_capacity) * BATCH_CANCEL_COST_PER_CANCEL

# --- WebSocket ----------------------------------------------------------------------------------
CH_ORDERBOOK = "orderbook_delta"
CH_TICKER = "ticker"
CH_TRADE = "trade"
CH_FILL = "fill"
CH_USER_ORDERS = "user_orders"
CH_POSITIONS = "market_positions"
CH_LIFECYCLE = "market_lifecycle_v2"
CH_ORDER_GROUPS = "order_group_updates"
CHANNELS = (
    CH_ORDERBOOK, CH_TICKER, CH_TRADE, CH_FILL, CH_USER_ORDERS, CH_POSITIONS, CH_LIFECYCLE, CH_ORDER_GROUPS,
)
# The REST error code of an order in a market no longer open (closed, determined, settled): nothing
# more can rest there, whatever was approved.
MARKET_CLOSED_CODE = "market_closed"

# Error codes that can arrive on a live subscription and mean "the book is lost: resubscribe".
WS_RESNAPSHOT_CODES = frozenset({10, 17, 25})
