"""Telling a new fill from a redelivered one when the gateway's fill count went back."""

from kmm.risk import fill_seq as fs


def applied_through(*fills: tuple[int, str]) -> tuple[int, dict[str, int]]:
    applied, recent = 0, {}
    for seq, fill_id in fills:
        assert fs.classify(applied, recent, seq, fill_id) == fs.NEW
        applied = fs.remember(applied, recent, seq, fill_id)
    return applied, recent


def test_a_redelivery_is_a_duplicate_by_its_id_or_its_sequence() -> None:
    applied, recent = applied_through((1, "a"), (2, "b"), (3, "c"))
    assert applied == 3
    assert fs.classify(applied, recent, 3, "c") == fs.DUPLICATE
    assert fs.classify(applied, recent, 7, "b") == fs.DUPLICATE  # re-found and numbered again
    assert fs.classify(applied, recent, 2, "") == fs.DUPLICATE  # no id: the sequence decides
    assert fs.classify(applied, recent, 4, "d") == fs.NEW


def test_a_new_fill_at_a_sequence_already_applied_is_a_reuse() -> None:
    applied, recent = applied_through((1, "a"), (2, "b"), (3, "c"))
    assert fs.classify(applied, recent, 3, "d") == fs.REUSED  # the gateway lost "c" and numbered "d" 3
    applied = fs.remember(applied, recent, 3, "d")
    assert applied == 3 and recent["d"] == 3
    assert fs.classify(applied, recent, 3, "d") == fs.DUPLICATE  # and its redelivery is dropped


def test_a_sequence_older_than_the_memory_cannot_be_told_apart_and_is_dropped() -> None:
    applied, recent = applied_through(*((i, f"f{i}") for i in range(1, fs.KEPT + 11)))
    assert len(recent) == fs.KEPT and min(recent.values()) == 11
    assert fs.classify(applied, recent, 10, "unknown") == fs.DUPLICATE
    assert fs.classify(applied, recent, 11, "unknown") == fs.REUSED
    assert fs.classify(5, {}, 3, "restored-without-ids") == fs.DUPLICATE


def test_fills_without_a_sequence_are_counted_here() -> None:
    applied, recent = applied_through((0, "a"), (0, "b"), (0, ""))
    assert applied == 3 and recent == {"a": 1, "b": 2}


def test_admit_moves_the_applied_sequence_up_even_for_a_redelivery() -> None:
    applied, recent = applied_through((1, "a"), (2, "b"))
    assert fs.admit(applied, recent, 3, "a") == (fs.DUPLICATE, 3)  # re-found and numbered again
    assert fs.admit(3, recent, 3, "c") == (fs.REUSED, 3) and recent["c"] == 3
    assert fs.admit(3, recent, 4, "d") == (fs.NEW, 4)
