"""The figure of a sweep: each headline metric against the first grid key, the pass rate per point, and a heatmap
when the grid has two keys.

What a reader must not be misled by: finished runs whose metric was never reached (e.g. grokking's t_gen without
weight decay) are drawn as "never" markers above the data, not dropped; categorical grid values are not joined
by lines; the band is mean ± std only where a point has two or more values, and the title says how many seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def sweep_figure(sweep: Any):
    """The figure of a :class:`~phenomena.runner.sweep_result.SweepResult`."""
    from phenomena.report import PALETTE, subplots

    keys = list(sweep.grid)
    # a sweep over seeds alone (e.g. one of `phenomena verify`) has no grid key: one categorical point
    x_key, others = (keys[0], keys[1:]) if keys else ("(all seeds)", [])
    metrics = list(sweep.metrics or ("(no summary)",))
    heatmap = len(keys) == 2 and bool(sweep.metrics)
    panels = len(metrics) + 1 + int(heatmap)
    fig, axes = subplots(1, panels, width=4.0)
    axes = list(axes[0])
    x_values = sweep.grid[x_key] if keys else ["all"]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in x_values)
    position = {repr(v): (v if numeric else i) for i, v in enumerate(x_values)}
    groups: dict[str, list] = {}
    for point in sweep.points:
        groups.setdefault(", ".join(f"{k}={_text(point.values[k])}" for k in others), []).append(point)

    for ax, metric in zip(axes, metrics, strict=False):
        never_x: list[tuple[float, str]] = []
        for i, (label, points) in enumerate(groups.items()):
            color = f"C{i % 10}"
            xs = [position[repr(p.values.get(x_key, "all"))] for p in points]
            stats = [p.stat(metric) for p in points]
            for x, p in zip(xs, points, strict=True):
                seeds = p.values_of(metric)
                ax.scatter([x] * len(seeds), seeds, s=12, color=color, alpha=0.5, linewidths=0)
                if _never(p, metric):
                    never_x.append((x, color))
            measured = [(x, s) for x, s in zip(xs, stats, strict=True) if s[2] > 0]
            if measured:
                mx = [x for x, _ in measured]
                means = [s[0] for _, s in measured]
                ax.plot(mx, means, "-o" if numeric else "o", color=color, markersize=4, label=label or None)
                banded = [(x, s) for x, s in measured if s[2] > 1 and math.isfinite(s[1])]
                if numeric and len(banded) > 1:
                    ax.fill_between(
                        [x for x, _ in banded],
                        [s[0] - s[1] for _, s in banded],
                        [s[0] + s[1] for _, s in banded],
                        color=color,
                        alpha=0.2,
                        linewidth=0,
                    )
                elif not numeric:
                    ax.errorbar(
                        [x for x, _ in banded],
                        [s[0] for _, s in banded],
                        [s[1] for _, s in banded],
                        fmt="none",
                        ecolor=color,
                        capsize=3,
                    )
        finite = [v for p in sweep.points for v in p.values_of(metric)]
        if never_x:
            top = (max(finite) * 1.15 if max(finite) > 0 else max(finite) + 1) if finite else 1.0
            for x, color in never_x:
                ax.scatter([x], [top], marker="^", s=40, color=color, edgecolors="k", linewidths=0.5, zorder=3)
            ax.axhline(top, color=PALETTE["control"], linestyle=":", linewidth=0.8)
            ax.annotate("never", (0.01, top), xycoords=("axes fraction", "data"), va="bottom", fontsize=8)
            if not finite:
                ax.set_yticks([])  # only "never" markers: a value scale would be made up
        if not finite and not never_x:
            ax.text(0.5, 0.5, "measured in no finished run", transform=ax.transAxes, ha="center", va="center")
        _x_axis(ax, x_values, position, numeric)
        ax.set(xlabel=x_key, ylabel=metric, title=metric)
        if others:
            ax.legend()

    rate = axes[len(metrics)]
    for i, (label, points) in enumerate(groups.items()):
        xs = [position[repr(p.values.get(x_key, "all"))] for p in points]
        rates = [p.passed / len(p.runs) if p.runs else math.nan for p in points]
        rate.plot(xs, rates, "-o" if numeric else "o", color=f"C{i % 10}", markersize=4, label=label or None)
    _x_axis(rate, x_values, position, numeric)
    rate.set(xlabel=x_key, ylabel="fraction of seeds", title="verdict passes", ylim=(-0.05, 1.05))

    if heatmap:
        _heatmap(axes[-1], sweep, keys, metrics[0])
    seeds = len(sweep.seeds)
    how = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed per point"
    fig.suptitle(f"{sweep.experiment} sweep {sweep.sweep_id} [{sweep.preset}]: {how}")
    fig.tight_layout()
    return fig


def _heatmap(ax, sweep: Any, keys: list[str], metric: str) -> None:
    """The mean of ``metric`` over the two grid keys (never-reached cells marked)."""
    xs, ys = sweep.grid[keys[0]], sweep.grid[keys[1]]
    grid = np.full((len(ys), len(xs)), np.nan)
    for point in sweep.points:
        i, j = ys.index(point.values[keys[1]]), xs.index(point.values[keys[0]])
        grid[i, j] = point.stat(metric)[0]
        if point.stat(metric)[2] == 0 and _never(point, metric):
            ax.text(j, i, "never", ha="center", va="center", fontsize=7)
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.figure.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(xs)), [_text(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_text(v) for v in ys])
    ax.set(xlabel=keys[0], ylabel=keys[1], title=f"{metric} (mean)")
    ax.grid(False)


def _x_axis(ax, x_values: list, position: dict, numeric: bool) -> None:
    """Log scale for a wide positive numeric grid, the grid values as ticks otherwise."""
    lo, hi = min(position.values()), max(position.values())
    if numeric and lo > 0 and hi / lo >= 20:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.5, hi * 1.5)
        return
    pad = 0.05 * (hi - lo) or 0.5
    ax.set_xlim(lo - pad, hi + pad)
    if numeric:
        ax.set_xticks(x_values)
    else:
        ax.set_xticks(range(len(x_values)), [_text(v) for v in x_values])


def _never(point: Any, metric: str) -> bool:
    """Whether a finished run of this point left ``metric`` unmeasured (never reached)."""
    return point.never(metric) > 0


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(_text, value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)
