"""The kmm backtest/grid/import/report commands end to end on small inputs."""

import json
from pathlib import Path

from kmm.cli import main


def test_backtest_and_report_on_synthetic(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    assert main(["backtest", "--synthetic", "--synthetic-events", "1500", "--no-progress", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["overall"]["fills"] > 0 and len(s["markets"]) == 3
    assert (out / "fills.csv").read_text().count("\n") == s["overall"]["fills"] + 1
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").exists()


def test_grid_small_with_walk_forward(tmp_path: Path) -> None:
    out = tmp_path / "g"
    assert main(["grid", "--synthetic", "--synthetic-events", "800", "--gammas", "0.1:0.9:4", "--kappas", "1,3",
                 "--no-progress", "--walk-forward", "0.5", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["cells"] == 8 and "walk_forward" in s
    assert (out / "heatmap.png").exists() and (out / "grid.csv").exists()


def test_import_ws_then_backtest(tmp_path: Path) -> None:
    from kmm.backtest.synthetic import generate

    log = generate(seed=2, n_markets=1, events_per_market=300)
    lines = []
    ev, t = log.events, log.markets[0].ticker
    lines.append({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": t, "yes_dollars_fp": [],
                                                                           "no_dollars_fp": []}})
    seq = 2
    for r in ev:
        if r["kind"] == 1:
            side, price = ("yes", int(r["price"])) if r["side"] == 0 else ("no", 10_000 - int(r["price"]))
            lines.append({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
                "market_ticker": t, "price_dollars": f"0.{price:04d}", "delta_fp": f"{int(r['delta']) / 100:.2f}",
                "side": side, "ts_ms": int(r["ts"]) // 1_000_000}})
            seq += 1
    p = tmp_path / "ws.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines))
    out = tmp_path / "log.npz"
    assert main(["import", "ws", str(p), "--out", str(out), "--result", f"{t}=no"]) == 0
    assert main(["backtest", "--log", str(out), "--no-progress"]) == 0


def test_grid_reports_units_edge_warning_walk_forward_and_a_readable_report(
        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "g"
    assert main(["grid", "--synthetic", "--synthetic-events", "800", "--gammas", "0.1,0.5", "--kappas", "1,3",
                 "--no-progress", "--walk-forward", "0.5", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    s = json.loads((out / "summary.json").read_text())
    assert "walk-forward: train on the first 50% of time" in captured.out
    assert "plateau cell" in captured.out and "best cell" in captured.out
    assert s["edge_warning"] and "WARNING: best cell on the grid's edge" in captured.err  # a 2×2 grid is all edge
    assert s["settings"]["policy"]["risk"] is True and s["risk"] is True
    header = (out / "grid.csv").read_text().splitlines()[0].split(",")
    assert {"pnl_settled_usd", "fees_usd", "volume_buy_contracts", "max_drawdown_usd"} <= set(header)
    assert not any(h in header for h in ("pnl_settled", "fees", "volume_buy"))
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best cell" in text and "WARNING" in text and "walk-forward" in text


def test_backtest_summary_records_settings_and_writes_equity_and_daily(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bt"
    assert main(["backtest", "--synthetic", "--synthetic-events", "1500", "--no-progress", "--no-risk",
                 "--out", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "risk off" in line and "events/s" in line
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["policy"]["risk"] is False
    assert s["settings"]["run"]["fill"]["report_latency_ns"] == 5_000_000
    for name in ("markets.csv", "equity.csv", "daily.csv"):
        assert (out / name).read_text().count("\n") >= 2, name
    assert (out / "equity.png").read_bytes()[:4] == b"\x89PNG"
    assert "pnl_settled_usd" in (out / "markets.csv").read_text().splitlines()[0]
    # risk on: the limits are recorded; a daily-loss halt clears at the next day unless --latch-halts
    for flags, unlatch in (([], True), (["--latch-halts"], False)):
        assert main(["backtest", "--synthetic", "--synthetic-events", "1500", "--no-progress", *flags,
                     "--out", str(out)]) == 0
        s = json.loads((out / "summary.json").read_text())
        assert s["settings"]["policy"]["risk_limits"]["daily_loss_unlatch"] is unlatch
        assert "rate_limited" in s["risk"]


def test_heatmap_of_an_all_negative_surface_is_centred_at_zero() -> None:
    import numpy as np

    from kmm.backtest.engine import Result
    from kmm.backtest.grid import GridSpec, heatmap_png, summarize
    from kmm.strategy.quoting import QuoteParams

    spec = GridSpec(np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0]), QuoteParams())
    vals = -np.arange(1.0, 10.0)
    res = Result(["X"], 9, {}, {"return_usd": vals}, np.array([True]))
    s = summarize(spec, res)
    assert s["best"]["value"] == -1.0 and s["edge_warning"]
    png = heatmap_png(spec, res, s)
    assert png[:4] == b"\x89PNG"
