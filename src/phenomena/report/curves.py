"""Figures shared by entries whose result has the same curves (no entry imports another)."""

from __future__ import annotations

from phenomena.report.style import PALETTE, subplots


def error_and_norm_figure(result, xlabel: str, threshold: float, threshold_label: str):
    """Two panels of a min-norm least-squares sweep: test error (draws as a band) and train error against the
    swept size, and the coefficient norm; both log-x with the interpolation threshold marked. Reads the curves
    ``test_error``, ``test_error_lo``, ``test_error_hi``, ``train_error`` and ``coef_norm``."""
    fig, axes = subplots(1, 2, width=5.0)
    ax, nx = axes[0][0], axes[0][1]
    x, test = result.curve("test_error")
    ax.plot(x, test, color=PALETTE["test"], marker="o", ms=3, label="test")
    lo, hi = result.curve("test_error_lo")[1], result.curve("test_error_hi")[1]
    ax.fill_between(x, lo, hi, color=PALETTE["test"], alpha=0.2, linewidth=0)
    ax.plot(x, result.curve("train_error")[1], color=PALETTE["train"], marker="o", ms=3, label="train")
    for a in (ax, nx):
        a.axvline(threshold, color="k", linestyle=":", linewidth=0.8, label=threshold_label)
    ax.set(xscale="log", xlabel=xlabel, ylabel="0-1 error", title="error")
    ax.legend()
    nx.plot(x, result.curve("coef_norm")[1], color=PALETTE["accent"], marker="o", ms=3)
    nx.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="‖β‖", title="coefficient norm")
    return fig
