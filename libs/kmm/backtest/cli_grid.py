"""``kmm grid``: (γ, κ) grid search, every cell through the same compiled kernel as ``kmm backtest``
(risk on by default); grid.csv (dollars, contracts), heatmap.png, grid.html, summary.json. With
``--walk-forward F`` the grid runs on the first F of the time span only: its line, ``events`` and the
heatmap say so, and the test part's events are reported beside them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from kmm.strategy.quoting import QuoteParams

from .cli_common import (
    add_input,
    add_run,
    base_params_kwargs,
    fail,
    grid_axis,
    input_settings,
    load_input,
    number,
    param_value,
    parse_range,
    policy_kwargs,
    risk_limits,
    run_config,
    warn_closes,
)
from .grid import GridSpec, run_grid, walk_forward, walk_forward_lines, write_outputs
from .report import settings_in_units, usd

DEFAULT_OUT = Path("out/grid")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_run(p, out_default=DEFAULT_OUT, out_help="output directory (its files are overwritten: give each grid its own)")
    p.add_argument("--gammas", type=grid_axis("gamma"), default="0.05:1:32",
                   help="γ values (> 0): lo:hi:n or a,b,c, run in ascending order")
    p.add_argument("--kappas", type=grid_axis("kappa"), default="0.5:5:32",
                   help="κ values (> 0): lo:hi:n or a,b,c, run in ascending order")
    p.add_argument("--sweep", type=sweep_axis, action="append", default=[], metavar="NAME=VALUES",
                   help="an extra axis over any other QuoteParams field, values lo:hi:n or a,b,c (repeatable), "
                        "e.g. jump_frac=0,0.05,0.2 or toxic_c=0.5,1,inf")
    p.add_argument("--workers", type=number(1, integer=True), default=2,
                   help="threads running the kernel (cells split between them)")
    p.add_argument("--no-risk", action="store_true", help="skip the risk checks in every cell")
    p.add_argument("--walk-forward", type=number(0, 1, lo_open=True, hi_open=True), default=None, metavar="TRAIN_FRAC",
                   help="grid on the first TRAIN_FRAC of time (0 < TRAIN_FRAC < 1), evaluate the plateau and best "
                        "cells on the rest (default: off, the grid runs on the whole log)")


def sweep_axis(text: str) -> tuple[str, np.ndarray]:
    """``NAME=lo:hi:n`` or ``NAME=a,b,c`` for ``--sweep`` (each value checked like ``--param``)."""
    name, sep, values = text.partition("=")
    try:
        arr = parse_range(values) if sep else None
    except ValueError:
        arr = None
    if arr is None or not len(arr):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=lo:hi:n or NAME=a,b,c")
    for v in arr.tolist():
        param_value(f"{name}={v}")
    return name.strip().replace("-", "_"), arr


def main(args: argparse.Namespace) -> int:
    log = load_input(args)
    gammas = args.gammas if not isinstance(args.gammas, str) else grid_axis("gamma")(args.gammas)
    kappas = args.kappas if not isinstance(args.kappas, str) else grid_axis("kappa")(args.kappas)
    base = QuoteParams(**base_params_kwargs(args))
    sweep = dict(args.sweep)
    if len(sweep) != len(args.sweep) or set(sweep) & {"gamma", "kappa"}:
        fail(args, "--sweep: each parameter once, and not gamma or kappa (use --gammas/--kappas)")
    if args.walk_forward is not None and int(log.events["ts"][-1]) == int(log.events["ts"][0]):
        fail(args, "--walk-forward: the log's events all have one time, so there is nothing to split")
    spec = GridSpec(gammas, kappas, base, risk=not args.no_risk, limits=risk_limits(args), sweep=sweep,
                    **policy_kwargs(args))
    cfg = run_config(args)
    out: Path = args.out or DEFAULT_OUT
    t0 = time.perf_counter()
    extra: dict = {}
    if args.walk_forward is not None:
        result, extra = walk_forward(log, spec, cfg, args.walk_forward, args.workers, not args.no_progress)
        wf = extra["walk_forward"]
        events, events_note = wf["train_events"], (f" (the training part: first {args.walk_forward:.0%} of time; "
                                                    f"{wf['test_events']} test events, {len(log)} in the log)")
        extra.update(events_test=wf["test_events"], events_log=len(log))
    else:
        result = run_grid(log, spec.policy(), cfg, args.workers, not args.no_progress)
        events, events_note = len(log), ""
    elapsed = time.perf_counter() - t0
    extra.update(seconds=round(elapsed, 3), events=events, events_ignored_after_close=result.ignored_after_close,
                 workers=args.workers,
                 param_events_per_s=round(events * result.n_cells / elapsed) if elapsed else None,
                 settings=settings_in_units({"input": input_settings(args, log), "run": cfg.settings(),
                                             "policy": spec.single(base).settings(),
                                             "gammas": [float(g) for g in gammas], "kappas": [float(k) for k in kappas],
                                             "sweep": {k: [float(x) for x in v] for k, v in sweep.items()}}))
    title = "kmm grid search" + (" (walk-forward: training part only)" if args.walk_forward is not None else "")
    summary = write_outputs(out, spec, result, title=title, extra=extra)
    b, p = summary["best"], summary["plateau"]
    print(f"{result.n_cells} cells × {events} events{events_note} in {elapsed:.1f}s (risk {'on' if spec.risk else 'off'}); "
          f"best γ={b['gamma']:g} κ={b['kappa']:g} ({usd(b['value'])}); plateau γ={p['gamma']:g} κ={p['kappa']:g} "
          f"(neighbourhood mean {usd(p['neighbourhood_mean'])}); {summary['share_positive']:.0%} of cells positive")
    if summary["edge_warning"]:
        print(f"WARNING: {summary['edge_warning']}", file=sys.stderr)
    warn_closes(log, result.ignored_after_close, events)
    if "walk_forward" in summary:
        print("\n".join(walk_forward_lines(summary["walk_forward"])))
    print(f"wrote {out}/grid.csv, heatmap.png, grid.html, summary.json")
    return 0
