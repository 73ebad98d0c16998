"""The one topology table: every stream, its only writer, its readers, its groups and its trimming.

Everything that knows about stream names or permissions derives from here: the Redis ACL file
(:mod:`kmm.bus.acl`), the consumer-group bootstrap (:mod:`kmm.bus.bootstrap`), the permission
matrix test, and the services' publishers and consumers.
"""

from dataclasses import dataclass, field

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

SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")


def dlq_stream(service: str) -> str:
    return f"dlq:{service}"


def state_key(service: str) -> str:
    """The hash where ``service`` keeps what must survive its restart (only it may write it)."""
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
    groups: tuple[str, ...] = ()  # consumer groups; the group name is the reading service
    trim: Trim = field(default_factory=lambda: Trim(maxlen=100_000))
    critical: bool = False  # order/approval/report path: never trimmed below the backlog

    @property
    def readers(self) -> tuple[str, ...]:
        return self.fanout_readers + self.groups


# Backlog floor for critical streams: one hour at 100 messages/s.
CRITICAL_BACKLOG = 360_000

TOPOLOGY: tuple[StreamSpec, ...] = (
    StreamSpec(MD_BOOK, "marketdata", fanout_readers=("quoter", "risk"), trim=Trim(maxlen=20_000)),
    StreamSpec(MD_TRADE, "marketdata", fanout_readers=("quoter", "selector"), trim=Trim(maxlen=50_000)),
    StreamSpec(MD_MARKET, "marketdata", fanout_readers=("selector", "quoter", "risk"), trim=Trim(maxlen=50_000)),
    StreamSpec(SEL_UNIVERSE, "selector", fanout_readers=("marketdata", "quoter"), trim=Trim(maxlen=1_000)),
    StreamSpec(ORD_INTENT, "quoter", groups=("risk",), critical=True,
               trim=Trim(maxlen=1_000_000, min_backlog=CRITICAL_BACKLOG)),
    StreamSpec(ORD_APPROVED, "risk", groups=("gateway",), critical=True,
               trim=Trim(maxlen=1_000_000, min_backlog=CRITICAL_BACKLOG)),
    StreamSpec(RISK_CONTROL, "risk", groups=("gateway",), fanout_readers=("quoter",), critical=True,
               trim=Trim(maxlen=1_000_000, min_backlog=CRITICAL_BACKLOG)),
    StreamSpec(RISK_DENIED, "risk", groups=("quoter",), critical=True,
               trim=Trim(maxlen=1_000_000, min_backlog=CRITICAL_BACKLOG)),
    StreamSpec(EXEC_REPORT, "gateway", groups=("risk", "quoter"), critical=True,
               trim=Trim(maxlen=1_000_000, min_backlog=CRITICAL_BACKLOG)),
    *(
        StreamSpec(dlq_stream(s), s, trim=Trim(maxlen=100_000, min_backlog=100_000), critical=True)
        for s in SERVICES
    ),
)

BY_NAME: dict[str, StreamSpec] = {s.name: s for s in TOPOLOGY}


def spec(name: str) -> StreamSpec:
    return BY_NAME[name]


def writes(service: str) -> tuple[str, ...]:
    return tuple(s.name for s in TOPOLOGY if s.writer == service)


def group_inputs(service: str) -> tuple[str, ...]:
    """Streams ``service`` reads through its consumer group (group name == service name)."""
    return tuple(s.name for s in TOPOLOGY if service in s.groups)


def fanout_inputs(service: str) -> tuple[str, ...]:
    return tuple(s.name for s in TOPOLOGY if service in s.fanout_readers)


def groups() -> tuple[tuple[str, str], ...]:
    """(stream, group) pairs the bootstrap creates."""
    return tuple((s.name, g) for s in TOPOLOGY for g in s.groups)
