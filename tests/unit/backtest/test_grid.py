"""Grid search: ≥ 1,000 cells in one pass, outputs, plateau, and cells equal to single backtests."""

from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.grid import GridSpec, plateau, run_grid, write_outputs
from kmm.backtest.policy import ASPolicy
from kmm.backtest.synthetic import generate
from kmm.strategy.quoting import QuoteParams

# the issue-11 defaults (jump floor, toxic-markout guard) without the half hour of reduce-only, which
# would cover these short sessions whole
BASE = QuoteParams(reduce_before_h=0.0)


def same(a: object, b: object) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


@pytest.fixture(scope="module")
def small_log():  # type: ignore[no-untyped-def]
    return generate(seed=11, n_markets=2, events_per_market=1500, duration_s=900)


@pytest.mark.parametrize("model", ["queue", "trade_through"])
def test_grid_of_1024_cells_equals_single_backtests(small_log, tmp_path: Path, model: str) -> None:  # type: ignore[no-untyped-def]
    spec = GridSpec(np.linspace(0.05, 1.0, 32), np.linspace(0.5, 5.0, 32), BASE, sigma_c=20.0)
    cfg = RunConfig(fill=FillConfig(model=model))
    res = run_grid(small_log, spec.policy(), cfg, workers=2)
    assert res.n_cells == 1024
    assert res.overall["fills"].sum() > 0
    params = spec.params()
    for cell in (0, 37, 511, 1023):
        single = run(small_log, spec.single(params.params(cell)), cfg)
        for k, v in single.overall.items():
            assert same(v[0], res.overall[k][cell]), (cell, k)
        for k, v in single.per_market.items():
            assert np.array_equal(v[:, 0], res.per_market[k][:, cell]), (cell, k)
    if model == "queue":
        summary = write_outputs(tmp_path, spec, res)
        assert (tmp_path / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        lines = (tmp_path / "grid.csv").read_text().splitlines()
        assert len(lines) == 1025 and lines[0].startswith("cell,gamma,kappa")
        assert "data:image/png;base64," in (tmp_path / "grid.html").read_text()
        assert summary["cells"] == 1024


def test_grid_split_across_workers_equals_one_process(small_log) -> None:  # type: ignore[no-untyped-def]
    spec = GridSpec(np.array([0.1, 0.5, 0.9]), np.array([1.0, 3.0]), BASE, sigma_c=20.0)
    one = run_grid(small_log, spec.policy(), RunConfig(), workers=1)
    two = run_grid(small_log, spec.policy(), RunConfig(), workers=2)
    for k in one.overall:
        assert np.array_equal(one.overall[k], two.overall[k], equal_nan=True)


def test_plateau_prefers_a_robust_neighbourhood_over_a_lone_spike() -> None:
    v = np.zeros((7, 7))
    v[1, 5] = 100.0  # lone spike
    v[3:6, 1:4] = 20.0  # broad plateau centred at (4, 2)
    (g, k), smooth = plateau(v, radius=1)
    assert (g, k) == (4, 2)
    assert smooth[4, 2] == pytest.approx(20.0)


def test_cells_equal_single_runs_with_the_live_sigma_estimator_and_risk_engine(small_log) -> None:  # type: ignore[no-untyped-def]
    # the live two-scale σ, both guard triggers (per cell), the jump floor and a series' close rule
    base = QuoteParams(reduce_before_h=0.0, toxic_c=0.5, flow_threshold=0.3, flow_min=1.0, flow_half_life_s=120.0)
    for risk, estimator in ((False, "tsrv"), (True, "tsrv"), (True, "ewma")):
        spec = GridSpec(np.array([0.1, 0.6]), np.array([0.8, 2.5]), base, sigma_estimator=estimator, risk=risk,
                        sweep={"guard_size": np.array([0.0, 0.5])}, series_close={"KXSYN": (None, 0.05)},
                        hold_tolerance=100, hold_size_tolerance=0.5)
        res = run_grid(small_log, spec.policy(), RunConfig(), workers=2)
        params = spec.params()
        for cell in range(8):
            single = run(small_log, spec.single(params.params(cell)), RunConfig())
            for k, v in single.overall.items():
                assert same(v[0], res.overall[k][cell]), (risk, cell, k)
        assert res.overall["fills"].sum() > 0


def test_requote_tolerance_is_the_same_in_grid_cells_and_single_runs(small_log) -> None:  # type: ignore[no-untyped-def]
    """The live quoter's hold (keep a resting price within the tolerance) runs per cell in the grid."""
    params = [QuoteParams(gamma=g, kappa=1.5, reduce_before_h=0.0) for g in (0.1, 0.3, 0.6)]
    from kmm.strategy.quoting import ParamGrid

    held = ASPolicy(ParamGrid.from_params(params), sigma_c=20.0, hold_tolerance=100, hold_size_tolerance=0.5)
    res = run(small_log, held, RunConfig())
    for cell, p in enumerate(params):
        single = run(small_log, ASPolicy(p, sigma_c=20.0, hold_tolerance=100, hold_size_tolerance=0.5), RunConfig())
        assert single.overall["fills"][0] == res.overall["fills"][cell]
        assert single.overall["pnl_marked"][0] == res.overall["pnl_marked"][cell]
    unheld = run(small_log, ASPolicy(params[1], sigma_c=20.0), RunConfig())
    held_one = run(small_log, ASPolicy(params[1], sigma_c=20.0, hold_tolerance=100, hold_size_tolerance=0.5),
                   RunConfig())
    # holding keeps resting prices: fewer orders sent to the back of the queue
    assert held_one.overall["orders_placed"][0] < unheld.overall["orders_placed"][0]
