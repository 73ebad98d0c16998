"""Grid search over (γ, κ) and optionally more parameter axes: one vectorized pass per worker over the
events, cells split across processes; outputs a CSV of every cell, a heatmap (PNG and self-contained
HTML), the best cell and the most robust plateau (best mean over a neighbourhood), and an optional
walk-forward check.

Extra axes (``GridSpec.sweep``, e.g. ``{"jump_frac": [0, 0.02, 0.05]}``; any ``QuoteParams`` field)
multiply the cells; the heatmap and the plateau are drawn on the (γ, κ) slice that holds the best
cell, and ``summary.json`` gains a per-value breakdown of each extra axis.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import multiprocessing as mp
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kmm.strategy.quoting import ParamGrid, QuoteParams

from .engine import Result, RunConfig, run
from .eventlog import EventLog
from .policy import ASPolicy, RiskedPolicy, SeriesClose, sigma_factory
from .progress import Progress

DEFAULT_GAMMAS = np.round(np.linspace(0.05, 1.0, 32), 6)
DEFAULT_KAPPAS = np.round(np.linspace(0.5, 5.0, 32), 6)
METRIC = "return_usd"


@dataclass
class GridSpec:
    gammas: np.ndarray
    kappas: np.ndarray
    base: QuoteParams
    sigma_c: float = 10.0
    space: str = "price"
    sigma_estimator: str = "fixed"
    risk: bool = False  # the scalar risk engine per cell: exact but ~30 µs per cell per decision
    sweep: dict[str, np.ndarray] = field(default_factory=dict)  # extra axes: QuoteParams field → values
    hold_tolerance: int = 0  # the live quoter's requote hold (price units); 0 = off
    hold_size_tolerance: float = 0.0
    series_close: SeriesClose = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.gammas), len(self.kappas), *(len(v) for v in self.sweep.values()))

    def params(self) -> ParamGrid:
        return ParamGrid.product(self.gammas, self.kappas, self.base, **self.sweep)

    def policy(self) -> ASPolicy | RiskedPolicy:
        return self.single(self.params())

    def single(self, params: ParamGrid | QuoteParams) -> ASPolicy | RiskedPolicy:
        p = ASPolicy(params, sigma_c=self.sigma_c, space=self.space,
                     sigma_factory=sigma_factory(self.sigma_estimator, self.space),
                     hold_tolerance=self.hold_tolerance, hold_size_tolerance=self.hold_size_tolerance,
                     series_close=self.series_close)
        return RiskedPolicy(p) if self.risk else p


_JOB: dict[str, Any] = {}


def _worker(args: tuple[int, np.ndarray, bool]) -> Result:
    k, idx, show = args
    policy = _JOB["policy"].subset(idx)
    prog = Progress(f"grid worker {k}", enabled=show) if show else None
    return run(_JOB["log"], policy, _JOB["config"], progress=prog)


def merge(results: list[Result]) -> Result:
    first = results[0]
    return Result(
        first.tickers, sum(r.n_cells for r in results),
        {k: np.concatenate([r.per_market[k] for r in results], axis=1) for k in first.per_market},
        {k: np.concatenate([r.overall[k] for r in results]) for k in first.overall},
        first.settled_known, [], [], first.events,
    )


def run_grid(log: EventLog, policy: ASPolicy | RiskedPolicy, config: RunConfig | None = None, workers: int = 2,
             show_progress: bool = False) -> Result:
    """Run every cell of ``policy`` over ``log``; cells are split across ``workers`` processes (fork)."""
    config = config or RunConfig()
    n = policy.n_cells
    workers = max(1, min(workers, n))
    chunks = [c for c in np.array_split(np.arange(n), workers) if len(c)]
    _JOB.update(log=log, policy=policy, config=config)
    try:
        if workers == 1 or "fork" not in mp.get_all_start_methods():
            return merge([_worker((0, c, show_progress and k == 0)) for k, c in enumerate(chunks)])
        with mp.get_context("fork").Pool(len(chunks)) as pool:
            results = pool.map(_worker, [(k, c, show_progress and k == 0) for k, c in enumerate(chunks)])
        return merge(results)
    finally:
        _JOB.clear()


def plateau(values: np.ndarray, radius: int = 1) -> tuple[tuple[int, int], np.ndarray]:
    """(index of the best neighbourhood mean, the smoothed surface). The surface is extended flat
    beyond its edges (edge replication), so a corner is not favoured for having fewer neighbours."""
    g, k = values.shape
    padded = np.pad(values.astype(np.float64), radius, mode="edge")
    stack = [padded[i:i + g, j:j + k] for i in range(2 * radius + 1) for j in range(2 * radius + 1)]
    smooth = np.mean(np.stack(stack), axis=0)
    best = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return (int(best[0]), int(best[1])), smooth


def _surface(spec: GridSpec, result: Result) -> tuple[np.ndarray, tuple[int, ...]]:
    """The (γ, κ) surface of the metric on the slice of the extra axes that holds the best cell."""
    full = result.overall[METRIC].reshape(spec.shape)
    best = np.unravel_index(int(np.argmax(full)), full.shape)
    return full[(slice(None), slice(None), *best[2:])], tuple(int(i) for i in best[2:])


def summarize(spec: GridSpec, result: Result, radius: int = 1) -> dict[str, Any]:
    surface, extra = _surface(spec, result)
    (pg, pk), smooth = plateau(surface, radius)
    bg, bk = np.unravel_index(int(np.argmax(surface)), surface.shape)
    flat = result.overall[METRIC]
    n_extra = int(np.prod([len(v) for v in spec.sweep.values()], dtype=np.int64))
    offset = int(np.ravel_multi_index(extra, spec.shape[2:])) if extra else 0

    def cell(g: int, k: int) -> int:
        return (g * len(spec.kappas) + k) * n_extra + offset

    fixed = {name: float(vals[i]) for (name, vals), i in zip(spec.sweep.items(), extra, strict=True)}
    out: dict[str, Any] = {
        "cells": int(flat.size),
        "metric": METRIC,
        "best": {"gamma": float(spec.gammas[bg]), "kappa": float(spec.kappas[bk]), **fixed,
                 "value": float(surface[bg, bk]), "cell": cell(int(bg), int(bk))},
        "plateau": {"gamma": float(spec.gammas[pg]), "kappa": float(spec.kappas[pk]), **fixed, "radius": radius,
                    "neighbourhood_mean": float(smooth[pg, pk]), "value": float(surface[pg, pk]),
                    "cell": cell(pg, pk)},
        "distribution": {q: float(np.percentile(flat, p)) for q, p in
                         (("min", 0), ("p10", 10), ("median", 50), ("p90", 90), ("max", 100))},
        "share_positive": float(np.mean(flat > 0)),
    }
    if spec.sweep:
        full = flat.reshape(spec.shape)
        out["sweep"] = {}
        for axis, (name, vals) in enumerate(spec.sweep.items(), start=2):
            moved = np.moveaxis(full, axis, 0).reshape(len(vals), -1)
            out["sweep"][name] = [{"value": float(v), "best": float(row.max()), "median": float(np.median(row)),
                                   "share_positive": float(np.mean(row > 0))} for v, row in zip(vals, moved, strict=True)]
    return out


def write_csv(path: Path, spec: GridSpec, result: Result) -> None:
    params = spec.params()
    keys = list(result.overall)
    axes = list(spec.sweep)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cell", "gamma", "kappa", *axes, *keys])
        for c in range(result.n_cells):
            w.writerow([c, float(params.gamma[c]), float(params.kappa[c]), *[float(getattr(params, a)[c]) for a in axes],
                        *[result.overall[k][c].item() for k in keys]])


def heatmap_png(spec: GridSpec, result: Result, summary: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surface, _ = _surface(spec, result)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    lim = float(np.max(np.abs(surface))) or 1.0
    im = ax.imshow(surface, origin="lower", aspect="auto", cmap="RdYlGn", vmin=-lim, vmax=lim,
                   extent=(spec.kappas[0], spec.kappas[-1], spec.gammas[0], spec.gammas[-1]))
    fig.colorbar(im, ax=ax, label="overall PnL, settled ($)")
    ax.scatter([summary["best"]["kappa"]], [summary["best"]["gamma"]], marker="x", c="k", label="best cell")
    ax.scatter([summary["plateau"]["kappa"]], [summary["plateau"]["gamma"]], marker="o", facecolors="none",
               edgecolors="b", s=120, label="plateau centre")
    ax.set_xlabel("κ (1/¢)")
    ax.set_ylabel("γ (1/¢)")
    ax.set_title(f"Return over {summary['cells']} (γ, κ) cells")
    ax.legend(loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def html_page(spec: GridSpec, result: Result, summary: dict[str, Any], png: bytes, title: str) -> str:
    params = spec.params()
    order = np.argsort(-result.overall[METRIC])[:20]
    cols = ["return_usd", "fills", "fees", "max_drawdown", "fill_rate", "markout_10s"]
    rows = "".join(
        "<tr>" + f"<td>{c}</td><td>{params.gamma[c]:.4g}</td><td>{params.kappa[c]:.4g}</td>"
        + "".join(f"<td>{result.overall[k][c].item():.6g}</td>" for k in cols) + "</tr>"
        for c in order.tolist()
    )
    img = base64.b64encode(png).decode()
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1><img alt="heatmap" src="data:image/png;base64,{img}">
<h2>Summary</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre>
<h2>Top 20 cells</h2><table><tr><th>cell</th><th>γ</th><th>κ</th>{''.join(f'<th>{c}</th>' for c in cols)}</tr>
{rows}</table></body></html>"""


