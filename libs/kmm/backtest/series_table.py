"""Per-series facts a backtest cannot read from its event log: fee type, fee multiplier, close rules.

Live, marketdata reads ``fee_type`` / ``fee_multiplier`` from ``GET /series/{t}``; a backtest gets them
from a small file (``kmm backtest|grid --series-table FILE``), CSV or TOML:

```
series,fee_type,fee_multiplier,close_reduce_min,close_stop_min
INXD,quadratic,1,30,0
KXPAYROLLS,quadratic_with_maker_fees,1,,
```

```toml
[INXD]
fee_type = "quadratic"
close_reduce_min = 30

[KXPAYROLLS]
fee_type = "quadratic_with_maker_fees"
fee_multiplier = 1
```

Every column but ``series`` is optional; an empty cell keeps what the log (or the default) says. A
series absent from the table keeps the log's fee type, and a market whose fee type is still unknown
pays the standard maker fee (``kmm.kalshi.fees.maker_rate``). Close rules in the table replace the
parameter set's ``reduce_before_h`` / ``stop_before_h`` for that series' markets. A bad file stops
with a ValueError naming the file, the row and the field.
"""

from __future__ import annotations

import csv
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmm.kalshi.fees import KNOWN_FEE_TYPES, parse_multiplier_ppm

from .eventlog import EventLog

FIELDS = ("fee_type", "fee_multiplier", "close_reduce_min", "close_stop_min")


@dataclass(frozen=True)
class SeriesRow:
    series: str
    fee_type: str | None = None
    fee_multiplier_ppm: int | None = None
    close_reduce_min: float | None = None
    close_stop_min: float | None = None


def _row(where: str, series: str, raw: dict[str, Any]) -> SeriesRow:
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} (allowed: {', '.join(FIELDS)})")
    vals = {k: (None if v is None or (isinstance(v, str) and not v.strip()) else v) for k, v in raw.items()}
    fee_type = vals.get("fee_type")
    if fee_type is not None and str(fee_type) not in KNOWN_FEE_TYPES:
        raise ValueError(f"{where}: fee_type {fee_type!r} is not one of {', '.join(KNOWN_FEE_TYPES)}")
    ppm = None
    if vals.get("fee_multiplier") is not None:
        try:
            ppm = parse_multiplier_ppm(vals["fee_multiplier"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    minutes = {}
    for k in ("close_reduce_min", "close_stop_min"):
        v = vals.get(k)
        if v is None:
            continue
        try:
            minutes[k] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {k} {v!r} is not a number") from None
        if not (math.isfinite(minutes[k]) and minutes[k] >= 0):
            raise ValueError(f"{where}: {k} must be a finite number >= 0")
    return SeriesRow(series, None if fee_type is None else str(fee_type), ppm, minutes.get("close_reduce_min"),
                     minutes.get("close_stop_min"))


def load_series_table(path: str | Path) -> dict[str, SeriesRow]:
    """Read a series table (``.toml``, else CSV with a header row)."""
    path = Path(path)
    rows: dict[str, SeriesRow] = {}
    if path.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: {exc}") from None
        for series, raw in doc.items():
            if not isinstance(raw, dict):
                raise ValueError(f"{path}: [{series}] must be a table")
            rows[series] = _row(f"{path} [{series}]", series, raw)
        return rows
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "series" not in reader.fieldnames:
            raise ValueError(f"{path}: a CSV series table needs a header row with a 'series' column")
        for n, raw in enumerate(reader, start=2):
            series = (raw.pop("series") or "").strip()
            if not series:
                raise ValueError(f"{path} line {n}: empty series")
            if series in rows:
                raise ValueError(f"{path} line {n}: series {series} listed twice")
            rows[series] = _row(f"{path} line {n}", series, raw)
    return rows


def apply_series_table(log: EventLog, table: dict[str, SeriesRow]) -> dict[str, tuple[float | None, float | None]]:
    """Set the fee type and multiplier of ``log``'s markets from ``table`` (in place) and return the
    close rules by series, in hours: {series: (reduce_before_h or None, stop_before_h or None)}."""
    for mm in log.markets:
        row = table.get(mm.series)
        if row is None:
            continue
        if row.fee_type is not None:
            mm.fee_type = row.fee_type
        if row.fee_multiplier_ppm is not None:
            mm.fee_multiplier_ppm = row.fee_multiplier_ppm
    return {
        s: (None if r.close_reduce_min is None else r.close_reduce_min / 60.0,
            None if r.close_stop_min is None else r.close_stop_min / 60.0)
        for s, r in table.items() if r.close_reduce_min is not None or r.close_stop_min is not None
    }
