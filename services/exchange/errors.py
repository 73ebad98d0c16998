"""The one error type the exchange engine raises; codes follow Kalshi's REST error codes (kalshi-api.md §3.4)."""

from __future__ import annotations

# HTTP status + Kalshi error code pairs used by the engine.
BAD_REQUEST = 400
NOT_FOUND = 404
CONFLICT = 409

INVALID_PARAMETERS = "invalid_parameters"
MISSING_PARAMETERS = "missing_parameters"
INVALID_PRICE = "invalid_price"
INSUFFICIENT_BALANCE = "insufficient_balance"
MARKET_CLOSED = "market_closed"
TRADING_PAUSED = "trading_paused"
POST_ONLY_REJECTED = "post_only_rejected"
DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
ORDER_GROUP_TRIGGERED = "order_group_triggered"
NOT_FOUND_CODE = "not_found"


class ExchangeError(Exception):
    """A request the exchange refuses. ``status`` is the HTTP status, ``code`` Kalshi's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ExchangeError({self.status!r}, {self.code!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ExchangeError)
            and (self.status, self.code, self.message) == (other.status, other.code, other.message)
        )

    def __hash__(self) -> int:
        return hash((self.status, self.code, self.message))


def bad_request(code: str, message: str) -> ExchangeError:
    return ExchangeError(BAD_REQUEST, code, message)


def not_found(message: str) -> ExchangeError:
    return ExchangeError(NOT_FOUND, NOT_FOUND_CODE, message)
