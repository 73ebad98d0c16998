"""book: snapshot + deltas, best levels, invalidation on inconsistency."""

import pytest

from kmm.kalshi.book import BookError, LocalBook


def test_snapshot_deltas_and_best_levels():
    b = LocalBook("T")
    b.apply_snapshot([(4100, 1000), (4200, 1300)], [(5500, 300), (5600, 1700)])
    assert b.best_bid() == (4200, 1300) and b.best_ask() == (4400, 1700)
    b.apply_delta("yes", 4200, -1300)
    assert b.best_bid() == (4100, 1000)
    b.apply_delta("no", 5700, 5)
    assert b.asks() == ((4300, 5), (4400, 1700), (4500, 300))
    assert b.bids(depth=1) == ((4100, 1000),)
    upd = b.to_book_update(seq=9)
    assert upd.market == "T" and upd.asks[0] == (4300, 5) and upd.seq == 9
    assert not b.crossed()


def test_negative_level_invalidates_and_snapshot_repairs():
    b = LocalBook("T")
    with pytest.raises(BookError):
        b.apply_delta("yes", 100, 1)  # before snapshot
    b.apply_snapshot([(100, 5)], [])
    with pytest.raises(BookError):
        b.apply_delta("yes", 100, -6)
    assert not b.valid
    b.apply_snapshot([(100, 5)], [])
    assert b.valid and b.best_ask() is None
