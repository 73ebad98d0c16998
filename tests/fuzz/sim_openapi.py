"""A hand-written OpenAPI 3 description of the simulator's REST (Starlette has no generated one):
every Kalshi path it serves under ``/trade-api/v2`` and its admin endpoints, with their parameters and
bodies loosely typed, so schemathesis sends both well-formed and malformed requests."""

from typing import Any

S: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
B: dict[str, Any] = {"type": "boolean"}
PRICE: dict[str, Any] = {"type": "string", "pattern": "^0\\.[0-9]{4}$"}
COUNT: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,4}\\.[0-9]{2}$"}
TICKER: dict[str, Any] = {"type": "string", "enum": ["KXSIM-E000-B1", "KXSIM-E001-T0", "NOPE"]}


def q(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def p(name: str, schema: dict[str, Any] = S) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": props, **({"required": required} if required else {})}}}}


def op(params: list[dict[str, Any]] | None = None, request: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"responses": {"default": {"description": "any"}}}
    if params:
        out["parameters"] = params
    if request:
        out["requestBody"] = request
    return out


PAGE = [q("limit", INT), q("cursor", S)]
ORDER = {"ticker": TICKER, "side": {"type": "string", "enum": ["bid", "ask", "yes"]}, "count": COUNT, "price": PRICE,
         "time_in_force": {"type": "string", "enum": ["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]},
         "self_trade_prevention_type": {"type": "string", "enum": ["taker_at_cross", "maker"]},
         "client_order_id": S, "post_only": B, "reduce_only": B, "cancel_order_on_pause": B,
         "expiration_time": INT, "order_group_id": S, "exchange_index": INT, "subaccount": INT}
ORDER_REQUIRED = ["ticker", "side", "count", "price", "time_in_force", "self_trade_prevention_type"]

PATHS: dict[str, dict[str, Any]] = {
    "/trade-api/v2/exchange/status": {"get": op()},
    "/trade-api/v2/exchange/schedule": {"get": op()},
    "/trade-api/v2/markets": {"get": op([*PAGE, q("status", S), q("event_ticker", S), q("series_ticker", S),
                                         q("tickers", S), q("min_close_ts", INT), q("max_close_ts", INT)])},
    "/trade-api/v2/markets/trades": {"get": op([*PAGE, q("ticker", S), q("min_ts", INT), q("max_ts", INT)])},
    "/trade-api/v2/markets/orderbooks": {"get": op([q("tickers", S)])},
    "/trade-api/v2/markets/candlesticks": {"get": op([q("market_tickers", S), q("start_ts", INT), q("end_ts", INT),
                                                      q("period_interval", INT)])},
    "/trade-api/v2/markets/{ticker}": {"get": op([p("ticker", TICKER)])},
    "/trade-api/v2/markets/{ticker}/orderbook": {"get": op([p("ticker", TICKER), q("depth", INT)])},
    "/trade-api/v2/events": {"get": op([*PAGE, q("status", S), q("series_ticker", S), q("with_nested_markets", B)])},
    "/trade-api/v2/events/{event_ticker}": {"get": op([p("event_ticker"), q("with_nested_markets", B)])},
    "/trade-api/v2/series": {"get": op([q("category", S)])},
    "/trade-api/v2/series/{series_ticker}": {"get": op([p("series_ticker")])},
    "/trade-api/v2/series/{series_ticker}/markets/{ticker}/candlesticks": {"get": op([
        p("series_ticker"), p("ticker", TICKER), q("start_ts", INT), q("end_ts", INT), q("period_interval", INT)])},
    "/trade-api/v2/account/limits": {"get": op()},
    "/trade-api/v2/account/endpoint_costs": {"get": op()},
    "/trade-api/v2/portfolio/events/orders": {
        "post": op(request=body(ORDER, ORDER_REQUIRED)),
        "delete": op([q("subaccount", INT)]),
    },
    "/trade-api/v2/portfolio/events/orders/batched": {
        "post": op(request=body({"orders": {"type": "array", "items": {"type": "object", "properties": ORDER},
                                            "maxItems": 3}}, ["orders"])),
        "delete": op(request=body({"orders": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
            "order_id": S, "market_ticker": TICKER, "exchange_index": INT, "subaccount": INT}}}}, ["orders"])),
    },
    "/trade-api/v2/portfolio/events/orders/{order_id}": {"delete": op([p("order_id"), q("market_ticker", S),
                                                                         q("exchange_index", INT)])},
    "/trade-api/v2/portfolio/events/orders/{order_id}/amend": {"post": op([p("order_id")], body(ORDER))},
    "/trade-api/v2/portfolio/events/orders/{order_id}/decrease": {"post": op([p("order_id")], body({
        "reduce_by": COUNT, "reduce_to": COUNT, "market_ticker": TICKER, "exchange_index": INT}))},
    "/trade-api/v2/portfolio/orders": {
        "get": op([*PAGE, q("ticker", S), q("status", S), q("min_ts", INT), q("max_ts", INT)]),
        "post": op(request=body({"ticker": TICKER, "side": {"type": "string", "enum": ["yes", "no"]},
                                 "action": {"type": "string", "enum": ["buy", "sell"]}, "count": INT,
                                 "yes_price": INT, "no_price": INT, "type": S, "client_order_id": S})),
    },
    "/trade-api/v2/portfolio/orders/queue_positions": {"get": op([q("market_tickers", S), q("event_ticker", S)])},
    "/trade-api/v2/portfolio/orders/{order_id}": {"get": op([p("order_id")]), "delete": op([p("order_id")])},
    "/trade-api/v2/portfolio/orders/{order_id}/queue_position": {"get": op([p("order_id")])},
    "/trade-api/v2/portfolio/fills": {"get": op([*PAGE, q("ticker", S), q("order_id", S), q("min_ts", INT)])},
    "/trade-api/v2/portfolio/positions": {"get": op([*PAGE, q("ticker", S), q("count_filter", S),
                                                     q("settlement_status", S), q("exchange_index", INT)])},
    "/trade-api/v2/portfolio/balance": {"get": op([q("subaccount", INT)])},
    "/trade-api/v2/portfolio/settlements": {"get": op(PAGE)},
    "/trade-api/v2/portfolio/order_groups/create": {"post": op(request=body({"contracts_limit": INT,
                                                                              "contracts_limit_fp": COUNT}))},
    "/trade-api/v2/portfolio/order_groups": {"get": op()},
    "/trade-api/v2/portfolio/order_groups/{order_group_id}": {"get": op([p("order_group_id")]),
                                                              "delete": op([p("order_group_id")])},
    "/trade-api/v2/portfolio/order_groups/{order_group_id}/{action}": {"put": op(
        [p("order_group_id"), p("action", {"type": "string", "enum": ["reset", "trigger", "limit", "x"]})],
        body({"contracts_limit": INT, "contracts_limit_fp": COUNT}))},
    "/admin/state": {"get": op()},
    "/admin/orders": {"get": op([q("user", S), q("status", S)])},
    "/admin/positions": {"get": op([q("user", S)])},
    "/admin/markets": {"post": op(request=body({"ticker": S, "event_ticker": S, "close_ts": INT, "title": S,
                                                "fee_type": S}))},
    "/admin/markets/{ticker}/settle": {"post": op([p("ticker", TICKER)], body({"result": S}))},
    "/admin/markets/{ticker}/close": {"post": op([p("ticker", TICKER)])},
    "/livez": {"get": op()},
    "/readyz": {"get": op()},
    "/status": {"get": op()},
    "/metrics": {"get": op()},
}

SCHEMA: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": "kmm exchange simulator", "version": "1"},
                          "paths": PATHS}
