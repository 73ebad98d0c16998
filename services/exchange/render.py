"""Engine objects → Kalshi JSON, exactly as the official SDK (3.34) expects it.

Dollar amounts are strings with 4 decimals (6 when money needs them), counts are strings with 2
decimals, balances are integer cents, object times RFC3339 strings, WS times ``ts_ms`` ints
(kalshi-api.md §3, §6.4, §8.4, §11). Every required SDK field is present with its exact JSON type.
"""

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from kmm.messages.units import MONEY_SCALE, NS_PER_MS, NS_PER_S, ONE_DOLLAR, count_to_fp, price_to_dollars

from .engine import BalanceView, BookLevels, MarketStats
from .events import BookDelta, MarketLifecycle, OrderGroupUpdate, TradePrint
from .ledger import FillRecord, Position, Settlement
from .markets import Event, Market, Series
from .orders import BID, CancelAck, Order, OrderAck

Json = dict[str, Any]


def rfc3339(ns: int) -> str:
    """ns since the epoch → ``2026-11-24T15:00:00Z`` (microseconds only when not whole seconds)."""
    dt = datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)
    if ns % NS_PER_S == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_ms(ns: int) -> int:
    return ns // NS_PER_MS


def dollars(price: int | None, default: int = 0) -> str:
    return price_to_dollars(default if price is None else price)


def money(amount: int) -> str:
    """µ$ → dollar string with 4 decimals, or 6 when the amount is finer than $0.0001."""
    sign = "-" if amount < 0 else ""
    a = abs(amount)
    whole, frac = divmod(a, MONEY_SCALE)
    if frac % 100 == 0:
        return f"{sign}{whole}.{frac // 100:04d}"
    return f"{sign}{whole}.{frac:06d}"


def cents(amount: int) -> int:
    """µ$ → integer cents, floored (Kalshi's balance precision)."""
    return amount // (MONEY_SCALE // 100)


def fp(count: int) -> str:
    return count_to_fp(count)


# --- markets -----------------------------------------------------------------------------------
def market(m: Market, stats: MarketStats, strike: Json | None = None) -> Json:
    yes_bid = stats.yes_bid or 0
    yes_ask = ONE_DOLLAR if stats.yes_ask is None else stats.yes_ask
    last = stats.last_price or 0
    body: Json = {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "market_type": "binary",
        "title": m.title,
        "subtitle": m.subtitle,
        "yes_sub_title": m.yes_sub_title,
        "no_sub_title": m.no_sub_title,
        "created_time": rfc3339(m.created_ns),
        "updated_time": rfc3339(max(m.updated_ns, m.created_ns)),
        "open_time": rfc3339(m.open_ns),
        "close_time": rfc3339(m.close_ns),
        "expected_expiration_time": rfc3339(m.close_ns),
        "latest_expiration_time": rfc3339(max(m.latest_expiration_ns, m.close_ns)),
        "settlement_timer_seconds": int(m.settlement_timer_seconds),
        "status": m.status,
        "yes_bid_dollars": dollars(yes_bid),
        "yes_bid_size_fp": fp(stats.yes_bid_size),
        "yes_ask_dollars": dollars(yes_ask),
        "yes_ask_size_fp": fp(stats.yes_ask_size),
        "no_bid_dollars": dollars(ONE_DOLLAR - yes_ask),
        "no_ask_dollars": dollars(ONE_DOLLAR - yes_bid),
        "last_price_dollars": dollars(last),
        "volume_fp": fp(stats.volume),
        "volume_24h_fp": fp(stats.volume_24h),
        "open_interest_fp": fp(stats.open_interest),
        "notional_value_dollars": "1.0000",
        "previous_yes_bid_dollars": dollars(yes_bid),
        "previous_yes_ask_dollars": dollars(yes_ask),
        "previous_price_dollars": dollars(last),
        "result": m.result,
        "can_close_early": bool(m.can_close_early),
        "expiration_value": "",
        "settlement_bounds_type": "default",
        "rules_primary": m.rules_primary,
        "rules_secondary": m.rules_secondary,
        "price_level_structure": m.price_level_structure,
        "price_ranges": [
            {"start": price_to_dollars(a), "end": price_to_dollars(b), "step": price_to_dollars(s)}
            for a, b, s in m.price_ranges
        ],
        "exchange_index": m.exchange_index,
    }
    if m.settlement_ns is not None:
        body["settlement_ts"] = rfc3339(m.settlement_ns)
        if m.result in ("yes", "no"):
            body["settlement_value_dollars"] = "1.0000" if m.result == "yes" else "0.0000"
    if strike:
        body.update(strike)
    return body


