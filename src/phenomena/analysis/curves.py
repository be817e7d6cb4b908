"""Statistics of a measured curve (a value per grid point or per step): peaks, and the grids they are read on."""

from __future__ import annotations

import math

import numpy as np


def bump(errors: list[float] | np.ndarray) -> tuple[int, float, float]:
    """The most prominent interior bump of a curve: (index k, excess over the best earlier value, excess over
    the last value), k maximizing ``min(e[k] - min(e[:k]), e[k] - e[-1])`` over 0 < k < len - 1.

    A curve with fewer than three points has no interior point: ``(0, nan, nan)``. On a curve without a bump
    (e.g. monotone) the excesses of the returned k are negative.

    Example: ``bump([0.5, 0.3, 0.45, 0.2])`` is ``(2, 0.15, 0.25)``.
    """
    e = np.asarray(errors, dtype=float)
    best, out = -math.inf, (0, math.nan, math.nan)
    for k in range(1, len(e) - 1):
        left, right = e[k] - e[:k].min(), e[k] - e[-1]
        if min(left, right) > best:
            best, out = min(left, right), (k, float(left), float(right))
    return out


def log_steps(last: int, points: int) -> list[int]:
    """Step 0, then about ``points`` log-spaced steps from 1 to ``last`` (distinct integers, increasing).

    Example: ``log_steps(100, 3)`` is ``[0, 1, 10, 100]``.
    """
    return [0, *sorted({int(round(v)) for v in np.geomspace(1, last, points)})]
