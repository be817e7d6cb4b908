"""The optimal learning rate of a loss-versus-learning-rate curve, and how it moves across model widths.

A learning-rate sweep gives the loss on a grid of log learning rates. The grid minimum alone moves in whole grid
steps; :func:`optimal_log_lr` refines it by the vertex of a parabola fitted (in log lr) to the minimum and its
neighbours, the usual read-out of hyper-parameter-transfer plots (Yang et al. 2021, "Tensor Programs V").
A diverged run (non-finite loss) counts as the worst point of its curve, never as a missing one, and an optimum
at either end of the grid is not measured (nan): the grid did not bracket it. :func:`optimum_spread` and
:func:`optimum_drift` summarize the optima of several widths: their range and their slope per doubling of width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from phenomena.errors import UserError


def optimal_log_lr(log_lrs: Sequence[float], losses: Sequence[float], window: int = 1) -> float:
    """The minimizer of a loss curve over log learning rate, by a parabola through the grid minimum.

    Args:
        log_lrs: the grid of log learning rates (any base, strictly increasing; need not be evenly spaced).
        losses: the loss at each grid point; non-finite values (diverged runs) are replaced by the largest finite
            loss of the curve, so a diverged run is the worst point, not a dropped one.
        window: points on each side of the grid minimum the parabola is fitted to by least squares (1: the
            parabola through three points, exactly).

    Returns:
        The vertex of the fitted parabola, in the units of ``log_lrs``; nan when the grid minimum lies at either
        end of the grid (or within ``window`` of it), when every loss is non-finite, or when the fitted parabola
        does not open upwards. The vertex is clipped to the fitted points' range. When a point of the window
        diverged, its stand-in value says only "worst", not how bad, so no parabola is fitted through it: the
        grid minimum itself is returned, unrefined.

    Example:
        >>> optimal_log_lr([-3, -2, -1, 0, 1], [(x + 1.25) ** 2 for x in [-3, -2, -1, 0, 1]])
        -1.25
    """
    x, y = np.asarray(log_lrs, dtype=float), np.asarray(losses, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3 or window < 1:
        raise UserError("optimal_log_lr needs matching 1-D grids of at least 3 points and a window >= 1")
    if not np.all(np.diff(x) > 0):
        raise UserError("optimal_log_lr needs strictly increasing log learning rates")
    finite = np.isfinite(y)
    if not finite.any():
        return math.nan
    y = np.where(finite, y, y[finite].max())
    i = int(np.argmin(y))
    if i < window or i > len(x) - 1 - window:
        return math.nan
    xs, ys = x[i - window : i + window + 1], y[i - window : i + window + 1]
    if not finite[i - window : i + window + 1].all():
        return float(x[i])
    a, b, _ = np.polyfit(xs - x[i], ys, 2)
    if not a > 0:
        return math.nan
    return float(np.clip(x[i] - b / (2 * a), xs[0], xs[-1]))


def optimum_spread(optima: Sequence[float]) -> float:
    """max − min of the optimal log learning rates of several widths; nan if any of them is not finite.

    Example:
        >>> optimum_spread([-5.2, -4.9, -5.0])
        0.2999999999999998
    """
    o = np.asarray(optima, dtype=float)
    return float(o.max() - o.min()) if len(o) and np.all(np.isfinite(o)) else math.nan


def optimum_drift(widths: Sequence[float], optima: Sequence[float]) -> float:
    """The least-squares slope of the optimal log₂ learning rate against log₂ width: octaves of learning rate per
    doubling of width (−1 is an optimum ∝ 1/width, 0 a transferring one); nan if any optimum is not finite.

    Example:
        >>> optimum_drift([64, 128, 256], [-4.0, -5.0, -6.0])
        -1.0
    """
    w, o = np.asarray(widths, dtype=float), np.asarray(optima, dtype=float)
    if len(w) != len(o) or len(w) < 2 or np.any(w <= 0):
        raise UserError("optimum_drift needs at least two positive widths, one optimum each")
    if not np.all(np.isfinite(o)):
        return math.nan
    return float(np.polyfit(np.log2(w), o, 1)[0])
