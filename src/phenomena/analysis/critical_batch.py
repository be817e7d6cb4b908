"""Steps to a target against batch size: McCandlish et al.'s S(B) = S_min (1 + B_crit / B) and log-log slopes.

McCandlish, Kaplan, Amodei et al. (2018, "An empirical model of large-batch training") model SGD at the best
learning rate for each batch size B on a locally quadratic loss: the steps to a target loss obey
S = S_min (1 + B_crit/B), so the log-log slope of S against B is −1 well below B_crit (perfect scaling) and 0 well
above it. :func:`fit_steps_vs_batch` fits the curve in log space (the steps span decades, so errors are relative)
with confidence intervals; :func:`loglog_slope` is the least-squares slope of log S on log B over a few points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from phenomena.errors import UserError


@dataclass(frozen=True)
class CriticalBatchFit:
    """S(B) = S_min (1 + B_crit / B) fitted to steps-to-target.

    Attributes:
        s_min, b_crit: the fitted minimum steps (B → ∞) and critical batch size.
        s_min_ci, b_crit_ci: their (low, high) confidence intervals (in log space, so positive).
        log_rmse: root-mean-square residual of log S.

    Example:
        >>> fit = CriticalBatchFit(100.0, 40.0, (90.0, 110.0), (30.0, 50.0), 0.0)
        >>> fit.steps([40, 400]).round(1).tolist()
        [200.0, 110.0]
    """

    s_min: float
    b_crit: float
    s_min_ci: tuple[float, float]
    b_crit_ci: tuple[float, float]
    log_rmse: float

    def steps(self, batch: np.ndarray | float) -> np.ndarray:
        """The fitted S at ``batch`` (an array of the same shape)."""
        return self.s_min * (1 + self.b_crit / np.asarray(batch, float))


def fit_steps_vs_batch(batch, steps, level: float = 0.95) -> CriticalBatchFit:
    """Fit McCandlish et al.'s S(B) = S_min (1 + B_crit/B) to measured steps-to-target, in log space.

    Least squares of log S on log S_min + log(1 + B_crit/B) over (log S_min, log B_crit) (relative errors: the
    steps span decades); intervals from the covariance of the two log-parameters, scaled by the residual
    variance, with Student-t quantiles on n − 2 degrees of freedom.

    Args:
        batch: batch sizes (positive), at least 3 with finite steps.
        steps: steps to the target at each (positive; non-finite or non-positive entries are dropped).
        level: confidence level of the intervals, in (0, 1).

    Returns:
        A :class:`CriticalBatchFit` (NaN everywhere when fewer than 3 usable points remain).

    Example:
        >>> b = np.array([8, 16, 32, 64, 128, 256])
        >>> fit = fit_steps_vs_batch(b, 100 * (1 + 40 / b))
        >>> round(fit.s_min), round(fit.b_crit)
        (100, 40)
    """
    b, s = np.asarray(batch, float), np.asarray(steps, float)
    if b.shape != s.shape or b.ndim != 1:
        raise UserError(f"fit_steps_vs_batch needs two 1-d arrays of one length; got {b.shape} and {s.shape}")
    if not 0 < level < 1:
        raise UserError(f"fit_steps_vs_batch: level must be in (0, 1); got {level}")
    keep = np.isfinite(b) & np.isfinite(s) & (b > 0) & (s > 0)
    b, s = b[keep], s[keep]
    nan = CriticalBatchFit(math.nan, math.nan, (math.nan, math.nan), (math.nan, math.nan), math.nan)
    if len(b) < 3:
        return nan
    y = np.log(s)

    def residual(theta):
        return theta[0] + np.log1p(np.exp(theta[1]) / b) - y

    start = np.array([np.log(s.min()), np.log(np.sqrt(b.min() * b.max()))])
    sol = optimize.least_squares(residual, start, method="lm")
    r = sol.fun
    dof = len(b) - 2
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac) * (r @ r / dof if dof > 0 else math.nan)
    except np.linalg.LinAlgError:
        cov = np.full((2, 2), math.nan)
    q = stats.t.ppf(0.5 + level / 2, max(dof, 1))
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    ci = [(math.exp(t - q * e), math.exp(t + q * e)) for t, e in zip(sol.x, se, strict=True)]
    return CriticalBatchFit(math.exp(sol.x[0]), math.exp(sol.x[1]), ci[0], ci[1], float(np.sqrt(np.mean(r**2))))


def loglog_slope(batch, steps) -> float:
    """Least-squares slope of log S against log B.

    Args:
        batch: batch sizes (positive), at least 2.
        steps: steps to the target at each.

    Returns:
        The slope (−1: perfect scaling, 0: no gain from a larger batch); NaN if any step count is not finite and
        positive (a missing point is never skipped) or fewer than 2 points are given.

    Example:
        >>> round(loglog_slope([8, 16, 32], [400, 200, 100]), 6)
        -1.0
    """
    b, s = np.asarray(batch, float), np.asarray(steps, float)
    if len(b) < 2 or len(b) != len(s) or not (np.all(np.isfinite(s)) and np.all(s > 0)):
        return math.nan
    return float(np.polyfit(np.log(b), np.log(s), 1)[0])
