"""Grid search over (γ, κ) and optionally more parameter axes: the cells run through the same compiled
kernel as a single backtest, split between threads; outputs a CSV of every cell (dollars, contracts), a
heatmap centred at $0 (PNG and self-contained HTML), the best cell, the most robust plateau (best mean
over a neighbourhood), an edge warning, and an optional walk-forward check.

Extra axes (``GridSpec.sweep``, e.g. ``{"jump_frac": [0, 0.05, 0.2]}``: any ``QuoteParams`` field) multiply
the cells (γ-major, then κ, then each axis in order); the heatmap, the plateau and the edge warning are
drawn on the (γ, κ) slice that holds the best cell, and ``summary.json`` gains a per-value breakdown of
each extra axis.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kmm.risk.engine import RiskLimits
from kmm.strategy.quoting import ParamGrid, QuoteParams

from .engine import Result, RunConfig, run
from .eventlog import EventLog
from .policy import BACKTEST_LIMITS, ASPolicy, SeriesClose
from .progress import Progress
from .report import in_units, usd

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
    risk: bool = True  # the live risk checks in every cell, as in a single backtest
    limits: RiskLimits | None = None  # default BACKTEST_LIMITS
    sweep: dict[str, np.ndarray] = field(default_factory=dict)  # extra axes: QuoteParams field → values
    hold_tolerance: int = 0  # the live quoter's safe-side requote hold (price units); 0 = off
    hold_size_tolerance: float = 0.0
    series_close: SeriesClose = field(default_factory=dict)
    sigma_lag: int = 10
    sigma_prior: float = 5.0

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.gammas), len(self.kappas), *(len(v) for v in self.sweep.values()))

    def params(self) -> ParamGrid:
        return ParamGrid.product(self.gammas, self.kappas, self.base, **self.sweep)

    def policy(self) -> ASPolicy:
        return self.single(self.params())

    def single(self, params: ParamGrid | QuoteParams) -> ASPolicy:
        return ASPolicy(params, sigma_c=self.sigma_c, space=self.space, sigma_estimator=self.sigma_estimator,
                        risk=(self.limits or BACKTEST_LIMITS) if self.risk else None,
                        hold_tolerance=self.hold_tolerance, hold_size_tolerance=self.hold_size_tolerance,
                        series_close=self.series_close, sigma_lag=self.sigma_lag, sigma_prior=self.sigma_prior)


def merge(results: list[Result]) -> Result:
    first = results[0]
    return Result(
        first.tickers, sum(r.n_cells for r in results),
        {k: np.concatenate([r.per_market[k] for r in results], axis=1) for k in first.per_market},
        {k: np.concatenate([r.overall[k] for r in results]) for k in first.overall},
        first.settled_known, [], [], first.events, np.concatenate([r.daily for r in results], axis=1),
        first.first_day, np.zeros((0, 0)), first.equity_ts[:0], [x for r in results for x in r.risk], first.trade_only,
        first.ignored_after_close,
    )


def run_grid(log: EventLog, policy: Any, config: RunConfig | None = None, workers: int = 2,
             show_progress: bool = False) -> Result:
    """Run every cell of ``policy`` over ``log``: the cells are split into ``workers`` parts run by the
    same compiled kernel in parallel threads (it releases the GIL)."""
    config = config or RunConfig()
    n = policy.n_cells
    workers = max(1, min(workers, n))
    chunks = [c for c in np.array_split(np.arange(n), workers) if len(c)]

    def one(k: int) -> Result:
        prog = Progress("grid", enabled=True) if show_progress and k == 0 else None
        return run(log, policy.subset(chunks[k]), config, progress=prog)

    if len(chunks) == 1:
        return merge([one(0)])
    with ThreadPoolExecutor(len(chunks)) as pool:
        return merge(list(pool.map(one, range(len(chunks)))))


def plateau(values: np.ndarray, radius: int = 1) -> tuple[tuple[int, int], np.ndarray]:
    """(index of the best neighbourhood mean, the smoothed surface). The surface is extended flat
    beyond its edges (edge replication), so a corner is not favoured for having fewer neighbours."""
    g, k = values.shape
    padded = np.pad(values.astype(np.float64), radius, mode="edge")
    stack = [padded[i:i + g, j:j + k] for i in range(2 * radius + 1) for j in range(2 * radius + 1)]
    smooth = np.mean(np.stack(stack), axis=0)
    best = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return (int(best[0]), int(best[1])), smooth


def edge_warning(spec: GridSpec, g: int, k: int) -> str:
    """A warning when cell (g, k) holds the lowest or highest γ or κ of the grid (the optimum may lie
    outside it); by value, so an axis given in descending or any order is judged right."""
    sides = []
    for name, values, i in (("γ", spec.gammas, g), ("κ", spec.kappas, k)):
        if len(values) > 1 and np.min(values) < np.max(values):
            v = float(values[i])
            if v <= float(np.min(values)):
                sides.append(f"{name} = {v:g} is the lowest {name}")
            elif v >= float(np.max(values)):
                sides.append(f"{name} = {v:g} is the highest {name}")
    if not sides:
        return ""
    return "best cell on the grid's edge (" + "; ".join(sides) + "): widen the grid before trusting it"


def surface_of(spec: GridSpec, result: Result) -> tuple[np.ndarray, tuple[int, ...]]:
    """The (γ, κ) surface of P&L on the slice of the extra axes that holds the best cell, and that slice."""
    full = result.overall[METRIC].reshape(spec.shape)
    best = np.unravel_index(int(np.argmax(full)), full.shape)
    extra = tuple(int(i) for i in best[2:])
    return full[(slice(None), slice(None), *extra)], extra


def summarize(spec: GridSpec, result: Result, radius: int = 1) -> dict[str, Any]:
    surface, extra = surface_of(spec, result)
    (pg, pk), smooth = plateau(surface, radius)
    bg, bk = np.unravel_index(int(np.argmax(surface)), surface.shape)
    flat = result.overall[METRIC]
    n_extra = int(np.prod([len(v) for v in spec.sweep.values()], dtype=np.int64))
    offset = int(np.ravel_multi_index(extra, spec.shape[2:])) if extra else 0

    def cell(g: int, k: int) -> int:
        return (g * len(spec.kappas) + k) * n_extra + offset

    fixed = {name: float(vals[i]) for (name, vals), i in zip(spec.sweep.items(), extra, strict=True)}
    out = {
        "cells": int(flat.size),
        "metric": "pnl_settled_usd",
        "best": {"gamma": float(spec.gammas[bg]), "kappa": float(spec.kappas[bk]), **fixed,
                 "value": float(surface[bg, bk]), "cell": cell(int(bg), int(bk))},
        "plateau": {"gamma": float(spec.gammas[pg]), "kappa": float(spec.kappas[pk]), **fixed, "radius": radius,
                    "neighbourhood_mean": float(smooth[pg, pk]), "value": float(surface[pg, pk]),
                    "cell": cell(pg, pk)},
        "edge_warning": edge_warning(spec, int(bg), int(bk)),
        "distribution_usd": {q: float(np.percentile(flat, p)) for q, p in
                             (("min", 0), ("p10", 10), ("median", 50), ("p90", 90), ("max", 100))},
        "share_positive": float(np.mean(flat > 0)),
        "risk": spec.risk,
    }
    if spec.sweep:
        full = flat.reshape(spec.shape)
        out["sweep"] = {}
        for axis, (name, vals) in enumerate(spec.sweep.items(), start=2):
            moved = np.moveaxis(full, axis, 0).reshape(len(vals), -1)
            out["sweep"][name] = [{"value": float(v), "best_usd": float(row.max()), "median_usd": float(np.median(row)),
                                   "share_positive": float(np.mean(row > 0))} for v, row in zip(vals, moved, strict=True)]
    return out


def cell_rows(spec: GridSpec, result: Result) -> list[dict[str, Any]]:
    """One row per cell in dollars and contracts (the units are in the column names)."""
    params = spec.params()
    rows = []
    for c in range(result.n_cells):
        row: dict[str, Any] = {"cell": c, "gamma": float(params.gamma[c]), "kappa": float(params.kappa[c]),
                               **{a: float(getattr(params, a)[c]) for a in spec.sweep}}
        row.update(in_units(result.overall_summary(c)))
        row.pop("return_usd", None)
        if result.risk and result.risk[c]:
            row["risk_halts"] = result.risk[c].get("halts", 0)
        rows.append(row)
    return rows


def write_csv(path: Path, spec: GridSpec, result: Result) -> None:
    rows = cell_rows(spec, result)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def heatmap_png(spec: GridSpec, result: Result, summary: dict[str, Any]) -> bytes:
    """P&L over (κ, γ) on a diverging scale centred at $0 (red below, green above, whatever the
    range), with the best cell and the plateau marked in colours that show on any cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    surface, _ = surface_of(spec, result)
    lo, hi = float(np.min(surface)), float(np.max(surface))
    span = max(abs(lo), abs(hi), 1e-9)
    norm = TwoSlopeNorm(vmin=min(lo, -1e-3 * span), vcenter=0.0, vmax=max(hi, 1e-3 * span))
    fig, ax = plt.subplots(figsize=(8.5, 6.5), dpi=100)
    dk = (spec.kappas[-1] - spec.kappas[0]) / max(len(spec.kappas) - 1, 1) / 2 or 0.5
    dg = (spec.gammas[-1] - spec.gammas[0]) / max(len(spec.gammas) - 1, 1) / 2 or 0.5
    im = ax.imshow(surface, origin="lower", aspect="auto", cmap="RdYlGn", norm=norm,
                   extent=(spec.kappas[0] - dk, spec.kappas[-1] + dk, spec.gammas[0] - dg, spec.gammas[-1] + dg))
    fig.colorbar(im, ax=ax, label=r"P&L settled (\$), centred at \$0")
    if lo < 0 < hi:
        ax.contour(spec.kappas, spec.gammas, surface, levels=[0.0], colors="k", linewidths=0.8)
    b, p = summary["best"], summary["plateau"]
    ax.scatter([b["kappa"]], [b["gamma"]], marker="*", s=260, c="white", edgecolors="black", linewidths=1.2,
               zorder=5, label=f"best cell {usd(b['value'])}".replace("$", "\\$"))
    ax.scatter([p["kappa"]], [p["gamma"]], marker="o", s=260, facecolors="none", edgecolors="blue",
               linewidths=2.2, zorder=5,
               label=f"plateau centre (mean {usd(p['neighbourhood_mean'])})".replace("$", "\\$"))
    r = p["radius"]
    ax.add_patch(matplotlib.patches.Rectangle((p["kappa"] - (2 * r + 1) * dk, p["gamma"] - (2 * r + 1) * dg),
                                              (2 * r + 1) * 2 * dk, (2 * r + 1) * 2 * dg, fill=False,
                                              edgecolor="blue", linestyle="--", linewidth=1.2, zorder=4))
    ax.set_xlabel("κ (1/¢)")
    ax.set_ylabel("γ (1/¢)")
    title = f"P&L over {summary['cells']} (γ, κ) cells, risk {'on' if summary.get('risk') else 'off'}"
    wf = summary.get("walk_forward")
    if wf:
        title += f"\ntraining part only (walk-forward: the first {wf['train_frac']:.0%} of time, {wf['train_events']} events)"
    if spec.sweep:
        title += "\nslice " + ", ".join(f"{k}={summary['best'][k]:g}" for k in spec.sweep)
    if summary.get("edge_warning"):
        title += "\n⚠ best cell on the grid's edge"
    ax.set_title(title)
    ax.legend(loc="upper right", framealpha=0.9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return "–"  # no value (a Sharpe ratio of fewer than two days, …)
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4f}"
    return html.escape(str(v))


