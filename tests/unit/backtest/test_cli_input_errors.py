"""Bad input to the research commands exits 2 with one line naming the flag or file and what is
expected — never a traceback, never a silent empty result: unreadable or empty event logs, strategy
values the quoting core refuses, damaged .gz files, imports that accept nothing, walk-forward fractions
and inference bands outside their range (the new-user audit's findings)."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.engine import run
from kmm.backtest.eventlog import EVENT_DTYPE, EventLog
from kmm.backtest.importers import import_rest_trades, infer_results
from kmm.backtest.policy import StaticQuotes
from kmm.cli import main

HEADER = "trade_id,ticker,count,created_time,yes_price,no_price,taker_side\n"
ROWS = ("a,KXP-25MAY-T0,25,2025-06-06T12:30:00Z,98,2,yes\n"
        "b,KXP-25MAY-T100,4,2025-06-05T12:31:00Z,55,45,no\n")


def err_of(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """An argparse-checked option: SystemExit(2) and the option named on stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return err_of(capsys)


def empty_log(path: Path) -> Path:
    EventLog(np.zeros(0, dtype=EVENT_DTYPE), []).save(path)
    return path


@pytest.mark.parametrize("command", ["backtest", "grid"])
def test_an_empty_event_log_is_refused(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = empty_log(tmp_path / "empty.npz")
    with pytest.raises(SystemExit) as exc:
        main([command, "--log", str(log), "--no-progress", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert f"--log {log}: the event log holds no events" in err_of(capsys)


def test_the_engine_refuses_a_log_without_markets() -> None:
    with pytest.raises(ValueError, match="no markets"):
        run(EventLog(np.zeros(0, dtype=EVENT_DTYPE), []), StaticQuotes(bid=5000, bid_n=100))


def test_a_file_that_is_not_an_event_log_says_how_to_make_one(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from kmm.backtest.eventlog import EventLogError

    csv_file = tmp_path / "pay.csv"
    csv_file.write_text(HEADER + ROWS)
    with pytest.raises(EventLogError, match=r"not an event log.*kmm import trades .*pay\.csv --out pay\.npz"):
        EventLog.load(csv_file)
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--log", str(csv_file), "--no-progress"])
    assert exc.value.code == 2
    err = err_of(capsys)
    assert "not an event log" in err and "kmm import trades" in err and "pickled" not in err


def test_a_missing_log_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--log", str(tmp_path / "nonexist.npz"), "--no-progress"])
    assert exc.value.code == 2
    assert "nonexist.npz: no such file" in err_of(capsys)


@pytest.mark.parametrize("argv, named", [
    (["backtest", "--gamma", "0"], "argument --gamma: '0': must be > 0"),
    (["backtest", "--kappa", "-1"], "argument --kappa: '-1': must be > 0"),
    (["grid", "--gammas", "0,-1"], "argument --gammas: '0,-1': 0: must be > 0"),
    (["grid", "--kappas", "1:0:3"], "argument --kappas: '1:0:3': 0: must be > 0"),
    (["backtest", "--size", "-1"], "argument --size: '-1': must be >= 0"),
    (["backtest", "--interval-ms", "-1"], "argument --interval-ms"),
    (["backtest", "--place-latency-ms", "-5"], "argument --place-latency-ms"),
    (["backtest", "--hold-c", "-1"], "argument --hold-c"),
    (["backtest", "--synthetic-events", "0"], "argument --synthetic-events"),
    (["grid", "--walk-forward", "1.5"], "argument --walk-forward: '1.5': expected a finite number > 0 and < 1"),
    (["grid", "--walk-forward", "0"], "argument --walk-forward: '0'"),
    (["grid", "--workers", "0"], "argument --workers"),
])
def test_bad_numbers_exit_2_naming_the_option(argv: list[str], named: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert named in usage_error([*argv, "--synthetic", "--no-progress"], capsys)


def test_unknown_markets_and_repeated_sweeps_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["backtest", "--markets", "KXNOPE"], ["grid", "--sweep", "jump_frac=0", "--sweep", "jump_frac=1"]):
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--synthetic", "--synthetic-events", "50", "--no-progress"])
        assert exc.value.code == 2, argv
        assert err_of(capsys).count("\n") == 1


@pytest.mark.parametrize("band", ["50", "60", "-1", "x"])
def test_infer_band_must_be_below_50_cents(band: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.csv").write_text(HEADER + ROWS)
    err = usage_error(["import", "trades", str(tmp_path / "t.csv"), "--infer-results", "--infer-band-c", band,
                       "--out", str(tmp_path / "o.npz")], capsys)
    assert "--infer-band-c" in err and "0 <= band < 50" in err
    with pytest.raises(ValueError, match="0 <= band < 50"):
        infer_results(import_rest_trades([tmp_path / "t.csv"]), 60)


def test_damaged_gzip_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "fake.csv.gz"
    fake.write_text(HEADER + ROWS)  # plain text named .gz
    whole = gzip.compress(("\n".join(json.dumps({"ticker": "KXP-25MAY-T0", "count": 1, "created_time":
                                                 f"2025-06-06T12:{i % 60:02d}:00Z", "yes_price": 50,
                                                 "taker_side": "yes", "trade_id": str(i)})
                                      for i in range(500))).encode())
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    for path, says in ((fake, "not gzip data"), (truncated, "truncated gzip file")):
        out = tmp_path / "o.npz"
        assert main(["import", "trades", str(path), "--out", str(out)]) == 2
        assert f"{path}: {says}" in err_of(capsys)
        assert not out.exists()


def l2_file(path: Path) -> Path:
    lines = [{"seq": 1, "ts": 1693488611.1, "type": "orderbook_snapshot",
              "msg": {"market_ticker": "INXD-23AUG31-B4487", "yes": [[2, 400]], "no": [[50, 5]]}},
             {"seq": 2, "ts": 1693488612.1, "type": "orderbook_delta",
              "msg": {"market_ticker": "INXD-23AUG31-B4487", "price": 2, "delta": -100, "side": "yes"}}]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    return path


@pytest.mark.parametrize("name, text, why", [
    ("empty.csv", "", "no records"),
    ("header.csv", HEADER, "no records"),
    ("noprice.csv", HEADER.replace("yes_price,", "") + "a,KXP-25MAY-T0,25,2025-06-06T12:30:00Z,2,yes\n",
     "every record was skipped (1 × noprice.csv has no yes_price or yes_price_dollars column)"),
    ("noticker.csv", HEADER.replace("ticker,", "") + "a,25,2025-06-06T12:30:00Z,98,2,yes\n",
     "has no ticker or market_ticker column"),
    ("empty.jsonl", "", "no records"),
    ("l2.jsonl", None, "2 × WS/L2"),
])
def test_an_import_that_accepts_nothing_is_refused(name: str, text: str | None, why: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    if text is None:
        l2_file(path)
    else:
        path.write_text(text)
    out = tmp_path / "o.npz"
    assert main(["import", "trades", str(path), "--out", str(out)]) == 2
    err = err_of(capsys)
    assert f"nothing imported from {path} (as trades)" in err and why in err, err
    assert not out.exists()


def test_an_l2_file_still_imports_as_l2(tmp_path: Path) -> None:
    assert main(["import", "l2", str(l2_file(tmp_path / "l2.jsonl")), "--out", str(tmp_path / "o.npz")]) == 0
    assert len(EventLog.load(tmp_path / "o.npz")) > 0
