"""What the research commands report is true and readable (the new-user audit's findings): events
ignored after their market's close are counted and warned about, a walk-forward grid reports the
events it ran on, the edge warning uses the true extremes, summary.json settings carry their units,
--help shows real defaults, the progress bar ends once, and amounts print as −$8.63."""

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.eventlog import EventLog, EventLogBuilder, MarketMeta
from kmm.backtest.grid import GridSpec, edge_warning
from kmm.backtest.policy import BACKTEST_LIMITS, StaticQuotes
from kmm.backtest.progress import Progress
from kmm.backtest.report import console_line
from kmm.cli import main
from kmm.messages.units import COUNT_SCALE, NS_PER_S
from kmm.strategy.quoting import QuoteParams

C = COUNT_SCALE
T0 = 1_700_006_400 * NS_PER_S
S = NS_PER_S
ROOT = Path(__file__).resolve().parents[3]


def closing_log(a_close: int) -> EventLog:
    """KXA-1 closes at ``a_close`` with prints before and after it; KXB-1 trades throughout and last."""
    b = EventLogBuilder("t")
    b.set_market(MarketMeta(ticker="KXA-1", result="no", close_ts=a_close))
    b.set_market(MarketMeta(ticker="KXB-1", result="yes", close_ts=T0 + 3_600 * S))
    b.snapshot(T0, "KXA-1", [(4800, 100 * C)], [(5200, 100 * C)])
    b.snapshot(T0, "KXB-1", [(4800, 100 * C)], [(5200, 100 * C)])
    for k in range(1, 21):
        b.trade(T0 + k * 10 * S, "KXA-1", 4700 if k % 2 else 5300, 5 * C, taker_yes=k % 2 == 0)
        b.trade(T0 + k * 10 * S + 1, "KXB-1", 4700 if k % 2 else 5300, 5 * C, taker_yes=k % 2 == 0)
    return b.build()


def cfg() -> RunConfig:
    return RunConfig(fill=FillConfig(model="trade_through", place_latency_ns=0, cancel_latency_ns=0,
                                     report_latency_ns=0), decision_interval_ns=0, record_fills=True)


def test_events_after_a_close_are_counted_exactly_as_the_replay_drops_them() -> None:
    from kmm.backtest.engine import events_after_close

    log = closing_log(T0 + 100 * S)  # KXA-1's prints at 100 s … 200 s: 11 of them at or after its close
    policy = StaticQuotes(bid=5000, bid_n=2 * C, ask=5100, ask_n=2 * C)
    res = run(log, policy, cfg())
    assert res.ignored_after_close == events_after_close(log) == 11
    close = log.markets[0].close_ts
    kept = log.events[~((log.events["market"] == 0) & (log.events["ts"] >= close))]
    alone = run(EventLog(kept, log.markets, log.meta), policy, cfg())
    assert alone.ignored_after_close == 0
    for key in ("pnl_settled", "fills", "position"):  # dropping them changes nothing: they were ignored
        assert np.array_equal(res.per_market[key], alone.per_market[key]), key