def html_page(spec: GridSpec, result: Result, summary: dict[str, Any], png: bytes, title: str) -> str:
    rows = cell_rows(spec, result)
    order = np.argsort(-result.overall[METRIC])[:20]
    cols = ["cell", "gamma", "kappa", "pnl_settled_usd", "fills", "fees_usd", "max_drawdown_usd", "sharpe_annualized",
            "markout_10s_usd", "fills_per_order", "markets_traded"]
    body = "".join("<tr>" + "".join(f"<td>{_fmt(rows[c].get(k))}</td>" for k in cols) + "</tr>"
                   for c in order.tolist())
    img = base64.b64encode(png).decode()
    warn = (f"<p style='color:#b00;font-weight:bold'>⚠ {html.escape(summary['edge_warning'])}</p>"
            if summary.get("edge_warning") else "")
    wf = summary.get("walk_forward")
    wf_html = ""
    if wf:
        wf_html = ("<h2>Walk-forward</h2><table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>"
                                                             for k, v in wf.items()) + "</table>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1>{warn}<img alt="heatmap" src="data:image/png;base64,{img}">{wf_html}
<h2>Top 20 cells (dollars and contracts)</h2><table><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr>
{body}</table>
<h2>Summary</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre></body></html>"""


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
    """Grid on the first ``train_frac`` of time, then the plateau cell and the best cell alone on the
    rest. Markets still open at the cut are marked at their last mid in the training half (their
    results are not known yet then)."""
    ts = log.events["ts"]
    cut = int(ts[0] + (ts[-1] - ts[0]) * train_frac)
    train, test = log.split_time(cut)
    train.markets = [replace(m, result="") if (m.close_ts == 0 or m.close_ts > cut) else m for m in train.markets]
    res = run_grid(train, spec.policy(), config, workers, show_progress)
    s = summarize(spec, res)
    params = spec.params()
    out: dict[str, Any] = {"split_ts": cut, "train_frac": train_frac, "train_events": len(train),
                           "test_events": len(test)}
    for name in ("plateau", "best"):
        cell = s[name]["cell"]
        test_res = run(test, spec.single(params.params(cell)), config)
        out[f"{name}_gamma"] = s[name]["gamma"]
        out[f"{name}_kappa"] = s[name]["kappa"]
        out[f"{name}_train_pnl_usd"] = float(res.overall["return_usd"][cell])
        out[f"{name}_test_pnl_usd"] = test_res.overall_summary()["return_usd"]
        out[f"{name}_test_fills"] = int(test_res.overall["fills"][0])
    return res, {"walk_forward": out}


def walk_forward_lines(wf: dict[str, Any]) -> list[str]:
    """The walk-forward result as console lines."""
    lines = [f"walk-forward: train on the first {wf['train_frac']:.0%} of time ({wf['train_events']} events), "
             f"test on the rest ({wf['test_events']} events)"]
    for name in ("plateau", "best"):
        lines.append(f"  {name:>7} cell γ={wf[f'{name}_gamma']:g} κ={wf[f'{name}_kappa']:g}: train "
                     f"{usd(wf[f'{name}_train_pnl_usd'])} → test {usd(wf[f'{name}_test_pnl_usd'])} "
                     f"({wf[f'{name}_test_fills']} fills)")
    return lines