def series(s: Series) -> Json:
    return {
        "ticker": s.ticker,
        "frequency": s.frequency,
        "title": s.title,
        "category": s.category,
        "categories": [s.category] if s.category else [],
        "tags": [],
        "settlement_sources": [],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": s.fee_type,
        "fee_multiplier": 1,
        "additional_prohibitions": [],
    }


def event(e: Event, markets: list[Json] | None = None) -> Json:
    body: Json = {
        "event_ticker": e.event_ticker,
        "series_ticker": e.series_ticker,
        "title": e.title,
        "sub_title": e.sub_title,
        "collateral_return_type": "MECNET" if e.mutually_exclusive else "",
        "mutually_exclusive": bool(e.mutually_exclusive),
        "settlement_sources": [],
        "exchange_index": e.exchange_index,
    }
    if markets is not None:
        body["markets"] = markets
    return body


def book_levels(levels: list[tuple[int, int]]) -> list[list[str]]:
    return [[price_to_dollars(p), fp(c)] for p, c in levels]


def orderbook(book: BookLevels) -> Json:
    return {"yes_dollars": book_levels(book.yes), "no_dollars": book_levels(book.no)}


def trade(t: TradePrint) -> Json:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": fp(t.count),
        "yes_price_dollars": price_to_dollars(t.price),
        "no_price_dollars": price_to_dollars(ONE_DOLLAR - t.price),
        "taker_side": t.taker_side,
        "taker_outcome_side": t.taker_side,
        "taker_book_side": t.taker_book_side,
        "created_time": rfc3339(t.ts_ns),
        "is_block_trade": False,
    }


# --- portfolio ---------------------------------------------------------------------------------
def order(o: Order) -> Json:
    return {
        "order_id": o.order_id,
        "user_id": o.user,
        "client_order_id": o.client_order_id or "",
        "ticker": o.ticker,
        "outcome_side": o.outcome_side,
        "book_side": o.side,
        "side": o.outcome_side,
        "action": "buy",
        "type": "limit",
        "status": o.status,
        "yes_price_dollars": price_to_dollars(o.price),
        "no_price_dollars": price_to_dollars(ONE_DOLLAR - o.price),
        "fill_count_fp": fp(o.fill_count),
        "remaining_count_fp": fp(o.remaining),
        "initial_count_fp": fp(o.initial_count),
        "taker_fill_cost_dollars": money(o.taker_fill_cost),
        "maker_fill_cost_dollars": money(o.maker_fill_cost),
        "taker_fees_dollars": money(o.taker_fees),
        "maker_fees_dollars": money(o.maker_fees),
        "created_time": rfc3339(o.created_ns),
        "last_update_time": rfc3339(max(o.last_update_ns, o.created_ns)),
        "last_update_reason": o.last_update_reason,
        "expiration_time": rfc3339(o.expiration_ns) if o.expiration_ns else None,
        "self_trade_prevention_type": o.self_trade_prevention,
        "order_group_id": o.order_group_id,
        "cancel_order_on_pause": bool(o.cancel_order_on_pause),
        "post_only": bool(o.post_only),
        "subaccount_number": 0,
        "exchange_index": o.exchange_index,
    }


