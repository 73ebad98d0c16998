"""Streaming estimators: recovery of known σ, κ and λ from synthetic processes, warm-up, real tapes."""

import csv
import gzip
import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from kmm.strategy.estimators import (
    NS_PER_H,
    ArrivalRate,
    EwmaVolatility,
    FillIntensity,
    WindowVolatility,
    hours_to_close,
    microprice,
    mid_price,
    to_space,
)

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
NS = 1_000_000_000


def brownian_path(sigma_c: float, hours: float, mean_gap_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Irregularly sampled Brownian mid in $0.0001 (σ in ¢/√h), exponential gaps."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(mean_gap_s, int(hours * 3600 / mean_gap_s))
    dt_h = gaps / 3600.0
    steps = rng.normal(0.0, sigma_c * np.sqrt(dt_h)) * 100.0
    ts = (np.cumsum(gaps) * NS).astype(np.int64)
    return ts, 5000.0 + np.cumsum(steps)


@pytest.mark.parametrize("estimator", [
    EwmaVolatility(half_life_s=2 * 3600, prior_sigma=1.0, prior_weight_s=60.0),
    WindowVolatility(window_s=4 * 3600, prior_sigma=1.0, prior_weight_s=60.0),
])
def test_volatility_recovers_sigma_within_5_percent(estimator) -> None:
    ts, px = brownian_path(sigma_c=10.0, hours=8.0, mean_gap_s=2.0, seed=1)
    for t, p in zip(ts.tolist(), px.tolist(), strict=True):
        estimator.update(t, p)
    assert estimator.sigma == pytest.approx(10.0, rel=0.05)
    assert estimator.confidence > 0.99


def test_logit_volatility_is_in_logit_cents() -> None:
    est = EwmaVolatility(half_life_s=2 * 3600, prior_sigma=1.0, prior_weight_s=60.0, space="logit")
    ts, px = brownian_path(sigma_c=4.0, hours=8.0, mean_gap_s=2.0, seed=2)
    for t, p in zip(ts.tolist(), px.tolist(), strict=True):
        est.update(t, p)
    # near p = ½, 1 logit-cent ≈ 1 ¢
    assert est.sigma == pytest.approx(4.0, rel=0.08)
    assert to_space(5000, "logit") == 0.0 and to_space(2500, "price") == 25.0


def test_volatility_warm_up_uses_the_prior_and_never_stalls() -> None:
    est = EwmaVolatility(prior_sigma=7.0, prior_weight_s=600.0)
    assert est.sigma == 7.0 and est.confidence == 0.0
    est.update(0, 5000.0)
    assert est.sigma == 7.0
    est.update(600 * NS, 5000.0)  # ten quiet minutes: equal weight to the prior → σ² halves
    assert est.sigma == pytest.approx(7.0 / math.sqrt(2), rel=1e-3)
    est.update(601 * NS, float("nan"))
    assert math.isfinite(est.sigma)
    window = WindowVolatility(window_s=60.0, prior_sigma=3.0)
    window.update(0, 5000.0)
    window.update(30 * NS, 5100.0)
    assert window.sigma > 3.0
    window.update(1000 * NS, 5100.0)
    window.update(1001 * NS, 5100.0)
    assert window.n == 2  # the jump at 30 s left the window; two quiet increments remain
    assert window.sigma < 3.0


def test_arrival_rate_recovers_lambda_and_decays_in_silence() -> None:
    rng = np.random.default_rng(3)
    ts = (np.cumsum(rng.exponential(60.0, 3000)) * NS).astype(np.int64)  # 60 per hour for ~50 h
    est = ArrivalRate(half_life_s=10 * 3600, prior_rate_per_h=1.0, start_ns=0)
    for t in ts.tolist():
        est.on_trade(t)
    now = int(ts[-1])
    assert est.rate(now) == pytest.approx(60.0, rel=0.12)
    assert est.rate(now + 20 * NS_PER_H) < est.rate(now) / 2
    assert ArrivalRate(prior_rate_per_h=6.0, start_ns=0).rate(0) == 6.0


@pytest.mark.parametrize(("kappa", "tick"), [(0.7, 1.0), (2.0, 0.1), (0.4, 1.0)])
def test_fill_intensity_recovers_kappa_within_6_percent(kappa: float, tick: float) -> None:
    rng = np.random.default_rng(4)
    n = 6000
    excess = rng.geometric(1.0 - math.exp(-kappa * tick), n) - 1  # ticks beyond the touch
    est = FillIntensity(tick_c=tick, prior_kappa=5.0, prior_trades=20, half_life_s=1e6, start_ns=0)
    for i, k in enumerate(excess.tolist()):
        mid = 5000.0 + 50.0  # half a cent above 50¢: the touch is 0.5¢ away
        price = int(round(mid + 50.0 + k * tick * 100.0))
        est.on_trade(i * 2 * NS, price, mid, half_spread_c=0.5)
    assert est.kappa == pytest.approx(kappa, rel=0.06)
    assert est.confidence > 0.99
    rate = est.rate.rate((n - 1) * 2 * NS)
    assert rate == pytest.approx(1800.0, rel=0.1)
    assert est.intensity_a((n - 1) * 2 * NS) == pytest.approx(rate * math.exp(est.kappa * 0.5))


def test_fill_intensity_prior_and_caps() -> None:
    est = FillIntensity(prior_kappa=1.5, kappa_max=10.0)
    assert est.kappa == pytest.approx(1.5)
    for i in range(1000):  # every print at the touch: κ would be infinite
        est.on_trade(i * NS, 5100, 5050.0, 0.5)
    assert est.kappa <= 10.0 and math.isfinite(est.kappa)
    est.on_trade(2000 * NS, 5100, float("nan"))
    assert math.isfinite(est.kappa)


def test_price_helpers() -> None:
    assert microprice(4900, 100, 5100, 300) == pytest.approx(4950.0)  # more size on the ask: leans to the bid
    assert math.isnan(microprice(0, 1, 5100, 1))
    assert mid_price(4900, 5100) == 5000.0 and math.isnan(mid_price(5000, 5000))
    assert hours_to_close(0, 5) == math.inf and hours_to_close(NS_PER_H * 3, NS_PER_H) == 2.0
    assert hours_to_close(1, 2) == 0.0


# --- real tapes --------------------------------------------------------------------------------


def test_estimators_are_finite_on_the_inxd_book() -> None:
    path = DATA / "kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz"
    if not path.exists():
        pytest.skip(f"real data absent: {path}")
    books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
    vols: dict[str, tuple[EwmaVolatility, WindowVolatility, EwmaVolatility]] = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            msg = rec["msg"]
            market = msg["market_ticker"]
            ts = int(round(rec["ts"] * 1000)) * 1_000_000
            if rec["type"] == "orderbook_snapshot":
                books[market] = ({p: q for p, q in msg["yes"]}, {p: q for p, q in msg["no"]})
            else:
                side = books[market][0 if msg["side"] == "yes" else 1]
                side[msg["price"]] = side.get(msg["price"], 0) + msg["delta"]
                if side[msg["price"]] <= 0:
                    del side[msg["price"]]
            yes, no = books[market]
            est = vols.setdefault(market, (EwmaVolatility(), WindowVolatility(), EwmaVolatility(space="logit")))
            if yes and no:
                mid = mid_price(max(yes) * 100, (100 - max(no)) * 100)
                for e in est:
                    e.update(ts, mid)
    assert len(vols) == 10
    sigmas = {m: [e.sigma for e in est] for m, est in vols.items()}
    for values in sigmas.values():
        assert all(math.isfinite(v) and v >= 0 for v in values)
    # the active at-the-money strike moved 25.5¢ → 96.5¢; a tail strike never had a two-sided book
    assert sigmas["INXD-23AUG31-B4512"][0] > 5.0
    assert sigmas["INXD-23AUG31-T4425"][0] == 5.0  # the prior


def test_estimators_are_finite_on_the_payrolls_tape() -> None:
    path = DATA / "trades" / "trade_level_data_payrolls.csv.gz"
    if not path.exists():
        pytest.skip(f"real data absent: {path}")
    prints: dict[str, list[tuple[int, int]]] = {}
    with gzip.open(path, "rt") as fh:
        for row in csv.DictReader(fh):
            ts = int(datetime.fromisoformat(row["created_time"].replace("Z", "+00:00")).timestamp() * 1e6) * 1000
            prints.setdefault(row["ticker"], []).append((ts, int(row["yes_price"]) * 100))
    assert len(prints) > 100
    for market, rows in prints.items():
        rows.sort()
        start = rows[0][0]
        vol = EwmaVolatility(half_life_s=24 * 3600)
        window = WindowVolatility(window_s=7 * 24 * 3600)
        intensity = FillIntensity(start_ns=start)
        last = math.nan
        for ts, price in rows:
            vol.update(ts, price)
            window.update(ts, price)
            intensity.on_trade(ts, price, last, 0.5)
            last = float(price)
        end = rows[-1][0]
        values = (vol.sigma, window.sigma, intensity.kappa, intensity.intensity_a(end), intensity.rate.rate(end))
        assert all(math.isfinite(v) and v >= 0 for v in values), (market, values)
