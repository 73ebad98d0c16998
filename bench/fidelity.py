"""Fidelity check: the backtester against the live pipeline on the same market data.

1. runs the whole system against the simulator for ``--seconds`` (as ``kmm run`` does);
2. records what marketdata published (``md:book``, ``md:trade``, ``md:market``) into an event log;
3. collects the fills the gateway reported on ``exec:report``;
4. removes our own resting orders (rebuilt from exec:report) from the recorded books, then
   replays the event log in the backtester with the live quoter's parameters and the live risk
   limits (queue-position fill model, and trade-through for comparison);
5. prints per-market and total differences in fills, volume and PnL, writes them to
   ``out/fidelity/`` (report.md, report.json), and ends with one JSON line.
Target: total fills and PnL within 10% for the queue model.
"""

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from kmm.backtest.engine import FillConfig, RunConfig  # noqa: E402
from kmm.backtest.fidelity import compare  # noqa: E402
from kmm.backtest.importers import import_md_records  # noqa: E402
from kmm.backtest.policy import ASPolicy  # noqa: E402
from kmm.backtest.recorder import MD_STREAMS, without_own_orders  # noqa: E402
from kmm.bus.publisher import FIELD  # noqa: E402
from kmm.bus.topology import EXEC_REPORT, ORD_INTENT  # noqa: E402
from kmm.messages import Fill, decode, encode  # noqa: E402
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, PRICE_SCALE  # noqa: E402
from kmm.risk.engine import RiskLimits  # noqa: E402
from kmm.runner import cli as runner  # noqa: E402
from kmm.strategy.quoting import QuoteParams  # noqa: E402
from kmm_services.quoter.service import QuoterSettings  # noqa: E402
from kmm_services.risk.service import RiskSettings  # noqa: E402


def live_parameters() -> tuple[QuoteParams, RiskLimits, QuoterSettings]:
    q = QuoterSettings()
    r = RiskSettings()
    params = QuoteParams(gamma=q.gamma, kappa=q.kappa, eta=q.eta, base_count=q.base_contracts * COUNT_SCALE,
                         max_position=q.max_position_contracts * COUNT_SCALE, horizon_h=q.horizon_h,
                         min_edge_c=q.min_edge_c)
    limits = RiskLimits(position_limit=r.position_limit_contracts * COUNT_SCALE, near_fraction=r.near_fraction,
                        max_exposure=r.max_exposure_dollars * MONEY_SCALE,
                        max_daily_loss=r.max_daily_loss_dollars * MONEY_SCALE, rate_capacity=r.rate_capacity,
                        rate_per_s=r.rate_per_s, sigma_ref=r.sigma_ref_c)
    return params, limits, q


def admin_url(run: runner.Run) -> str:
    admin = (run.secrets / "admin.password").read_text().strip()
    url = run.redis_url or ""
    if url.startswith("unix://"):
        return f"unix://admin@{url[len('unix://'):]}?password={admin}"
    return url.replace("redis://", f"redis://admin:{admin}@")


def follow(url: str, streams: tuple[str, ...], stop: threading.Event, out: list[bytes]) -> None:
    """Append every entry of ``streams`` (from the start) to ``out`` until ``stop``, then drain."""
    r = redis.Redis.from_url(url)
    ids: dict[str, bytes | str] = dict.fromkeys(streams, "0-0")
    while True:
        stopping = stop.is_set()
        reply = r.xread(ids, count=1000, block=None if stopping else 200)
        for stream, entries in reply or []:
            for eid, fields in entries:
                ids[stream.decode()] = eid
                out.append(fields[FIELD])
        if stopping and not reply:
            return


def totals(rows: list[dict[str, Any]], kind: str) -> dict[str, int]:
    return {k: sum(r[f"{k}_{kind}"] for r in rows) for k in ("fills", "bought", "sold", "fees", "pnl")}


