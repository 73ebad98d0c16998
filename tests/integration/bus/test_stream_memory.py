"""The bus's streams, full to their caps, fit the Redis the Kubernetes deployment gives them.

A real Redis holds a few thousand entries of what each stream carries (messages with ids, times and
prices like the live ones, encoded as the publisher writes them); bytes an entry times the stream's
cap, over every stream (copies included), must stay under three quarters of the deployment's
``maxmemory`` (``deploy/k8s/base/redis.yaml``, ``noeviction``: past it Redis refuses every XADD and
the order path stops). The dead-letter streams are left out: full, they are an outage of their own.
With the critical streams capped at 1,000,000 entries, as they were, this failed (1.65 GiB).
"""

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from kmm.bus import topology as t
from kmm.bus.ids import new_id
from kmm.bus.publisher import FIELD
from kmm.messages import (
    Approval,
    ApprovalStatus,
    BookUpdate,
    Denial,
    Fill,
    Heartbeat,
    MarketInfo,
    Message,
    OrderAck,
    QuoteIntent,
    Trade,
    Universe,
    encode,
)

REDIS_YAML = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base" / "redis.yaml"
SAMPLE = 3_000
TS = 1_796_353_749_640_007_500


def ids() -> dict[str, object]:
    return {"msg_id": new_id(), "corr_id": new_id(), "ts_event": TS, "ts_init": TS + 1_234_567, "origin_ts": TS + 7}


def market(i: int) -> str:
    return f"KXSIM-E{i % 40:03d}-B{i % 5}"


def levels(i: int) -> tuple[tuple[int, int], ...]:
    return tuple((4000 - 100 * k, 1000 + 37 * k + i % 100) for k in range(10))


SAMPLES: dict[str, Callable[[int], Message]] = {
    t.MD_BOOK: lambda i: BookUpdate(market=market(i), seq=i, bids=levels(i), asks=levels(i + 1), **ids()),
    t.MD_TRADE: lambda i: Trade(market=market(i), trade_id=new_id(), price=4200, count=1300, taker_side="yes", **ids()),
    t.MD_MARKET: lambda i: MarketInfo(market=market(i), event=market(i)[:-3], series="KXSIM", close_ts=TS,
                                      volume_24h=123_400, open_interest=98_700, yes_bid=4100, yes_ask=4300,
                                      last_price=4200, fee_type="quadratic", **ids()),
    t.SEL_UNIVERSE: lambda i: Universe(markets=tuple(market(i + k) for k in range(10)),
                                       scores=tuple(12.5 + k for k in range(10)), **ids()),
    t.ORD_INTENT: lambda i: QuoteIntent(intent_id=new_id(), market=market(i), bid_price=4000, bid_count=1000,
                                        ask_price=4400, ask_count=1000, expires_at_ns=TS + 10**10, reason="quote",
                                        book_ts=TS, book_seq=i, book_ts_event=TS, book_bid=4100, book_ask=4300,
                                        sigma=1.734, **ids()),
    t.ORD_APPROVED: lambda i: Approval(intent_id=new_id(), market=market(i), bid_price=4000, bid_count=1000,
                                       ask_price=4400, ask_count=1000, expires_at_ns=TS + 10**10, fill_seq=i % 50,
                                       position=-700, **ids()),
    t.RISK_CONTROL: lambda i: Heartbeat(service="risk", seq=i, **ids()),
    t.RISK_DENIED: lambda i: Denial(intent_id=new_id(), market=market(i), code="position_limit",
                                    detail="at the position limit", **ids()),
}


def reports() -> Iterator[Callable[[int], Message]]:
    """An ack and the approval's status for most requests, a fill now and then."""
    ack = lambda i: OrderAck(client_order_id=f"kmm-b-{new_id()}", order_id=new_id(), market=market(i),  # noqa: E731
                             side="bid", price=4000, count=1000, intent_id=new_id(), **ids())
    status = lambda i: ApprovalStatus(intent_id=new_id(), market=market(i), status="applied", **ids())  # noqa: E731
    fill = lambda i: Fill(fill_id=new_id(), order_id=new_id(), client_order_id=f"kmm-b-{new_id()}",  # noqa: E731
                          market=market(i), side="bid", price=4000, count=300, fee=70_000, seq=i, **ids())
    return itertools.cycle((ack, status, ack, status, fill))


def bytes_per_entry(r: redis.Redis, stream: str) -> float:
    make = SAMPLES.get(stream)
    kinds = reports() if make is None else itertools.repeat(make)
    with r.pipeline(transaction=False) as p:
        for i, kind in zip(range(SAMPLE), kinds, strict=False):
            p.xadd(stream, {FIELD: encode(kind(i))})
        p.execute()
    return r.memory_usage(stream, samples=0) / SAMPLE


def maxmemory_bytes() -> int:
    m = re.search(r"maxmemory (\d+)(gb|mb)", REDIS_YAML.read_text())
    assert m, f"no maxmemory in {REDIS_YAML}"
    return int(m.group(1)) * 1024 ** (3 if m.group(2) == "gb" else 2)


def test_every_stream_full_to_its_cap_fits_the_deployments_redis(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    full = {s.name: s.trim.maxlen * bytes_per_entry(r, s.name) for s in t.TOPOLOGY
            if s.trim.maxlen and not s.name.startswith("dlq:")}
    total = sum(full.values())
    assert total <= 0.75 * maxmemory_bytes(), {k: f"{v / 2**20:.0f} MiB" for k, v in full.items()}
