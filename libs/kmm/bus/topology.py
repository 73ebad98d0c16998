"""The one topology table: every stream, its only writer, its readers, its groups and its trimming.

Everything that knows about stream names or permissions derives from here: the Redis ACL file
(:mod:`kmm.bus.acl`), the consumer-group bootstrap (:mod:`kmm.bus.bootstrap`), the permission
matrix test, and the services' publishers and consumers.

A stream read through a consumer group has exactly one group: Redis ACLs cannot restrict by group
name, so two groups on one stream would let either service read, ack or claim the other's entries.
A stream that two services must consume through groups has *copies*: the publisher writes every
message to the stream and to each copy in one MULTI/EXEC, and each copy is read by one group
(``group_stream`` maps a logical stream and a group to the physical stream that group reads).

Each service also owns one small state hash, ``state_key(service)``, that only it may read or write.
"""

from dataclasses import dataclass, field, replace

# Stream names (ARCHITECTURE.md §1). Import these; never spell a stream name inline.
MD_BOOK = "md:book"
MD_TRADE = "md:trade"
MD_MARKET = "md:market"
SEL_UNIVERSE = "sel:universe"
ORD_INTENT = "ord:intent"
ORD_APPROVED = "ord:approved"
RISK_CONTROL = "risk:control"
RISK_DENIED = "risk:denied"
EXEC_REPORT = "exec:report"
EXEC_REPORT_QUOTER = "exec:report:quoter"  # exec:report's copy for the quoter's group

SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")


def dlq_stream(service: str) -> str:
    return f"dlq:{service}"


def state_key(service: str) -> str:
    """The hash where ``service`` keeps the small state it must carry across restarts."""
    return f"state:{service}"


@dataclass(frozen=True)
class Trim:
    """How a stream is capped. ``maxlen`` uses ``MAXLEN ~``; ``0`` means never trimmed by writers.

    Order, approval and report streams are capped far above any backlog we can accumulate
    (Redis 7.0 trims pending entries too), and ``min_backlog`` states that floor so a test
    can hold the table to it.
    """

    maxlen: int
    min_backlog: int = 0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    writer: str
    fanout_readers: tuple[str, ...] = ()  # plain XREAD, no group, latest state matters
    groups: tuple[str, ...] = ()  # at most one consumer group; the group name is the reading service
    trim: Trim = field(default_factory=lambda: Trim(maxlen=100_000))
    critical: bool = False  # order/approval/report path: never trimmed below the backlog
    copies: tuple[tuple[str, str], ...] = ()  # (copy stream, the one group reading it)
    copy_of: str = ""  # set on a copy's own row (generated from ``copies``): the stream it copies

    @property
    def readers(self) -> tuple[str, ...]:
        return self.fanout_readers + self.groups


# Backlog floor for critical streams: one hour at 100 messages/s. It is their cap too: full, they hold
# ~0.6 GB of Redis (~400 B an intent, ~320 an approval, ~275 a report, twice with its copy); the cap of
# 1,000,000 it replaced meant ~1.6 GB, past the 1 GB Kubernetes gives Redis, and `make run`'s rates
# fill the streams in two to three days (tests/integration/bus/test_stream_memory.py).
CRITICAL_BACKLOG = 360_000
CRITICAL_TRIM = Trim(maxlen=CRITICAL_BACKLOG, min_backlog=CRITICAL_BACKLOG)

def _with_copies(table: tuple[StreamSpec, ...]) -> tuple[StreamSpec, ...]:
    """The table plus one row per copy (same writer, trim and criticality), checked for the one-group rule."""
    rows: list[StreamSpec] = []
    for s in table:
        rows.append(s)
        rows += [replace(s, name=name, fanout_readers=(), groups=(group,), copies=(), copy_of=s.name)
                 for name, group in s.copies]
    for s in rows:
        if len(s.groups) > 1:
            raise ValueError(f"{s.name} is read by groups {s.groups}: give every group but one a copy")
    names = [s.name for s in rows]
    if len(set(names)) != len(names):
        raise ValueError("a stream name appears twice in the topology table")
    return tuple(rows)


TOPOLOGY: tuple[StreamSpec, ...] = _with_copies((
    StreamSpec(MD_BOOK, "marketdata", fanout_readers=("quoter",), trim=Trim(maxlen=20_000)),
    StreamSpec(MD_TRADE, "marketdata", fanout_readers=("quoter", "selector"), trim=Trim(maxlen=50_000)),
    StreamSpec(MD_MARKET, "marketdata", fanout_readers=("selector", "quoter", "risk"), trim=Trim(maxlen=50_000)),
    StreamSpec(SEL_UNIVERSE, "selector", fanout_readers=("marketdata", "quoter"), trim=Trim(maxlen=1_000)),
    StreamSpec(ORD_INTENT, "quoter", groups=("risk",), critical=True, trim=CRITICAL_TRIM),
    StreamSpec(ORD_APPROVED, "risk", groups=("gateway",), critical=True, trim=CRITICAL_TRIM),
    StreamSpec(RISK_CONTROL, "risk", groups=("gateway",), fanout_readers=("quoter",), critical=True, trim=CRITICAL_TRIM),
    StreamSpec(RISK_DENIED, "risk", groups=("quoter",), critical=True, trim=CRITICAL_TRIM),
    StreamSpec(EXEC_REPORT, "gateway", groups=("risk",), copies=((EXEC_REPORT_QUOTER, "quoter"),), critical=True, trim=CRITICAL_TRIM),
    *(
        StreamSpec(dlq_stream(s), s, trim=Trim(maxlen=100_000, min_backlog=100_000), critical=True)
        for s in SERVICES
    ),
))

BY_NAME: dict[str, StreamSpec] = {s.name: s for s in TOPOLOGY}


def spec(name: str) -> StreamSpec:
    return BY_NAME[name]


def writes(service: str) -> tuple[str, ...]:
    return tuple(s.name for s in TOPOLOGY if s.writer == service)


def copies(stream: str) -> tuple[str, ...]:
    """The copy streams a message published to ``stream`` is also written to."""
    s = BY_NAME.get(stream)
    return tuple(name for name, _ in s.copies) if s is not None else ()


def group_stream(stream: str, group: str) -> str:
    """The physical stream ``group`` reads for the logical ``stream`` (the stream itself or its copy)."""
    s = BY_NAME.get(stream)
    if s is None:
        raise KeyError(f"{stream!r} is not in the topology table")
    if group in s.groups:
        return s.name
    for name, g in s.copies:
        if g == group:
            return name
    raise KeyError(f"group {group!r} does not read {stream!r} (topology table)")


def group_inputs(service: str) -> tuple[str, ...]:
    """Physical streams ``service`` reads through its consumer group (group name == service name)."""
    return tuple(s.name for s in TOPOLOGY if service in s.groups)


def fanout_inputs(service: str) -> tuple[str, ...]:
    return tuple(s.name for s in TOPOLOGY if service in s.fanout_readers)


def groups() -> tuple[tuple[str, str], ...]:
    """(physical stream, group) pairs: what the bootstrap creates and each service ensures."""
    return tuple((s.name, g) for s in TOPOLOGY for g in s.groups)
