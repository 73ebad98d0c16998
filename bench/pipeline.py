"""Pipeline benchmark: tick-to-order latency and CPU per service with the whole system running.

Starts the system the way ``kmm run`` does (private Redis with ACLs, simulator, five services) with
``--markets`` synthetic markets all in the universe, the simulator's flow sped up so the book update
rate approaches ``--rate`` updates/s, and a high rate-limit tier so quotes are not held back by
Kalshi's basic budget. After ``--warmup`` seconds it measures for ``--seconds``:

- book updates/s actually published by marketdata (the driven rate);
- tick-to-order p50/p99: marketdata's receipt of a book event → the gateway sending the order
  request, from the gateway's histogram of the orders sent in the window;
- CPU per process (% of one core) from /proc, Redis and the simulator included.
Last line: one JSON object. Target (2-core machine): p50 ≤ 2 ms, p99 ≤ 10 ms at 1,000 updates/s
across 100 markets.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmm.runner import cli as runner  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def histogram(port: int) -> dict[float, float]:
    """Cumulative bucket counts of kmm_tick_to_order_seconds from the gateway's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("kmm_tick_to_order_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Linear interpolation inside the bucket, as Prometheus' histogram_quantile does."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0.0) for le in les]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, counts, strict=True):
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / max(c - prev_c, 1e-12))
        prev_le, prev_c = le, c
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markets", type=int, default=100)
    ap.add_argument("--speed", type=float, default=6.0, help="simulator flow speed (6: about 1,100 updates/s)")
    ap.add_argument("--rate", type=float, default=1000.0, help="the target update rate, for the report")
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=40.0)
    a = ap.parse_args()
    os.environ.update({
        "KMM_MAX_MARKETS": str(a.markets), "KMM_ENTER_SCORE": "0", "KMM_EXIT_SCORE": "0",
        "KMM_MIN_TRADES_PER_H": "0", "KMM_MIN_HOURS_TO_CLOSE": "0", "KMM_SELECT_INTERVAL_S": "1",
        "KMM_LOG_LEVEL": "WARNING",
    })
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    args = parser.parse_args(["--markets", str(a.markets), "--speed", str(a.speed), "--tier", "prestige",
                              "--seconds", "0"])
    run = runner.Run(args)
    try:
        run.start_all()
        ports = run.ports()
        deadline = time.monotonic() + a.warmup
        while time.monotonic() < deadline:
            run.sup.poll()
            time.sleep(0.2)
        pids = {n: c.proc.pid for n, c in run.sup.children.items() if c.proc is not None}  # redis included
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        md0 = httpx.get(f"http://127.0.0.1:{ports['marketdata']}/status").json()["books_published"]
        h0 = histogram(ports["gateway"])
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.seconds:
            run.sup.poll()
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        cpu = {n: round(100 * (cpu_seconds(p) - cpu0[n]) / elapsed, 1) for n, p in pids.items()}
        md1 = httpx.get(f"http://127.0.0.1:{ports['marketdata']}/status").json()
        h1 = histogram(ports["gateway"])
        universe = len(httpx.get(f"http://127.0.0.1:{ports['quoter']}/status").json().get("markets", []))
        orders = h1.get(float("inf"), 0) - h0.get(float("inf"), 0)
        p50, p99 = quantile(h0, h1, 0.5), quantile(h0, h1, 0.99)
    finally:
        run.shutdown()
    result = {
        "bench": "pipeline",
        "markets": a.markets,
        "markets_quoted": universe,
        "book_updates_per_s": round((md1["books_published"] - md0) / elapsed, 1),
        "target_updates_per_s": a.rate,
        "orders_in_window": int(orders),
        "tick_to_order_p50_ms": round(p50 * 1000, 3) if p50 is not None else None,
        "tick_to_order_p99_ms": round(p99 * 1000, 3) if p99 is not None else None,
        "cpu_percent": cpu,
        "target_p50_ms": 2.0,
        "target_p99_ms": 10.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
