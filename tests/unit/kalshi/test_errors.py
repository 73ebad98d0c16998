"""errors: body shapes and the retryable / rejected / ambiguous classification."""

import httpx
import pytest

from kmm.kalshi import constants as c
from kmm.kalshi import errors as e


@pytest.mark.parametrize("body,expected", [
    (b'{"error":{"code":"invalid_price","message":"bad","details":"tick"}}', ("invalid_price", "bad", "tick")),
    (b'{"code":"not_found","message":"no market"}', ("not_found", "no market", "")),
    (b'{"msg":"too slow"}', ("", "too slow", "")),
    (b'{"error":"too many requests"}', ("", "too many requests", "")),
    (b"<html>bad gateway</html>", ("", "<html>bad gateway</html>", "")),
    (b"", ("", "", "")),
])
def test_parse_error_body_shapes(body, expected):
    assert e.parse_error_body(body) == expected


def test_classification_of_statuses():
    body = b'{"error":{"code":"x","message":"m"}}'
    assert isinstance(e.from_response(429, body, method="POST", endpoint=c.CREATE_ORDER), e.RateLimited)
    assert isinstance(e.from_response(503, body, method="GET", endpoint=c.MARKETS), e.Retryable)
    assert isinstance(e.from_response(500, body, method="POST", endpoint=c.CREATE_ORDER), e.Ambiguous)
    assert isinstance(e.from_response(500, body, method="DELETE", endpoint=c.CANCEL_ORDER), e.Ambiguous)
    dup = e.from_response(409, body, method="POST", endpoint=c.CREATE_ORDER)
    assert isinstance(dup, e.DuplicateOrder) and isinstance(dup, e.Rejected)
    assert not isinstance(e.from_response(409, body, method="PUT", endpoint=c.ORDER_GROUP_RESET), e.DuplicateOrder)
    auth = e.from_response(401, b'{"error":{"code":"header_timestamp_expired","message":"old"}}',
                           method="GET", endpoint=c.BALANCE)
    assert isinstance(auth, e.Unauthorized) and auth.code == "header_timestamp_expired" and auth.kind == "rejected"
    assert isinstance(e.from_response(404, body, method="GET", endpoint=c.MARKET), e.NotFound)
    assert "GET /markets/{ticker}" in str(e.from_response(404, body, method="GET", endpoint=c.MARKET))


def test_transport_failures():
    req = httpx.Request("POST", "http://x")
    refused = e.from_exception(httpx.ConnectError("refused", request=req), method="POST", endpoint=c.CREATE_ORDER)
    assert isinstance(refused, e.Retryable)
    timeout = e.from_exception(httpx.ReadTimeout("slow", request=req), method="POST", endpoint=c.CREATE_ORDER)
    assert isinstance(timeout, e.Ambiguous) and timeout.kind == "ambiguous"
    reset = e.from_exception(httpx.RemoteProtocolError("reset", request=req), method="DELETE",
                             endpoint=c.CANCEL_ORDER)
    assert isinstance(reset, e.Ambiguous)
    read = e.from_exception(httpx.ReadTimeout("slow", request=req), method="GET", endpoint=c.MARKETS)
    assert isinstance(read, e.Retryable)


def test_batch_item_errors():
    dup = e.from_item({"code": "duplicate_client_order_id", "message": "dup"}, method="POST",
                      endpoint=c.BATCH_ORDERS)
    assert isinstance(dup, e.DuplicateOrder)
    bad = e.from_item({"code": "invalid_price", "message": "off tick"}, method="POST", endpoint=c.BATCH_ORDERS)
    assert isinstance(bad, e.BadRequest) and bad.code == "invalid_price"
