"""Kalshi failures, classified by what the caller may do next.

- :class:`Retryable`: the request was not processed (429, connection refused, 5xx/timeout on a read):
  safe to send again.
- :class:`Rejected`: the exchange processed and refused it (4xx with Kalshi's ``code``). A 409 on an
  order create is :class:`DuplicateOrder` (that ``client_order_id`` already exists).
- :class:`Ambiguous`: a write whose outcome is unknown (timeout, reset or 5xx after sending): read
  the state back before acting again.

Error bodies are parsed in the nested ``{"error":{code,message,details}}``, flat ``{code,message}``
and bare ``{"msg":…}`` / ``{"error":"text"}`` forms. Messages never carry headers or key material.
"""

from typing import Any

import httpx

from . import constants as c
from .wire import loads


class KalshiError(Exception):
    """Base of every client failure. ``status`` is 0 when no HTTP response arrived."""

    def __init__(
        self, message: str = "", *, status: int = 0, code: str = "", details: str = "", method: str = "",
        endpoint: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.method = method
        self.endpoint = endpoint
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.method} {self.endpoint}".strip()
        parts = [p for p in (f"HTTP {self.status}" if self.status else "", self.code, self.message) if p]
        text = ": ".join(parts) or type(self).__name__
        if self.details and self.details != self.message:
            text += f" ({self.details})"
        return f"{where}: {text}" if where else text

    @property
    def kind(self) -> str:
        """Short label for metrics: retryable / rejected / ambiguous."""
        for cls, label in ((Ambiguous, "ambiguous"), (Retryable, "retryable"), (Rejected, "rejected")):
            if isinstance(self, cls):
                return label
        return "error"


class Retryable(KalshiError):
    """Not processed by the exchange; safe to retry (with backoff)."""


class RateLimited(Retryable):
    """HTTP 429. ``retry_after`` (seconds) when the server said so."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(Retryable):
    """5xx on a read."""


class ConnectionFailed(Retryable):
    """No request reached the exchange (refused, DNS, connect timeout) or a read was cut off."""


class Rejected(KalshiError):
    """A 4xx the exchange decided on; ``code`` is Kalshi's error code."""


class BadRequest(Rejected):
    """400 (validation, insufficient balance, market closed, invalid price, ...)."""


class Unauthorized(Rejected):
    """401: bad signature, stale timestamp, unknown key."""


STALE_TIMESTAMP = "header_timestamp_expired"


def is_stale_timestamp(err: KalshiError) -> bool:
    """A 401 for the request's signature timestamp (outside the exchange's window): refused before it
    was processed, so even a write may be sent again, signed anew."""
    return isinstance(err, Unauthorized) and err.code == STALE_TIMESTAMP


class Forbidden(Rejected):
    """403: the key lacks the scope."""


class NotFound(Rejected):
    """404: unknown market, order, group."""


class Conflict(Rejected):
    """409 that is not a duplicate order."""


class DuplicateOrder(Conflict):
    """409 on create: an order with this ``client_order_id`` already exists."""


class Ambiguous(KalshiError):
    """A write whose outcome is unknown: it may or may not have been applied."""


class ProtocolError(KalshiError):
    """A 2xx body we could not read (not JSON, missing fields)."""


def parse_error_body(body: bytes | str | Any) -> tuple[str, str, str]:
    """(code, message, details) from any of Kalshi's error body shapes; empty strings when unknown."""
    obj: Any = body
    if isinstance(body, bytes | str):
        try:
            obj = loads(body) if body else {}
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return "", text.strip()[:300], ""
    if not isinstance(obj, dict):
        return "", str(obj)[:300], ""
    inner = obj.get("error", obj)
    if isinstance(inner, str):
        return "", inner, ""
    if not isinstance(inner, dict):
        return "", str(inner), ""
    code = inner.get("code", "")
    message = inner.get("message", "") or inner.get("msg", "") or obj.get("msg", "") or obj.get("message", "")
    details = inner.get("details", "")
    return str(code or ""), str(message or ""), str(details or "")


def is_write(method: str) -> bool:
    return method.upper() not in ("GET", "HEAD", "OPTIONS")


def from_response(
    status: int, body: bytes | str, *, method: str, endpoint: str, headers: httpx.Headers | None = None
) -> KalshiError:
    """Classify a non-2xx response."""
    code, message, details = parse_error_body(body)
    kw: dict[str, Any] = dict(status=status, code=code, details=details, method=method, endpoint=endpoint)
    if status == 429:
        return RateLimited(message or "too many requests", retry_after=_retry_after(headers), **kw)
    if status >= 500:
        return (Ambiguous if is_write(method) else ServerError)(message or "server error", **kw)
    if status == 409:
        dup = endpoint in c.CREATE_TEMPLATES or "duplicate" in code.lower() or "duplicate" in message.lower()
        return (DuplicateOrder if dup else Conflict)(message or "conflict", **kw)
    cls = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound}.get(status, Rejected)
    return cls(message or "rejected", **kw)


def _retry_after(headers: httpx.Headers | None) -> float | None:
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# Transport failures that prove nothing was sent (retryable for every method).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def from_exception(exc: BaseException, *, method: str, endpoint: str) -> KalshiError:
    """Classify a transport failure: refused/connect timeout → Retryable; after sending → Ambiguous
    for a write, Retryable for a read."""
    what = type(exc).__name__
    kw: dict[str, Any] = dict(method=method, endpoint=endpoint, details=what)
    if isinstance(exc, _NOT_SENT):
        return ConnectionFailed("not sent: connection failed", **kw)
    if isinstance(exc, httpx.TimeoutException):
        return Ambiguous("timeout after sending", **kw) if is_write(method) else ConnectionFailed(
            "timeout", **kw)
    if isinstance(exc, httpx.TransportError | OSError):
        return Ambiguous("connection lost after sending", **kw) if is_write(method) else ConnectionFailed(
            "connection lost", **kw)
    return KalshiError(f"unexpected {what}", **kw)


def from_item(obj: Any, *, method: str, endpoint: str) -> KalshiError:
    """A per-item ``error`` object from a batch response, classified like a 400 (or 409 on duplicates)."""
    code, message, details = parse_error_body({"error": obj})
    dup = "duplicate" in code.lower() or "duplicate" in message.lower()
    cls: type[KalshiError] = DuplicateOrder if dup else BadRequest
    return cls(message or code or "rejected", status=409 if dup else 400, code=code, details=details,
               method=method, endpoint=endpoint)
