"""Read-only looks back into a service's own output streams, for its operator GET endpoints.

A service may ``XREVRANGE`` the streams it writes (its ACL allows exactly that), so the gateway can
answer ``GET /fills?since_ms=`` from ``exec:report`` and risk ``GET /positions`` (last denial per
market) from ``risk:denied`` without keeping any history in memory. Scans are bounded: at most
``max_scan`` entries are read per request, newest first, and the answer says when it stopped early.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmm.bus.entries import entry_message
from kmm.bus.fanout import parse_id
from kmm.messages import Denial, Fill
from kmm.messages.units import NS_PER_MS, count_to_fp, money_to_dollars, price_to_dollars

PAGE = 1000
MAX_ENTRY_MS = 2**64 - 1  # a stream entry id's time part is an unsigned 64-bit integer


def entry_ms(entry_id: bytes | str) -> int:
    """The millisecond timestamp Redis put in a stream entry id (``<ms>-<seq>``)."""
    return parse_id(entry_id)[0]


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def scan_back(redis: Any, stream: str, since_ms: int, max_scan: int, keep: Any, limit: int
                    ) -> tuple[list[tuple[int, Any]], bool]:
    """Newest-first ``(entry ms, message)`` of ``stream`` from ``since_ms`` on for which ``keep(msg)``;
    returns them oldest first and whether the scan stopped before reaching ``since_ms``."""
    out: list[tuple[int, Any]] = []
    end: str = "+"
    scanned = 0
    truncated = False
    while True:
        page = await redis.xrevrange(stream, max=end, min=f"{since_ms}-0", count=PAGE)
        if not page:
            break
        for eid, fields in page:
            scanned += 1
            msg = entry_message(fields)
            if msg is None:
                continue
            if keep(msg):
                out.append((entry_ms(eid), msg))
                if len(out) >= limit:
                    return out[::-1], True
        if len(page) < PAGE:
            break
        if scanned >= max_scan:
            truncated = True
            break
        last = page[-1][0].decode() if isinstance(page[-1][0], bytes) else page[-1][0]
        end = f"({last}"  # exclusive (Redis ≥ 6.2)
    return out[::-1], truncated


def fill_json(ms: int, f: Fill) -> dict[str, Any]:
    """A Fill as JSON: dollars and contracts as decimal strings, times as ISO-8601 UTC."""
    return {
        "reported": iso_ms(ms), "reported_ms": ms,
        "exchange_time": iso_ms(f.ts_event // NS_PER_MS) if f.ts_event else None,
        "market": f.market, "side": f.side, "price": price_to_dollars(f.price), "count": count_to_fp(f.count),
        "fee": money_to_dollars(f.fee, 6), "is_taker": f.is_taker, "seq": f.seq,
        "fill_id": f.fill_id, "order_id": f.order_id, "client_order_id": f.client_order_id,
    }


async def recent_fills(redis: Any, stream: str, since_ms: int, limit: int, max_scan: int = 200_000
                       ) -> dict[str, Any]:
    rows, truncated = await scan_back(redis, stream, since_ms, max_scan, lambda m: isinstance(m, Fill), limit)
    return {"since_ms": since_ms, "fills": [fill_json(ms, f) for ms, f in rows], "truncated": truncated}


async def last_denials(redis: Any, stream: str, max_scan: int = 5_000) -> dict[str, dict[str, Any]]:
    """The newest denial per market among the last ``max_scan`` entries of ``risk:denied``."""
    rows, _ = await scan_back(redis, stream, 0, max_scan, lambda m: isinstance(m, Denial), max_scan)
    out: dict[str, dict[str, Any]] = {}
    for ms, d in rows:  # oldest first: later ones overwrite
        out[d.market] = {"code": d.code, "detail": d.detail, "at": iso_ms(ms), "at_ms": ms}
    return out
