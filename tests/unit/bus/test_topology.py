"""The topology table holds the design's invariants."""

from kmm.bus import topology as t


def test_stream_names_are_the_architecture_names() -> None:
    names = {s.name for s in t.TOPOLOGY if not s.name.startswith("dlq:")}
    assert names == {
        "md:book", "md:trade", "md:market", "sel:universe", "ord:intent", "ord:approved",
        "risk:control", "risk:denied", "exec:report",
    }
    assert {s.name for s in t.TOPOLOGY if s.name.startswith("dlq:")} == {f"dlq:{s}" for s in t.SERVICES}


def test_veto_path_writers() -> None:
    assert t.spec(t.ORD_APPROVED).writer == "risk"
    assert t.spec(t.EXEC_REPORT).writer == "gateway"
    assert t.group_inputs("gateway") == (t.ORD_APPROVED, t.RISK_CONTROL)


def test_critical_streams_never_trimmed_below_backlog() -> None:
    for s in t.TOPOLOGY:
        if s.name.startswith(("ord:", "exec:", "risk:")):
            assert s.critical, s.name
        if s.critical:
            assert s.trim.maxlen == 0 or s.trim.maxlen >= s.trim.min_backlog > 0, s.name
        if s.name.startswith(("ord:", "exec:")):
            assert s.trim.min_backlog >= t.CRITICAL_BACKLOG


def test_groups_are_named_after_their_reading_service() -> None:
    for stream, group in t.groups():
        assert group in t.SERVICES
        assert stream in t.group_inputs(group)
