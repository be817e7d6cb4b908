"""One figure style for every experiment, so figures from different runs read alike."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (and work on machines without a display)

import matplotlib.pyplot as plt  # noqa: E402

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
    tmp = path.with_name(path.stem + ".tmp.png")
    with plt.rc_context(RC):
        fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
