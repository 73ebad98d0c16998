"""The README and docs/backtest.md examples run as written and give the documented figures."""

import json
from pathlib import Path

import pytest

from kmm.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_synthetic_backtest_gives_the_documented_figures(tmp_path: Path) -> None:
    assert main(["backtest", "--synthetic", "--no-progress", "--out", str(tmp_path)]) == 0
    o = json.loads((tmp_path / "summary.json").read_text())["overall"]
    assert (o["pnl_settled_usd"], o["fees_usd"], o["fills"], o["markets_traded"]) == (11.43, 0.01, 10, 3)
    assert "P&L settled $11.43, fees $0.01, 10 fills in 3 markets" in (ROOT / "docs" / "backtest.md").read_text()


def test_inxd_example_gives_the_documented_figures(shared_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared").symlink_to(shared_data.parent)
    work = tmp_path / "repo"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["import", "l2", "../shared/data/kalshi_INXD-23AUG31_orderbook_deltas.jsonl.gz", "--out",
                 "out/inxd.npz", "--result", "INXD-23AUG31-B4512=yes", "--default-result", "no", "--close",
                 "*=2023-08-31T20:00:00Z"]) == 0
    assert main(["backtest", "--log", "out/inxd.npz", "--gamma", "0.3", "--kappa", "1.5", "--out", "out/inxd",
                 "--no-progress"]) == 0
    s = json.loads((work / "out" / "inxd" / "summary.json").read_text())
    assert (s["events"], s["overall"]["pnl_settled_usd"], s["overall"]["fills"]) == (111_167, -8.63, 4)
    readme = (ROOT / "README.md").read_text()
    assert "P&L settled −$8.63, 4 fills" in readme
