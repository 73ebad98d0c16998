"""Types-only messages package: every bus message, its units and its msgpack codec.

Imports nothing else of kmm, so any service, the backtester and tests can depend on it alone.
"""

from .codec import REGISTRY, DecodeError, decode, encode
from .types import (
    ACTIVE,
    ALL_MESSAGES,
    APPLIED,
    APPROVAL_STATUSES,
    ASK,
    BID,
    EXEC_REPORTS,
    EXPIRED,
    HALTED,
    MARKET_ENDED_STATUSES,
    MARKET_OPEN_STATUSES,
    MARKET_SETTLED,
    REDUCING,
    REFUSED,
    SIDES,
    TRADING_STATES,
    Approval,
    ApprovalStatus,
    BalanceReport,
    BookUpdate,
    Control,
    DeadLetter,
    Denial,
    Fill,
    Heartbeat,
    Level,
    Levels,
    MarketInfo,
    Message,
    OrderAck,
    OrderCancel,
    OrderReject,
    PositionReport,
    QuoteIntent,
    Settlement,
    Trade,
    Universe,
)

__all__ = [
    "ACTIVE", "ALL_MESSAGES", "APPLIED", "APPROVAL_STATUSES", "ApprovalStatus", "EXPIRED", "REFUSED",
    "Settlement", "ASK", "BID", "EXEC_REPORTS", "HALTED", "MARKET_ENDED_STATUSES", "MARKET_OPEN_STATUSES",
    "MARKET_SETTLED", "REDUCING", "REGISTRY", "SIDES",
    "TRADING_STATES", "Approval", "BalanceReport", "BookUpdate", "Control", "DeadLetter", "DecodeError",
    "Denial", "Fill", "Heartbeat", "Level", "Levels", "MarketInfo", "Message", "OrderAck", "OrderCancel",
    "OrderReject", "PositionReport", "QuoteIntent", "Trade", "Universe", "decode",
    "encode",
]
