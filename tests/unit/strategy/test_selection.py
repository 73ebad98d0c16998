"""Market selection: the score formula, filters and hysteresis."""

import math

import pytest

from kmm.strategy.selection import MarketStats, SelectionConfig, UniverseSelector, score_market

NS = 1_000_000_000
CFG = SelectionConfig(target_spread_c=3.0, width_c=2.0, enter_score=100.0, exit_score=50.0, max_markets=2,
                      min_dwell_s=60.0, swap_ratio=1.5)


def stats(market: str, volume: int = 100_000, sigma: float = 5.0, spread: float = 3.0, **kw) -> MarketStats:
    return MarketStats(market=market, volume_24h=volume * 100, sigma_c=sigma, spread_c=spread, trades_per_h=10.0,
                       **kw)


def test_score_formula_and_explanation() -> None:
    info = score_market(stats("A", volume=1000, sigma=5.0, spread=5.0), CFG)
    assert info["volume_per_sigma"] == 200.0
    assert info["spread_factor"] == pytest.approx(math.exp(-4 / 8))
    assert info["score"] == pytest.approx(200.0 * math.exp(-0.5))
    assert info["eligible"] and info["failed"] == ()
    assert score_market(stats("Q", volume=1000, sigma=0.0), CFG)["sigma_c"] == 1.0  # floored


@pytest.mark.parametrize(("kw", "reason"), [
    ({"status": "closed"}, "status"), ({"hours_to_close": 0.1}, "time_to_close"),
    ({"two_sided": False}, "two_sided"), ({"spread": math.nan}, "spread"),
])
def test_filters(kw: dict, reason: str) -> None:
    info = score_market(stats("A", **kw), CFG)
    assert not info["eligible"] and reason in info["failed"] and info["score"] == 0.0
    quiet = MarketStats(market="Q", volume_24h=10**9, sigma_c=5.0, spread_c=3.0, trades_per_h=0.2)
    assert "trades_per_h" in score_market(quiet, CFG)["failed"]


def test_hysteresis_dwell_and_max_size() -> None:
    sel = UniverseSelector(CFG)
    first = sel.update([stats("A", 1000), stats("B", 800), stats("C", 600)], 0)
    assert first.markets == ("A", "B") and first.entered == ("A", "B")
    # A (score 80) falls between exit and enter: it stays; C (110) is not 1.5× the weakest member (A)
    second = sel.update([stats("A", 400), stats("B", 800), stats("C", 550)], 120 * NS)
    assert second.markets == ("B", "A")
    # A falls below exit after its dwell: it leaves and C enters
    third = sel.update([stats("A", 200), stats("B", 800), stats("C", 550)], 240 * NS)
    assert set(third.markets) == {"B", "C"} and third.left == ("A",) and third.entered == ("C",)
    # a low score inside the dwell time does not evict
    fourth = sel.update([stats("A", 200), stats("B", 800), stats("C", 100)], 250 * NS)
    assert "C" in fourth.markets
    # a much stronger newcomer swaps out the weakest member past its dwell
    fifth = sel.update([stats("B", 800), stats("C", 600), stats("D", 5000)], 400 * NS)
    assert set(fifth.markets) == {"B", "D"} and fifth.explain["C"]["selected"] is False


def test_failed_filter_evicts_immediately() -> None:
    sel = UniverseSelector(CFG)
    sel.update([stats("A", 1000)], 0)
    assert sel.update([stats("A", 1000, status="closed")], NS).markets == ()


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        UniverseSelector(SelectionConfig(enter_score=1.0, exit_score=2.0))
