"""The topology table holds the design's invariants."""

import pytest

from kmm.bus import topology as t


def test_stream_names_are_the_architecture_names() -> None:
    names = {s.name for s in t.TOPOLOGY if not s.name.startswith("dlq:")}
    assert names == {
        "md:book", "md:trade", "md:market", "sel:universe", "ord:intent", "ord:approved",
        "risk:control", "risk:denied", "exec:report", "exec:report:quoter",
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


def test_a_group_stream_has_exactly_one_group() -> None:
    for s in t.TOPOLOGY:
        assert len(s.groups) <= 1, s.name
    assert t.spec(t.EXEC_REPORT).groups == ("risk",)
    assert t.spec(t.EXEC_REPORT_QUOTER).groups == ("quoter",)


def test_copies_are_rows_of_their_own_with_the_writer_trim_and_criticality_of_the_source() -> None:
    assert t.copies(t.EXEC_REPORT) == (t.EXEC_REPORT_QUOTER,)
    assert t.copies(t.ORD_INTENT) == () and t.copies("not:a:stream") == ()
    src, copy = t.spec(t.EXEC_REPORT), t.spec(t.EXEC_REPORT_QUOTER)
    assert copy.copy_of == t.EXEC_REPORT and not copy.copies
    assert (copy.writer, copy.trim, copy.critical) == (src.writer, src.trim, src.critical)
    assert t.EXEC_REPORT_QUOTER in t.writes("gateway")


def test_group_stream_maps_a_logical_stream_to_the_stream_a_group_reads() -> None:
    assert t.group_stream(t.EXEC_REPORT, "risk") == t.EXEC_REPORT
    assert t.group_stream(t.EXEC_REPORT, "quoter") == t.EXEC_REPORT_QUOTER
    assert t.group_stream(t.ORD_APPROVED, "gateway") == t.ORD_APPROVED
    with pytest.raises(KeyError, match="does not read"):
        t.group_stream(t.EXEC_REPORT, "selector")
    with pytest.raises(KeyError, match="not in the topology"):
        t.group_stream("no:such", "risk")
    assert t.group_inputs("quoter") == (t.RISK_DENIED, t.EXEC_REPORT_QUOTER)
    assert t.group_inputs("risk") == (t.ORD_INTENT, t.EXEC_REPORT)


def test_one_state_key_per_service() -> None:
    assert [t.state_key(s) for s in t.SERVICES] == [f"state:{s}" for s in t.SERVICES]
    names = {s.name for s in t.TOPOLOGY}
    assert not names & {t.state_key(s) for s in t.SERVICES}
