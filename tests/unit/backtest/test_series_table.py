"""Per-series fee types, multipliers and close rules for backtests: the table, its errors, the CLI options."""

import json
from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.engine import FillConfig, RunConfig, maker_rate_of, run
from kmm.backtest.eventlog import ASK, EventLogBuilder, MarketMeta
from kmm.backtest.policy import ASPolicy
from kmm.backtest.series_table import apply_series_table, load_series_table
from kmm.backtest.synthetic import generate
from kmm.cli import main
from kmm.kalshi.fees import MAKER_RATE
from kmm.messages.units import NS_PER_S
from kmm.strategy.quoting import QuoteParams

CSV = """series,fee_type,fee_multiplier,close_reduce_min,close_stop_min
KXA,quadratic,,30,
KXB,quadratic_with_combo_maker_fees,0.5,,2
"""
TOML = """
[KXA]
fee_type = "quadratic"
close_reduce_min = 30

[KXB]
fee_type = "quadratic_with_combo_maker_fees"
fee_multiplier = 0.5
close_stop_min = 2
"""


@pytest.mark.parametrize(("name", "text"), [("t.csv", CSV), ("t.toml", TOML)])
def test_table_sets_fees_and_returns_close_rules(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    table = load_series_table(path)
    b = EventLogBuilder("t")
    for t in ("KXA-1", "KXB-1", "KXC-1"):
        b.set_market(MarketMeta(ticker=t, series=t.split("-")[0]))
    log = b.build()
    close = apply_series_table(log, table)
    assert close == {"KXA": (0.5, None), "KXB": (None, 2 / 60)}
    rates = [maker_rate_of(m) for m in log.markets]
    assert rates == [(0, 1), (7, 400), MAKER_RATE]  # quadratic, combo × 0.5, unknown → standard


@pytest.mark.parametrize("text", [
    "series,fee_type\nKXA,flatish\n",
    "series,fee_multiplier\nKXA,-1\n",
    "series,close_reduce_min\nKXA,soon\n",
    "series,colour\nKXA,red\n",
    "fee_type\nquadratic\n",
    "series,fee_type\nKXA,quadratic\nKXA,quadratic\n",
])
def test_bad_tables_name_the_problem(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.csv"):
        load_series_table(path)


def test_series_close_rules_replace_the_cells(tmp_path: Path) -> None:
    # one market closes 10 minutes after the book starts; prints hit our bid and ask 8 minutes before it
    t0 = 1_800_000_000 * NS_PER_S
    b = EventLogBuilder("t")
    b.set_market(MarketMeta(ticker="KXA-1", series="KXA", close_ts=t0 + 600 * NS_PER_S, fee_type="quadratic"))
    b.snapshot(t0, "KXA-1", [(4000, 10_000)], [(6000, 10_000)])
    b.delta(t0 + NS_PER_S, "KXA-1", ASK, 6000, 100)  # a decision on the two-sided book places our quotes
    b.trade(t0 + 120 * NS_PER_S, "KXA-1", 4000, 1000, taker_yes=False)
    b.trade(t0 + 121 * NS_PER_S, "KXA-1", 6000, 1000, taker_yes=True)
    log = b.build()
    cfg = RunConfig(fill=FillConfig(model="trade_through"), record_fills=True)
    params = QuoteParams(gamma=0.05, kappa=5.0, reduce_before_h=0.0)
    free = run(log, ASPolicy(params, sigma_c=1.0), cfg)
    assert free.overall["fills"][0] == 2
    ruled = run(log, ASPolicy(params, sigma_c=1.0, series_close={"KXA": (0.25, None)}), cfg)
    assert ruled.overall["fills"][0] == 0  # flat and reduce-only: nothing quoted in the last 15 min


def test_cli_takes_params_sweeps_and_a_series_table(tmp_path: Path) -> None:
    table = tmp_path / "series.csv"
    table.write_text("series,fee_type\nKXSYN,quadratic\n")
    out = tmp_path / "g"
    assert main(["grid", "--synthetic", "--synthetic-events", "600", "--gammas", "0.1,0.5", "--kappas", "1,3",
                 "--sweep", "jump_frac=0,0.05", "--param", "toxic_c=1", "--hold-c", "1", "--series-table", str(table),
                 "--no-progress", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["cells"] == 8 and [row["value"] for row in s["sweep"]["jump_frac"]] == [0.0, 0.05]
    assert "jump_frac" in s["best"]
    header = (out / "grid.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["cell", "gamma", "kappa", "jump_frac"]
    for bad in (["--param", "jump_frac=2"], ["--param", "colour=1"], ["--sweep", "guard_size=0:2:3"]):
        with pytest.raises(SystemExit) as exc:
            main(["grid", "--synthetic", *bad, "--out", str(out)])
        assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--synthetic", "--series-table", str(tmp_path / "missing.csv"), "--no-progress"])
    assert exc.value.code == 2


def test_grid_sweep_cells_equal_single_runs() -> None:
    from kmm.backtest.grid import GridSpec, run_grid

    log = generate(seed=3, n_markets=2, events_per_market=800, duration_s=600)
    spec = GridSpec(np.array([0.05, 0.1]), np.array([1.0]),
                    QuoteParams(toxic_c=0.5, flow_threshold=0.5, reduce_before_h=0.0, jump_frac=0.0),
                    sigma_c=15.0, sweep={"guard_size": np.array([0.0, 1.0])})
    res = run_grid(log, spec.policy(), RunConfig(), workers=1)
    params = spec.params()
    for cell in range(len(params)):
        single = run(log, spec.single(params.params(cell)), RunConfig())  # risk on in both
        assert single.overall["pnl_settled"][0] == res.overall["pnl_settled"][cell]
        assert single.overall["fills"][0] == res.overall["fills"][cell]
    assert res.overall["fills"].min() > 0
