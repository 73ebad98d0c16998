"""``kmm grid``: (γ, κ) grid search in one vectorized pass per worker; CSV, PNG, HTML, plateau."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kmm.strategy.quoting import QuoteParams

from .cli_common import (
    add_input,
    add_run,
    base_params_kwargs,
    hold_kwargs,
    load_input,
    param_value,
    parse_range,
    run_config,
)
from .grid import DEFAULT_GAMMAS, DEFAULT_KAPPAS, GridSpec, run_grid, walk_forward, write_outputs


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_run(p)
    p.add_argument("--gammas", type=parse_range, default=DEFAULT_GAMMAS, help="lo:hi:n or a,b,c (default 0.05:1:32)")
    p.add_argument("--kappas", type=parse_range, default=DEFAULT_KAPPAS, help="lo:hi:n or a,b,c (default 0.5:5:32)")
    p.add_argument("--sweep", type=sweep_axis, action="append", default=[], metavar="NAME=VALUES",
                   help="an extra axis over any QuoteParams field, values as lo:hi:n or a,b,c (repeatable)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--risk", action="store_true", help="run the (scalar) risk engine per cell: slow on big grids")
    p.add_argument("--walk-forward", type=float, default=None, metavar="TRAIN_FRAC",
                   help="grid on the first TRAIN_FRAC of time, evaluate the plateau on the rest")


def sweep_axis(text: str) -> tuple[str, object]:
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
    base = QuoteParams(**base_params_kwargs(args))
    spec = GridSpec(args.gammas, args.kappas, base, sigma_c=args.sigma, space=args.space,
                    sigma_estimator=args.sigma_estimator, risk=args.risk, sweep=dict(args.sweep), **hold_kwargs(args))
    cfg = run_config(args)
    out: Path = args.out or Path("out/grid")
    t0 = time.perf_counter()
    extra = {}
    if args.walk_forward:
        result, extra = walk_forward(log, spec, cfg, args.walk_forward, args.workers, not args.no_progress)
    else:
        result = run_grid(log, spec.policy(), cfg, args.workers, not args.no_progress)
    elapsed = time.perf_counter() - t0
    extra.update(seconds=round(elapsed, 3), events=len(log), workers=args.workers,
                 param_events_per_s=round(len(log) * result.n_cells / elapsed))
    summary = write_outputs(out, spec, result, extra=extra)
    print(f"{result.n_cells} cells × {len(log)} events in {elapsed:.1f}s; best γ={summary['best']['gamma']} "
          f"κ={summary['best']['kappa']} (${summary['best']['value']:.2f}); plateau γ={summary['plateau']['gamma']} "
          f"κ={summary['plateau']['kappa']} (neighbourhood mean ${summary['plateau']['neighbourhood_mean']:.2f})")
    print(f"wrote {out}/grid.csv, heatmap.png, grid.html, summary.json")
    return 0