def write_outputs(out: Path, spec: GridSpec, result: Result, title: str = "kmm grid search",
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(spec, result)
    if extra:
        summary.update(extra)
    write_csv(out / "grid.csv", spec, result)
    png = heatmap_png(spec, result, summary)
    (out / "heatmap.png").write_bytes(png)
    (out / "grid.html").write_text(html_page(spec, result, summary, png, title))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def walk_forward(log: EventLog, spec: GridSpec, config: RunConfig, train_frac: float, workers: int = 2,
                 show_progress: bool = False) -> tuple[Result, dict[str, Any]]:
    """Grid on the first ``train_frac`` of time, then the plateau cell alone on the rest."""
    ts = log.events["ts"]
    cut = int(ts[0] + (ts[-1] - ts[0]) * train_frac)
    train, test = log.split_time(cut)
    res = run_grid(train, spec.policy(), config, workers, show_progress)
    s = summarize(spec, res)
    chosen = spec.params().params(s["plateau"]["cell"])
    test_res = run(test, spec.single(chosen), config)
    best_test = run(test, spec.single(spec.params().params(s["best"]["cell"])), config)
    return res, {"walk_forward": {"split_ts": cut, "train_frac": train_frac,
                                  "plateau_test_return_usd": test_res.overall_summary()["return_usd"],
                                  "best_cell_test_return_usd": best_test.overall_summary()["return_usd"]}}