def rel(a: float, b: float) -> float | None:
    return round(abs(a - b) / abs(b), 3) if b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--markets", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--speed", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=Path("out/fidelity"))
    a = ap.parse_args()
    os.environ.setdefault("KMM_LOG_LEVEL", "WARNING")
    # Quote every market from the start, so live and backtest quote the same markets and times.
    os.environ.update({"KMM_MAX_MARKETS": str(a.markets), "KMM_ENTER_SCORE": "0", "KMM_EXIT_SCORE": "0",
                       "KMM_MIN_TRADES_PER_H": "0", "KMM_MIN_HOURS_TO_CLOSE": "0", "KMM_SELECT_INTERVAL_S": "1"})
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    args = parser.parse_args(["--markets", str(a.markets), "--seed", str(a.seed), "--speed", str(a.speed),
                              "--seconds", "0"])
    run = runner.Run(args)
    stop = threading.Event()
    recorded: list[bytes] = []
    try:
        run.start_all()
        url = admin_url(run)
        follower = threading.Thread(target=follow, args=(url, MD_STREAMS, stop, recorded), daemon=True)
        follower.start()  # md:book is capped (MAXLEN ~ 20k): record it as it goes, as `kmm record` does
        deadline = time.monotonic() + a.seconds
        while time.monotonic() < deadline:
            run.sup.poll()
            time.sleep(0.5)
        stop.set()
        follower.join(30)
        r = redis.Redis.from_url(url)
        reports = [decode(f[FIELD]) for _, f in r.xrange(EXEC_REPORT)]
        first_intent = r.xrange(ORD_INTENT, count=1)
        start_ns = decode(first_intent[0][1][FIELD]).ts_init if first_intent else 0
    finally:
        stop.set()
        run.shutdown()
    md = sorted((decode(p) for p in recorded), key=lambda m: m.ts_init)
    fills = {m.fill_id: m for m in reports if isinstance(m, Fill)}
    raw = import_md_records(encode(m) for m in md)
    log = import_md_records(encode(m) for m in without_own_orders(md, reports))
    if start_ns:  # the backtest starts when live quoting started (books before it still seed the book)
        log = log.split_time(start_ns)[1]
        raw = raw.split_time(start_ns)[1]
    params, limits, q = live_parameters()
    results: dict[str, Any] = {}
    variants = {"queue": (log, "queue"), "trade_through": (log, "trade_through"),
                "queue_with_own_orders_in_book": (raw, "queue")}
    for name, (events, model) in variants.items():
        policy = ASPolicy(params, sigma_c=q.sigma_prior_c, sigma_estimator="tsrv", sigma_prior=q.sigma_prior_c,
                          sigma_lag=q.sigma_lag,
                          hold_tolerance=round(q.requote_tolerance_c * PRICE_SCALE / 100),
                          hold_size_tolerance=q.requote_size_tolerance, risk=limits)
        rows = compare(events, policy, fills.values(), RunConfig(fill=FillConfig(model=model)))
        bt, lv = totals(rows, "backtest"), totals(rows, "live")
        results[name] = {"rows": rows, "backtest": bt, "live": lv,
                          "fills_rel_diff": rel(bt["fills"], lv["fills"]), "pnl_rel_diff": rel(bt["pnl"], lv["pnl"])}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "report.json").write_text(json.dumps(results, indent=2, default=str))
    lines = [f"# Fidelity: backtest vs live ({a.seconds:.0f} s, {a.markets} markets, seed {a.seed})", ""]
    for model, res in results.items():
        lines += [f"## {model} fill model", "", "| market | fills bt | fills live | PnL bt ($) | PnL live ($) |",
                  "|---|---|---|---|---|"]
        for row in res["rows"]:
            lines.append(f"| {row['market']} | {row['fills_backtest']} | {row['fills_live']} | "
                         f"{row['pnl_backtest'] / MONEY_SCALE:.4f} | {row['pnl_live'] / MONEY_SCALE:.4f} |")
        lines += ["", f"Totals: fills {res['backtest']['fills']} vs {res['live']['fills']} "
                      f"(relative difference {res['fills_rel_diff']}); PnL ${res['backtest']['pnl'] / MONEY_SCALE:.4f} "
                      f"vs ${res['live']['pnl'] / MONEY_SCALE:.4f} (relative difference {res['pnl_rel_diff']})", ""]
    (a.out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))
    summary = {"bench": "fidelity", "seconds": a.seconds, "markets": a.markets, "events": len(log),
               "live_fills": results["queue"]["live"]["fills"]}
    for model, res in results.items():
        summary[f"{model}_fills_backtest"] = res["backtest"]["fills"]
        summary[f"{model}_fills_rel_diff"] = res["fills_rel_diff"]
        summary[f"{model}_pnl_backtest_dollars"] = res["backtest"]["pnl"] / MONEY_SCALE
        summary[f"{model}_pnl_rel_diff"] = res["pnl_rel_diff"]
    summary["live_pnl_dollars"] = results["queue"]["live"]["pnl"] / MONEY_SCALE
    summary["target_rel_diff"] = 0.10
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
