"""Importers: turn our recorded ``md:*`` messages, raw Kalshi WS logs, Kalshi REST trade tapes and
the legacy L2 recorder file into the one event-log format (:mod:`kmm.backtest.eventlog`).

Each importer validates every record and never guesses: what it cannot use exactly is skipped and
counted by reason in ``log.meta["skipped"]`` (see :func:`skip_report`). Times are local receive
times where the source has them (wrapper ``ts``/``recv_ts``), else the venue's ``ts_ms``/``ts``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from kmm.messages import BookUpdate, DecodeError, MarketInfo, Message, Trade, decode
from kmm.messages.units import (
    NS_PER_MS,
    NS_PER_S,
    PRICE_SCALE,
    UnitError,
    cents_to_price,
    contracts_to_count,
    dollars_to_price,
    fp_to_count,
)

from .eventlog import ASK, BID, EventLog, EventLogBuilder, MarketMeta

Json = dict[str, Any]


class BadRecord(ValueError):
    """A record that cannot be converted exactly; the message is the skip reason."""


# --- small exact parsers --------------------------------------------------------------------------


# Called with the number of bytes read from disk as text files are read (``kmm import``'s progress bar).
READ_PROGRESS: Callable[[int], None] | None = None


class _Counting(io.RawIOBase):
    """A binary file that reports every read's size to ``READ_PROGRESS``."""

    def __init__(self, raw: io.BufferedReader, hook: Callable[[int], None]) -> None:
        self.raw, self.hook = raw, hook

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.raw.readinto(b)
        self.hook(n or 0)
        return n or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_text(path: str | Path) -> io.TextIOBase:
    path = Path(path)
    raw: Any = open(path, "rb")  # noqa: SIM115 - closed with the text wrapper
    if READ_PROGRESS is not None:
        raw = io.BufferedReader(_Counting(raw, READ_PROGRESS))
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb"), encoding="utf-8")
    return io.TextIOWrapper(raw, encoding="utf-8")


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn what a damaged or mislabelled file raises while it is read into one :class:`UnsupportedFormat`
    line naming the file (a ``.gz`` that is not gzip, a truncated ``.gz``, bytes that are not UTF-8)."""
    try:
        yield
    except gzip.BadGzipFile as exc:
        raise UnsupportedFormat(f"{path}: not gzip data although the name ends in .gz ({exc}); "
                                "if it is plain text, drop the .gz") from None
    except EOFError:
        raise UnsupportedFormat(f"{path}: truncated gzip file (it ends before its end-of-stream marker); "
                                "copy or download it again") from None
    except zlib.error as exc:
        raise UnsupportedFormat(f"{path}: damaged gzip data ({exc})") from None
    except UnicodeDecodeError:
        raise UnsupportedFormat(f"{path}: not UTF-8 text") from None


def seconds_to_ns(value: Any) -> int:
    """Unix seconds (int, float text or JSON number) → ns, exactly as written in decimal."""
    if isinstance(value, bool):
        raise BadRecord("bad timestamp")
    try:
        return int(Decimal(str(value)) * NS_PER_S)
    except (InvalidOperation, ValueError, OverflowError):  # garbage, NaN, Infinity
        raise BadRecord("bad timestamp") from None


def rfc3339_ns(text: str | datetime) -> int:
    """``2023-04-07T12:18:35.061031Z`` → ns (sub-µs digits kept); a ``datetime`` (parquet
    timestamps) is read as UTC when naive."""
    if isinstance(text, datetime):
        dt = text if text.tzinfo else text.replace(tzinfo=UTC)
        return int(dt.replace(microsecond=0).timestamp()) * NS_PER_S + dt.microsecond * 1000
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        tz = ""
        for sign in ("+", "-"):
            if sign in frac:
                frac, _, off = frac.partition(sign)
                tz = sign + off
        if not frac and len(head) > 19:
            head, tz = head[:19], head[19:]
        dt = datetime.fromisoformat(head + (tz or "+00:00"))
        digits = (frac + "000000000")[:9] if frac else "0"
        return int(dt.timestamp()) * NS_PER_S + int(digits)
    except ValueError:
        raise BadRecord("bad RFC3339 time") from None


def _price(msg: Json, dollars_key: str, cents_key: str) -> int:
    try:
        if msg.get(dollars_key) is not None:
            return dollars_to_price(str(msg[dollars_key]))
        if msg.get(cents_key) is not None and not isinstance(msg[cents_key], bool):
            return cents_to_price(int(msg[cents_key]))
    except (UnitError, ValueError):
        raise BadRecord(f"bad {dollars_key}") from None
    raise BadRecord(f"missing {dollars_key}/{cents_key}")


def _count(msg: Json, fp_key: str, int_key: str) -> int:
    try:
        if msg.get(fp_key) is not None:
            return fp_to_count(str(msg[fp_key]))
        if msg.get(int_key) is not None and not isinstance(msg[int_key], bool):
            value = msg[int_key]
            if isinstance(value, float) and not value.is_integer():
                raise BadRecord(f"fractional legacy {int_key}")
            return contracts_to_count(int(value))
    except (UnitError, ValueError):
        raise BadRecord(f"bad {fp_key}") from None
    raise BadRecord(f"missing {fp_key}/{int_key}")


def _levels(msg: Json, fp_key: str, dollars_key: str, cents_key: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if fp_key in msg or dollars_key in msg:
        raw = msg.get(fp_key) if fp_key in msg else msg.get(dollars_key)
        for lvl in raw or []:
            try:
                out.append((dollars_to_price(str(lvl[0])), fp_to_count(str(lvl[1]))))
            except (UnitError, ValueError, IndexError, TypeError):
                raise BadRecord("bad book level") from None
        return out
    for lvl in msg.get(cents_key) or []:
        try:
            out.append((cents_to_price(int(lvl[0])), contracts_to_count(int(lvl[1]))))
        except (ValueError, IndexError, TypeError):
            raise BadRecord("bad legacy book level") from None
    return out


def _taker_yes(msg: Json) -> bool:
    side = msg.get("taker_outcome_side") or msg.get("taker_side")
    if side not in ("yes", "no"):
        book_side = msg.get("taker_book_side")
        if book_side in ("bid", "ask"):
            return book_side == "bid"
        raise BadRecord("missing taker side")
    return side == "yes"


def _ws_ts(line: Json, msg: Json) -> int:
    for holder, key in ((line, "recv_ts"), (line, "ts")):
        if holder.get(key) is not None:
            return seconds_to_ns(holder[key])
    if msg.get("ts_ms") is not None:
        return int(msg["ts_ms"]) * NS_PER_MS
    ts = msg.get("ts")
    if isinstance(ts, str) and "T" in ts:
        return rfc3339_ns(ts)
    if ts is not None:
        return seconds_to_ns(ts)
    raise BadRecord("no timestamp")


# --- raw Kalshi WS logs and the legacy L2 recorder file ---------------------------------------------


def iter_jsonl(paths: Iterable[str | Path], builder: EventLogBuilder) -> Iterator[Json]:
    for path in paths:
        with reading(path), open_text(path) as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    builder.skip("invalid JSON line")
                    continue
                if not isinstance(obj, dict):
                    builder.skip("JSON line is not an object")
                    continue
                yield obj


class WsReplayer:
    """Feeds raw WS messages into a builder, checking ``seq`` per subscription (gap → wait for snapshot)."""

    IGNORED = {"subscribed", "unsubscribed", "ok", "error", "ticker", "ticker_v2", "fill", "user_order",
               "market_position", "order_group_updates", "event_lifecycle"}

    def __init__(self, builder: EventLogBuilder) -> None:
        self.b = builder
        self.last_seq: dict[int, int] = {}
        self.sid_markets: dict[int, set[str]] = {}

    def feed(self, line: Json) -> None:
        typ = line.get("type")
        msg = line.get("msg")
        sid = line.get("sid")
        seq = line.get("seq")
        if isinstance(sid, int) and isinstance(seq, int) and typ != "trade":
            last = self.last_seq.get(sid)
            if last is not None and seq != last + 1:
                self.b.skip("seq gap (books of that subscription reset until next snapshot)")
                for ticker in self.sid_markets.get(sid, ()):
                    self.b.invalidate(ticker)
            self.last_seq[sid] = seq
        if typ in self.IGNORED:
            self.b.skip(f"{typ} message (not market data)")
            return
        if not isinstance(msg, dict):
            self.b.skip(f"{typ or 'untyped'} message without msg object")
            return
        try:
            ticker = msg.get("market_ticker")
            if typ in ("orderbook_snapshot", "orderbook_delta", "trade") and not isinstance(ticker, str):
                raise BadRecord(f"{typ} without market_ticker")
            if typ == "orderbook_snapshot":
                yes = _levels(msg, "yes_dollars_fp", "yes_dollars", "yes")
                no = _levels(msg, "no_dollars_fp", "no_dollars", "no")
                try:
                    ts = _ws_ts(line, msg)
                except BadRecord:
                    ts = self.b.last_ts  # current snapshots carry no time: they arrive "now"
                asks = [(PRICE_SCALE - p, c) for p, c in no]
                self.b.snapshot(ts, ticker, yes, asks)
                if isinstance(sid, int):
                    self.sid_markets.setdefault(sid, set()).add(ticker)
            elif typ == "orderbook_delta":
                price = _price(msg, "price_dollars", "price")
                delta = _delta(msg)
                side = msg.get("side")
                if side not in ("yes", "no"):
                    raise BadRecord("delta without side")
                ts = _ws_ts(line, msg)
                if side == "yes":
                    self.b.delta(ts, ticker, BID, price, delta)
                else:
                    self.b.delta(ts, ticker, ASK, PRICE_SCALE - price, delta)
            elif typ == "trade":
                price = _price(msg, "yes_price_dollars", "yes_price")
                count = _count(msg, "count_fp", "count")
                self.b.trade(_ws_ts(line, msg), ticker, price, count, _taker_yes(msg))
            elif typ == "market_lifecycle_v2":
                result = msg.get("result")
                if isinstance(ticker, str) and result in ("yes", "no"):
                    self.b.market(ticker)
                    self.b.set_market(MarketMeta(ticker=ticker, result=result))
                else:
                    self.b.skip("lifecycle message without yes/no result")
                return
            else:
                self.b.skip(f"unknown message type {typ!r}")
        except BadRecord as exc:
            self.b.skip(str(exc))
        except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:  # a value of the wrong shape
            self.b.skip(f"unreadable {typ} message ({type(exc).__name__})")


def _delta(msg: Json) -> int:
    try:
        if msg.get("delta_fp") is not None:
            return fp_to_count(str(msg["delta_fp"]))
        if msg.get("delta") is not None and not isinstance(msg["delta"], bool):
            return contracts_to_count(int(msg["delta"]))
    except (UnitError, ValueError):
        raise BadRecord("bad delta") from None
    raise BadRecord("missing delta_fp/delta")


def import_ws_jsonl(paths: Iterable[str | Path], markets: Iterable[MarketMeta] = (), source: str = "ws") -> EventLog:
    """Raw Kalshi WS messages, one JSON object per line (blank lines ignored), either dialect.

    Also reads the legacy L2 recorder file (``{"seq","ts","type","msg"}`` with cents), whose
    ``recorder_synthesized`` snapshots are exact book resets like any snapshot.
    """
    paths = list(paths)
    for p in paths:
        file_format(p, WS_FORMATS)
    b = EventLogBuilder(source)
    for meta in markets:
        b.set_market(meta)
    ws = WsReplayer(b)
    for line in iter_jsonl(paths, b):
        ws.feed(line)
    return b.build(files=[str(p) for p in paths])


import_l2_jsonl = import_ws_jsonl


# --- REST trade tapes ---------------------------------------------------------------------------------


def _trade_row(b: EventLogBuilder, row: Json, seen: set[str]) -> None:
    try:
        trade_id = str(row.get("trade_id") or "")
        if trade_id:
            if trade_id in seen:
                raise BadRecord("duplicate trade_id")
            seen.add(trade_id)
        ticker = row.get("ticker") or row.get("market_ticker")
        if not ticker:
            raise BadRecord("trade without ticker")
        created = row.get("created_time")
        if not created:
            raise BadRecord("trade without created_time")
        price = _price(row, "yes_price_dollars", "yes_price")
        count = _count(row, "count_fp", "count")
        when = created if isinstance(created, datetime) else str(created)
        b.trade(rfc3339_ns(when), str(ticker), price, count, _taker_yes(row))
    except BadRecord as exc:
        b.skip(str(exc))
    except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:  # a value of the wrong shape
        b.skip(f"unreadable trade ({type(exc).__name__})")


# A trade needs one column of each group (the first name is the one Kalshi's cents-era REST tapes use).
TRADE_COLUMNS = (("ticker", "market_ticker"), ("created_time",), ("yes_price", "yes_price_dollars"),
                 ("count", "count_fp"), ("taker_side", "taker_outcome_side", "taker_book_side"))


def missing_columns(columns: Iterable[str]) -> str:
    """The column groups a trade table lacks ("" when it has one of each), e.g. "yes_price or yes_price_dollars"."""
    have = {c.strip() for c in columns if c}
    return "; ".join(" or ".join(group) for group in TRADE_COLUMNS if not have & set(group))


def _csv_rows(fh: io.TextIOBase, path: str | Path, b: EventLogBuilder) -> Iterator[Json]:
    """The rows of a CSV trade tape. A table without a column every trade needs yields nothing: each of its
    rows is skipped and counted under a reason naming the file and the column."""
    try:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            return  # an empty file: no rows
        missing = missing_columns(reader.fieldnames)
        if missing:
            n = sum(1 for _ in reader)
            if n:
                b.skip(f"{Path(path).name} has no {missing} column", n)
            return
        for row in reader:
            yield {k.strip(): (v if v != "" else None) for k, v in row.items() if k}
    except UnicodeDecodeError:
        raise UnsupportedFormat(f"{path}: not UTF-8 CSV text (a parquet file needs the .parquet suffix)") from None


TRADE_FORMATS = (".csv", ".json", ".jsonl", ".parquet")  # each may also end in .gz (not .parquet)
WS_FORMATS = (".jsonl", ".json")


class UnsupportedFormat(ValueError):
    """A file whose name does not end in one of the formats an importer reads."""


def file_format(path: str | Path, supported: tuple[str, ...]) -> str:
    """The format suffix of ``path`` (``.gz`` stripped) if the importer reads it, else a clear error."""
    name = Path(path).name.lower()
    if name.endswith(".parquet"):
        fmt = ".parquet"
    else:
        fmt = Path(name.removesuffix(".gz")).suffix
    if fmt not in supported:
        allowed = ", ".join(f"{f}" + ("" if f == ".parquet" else "[.gz]") for f in supported)
        raise UnsupportedFormat(f"{path}: unsupported format {fmt or '(no suffix)'!r}; supported: {allowed}")
    return fmt


def _parquet_rows(path: str | Path, b: EventLogBuilder) -> Iterator[Json]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise UnsupportedFormat(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from None
    table = pq.read_table(path)
    missing = missing_columns(table.column_names)
    if missing:
        if table.num_rows:
            b.skip(f"{Path(path).name} has no {missing} column", table.num_rows)
        return
    for batch in table.to_batches(max_chunksize=65_536):
        for row in batch.to_pylist():
            yield {k: v for k, v in row.items() if k and v is not None and v != ""}


def import_rest_trades(paths: Iterable[str | Path], markets: Iterable[MarketMeta] = (),
                       source: str = "rest_trades") -> EventLog:
    """``GET /markets/trades`` tapes: JSON pages (``{"trades": [...]}``), JSON lists, JSONL, CSV or parquet
    of the same fields (cents or dollars dialect). Duplicate ``trade_id`` rows are skipped. A file in
    another format raises :class:`UnsupportedFormat` naming the supported ones."""
    paths = list(paths)
    formats = [file_format(p, TRADE_FORMATS) for p in paths]
    b = EventLogBuilder(source)
    for meta in markets:
        b.set_market(meta)
    seen: set[str] = set()
    for path, fmt in zip(paths, formats, strict=True):
        if fmt == ".parquet":
            for row in _parquet_rows(path, b):
                _trade_row(b, row, seen)
            continue
        with reading(path), open_text(path) as fh:
            if fmt == ".csv":
                rows: Iterable[Json] = _csv_rows(fh, path, b)
            else:
                try:
                    text = fh.read()
                except UnicodeDecodeError:
                    raise UnsupportedFormat(f"{path}: not UTF-8 text; supported: "
                                            + ", ".join(TRADE_FORMATS)) from None
                rows = _json_trades(text, b)
            for row in rows:
                _trade_row(b, row, seen)
    return b.build(files=[str(p) for p in paths])


def _json_trades(text: str, b: EventLogBuilder) -> list[Json]:
    try:
        doc = json.loads(text)
        docs = [doc]
    except json.JSONDecodeError:
        docs = []
        for line in text.splitlines():
            if line.strip():
                try:
                    docs.append(json.loads(line))
                except json.JSONDecodeError:
                    b.skip("invalid JSON line")
    rows: list[Json] = []
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("trades"), list):
            rows.extend(doc["trades"])
        elif isinstance(doc, list):
            rows.extend(doc)
        elif isinstance(doc, dict) and "ticker" in doc:
            rows.append(doc)
        elif isinstance(doc, dict) and "type" in doc and "msg" in doc:
            b.skip("WS/L2 message, not a trade record (kmm import ws|l2 reads these)")
        else:
            b.skip("JSON document without trades")
    return [r for r in rows if isinstance(r, dict)]


# --- results and close times ------------------------------------------------------------------------


def parse_time(text: str) -> int:
    """RFC3339 or Unix seconds → ns."""
    text = text.strip()
    return rfc3339_ns(text) if "T" in text else seconds_to_ns(text)


def read_markets_file(path: str | Path) -> list[MarketMeta]:
    """A ``ticker,result,close_time`` CSV (header required; result yes/no/empty; close_time RFC3339 or
    Unix seconds, may be empty). Other columns are ignored. A bad row raises ValueError naming it."""
    out: list[MarketMeta] = []
    with reading(path), open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = {"ticker", "result", "close_time"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                             "expected a header ticker,result,close_time")
        for n, row in enumerate(reader, start=2):
            ticker = (row.get("ticker") or "").strip()
            result = (row.get("result") or "").strip().lower()
            close = (row.get("close_time") or "").strip()
            if not ticker:
                raise ValueError(f"{path}:{n}: empty ticker")
            if result not in ("yes", "no", ""):
                raise ValueError(f"{path}:{n}: result {result!r} must be yes, no or empty")
            try:
                close_ns = parse_time(close) if close else 0
            except BadRecord as exc:
                raise ValueError(f"{path}:{n}: close_time {close!r}: {exc}") from None
            out.append(MarketMeta(ticker=ticker, result=result, close_ts=close_ns))
    return out


INFER_CLOSE_AFTER_NS = NS_PER_S  # an inferred close is one second after the market's last print


def infer_results(log: EventLog, band_c: int = 5) -> list[dict[str, Any]]:
    """Fill unknown results and close times from each market's last print (in place), and return one
    row per market saying what was inferred: a last print at ≥ (100 − band_c)¢ means YES, ≤ band_c¢
    means NO, anything between is left unknown; an unknown close becomes the last print of the market's
    *event* + 1 s (the markets of one event close together). Markets without prints are left alone
    (and listed). ``band_c`` must be in [0, 50): at 50 every last print would decide."""
    from .eventlog import TRADE

    if not 0 <= band_c < 50:
        raise ValueError(f"infer band {band_c}c: expected 0 <= band < 50 (a last print within band cents of 0 "
                         "or 100 decides the result)")

    ev = log.events
    trades = ev[ev["kind"] == TRADE]
    rows: list[dict[str, Any]] = []
    event_last: dict[str, int] = {}
    for m, meta in enumerate(log.markets):
        mine = trades["ts"][trades["market"] == m]
        if len(mine):
            key = meta.event or meta.ticker
            event_last[key] = max(event_last.get(key, 0), int(mine[-1]))
    hi, lo = PRICE_SCALE - band_c * (PRICE_SCALE // 100), band_c * (PRICE_SCALE // 100)
    for m, meta in enumerate(log.markets):
        mine = trades[trades["market"] == m]
        row: dict[str, Any] = {"ticker": meta.ticker, "result": meta.result, "close_ts": meta.close_ts,
                               "inferred": []}
        if not len(mine):
            row["note"] = "no prints: nothing inferred"
            rows.append(row)
            continue
        last_px, last_ts = int(mine["price"][-1]), int(mine["ts"][-1])
        row["last_price_c"] = last_px / (PRICE_SCALE // 100)
        row["last_print_ts"] = last_ts
        if not meta.result:
            if last_px >= hi:
                meta.result = "yes"
            elif last_px <= lo:
                meta.result = "no"
            if meta.result:
                row["inferred"].append("result")
            else:
                row["note"] = f"last print {last_px / 100:g}c is inside ({band_c}c, {100 - band_c}c): result unknown"
        if not meta.close_ts:
            meta.close_ts = event_last[meta.event or meta.ticker] + INFER_CLOSE_AFTER_NS
            row["inferred"].append("close")
        row["result"], row["close_ts"] = meta.result, meta.close_ts
        rows.append(row)
    return rows


# --- our own md:* streams ------------------------------------------------------------------------------


def msg_ts(msg: BookUpdate | Trade | MarketInfo) -> int:
    """Local time we received/made it (``ts_init``), else the venue time."""
    return msg.ts_init or msg.ts_event


def add_md_message(b: EventLogBuilder, payload: bytes) -> None:
    """One msgpack ``kmm.messages`` payload from ``md:book``, ``md:trade`` or ``md:market``."""
    try:
        msg = decode(payload)
    except DecodeError as exc:
        b.skip(f"undecodable message: {exc}")
        return
    add_md(b, msg)


def add_md(b: EventLogBuilder, msg: Message) -> None:
    """One decoded ``md:book``, ``md:trade`` or ``md:market`` message."""
    if isinstance(msg, BookUpdate):
        # Every md:book message carries the complete top of the book, so each one replaces it.
        b.snapshot(msg_ts(msg), msg.market, list(msg.bids), list(msg.asks))
    elif isinstance(msg, Trade):
        if msg.taker_side not in ("yes", "no"):
            b.skip("trade with bad taker_side")
            return
        b.trade(msg_ts(msg), msg.market, msg.price, msg.count, msg.taker_side == "yes")
    elif isinstance(msg, MarketInfo):
        b.set_market(MarketMeta(
            ticker=msg.market, event=msg.event, series=msg.series, close_ts=msg.close_ts,
            result=msg.result if msg.result in ("yes", "no") else "",
            tick_ranges=[tuple(r) for r in msg.tick_ranges], maker_fees=msg.maker_fees,  # type: ignore[misc]
            fee_type=msg.fee_type, fee_multiplier_ppm=msg.fee_multiplier_ppm,
        ))
    else:
        b.skip(f"{msg.TYPE} message on a market-data stream")


def import_md_records(payloads: Iterable[bytes], source: str = "md") -> EventLog:
    b = EventLogBuilder(source)
    for payload in payloads:
        add_md_message(b, payload)
    return b.build()


def skip_report(log: EventLog) -> str:
    """Human-readable lines: what was accepted, what was skipped and why."""
    acc = log.meta.get("accepted", {})
    lines = [f"{len(log)} events, {len(log.markets)} markets from {log.meta.get('source', '?')}; "
             f"accepted: " + ", ".join(f"{k}={v}" for k, v in acc.items())]
    for reason, n in sorted(log.meta.get("skipped", {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"  skipped {n:>8} × {reason}")
    return "\n".join(lines)


def nothing_imported(log: EventLog) -> str:
    """Why an import produced no events: the skip reasons with their counts, or that there were no records."""
    skipped = log.meta.get("skipped", {})
    if skipped:
        reasons = ", ".join(f"{n} × {r}" for r, n in sorted(skipped.items(), key=lambda kv: -kv[1]))
        return f"every record was skipped ({reasons})"
    if log.markets:
        return f"only market metadata ({len(log.markets)} market(s)), no book or trade records"
    return "no records (an empty file, or a header without rows)"


def closes_before_first_event(log: EventLog) -> list[tuple[str, int, int]]:
    """(ticker, close_ts, first event ts) of each market that closes at or before its first event: the
    backtest ignores events at or after a market's close, so it learns nothing from these."""
    ev = log.events
    if not len(ev):
        return []
    markets, first = np.unique(ev["market"], return_index=True)
    out = []
    for m, i in zip(markets.tolist(), first.tolist(), strict=True):
        close, ts = log.markets[m].close_ts, int(ev["ts"][i])
        if close and close <= ts:
            out.append((log.markets[m].ticker, close, ts))
    return out


def close_warning(log: EventLog, limit: int = 10) -> str:
    """A warning line naming the markets that close at or before their first event ("" when none)."""
    early = closes_before_first_event(log)
    if not early:
        return ""

    def utc(ns: int) -> str:
        return datetime.fromtimestamp(ns // NS_PER_S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    names = ", ".join(t for t, _, _ in early[:limit]) + (f" and {len(early) - limit} more" if len(early) > limit else "")
    t, close, first = early[0]
    return (f"WARNING: {len(early)} market(s) close at or before their first event, so a backtest ignores all their "
            f"events: {names} (e.g. {t} closes {utc(close)}, its first event is at {utc(first)}); check the close "
            "times (--markets-file, --close; a time without an offset is UTC)")
