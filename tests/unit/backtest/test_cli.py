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