def test_backtest_reports_ignored_events_and_names_markets_closing_before_their_first_event(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = closing_log(T0 - 60 * S)  # KXA-1 closes a minute before its first event: all 22 rows ignored
    log.save(tmp_path / "log.npz")
    out = tmp_path / "bt"
    assert main(["backtest", "--log", str(tmp_path / "log.npz"), "--no-progress", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "44 events (22 ignored: at or after their market's close)" in captured.out
    assert "1 market(s) close at or before their first event" in captured.err and "KXA-1" in captured.err
    assert json.loads((out / "summary.json").read_text())["events_ignored_after_close"] == 22


def test_import_warns_when_closes_come_before_the_first_print(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(f"{i},KXP-25MAY-T{i},1,2025-06-05T12:31:00Z,55,45,no\n" for i in range(12))
    tape = tmp_path / "t.csv"
    tape.write_text("trade_id,ticker,count,created_time,yes_price,no_price,taker_side\n" + rows)
    assert main(["import", "trades", str(tape), "--close", "*=2020-01-01T00:00:00Z", "--default-result", "no",
                 "--out", str(tmp_path / "o.npz")]) == 0
    err = capsys.readouterr().err
    assert "WARNING: 12 market(s) close at or before their first event" in err
    assert "KXP-25MAY-T0, KXP-25MAY-T1," in err and "and 2 more" in err and "2020-01-01T00:00:00Z" in err
    assert main(["import", "trades", str(tape), "--close", "*=2025-06-06T00:00:00Z", "--out",
                 str(tmp_path / "o.npz")]) == 0
    assert "WARNING" not in capsys.readouterr().err


def test_walk_forward_grid_reports_the_training_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g"
    assert main(["grid", "--synthetic", "--synthetic-events", "400", "--gammas", "0.1,0.5", "--kappas", "1,3",
                 "--no-progress", "--walk-forward", "0.5", "--out", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    s = json.loads((out / "summary.json").read_text())
    wf = s["walk_forward"]
    assert s["events"] == wf["train_events"] < s["events_log"] and s["events_test"] == wf["test_events"]
    assert f"4 cells × {wf['train_events']} events (the training part: first 50% of time; " in line
    assert abs(s["param_events_per_s"] * s["seconds"] / 4 / wf["train_events"] - 1) < 0.25  # (seconds rounded)
    assert "<title>kmm grid search (walk-forward: training part only)</title>" in (out / "grid.html").read_text()


def test_edge_warning_names_the_true_lowest_and_highest() -> None:
    from kmm.backtest.cli_common import grid_axis

    spec = GridSpec(np.array([0.3, 0.2, 0.1]), np.array([1.0, 2.0, 3.0]), QuoteParams())
    assert "γ = 0.3 is the highest γ" in edge_warning(spec, 0, 1)
    assert "γ = 0.1 is the lowest γ" in edge_warning(spec, 2, 1)
    assert edge_warning(spec, 1, 1) == ""
    assert grid_axis("gamma")("0.3:0.1:3").tolist() == [0.1, 0.2, 0.3]  # the command runs it ascending


def test_summary_settings_carry_their_units(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    assert main(["backtest", "--synthetic", "--synthetic-events", "300", "--no-progress", "--out", str(out),
                 "--max-daily-loss", "250", "--trade-only-model", "queue", "--trade-only-queue-ahead", "3"]) == 0
    s = json.loads((out / "summary.json").read_text())
    pol = s["settings"]["policy"]
    limits, params = pol["risk_limits"], pol["params"]
    assert (limits["max_daily_loss_usd"], limits["max_exposure_usd"], limits["position_limit_contracts"],
            limits["count_step_contracts"]) == (250.0, 1000.0, 100.0, 1.0)
    assert (params["base_count_contracts"], params["max_position_contracts"]) == (10.0, 100.0)
    assert pol["hold_tolerance_usd"] == 0.0
    assert s["settings"]["run"]["fill"]["trade_only_queue_ahead_contracts"] == 3.0
    assert s["fill_models"]["trade_only_queue_ahead_contracts"] == 3.0
    raw = {"max_daily_loss", "max_exposure", "position_limit", "count_step", "base_count", "max_position",
           "hold_tolerance", "trade_only_queue_ahead"}
    text = (out / "summary.json").read_text()
    assert not any(f'"{k}":' in text for k in raw)
    # every setting is still there, under its unit-suffixed name
    assert len(limits) == len(BACKTEST_LIMITS.__dataclass_fields__)
    assert len(params) == len(QuoteParams.__dataclass_fields__) - 1  # liq_c is derived, never a setting


@pytest.mark.parametrize("command", ["import", "record", "backtest", "grid", "report"])
def test_help_shows_real_defaults(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert "(default: None)" not in text
    if command in ("import", "record"):
        assert "--out OUT event log to write (.npz) (required)" in text
    if command == "record":
        assert "(default: at Ctrl-C)" in text and "(default: False)" in text
    if command == "grid":
        assert "(default: out/grid)" in text


def test_docs_walk_forward_example_does_not_overwrite_make_grid(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "backtest.md").read_text()
    walk = [line for line in doc.splitlines() if line.startswith("kmm grid") and "--walk-forward" in line]
    assert walk and all("--out " in line and "--out out/grid " not in line + " " for line in walk)
    assert "hold_size_tolerance=0.0" not in doc or "--hold-size-tolerance` defaults to 0.5" in doc


def test_progress_ends_once() -> None:
    calls: list[tuple[int, int]] = []
    log = closing_log(T0 + 100 * S)
    run(log, StaticQuotes(bid=5000, bid_n=C), cfg(), progress=lambda d, t: calls.append((d, t)))
    assert calls.count((len(log), len(log))) == 1 and calls[-1] == (len(log), len(log))
    stream = io.StringIO()
    bar = Progress("x", stream=stream)
    bar(5, 5)
    bar(5, 5)
    assert stream.getvalue().count("\n") == 1 and stream.getvalue().count("100.0%") == 1


def test_negative_amounts_sharpe_and_print_counts_read_right(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bt"
    assert main(["backtest", "--synthetic", "--synthetic-events", "300", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    s = json.loads((out / "summary.json").read_text())
    s["overall"].update(pnl_settled_usd=-8.63, pnl_marked_usd=-8.19, max_drawdown_usd=8.69,
                        sharpe_annualized=-5.527296, markout_1s_usd=-1190.85)
    line = console_line(s, 1.0)
    assert "P&L settled −$8.63 (marked −$8.19)" in line and "Sharpe −5.53" in line and "$-" not in line
    (out / "summary.json").write_text(json.dumps(s))
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "−$8.63" in text and "−$1,190.85" in text and "$-" not in text
    assert "Sharpe (daily, annualized) −5.53" in text and "5.527296" not in text
    assert "3 with a book, 3 with trade prints" in text and "had prints" not in text


def test_grid_html_shows_a_missing_sharpe_as_a_dash(tmp_path: Path) -> None:
    out = tmp_path / "g"
    assert main(["grid", "--synthetic", "--synthetic-events", "300", "--gammas", "0.1,0.5", "--kappas", "1,3",
                 "--no-progress", "--out", str(out)]) == 0  # one hour of data: no daily Sharpe
    page = (out / "grid.html").read_text()
    assert "<td>None</td>" not in page and "<td>–</td>" in page
