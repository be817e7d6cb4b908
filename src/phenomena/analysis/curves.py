"""Statistics of a measured curve (a value per grid point or per step): peaks, how far a peak sits from a
threshold, and the grids they are read on. A curve with a non-finite value (a diverged run) has no peak: the
statistics say so with ``None`` / ``nan`` instead of reading the rest of the curve as if the point were absent."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def bump(errors: Sequence[float] | np.ndarray) -> tuple[int | None, float, float]:
    """The most prominent interior bump of a curve: (index k, excess over the best earlier value, excess over
    the last value), k maximizing ``min(e[k] - min(e[:k]), e[k] - e[-1])`` over 0 < k < len - 1.

    A curve with fewer than three points has no interior point, and a curve with a non-finite value (a diverged
    run) has no measurable bump: both give ``(None, nan, nan)``. (Skipping the non-finite point would move the
    peak and its excesses to whatever is left.) On a curve without a bump (e.g. monotone) the excesses of the
    returned k are negative.

    Example: ``bump([0.5, 0.3, 0.45, 0.2])`` is ``(2, 0.15, 0.25)``; ``bump([0.5, nan, 0.45, 0.2])`` is
    ``(None, nan, nan)``.
    """
    e = np.asarray(errors, dtype=float)
    if len(e) < 3 or not np.isfinite(e).all():
        return None, math.nan, math.nan
    best, out = -math.inf, (None, math.nan, math.nan)
    for k in range(1, len(e) - 1):
        left, right = e[k] - e[:k].min(), e[k] - e[-1]
        if min(left, right) > best:
            best, out = min(left, right), (k, float(left), float(right))
    return out


def first_below(values: Sequence[float] | np.ndarray, level: float) -> int | None:
    """The index of the first value below ``level``, or None when there is none, or when a non-finite value
    comes before it (a diverged point might have been the first below: the answer is unknown).

    Example: ``first_below([0.5, 0.2, 0.005, 0.0], 0.01)`` is ``2``; ``first_below([0.5, nan, 0.0], 0.01)`` is
    ``None``.
    """
    for i, v in enumerate(np.asarray(values, dtype=float)):
        if not math.isfinite(v):
            return None
        if v < level:
            return i
    return None


def fold(a: float, b: float) -> float:
    """How many times apart two positive sizes are, either way round: ``max(a / b, b / a)`` (1 when equal);
    ``nan`` when either is not a finite positive number. A location check reads ``fold(peak, threshold) <= F``.

    Example: ``fold(48, 96)`` and ``fold(96, 48)`` are both ``2.0``.
    """
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        return math.nan
    return max(a / b, b / a)


def peak(values: Sequence[float] | np.ndarray) -> int | None:
    """The index of the largest value (the first, on ties), or None when the curve is empty or holds a
    non-finite value (``np.argmax`` would return the first nan's index, ``max`` depends on where the nan is).

    Example: ``peak([1.0, 3.0, 2.0])`` is ``1``; ``peak([1.0, inf, 2.0])`` is ``None``.
    """
    v = np.asarray(values, dtype=float)
    if not len(v) or not np.isfinite(v).all():
        return None
    return int(np.argmax(v))


def log_steps(last: int, points: int) -> list[int]:
    """Step 0, then about ``points`` log-spaced steps from 1 to ``last`` (distinct integers, increasing).

    Example: ``log_steps(100, 3)`` is ``[0, 1, 10, 100]``.
    """
    return [0, *sorted({int(round(v)) for v in np.geomspace(1, last, points)})]
