"""Trade tapes in every supported format, clear errors for the rest, and results/close times from a
markets file, from flags (unknown tickers refused) or inferred from last prints with the flag."""

import argparse
from pathlib import Path

import numpy as np
import pytest

from kmm.backtest.cli_import import UsageError, apply_metadata
from kmm.backtest.importers import (
    UnsupportedFormat,
    import_rest_trades,
    import_ws_jsonl,
    infer_results,
    read_markets_file,
    rfc3339_ns,
)
from kmm.cli import main
from kmm.messages.units import NS_PER_S

CSV = (",trade_id,ticker,count,created_time,yes_price,no_price,taker_side\n"
       "0,a,KXP-25MAY-T0,25,2025-06-06T12:30:00.5Z,98,2,yes\n"
       "1,b,KXP-25MAY-T0,3,2025-06-01T10:00:00Z,60,40,no\n"
       "2,c,KXP-25MAY-T200,4,2025-06-06T12:31:00Z,2,98,no\n"
       "3,d,KXP-25MAY-T100,4,2025-06-05T12:31:00Z,55,45,no\n")


def tape(tmp_path: Path) -> Path:
    p = tmp_path / "t.csv"
    p.write_text(CSV)
    return p


def test_parquet_tape_equals_the_csv_tape(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.split(",") for r in CSV.strip().splitlines()[1:]]
    table = pa.table({"trade_id": [r[1] for r in rows], "ticker": [r[2] for r in rows],
                      "count": [int(r[3]) for r in rows],
                      "created_time": pa.array([np.datetime64(r[4].rstrip("Z"), "us") for r in rows]),
                      "yes_price": [int(r[5]) for r in rows], "taker_side": [r[7] for r in rows]})
    pq.write_table(table, tmp_path / "t.parquet")
    a = import_rest_trades([tape(tmp_path)])
    b = import_rest_trades([tmp_path / "t.parquet"])
    assert np.array_equal(a.events, b.events) and len(a) == 4
    assert a.events["ts"][-1] == rfc3339_ns("2025-06-06T12:31:00Z")


def test_unsupported_formats_name_the_supported_ones(tmp_path: Path) -> None:
    bad = tmp_path / "t.xlsx"
    bad.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFormat, match=r"supported: \.csv\[\.gz\].*\.parquet"):
        import_rest_trades([bad])
    with pytest.raises(UnsupportedFormat, match="unsupported format '.parquet'"):
        import_ws_jsonl([tmp_path / "x.parquet"])
    binary = tmp_path / "really_parquet.csv"
    binary.write_bytes(b"PAR1\xff\xfe\x00\x01" * 10)
    with pytest.raises(UnsupportedFormat, match="not UTF-8"):
        import_rest_trades([binary])


def test_markets_file_and_its_errors(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text("ticker,result,close_time,extra\nKXP-25MAY-T0,yes,2025-06-06T12:30:00Z,x\n"
                 "KXP-25MAY-T100,,1749213000,\nKXOTHER-1,no,,\n")
    rows = read_markets_file(f)
    assert [(r.ticker, r.result, r.close_ts) for r in rows] == [
        ("KXP-25MAY-T0", "yes", rfc3339_ns("2025-06-06T12:30:00Z")),
        ("KXP-25MAY-T100", "", 1749213000 * NS_PER_S), ("KXOTHER-1", "no", 0)]
    (tmp_path / "bad.csv").write_text("ticker,result,close_time\nKXP-25MAY-T0,maybe,\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: result 'maybe'"):
        read_markets_file(tmp_path / "bad.csv")
    (tmp_path / "nohead.csv").write_text("KXP-25MAY-T0,yes,\n")
    with pytest.raises(ValueError, match="missing column"):
        read_markets_file(tmp_path / "nohead.csv")


def test_inference_from_last_prints_lists_what_it_inferred(tmp_path: Path) -> None:
    log = import_rest_trades([tape(tmp_path)])
    rows = {r["ticker"]: r for r in infer_results(log, band_c=5)}
    by = {m.ticker: m for m in log.markets}
    assert by["KXP-25MAY-T0"].result == "yes" and rows["KXP-25MAY-T0"]["inferred"] == ["result", "close"]
    assert by["KXP-25MAY-T200"].result == "no"
    assert by["KXP-25MAY-T100"].result == "" and "result unknown" in rows["KXP-25MAY-T100"]["note"]
    # every market of the event closes 1 s after the event's last print
    close = rfc3339_ns("2025-06-06T12:31:00Z") + NS_PER_S
    assert {m.close_ts for m in log.markets} == {close}


def args(**kw: object) -> argparse.Namespace:
    base = dict(markets_file=None, result=[], close=[], infer_results=False, infer_band_c=5, default_result=None,
                maker_fees=[])
    base.update(kw)
    return argparse.Namespace(**base)


def test_flags_refuse_unknown_tickers_instead_of_adding_phantom_markets(tmp_path: Path) -> None:
    log = import_rest_trades([tape(tmp_path)])
    with pytest.raises(UsageError, match="KXP-25MAY-T0O"):
        apply_metadata(log, args(result=["KXP-25MAY-T0O=yes"]))
    with pytest.raises(UsageError, match="KXNOPE"):
        apply_metadata(log, args(close=["KXNOPE=2025-06-06T12:30:00Z"]))
    assert len(log.markets) == 3
    apply_metadata(log, args(result=["KXP-25MAY-T100=yes"], close=["*=2025-06-07T00:00:00Z"]))
    assert {m.ticker: m.result for m in log.markets}["KXP-25MAY-T100"] == "yes"
    assert {m.close_ts for m in log.markets} == {rfc3339_ns("2025-06-07T00:00:00Z")}


def test_import_command_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.npz"
    assert main(["import", "trades", str(tape(tmp_path)), "--out", str(out), "--result", "KXTYPO=yes"]) == 2
    assert "unknown ticker(s) not in the data: KXTYPO" in capsys.readouterr().err
    assert not out.exists()
    assert main(["import", "trades", str(tape(tmp_path)), "--out", str(out), "--infer-results"]) == 0
    text = capsys.readouterr().out
    assert "inferred KXP-25MAY-T0: result=yes" in text and "not inferred KXP-25MAY-T100" in text


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "(default: 5)" in capsys.readouterr().out