def order_ack(ack: OrderAck, with_counts: bool = True) -> Json:
    body: Json = {"order_id": ack.order_id, "ts_ms": ts_ms(ack.ts_ns)}
    if ack.client_order_id is not None:
        body["client_order_id"] = ack.client_order_id
    if with_counts:
        body["fill_count"] = fp(ack.fill_count)
        body["remaining_count"] = fp(ack.remaining_count)
        if ack.fill_count > 0:
            # average price per contract: µ$ / (count units) → price units
            body["average_fill_price"] = money(ack.fill_cost * 100 // ack.fill_count)
            body["average_fee_paid"] = money(ack.fees * 100 // ack.fill_count)
    return body


def decrease_ack(ack: OrderAck) -> Json:
    body: Json = {"order_id": ack.order_id, "remaining_count": fp(ack.remaining_count), "ts_ms": ts_ms(ack.ts_ns)}
    if ack.client_order_id is not None:
        body["client_order_id"] = ack.client_order_id
    return body


def cancel_ack(ack: CancelAck) -> Json:
    body: Json = {"order_id": ack.order_id, "reduced_by": fp(ack.reduced_by), "ts_ms": ts_ms(ack.ts_ns)}
    if ack.client_order_id is not None:
        body["client_order_id"] = ack.client_order_id
    return body


def fill(f: FillRecord) -> Json:
    return {
        "fill_id": f.fill_id,
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "market_ticker": f.ticker,
        "outcome_side": f.outcome_side,
        "book_side": f.side,
        "side": f.outcome_side,
        "action": "buy",
        "count_fp": fp(f.count),
        "yes_price_dollars": price_to_dollars(f.price),
        "no_price_dollars": price_to_dollars(ONE_DOLLAR - f.price),
        "is_taker": bool(f.is_taker),
        "fee_cost": money(f.fee),
        "created_time": rfc3339(f.ts_ns),
        "ts": f.ts_ns // NS_PER_S,
        "exchange_index": f.exchange_index,
        "subaccount_number": 0,
    }


def market_exposure(p: Position) -> int:
    return p.cost


def position(p: Position) -> Json:
    return {
        "ticker": p.ticker,
        "exchange_index": p.exchange_index,
        "total_traded_dollars": money(p.total_traded),
        "position_fp": fp(p.position),
        "market_exposure_dollars": money(market_exposure(p)),
        "realized_pnl_dollars": money(p.realized_pnl),
        "fees_paid_dollars": money(p.fees_paid),
        "last_updated_ts": rfc3339(p.last_updated_ns),
    }


def event_positions(positions: list[Position]) -> list[Json]:
    by_event: dict[str, list[Position]] = {}
    for p in positions:
        by_event.setdefault(p.event_ticker, []).append(p)
    return [
        {
            "event_ticker": ev,
            "total_cost_dollars": money(sum(p.total_traded for p in ps)),
            "total_cost_shares_fp": fp(sum(p.volume for p in ps)),
            "event_exposure_dollars": money(sum(market_exposure(p) for p in ps)),
            "realized_pnl_dollars": money(sum(p.realized_pnl for p in ps)),
            "fees_paid_dollars": money(sum(p.fees_paid for p in ps)),
        }
        for ev, ps in sorted(by_event.items())
    ]


def balance(b: BalanceView, shards: int = 1, exchange_index: int | None = None) -> Json:
    """The account has one cash pool; ``balance_breakdown`` reports it under exchange index 0 and
    zero on the other shards (the simulator has no per-shard balances or transfers between them).
    With ``exchange_index`` the figures are that shard's."""
    available = b.available if not exchange_index else 0
    value = b.portfolio_value if not exchange_index else 0
    body: Json = {
        "balance": cents(available),
        "balance_dollars": money(cents(available) * (MONEY_SCALE // 100)),
        "portfolio_value": cents(value),
        "updated_ts": b.updated_ns // NS_PER_S,
    }
    if exchange_index is None:
        body["balance_breakdown"] = [
            {"exchange_index": i, "balance": money(cents(b.available) * (MONEY_SCALE // 100) if i == 0 else 0)}
            for i in range(shards)
        ]
    return body


def settlement(s: Settlement) -> Json:
    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "exchange_index": s.exchange_index,
        "market_result": s.market_result,
        "yes_count_fp": fp(s.yes_count),
        "yes_total_cost_dollars": money(s.yes_total_cost),
        "no_count_fp": fp(s.no_count),
        "no_total_cost_dollars": money(s.no_total_cost),
        "revenue": s.revenue_cents,
        "value": s.value_cents,
        "fee_cost": money(s.fee_cost),
        "settled_time": rfc3339(s.settled_ns),
    }


def error(code: str, message: str, details: str = "") -> Json:
    return {"error": {"code": code, "message": message, "details": details}}


# --- admin views (our own shapes, Kalshi's number formats) --------------------------------------
def admin_order(o: Order) -> Json:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id or "",
        "ticker": o.ticker,
        "exchange_index": o.exchange_index,
        "side": o.side,
        "yes_price_dollars": price_to_dollars(o.price),
        "initial_count_fp": fp(o.initial_count),
        "fill_count_fp": fp(o.fill_count),
        "remaining_count_fp": fp(o.remaining),
        "status": o.status,
        "last_update_reason": o.last_update_reason,
        "order_group_id": o.order_group_id,
        "created_ts_ms": ts_ms(o.created_ns),
        "last_updated_ts_ms": ts_ms(max(o.last_update_ns, o.created_ns)),
    }


def admin_position(p: Position) -> Json:
    return {
        "ticker": p.ticker,
        "event_ticker": p.event_ticker,
        "exchange_index": p.exchange_index,
        "position_fp": fp(p.position),
        "max_abs_position_fp": fp(p.max_abs_position),
        "volume_fp": fp(p.volume),
        "realized_pnl_dollars": money(p.realized_pnl),
        "fees_paid_dollars": money(p.fees_paid),
        "settled": bool(p.settled),
    }


# --- WebSocket payloads (the "msg" part) ----------------------------------------------------------
def ws_snapshot(ticker: str, book: BookLevels) -> Json:
    msg: Json = {"market_ticker": ticker, "market_id": market_id(ticker)}
    if book.yes:
        msg["yes_dollars_fp"] = book_levels(book.yes)
    if book.no:
        msg["no_dollars_fp"] = book_levels(book.no)
    return msg


def ws_delta(d: BookDelta, for_user: str | None) -> Json:
    msg: Json = {
        "market_ticker": d.ticker,
        "market_id": market_id(d.ticker),
        "price_dollars": price_to_dollars(d.price),
        "delta_fp": fp(d.delta),
        "side": d.side,
        "ts_ms": ts_ms(d.ts_ns),
    }
    if for_user is not None and d.user == for_user and d.client_order_id:
        msg["client_order_id"] = d.client_order_id
        msg["subaccount"] = 0
    return msg


def ws_trade(t: TradePrint) -> Json:
    return {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        "yes_price_dollars": price_to_dollars(t.price),
        "no_price_dollars": price_to_dollars(ONE_DOLLAR - t.price),
        "count_fp": fp(t.count),
        "taker_side": t.taker_side,
        "taker_outcome_side": t.taker_side,
        "taker_book_side": t.taker_book_side,
        "is_block_trade": False,
        "ts": t.ts_ns // NS_PER_S,
        "ts_ms": ts_ms(t.ts_ns),
    }


def ws_ticker(stats: MarketStats, ts_ns: int) -> Json:
    return {
        "market_id": market_id(stats.ticker),
        "market_ticker": stats.ticker,
        "price_dollars": dollars(stats.last_price),
        "yes_bid_dollars": dollars(stats.yes_bid),
        "yes_ask_dollars": dollars(stats.yes_ask, ONE_DOLLAR),
        "yes_bid_size_fp": fp(stats.yes_bid_size),
        "yes_ask_size_fp": fp(stats.yes_ask_size),
        "last_trade_size_fp": fp(stats.last_trade_size),
        "volume_fp": fp(stats.volume),
        "open_interest_fp": fp(stats.open_interest),
        "dollar_volume": cents(stats.dollar_volume) // 100,
        "dollar_open_interest": cents(stats.dollar_open_interest) // 100,
        "ts": ts_ns // NS_PER_S,
        "ts_ms": ts_ms(ts_ns),
        "time": rfc3339(ts_ns // NS_PER_S * NS_PER_S),
    }


def ws_fill(f: FillRecord) -> Json:
    return {
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id or "",
        "market_ticker": f.ticker,
        "exchange_index": f.exchange_index,
        "is_taker": bool(f.is_taker),
        "side": f.outcome_side,
        "purchased_side": f.outcome_side,
        "outcome_side": f.outcome_side,
        "book_side": f.side,
        "action": "buy",
        "yes_price_dollars": price_to_dollars(f.price),
        "count_fp": fp(f.count),
        "fee_cost": money(f.fee),
        "post_position_fp": fp(f.post_position),
        "ts": f.ts_ns // NS_PER_S,
        "ts_ms": ts_ms(f.ts_ns),
        "subaccount": 0,
    }


def ws_user_order(o: Order) -> Json:
    return {
        "order_id": o.order_id,
        "user_id": o.user,
        "ticker": o.ticker,
        "status": o.status,
        "side": o.outcome_side,
        "is_yes": o.side == BID,
        "outcome_side": o.outcome_side,
        "book_side": o.side,
        "yes_price_dollars": price_to_dollars(o.price),
        "fill_count_fp": fp(o.fill_count),
        "remaining_count_fp": fp(o.remaining),
        "initial_count_fp": fp(o.initial_count),
        "taker_fill_cost_dollars": money(o.taker_fill_cost),
        "maker_fill_cost_dollars": money(o.maker_fill_cost),
        "taker_fees_dollars": money(o.taker_fees),
        "maker_fees_dollars": money(o.maker_fees),
        "client_order_id": o.client_order_id or "",
        "order_group_id": o.order_group_id,
        "created_time": rfc3339(o.created_ns),
        "created_ts_ms": ts_ms(o.created_ns),
        "last_updated_ts_ms": ts_ms(max(o.last_update_ns, o.created_ns)),
        "last_update_reason": o.last_update_reason,
        "subaccount_number": 0,
    }


def ws_position(user: str, p: Position) -> Json:
    return {
        "user_id": user,
        "market_ticker": p.ticker,
        "position_fp": fp(p.position),
        "position_cost_dollars": money(p.cost),
        "realized_pnl_dollars": money(p.realized_pnl),
        "fees_paid_dollars": money(p.fees_paid),
        "position_fee_cost_dollars": money(p.fees_paid),
        "volume_fp": fp(p.volume),
    }


def ws_lifecycle(ev: MarketLifecycle) -> Json:
    msg: Json = {"market_ticker": ev.ticker, "event_type": ev.event_type}
    if ev.event_type == "determined":
        msg["result"] = ev.result
        msg["determination_ts"] = ev.ts_ns // NS_PER_S
    elif ev.event_type == "settled":
        msg["result"] = ev.result
        msg["settled_ts"] = ev.ts_ns // NS_PER_S
    elif ev.event_type in ("created", "activated", "close_date_updated") and ev.close_ns is not None:
        msg["close_ts"] = ev.close_ns // NS_PER_S
    if ev.event_type in ("activated", "deactivated"):
        msg["is_deactivated"] = ev.event_type == "deactivated"
    return msg


def ws_order_group(ev: OrderGroupUpdate) -> Json:
    return {
        "event_type": ev.event_type,
        "order_group_id": ev.order_group_id,
        "contracts_limit_fp": fp(ev.contracts_limit),
        "ts_ms": ts_ms(ev.ts_ns),
    }


@lru_cache(maxsize=4096)
def market_id(ticker: str) -> str:
    """A stable UUID-shaped id per ticker (Kalshi sends ``market_id`` beside the ticker)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kmm-sim/" + ticker))
