"""``kmm report``: render a backtest or grid output directory as a self-contained HTML page + text."""

from __future__ import annotations

import argparse
import base64
import html
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="output directory of kmm backtest or kmm grid")
    p.add_argument("--out", type=Path, default=None, help="HTML file (default DIR/report.html)")


def _table(rows: list[dict], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k in keys) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def main(args: argparse.Namespace) -> int:
    d: Path = args.dir
    summary_path = d / "summary.json"
    if not summary_path.exists():
        print(f"{summary_path} not found")
        return 2
    summary = json.loads(summary_path.read_text())
    parts = [f"<h1>kmm report: {html.escape(str(d))}</h1>"]
    if "overall" in summary:
        o = summary["overall"]
        lines = [f"{k:>24}: {v}" for k, v in o.items()]
        print("\n".join(lines))
        parts.append("<h2>Overall</h2>" + _table([o], list(o)))
        markets = summary.get("markets", [])
        if markets:
            parts.append("<h2>Per market</h2>" + _table(markets, list(markets[0])))
        if summary.get("unsettled_markets"):
            parts.append("<p>Marked at last mid (result unknown): "
                         + html.escape(", ".join(summary["unsettled_markets"])) + "</p>")
    else:
        print(json.dumps(summary, indent=2))
        parts.append(f"<pre>{html.escape(json.dumps(summary, indent=2))}</pre>")
    png = d / "heatmap.png"
    if png.exists():
        parts.append(f'<img alt="heatmap" src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}">')
    out = args.out or d / "report.html"
    out.write_text("<!doctype html><html><head><meta charset='utf-8'><title>kmm report</title><style>"
                   "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                   "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
                   + "".join(parts) + "</body></html>")
    print(f"wrote {out}")
    return 0
