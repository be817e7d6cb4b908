"""One figure style for every experiment, so figures from different runs read alike."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (and work on machines without a display)

import math  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

PALETTE = {"train": "#1f77b4", "test": "#d62728", "control": "#7f7f7f", "theory": "#2ca02c", "accent": "#ff7f0e"}

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def subplots(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.2, **kwargs):
    """``plt.subplots`` in the house style, sized per panel."""
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)
    for ax in axes.flat:
        for key, value in RC.items():
            if key.startswith("axes.grid") and value:
                ax.grid(True, alpha=RC["grid.alpha"])
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def save(fig, path) -> None:
    """Write ``fig`` as PNG atomically (a temp file, then a rename) and free it."""
    from pathlib import Path

    path = Path(path)
    for ax in fig.axes:
        readable_log_ticks(ax)
    tmp = path.with_name(path.stem + ".tmp.png")
    with plt.rc_context(RC):
        fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def readable_log_ticks(ax) -> None:
    """Tick labels a log axis can hold: matplotlib labels minor ticks when an axis spans under a decade, and
    they overlap ("3×10¹4×10¹"). Spans up to three decades get plain labels at 1, 2 and 5 per decade; wider
    ones keep the powers of ten; minor ticks are never labeled."""
    for axis, scale, limits in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()), (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        if scale != "log":
            continue
        low, high = sorted(limits)
        if low > 0 and math.log10(high / low) <= 3:
            axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())
