"""Pipeline benchmark: tick-to-order latency, per-hop latency, CPU per service and quote staleness with the
whole system running.

Starts the system the way ``kmm run`` does (private Redis with ACLs, simulator, five services) with
``--markets`` synthetic markets all in the universe and the simulator's flow sped up (``--speed``) so
the book update rate approaches ``--rate`` updates/s. After ``--warmup`` seconds it measures for
``--seconds``:

- book updates/s actually published by marketdata (the driven rate);
- tick-to-order p50/p99: marketdata's receipt of a book event → the gateway launching the order
  request, from the gateway's histogram of the orders sent in the window;
- p50/p99 of each hop (``kmm_hop_seconds``): md→quoter (book published → quoter handles it),
  quoter→risk (intent published → risk handles it), risk→gateway (approval published → the gateway
  launches its first request), gateway→exchange ack (request launched, signing included → answer);
- CPU per process (% of one core) from /proc, Redis and the simulator included;
- quote staleness: the share of resting quote-time more than 1¢ from the approved price;
- with ``--probe-rate R``, a bare bus hop timed meanwhile (``bare_hop_ms``: bench/bus.py's paced
  publisher → group consumer at R messages/s on a Redis of its own): what one hop costs on the
  loaded machine when neither process does anything else, the floor under each of the hops above.

``--tiers premier`` (the default) is the latency run; ``--staleness`` instead runs the Basic tier
twice, once with the gateway's scheduler in FIFO mode and once in priority mode, and reports both
staleness shares (risk's own write budget is set to ``--risk-rate`` tokens/s so that the exchange's
budget, spent by the gateway, is the one that binds). Last line: one JSON object. Targets (2-core
machine): p50 ≤ 2 ms, p99 ≤ 10 ms and every hop ≤ 0.8 ms p50 at 1,000 updates/s across 100 markets;
priority staleness at most half of FIFO's on the Basic tier.
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bus import hop_proc, paced, pct  # noqa: E402 - bench/bus.py: the bus bench's paced hop

from kmm.ops.histogram import histogram_quantile  # noqa: E402
from kmm.runner import cli as runner  # noqa: E402
from kmm.runner.redis_proc import start_redis  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
HOPS = ("md_quoter", "quoter_risk", "risk_gateway", "gateway_exchange")
Buckets = dict[float, float]


class BareHop(threading.Thread):
    """The bus bench's hop (paced publisher → group consumer, one process each, a private Redis), run
    while the system runs: what one hop costs on the loaded machine with nothing else in either
    process. It adds a Redis and two processes of its own (a few % of CPU)."""

    def __init__(self, seconds: float, rate: float) -> None:
        super().__init__(daemon=True)
        self.n = max(1, int(seconds * rate))
        self.rate = rate
        self.result: dict[str, float] = {}

    def run(self) -> None:
        rp = start_redis()
        try:
            import redis

            redis.Redis.from_url(rp.url).xgroup_create("bench:hop", "bench", id="0", mkstream=True)
            q: mp.Queue = mp.Queue()
            proc = mp.Process(target=hop_proc, args=(rp.url, "bench:hop", self.n, q))
            proc.start()
            asyncio.run(paced(rp.url, "bench:hop", self.n, self.rate))
            lat = q.get(timeout=120)
            proc.join()
            self.result = {"rate_per_s": self.rate, "p50": round(pct(lat, 50), 3), "p99": round(pct(lat, 99), 3)}
        finally:
            rp.stop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all processors from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return float(sum(f) - idle), float(sum(f))


def scrape(port: int) -> dict[str, Buckets]:
    """Cumulative bucket counts of tick-to-order and of every hop in one service's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, Buckets] = {}
    for line in text.splitlines():
        if line.startswith("kmm_tick_to_order_seconds_bucket"):
            name = "tick_to_order"
        elif line.startswith("kmm_hop_seconds_bucket"):
            name = line.split('hop="')[1].split('"')[0]
        else:
            continue
        le = line.split('le="')[1].split('"')[0]
        out.setdefault(name, {})[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def scrape_all(ports: dict[str, int]) -> dict[str, Buckets]:
    merged: dict[str, Buckets] = {}
    for name in ("quoter", "risk", "gateway"):
        for series, buckets in scrape(ports[name]).items():
            if sum(buckets.values()):
                merged[series] = buckets
    return merged


def quantile(before: Buckets, after: Buckets, q: float) -> float | None:
    """The quantile of what the histogram counted between two scrapes."""
    return histogram_quantile({le: after[le] - before.get(le, 0.0) for le in after}, q)


def ms(x: float | None) -> float | None:
    return round(x * 1000, 3) if x is not None else None


def run_once(a: argparse.Namespace, tier: str, scheduler: str) -> dict[str, Any]:
    os.environ["KMM_WRITE_SCHEDULER"] = scheduler
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    args = parser.parse_args(["--markets", str(a.markets), "--speed", str(a.speed), "--tier", tier,
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
        gw0 = httpx.get(f"http://127.0.0.1:{ports['gateway']}/status").json()
        h0 = scrape_all(ports)
        load0 = os.getloadavg()[0]
        m0 = machine_cpu()
        probe = BareHop(a.seconds * 0.9, a.probe_rate) if a.probe_rate else None
        if probe is not None:
            probe.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.seconds:
            run.sup.poll()
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        m1 = machine_cpu()
        cpu = {n: round(100 * (cpu_seconds(p) - cpu0[n]) / elapsed, 1) for n, p in pids.items()}
        machine = 100 * (m1[0] - m0[0]) / max(m1[1] - m0[1], 1) * (os.cpu_count() or 1)
        md1 = httpx.get(f"http://127.0.0.1:{ports['marketdata']}/status").json()
        gw1 = httpx.get(f"http://127.0.0.1:{ports['gateway']}/status").json()
        h1 = scrape_all(ports)
        universe = len(httpx.get(f"http://127.0.0.1:{ports['quoter']}/status").json().get("markets", []))
        if probe is not None:
            probe.join(timeout=60)
    finally:
        run.shutdown()
    t2o0, t2o1 = h0.get("tick_to_order", {}), h1.get("tick_to_order", {})
    fresh = gw1["quote_side_seconds"]["fresh"] - gw0["quote_side_seconds"]["fresh"]
    stale = gw1["quote_side_seconds"]["stale"] - gw0["quote_side_seconds"]["stale"]
    return {
        "tier": tier,
        "write_scheduler": scheduler,
        "markets_quoted": universe,
        "book_updates_per_s": round((md1["books_published"] - md0) / elapsed, 1),
        "orders_in_window": int(t2o1.get(float("inf"), 0) - t2o0.get(float("inf"), 0)),
        "requests_deferred": gw1["requests_deferred"] - gw0["requests_deferred"],
        "tick_to_order_p50_ms": ms(quantile(t2o0, t2o1, 0.5)),
        "tick_to_order_p99_ms": ms(quantile(t2o0, t2o1, 0.99)),
        "hops_ms": {hop: {"p50": ms(quantile(h0.get(hop, {}), h1.get(hop, {}), 0.5)),
                          "p99": ms(quantile(h0.get(hop, {}), h1.get(hop, {}), 0.99))} for hop in HOPS},
        "bare_hop_ms": probe.result if probe is not None else None,
        "cpu_percent": cpu,
        "quote_stale_share": round(stale / (fresh + stale), 4) if fresh + stale > 0 else None,
        "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
        # the machine's CPU in the window (% of one core) and the part not used by this run's processes
        "machine_cpu_percent": round(machine, 1),
        "other_cpu_percent": round(machine - sum(cpu.values()), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markets", type=int, default=100)
    ap.add_argument("--speed", type=float, default=6.0, help="simulator flow speed (6: about 1,100 updates/s)")
    ap.add_argument("--rate", type=float, default=1000.0, help="the target update rate, for the report")
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--tier", default="premier", help="the latency run's rate-limit tier")
    ap.add_argument("--scheduler", choices=("priority", "fifo"), default="priority")
    ap.add_argument("--staleness", action="store_true",
                    help="Basic tier, FIFO then priority scheduler: quote staleness of each")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the system at this niceness (e.g. -10 as root: ahead of other work on a shared machine)")
    ap.add_argument("--probe-rate", type=float, default=0.0,
                    help="also time a bare bus hop (bench/bus.py's) at this many messages/s during the window, "
                         "on its own Redis: the machine's floor for one hop under the system's load (0: off)")
    ap.add_argument("--risk-rate", type=float, default=1000.0,
                    help="risk's write budget in tokens/s for the runs (a runaway guard above the exchange's)")
    a = ap.parse_args()
    if a.nice:
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)  # the children inherit it
    os.environ.update({
        "KMM_MAX_MARKETS": str(a.markets), "KMM_ENTER_SCORE": "0", "KMM_EXIT_SCORE": "0",
        "KMM_MIN_TRADES_PER_H": "0", "KMM_MIN_HOURS_TO_CLOSE": "0", "KMM_SELECT_INTERVAL_S": "1",
        "KMM_LOG_LEVEL": "WARNING", "KMM_RATE_PER_S": str(a.risk_rate), "KMM_RATE_CAPACITY": str(2 * a.risk_rate),
    })
    result: dict[str, Any] = {"bench": "pipeline", "markets": a.markets, "target_updates_per_s": a.rate,
                              "load_avg_1m_at_start": round(os.getloadavg()[0], 2), "nice": a.nice}
    if a.staleness:
        fifo = run_once(a, "basic", "fifo")
        prio = run_once(a, "basic", "priority")
        result |= {"staleness": {"fifo": fifo, "priority": prio},
                   "stale_share_fifo": fifo["quote_stale_share"], "stale_share_priority": prio["quote_stale_share"],
                   "target": "priority at most half of fifo"}
    else:
        result |= run_once(a, a.tier, a.scheduler)
        result |= {"target_p50_ms": 2.0, "target_p99_ms": 10.0, "target_hop_p50_ms": 0.8}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
