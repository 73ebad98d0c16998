"""σ without bid-ask bounce (TwoScaleVolatility): flicker reads ≈ 0, Brownian σ survives added bounce,
and on the real INXD day the tick estimate matches the minute-sampled one."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from kmm.strategy.estimators import EwmaVolatility, TwoScaleVolatility

NS = 1_000_000_000


def flicker(hz: float, hours: float, jitter: bool = False, seed: int = 0) -> list[tuple[int, float]]:
    """The mid hopping 50.0¢ ↔ 50.5¢ ``hz`` times a second and never really moving."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * hz)
    gaps = rng.exponential(1.0 / hz, n) if jitter else np.full(n, 1.0 / hz)
    ts = (np.cumsum(gaps) * NS).astype(np.int64)
    return [(t, 5000.0 + 50.0 * (i % 2)) for i, t in enumerate(ts.tolist())]


@pytest.mark.parametrize(("hz", "jitter"), [(1.0, False), (5.0, False), (2.0, True)])
def test_a_pure_flicker_gives_sigma_near_zero(hz: float, jitter: bool) -> None:
    ewma = EwmaVolatility(prior_sigma=5.0)
    tsrv = TwoScaleVolatility(prior_sigma=0.0)
    tsrv_prior = TwoScaleVolatility(prior_sigma=5.0)
    for t, mid in flicker(hz, 2.0, jitter):
        for est in (ewma, tsrv, tsrv_prior):
            est.update(t, mid)
    assert ewma.sigma > 20.0  # the bounce read as volatility (26 ¢/√h at 1 Hz, 59 at 5 Hz)
    assert tsrv.sigma == 0.0  # no data part at all
    assert tsrv_prior.sigma < 0.5 * 5.0  # with a prior, σ decays from it towards 0
    assert tsrv.confidence > 0.8


def test_brownian_sigma_survives_bounce_noise() -> None:
    rng = np.random.default_rng(11)
    n = int(8 * 3600 / 2.0)
    gaps = rng.exponential(2.0, n)
    latent = 5000.0 + np.cumsum(rng.normal(0.0, 10.0 * np.sqrt(gaps / 3600.0))) * 100.0
    noisy = latent + rng.choice([-25.0, 25.0], n)  # ±¼¢ of bounce on every update
    ts = (np.cumsum(gaps) * NS).astype(np.int64)
    tsrv, ewma = TwoScaleVolatility(prior_sigma=1.0, half_life_s=4 * 3600), EwmaVolatility(prior_sigma=1.0)
    for t, p in zip(ts.tolist(), noisy.tolist(), strict=True):
        tsrv.update(t, p)
        ewma.update(t, p)
    assert tsrv.sigma == pytest.approx(10.0, rel=0.1)
    assert ewma.sigma > 14.0  # 2·Var ε per 2 s update is worth more than σ² itself


def test_unchanged_and_bad_updates_are_ignored_and_time_never_runs_backwards() -> None:
    est = TwoScaleVolatility(lag=2, prior_sigma=3.0)
    assert est.sigma == 3.0 and est.confidence == 0.0
    for t, p in ((0, 5000.0), (NS, 5000.0), (2 * NS, math.nan), (3 * NS, 5050.0)):
        est.update(t, p)
    assert est.n == 0 and est.sigma == 3.0  # only two changes so far: no lag-2 increment yet
    est.update(2 * NS, 5100.0)  # out of order: clamped to the last change's time
    assert est.n == 1 and math.isfinite(est.sigma)
    with pytest.raises(ValueError):
        TwoScaleVolatility(lag=1)


def _inxd_mids(path: Path) -> dict[str, list[tuple[float, float]]]:
    books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
    mids: dict[str, list[tuple[float, float]]] = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            msg = rec["msg"]
            market = msg["market_ticker"]
            if rec["type"] == "orderbook_snapshot":
                books[market] = ({p: q for p, q in msg["yes"]}, {p: q for p, q in msg["no"]})
            else:
                side = books[market][0 if msg["side"] == "yes" else 1]
                side[msg["price"]] = side.get(msg["price"], 0) + msg["delta"]
                if side[msg["price"]] <= 0:
                    del side[msg["price"]]
            yes, no = books[market]
            if yes and no:
                mids.setdefault(market, []).append((rec["ts"], (max(yes) + 100 - max(no)) * 50.0))
    return mids


def test_inxd_tick_estimate_matches_the_minute_sampled_sigma(shared_data: Path) -> None:
    mids = _inxd_mids(shared_data / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz")
    checked = 0
    for market in ("INXD-23AUG31-B4487", "INXD-23AUG31-B4512", "INXD-23AUG31-B4537", "INXD-23AUG31-B4562"):
        rows = mids[market]
        t = np.array([r[0] for r in rows])
        x = np.array([r[1] for r in rows]) / 100.0
        minutes = np.arange(math.ceil(t[0] / 60) * 60, t[-1], 60.0)
        sampled = x[np.searchsorted(t, minutes, side="right") - 1]
        minute_sigma = math.sqrt(np.sum(np.diff(sampled) ** 2) / ((minutes[-1] - minutes[0]) / 3600))
        tick_sigma = math.sqrt(np.sum(np.diff(x) ** 2) / ((t[-1] - t[0]) / 3600))
        est = TwoScaleVolatility(half_life_s=1e9, prior_sigma=0.0)  # the whole day, no decay
        for ts, mid in rows:
            est.update(int(round(ts * 10)) * (NS // 10), mid)
        assert est.sigma == pytest.approx(minute_sigma, rel=0.2), market
        assert tick_sigma > 1.1 * minute_sigma  # what bounce does to the tick-by-tick estimate
        checked += 1
    assert checked == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_free_brownian_sigma_within_10_percent(seed: int) -> None:
    # TSRV pays for its robustness with variance: its slow scale has K times fewer independent increments
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(2.0, 8 * 1800)
    path = 5000.0 + np.cumsum(rng.normal(0.0, 10.0 * np.sqrt(gaps / 3600.0))) * 100.0
    est = TwoScaleVolatility(half_life_s=2 * 3600, prior_sigma=1.0, prior_weight_s=60.0)
    for t, p in zip((np.cumsum(gaps) * NS).astype(np.int64).tolist(), path.tolist(), strict=True):
        est.update(t, p)
    assert est.sigma == pytest.approx(10.0, rel=0.1)
    assert est.confidence > 0.99
