"""The S(B) = S_min (1 + B_crit/B) fit against a brute-force grid search and on simulated data, and the log-log
slope against its closed form."""

import math

import numpy as np
import pytest

from phenomena.analysis.critical_batch import fit_steps_vs_batch, loglog_slope
from phenomena.errors import UserError

BATCHES = np.array([8, 16, 32, 64, 128, 256, 512, 1000], float)


def test_the_fit_recovers_exact_steps():
    fit = fit_steps_vs_batch(BATCHES, 90 * (1 + 120 / BATCHES))
    assert fit.s_min == pytest.approx(90, rel=1e-6) and fit.b_crit == pytest.approx(120, rel=1e-6)
    assert fit.log_rmse < 1e-8
    assert fit.steps(BATCHES) == pytest.approx(90 * (1 + 120 / BATCHES), rel=1e-6)


def test_the_fit_is_the_least_squares_minimum_found_by_brute_force():
    rng = np.random.default_rng(0)
    steps = 70 * (1 + 60 / BATCHES) * np.exp(0.1 * rng.standard_normal(len(BATCHES)))
    fit = fit_steps_vs_batch(BATCHES, steps)
    # brute force: for each B_crit on a fine grid, the best log S_min is the mean residual (closed form)
    grid = np.geomspace(1, 5000, 200_001)
    shape = np.log1p(grid[:, None] / BATCHES[None, :])
    resid = np.log(steps)[None, :] - shape
    sse = ((resid - resid.mean(1, keepdims=True)) ** 2).sum(1)
    k = int(np.argmin(sse))
    assert fit.b_crit == pytest.approx(grid[k], rel=1e-3)
    assert fit.s_min == pytest.approx(math.exp(resid[k].mean()), rel=1e-3)
    assert fit.log_rmse == pytest.approx(math.sqrt(sse[k] / len(BATCHES)), rel=1e-3)


def test_the_95_percent_intervals_cover_the_truth_on_simulated_data():
    rng = np.random.default_rng(1)
    covered, draws = 0, 300
    for _ in range(draws):
        steps = 50 * (1 + 100 / BATCHES) * np.exp(0.15 * rng.standard_normal(len(BATCHES)))
        lo, hi = fit_steps_vs_batch(BATCHES, steps).b_crit_ci
        covered += lo <= 100 <= hi
    assert 0.88 <= covered / draws <= 0.99


def test_the_slope_matches_the_closed_form_least_squares_slope():
    rng = np.random.default_rng(2)
    steps = rng.uniform(50, 500, 5)
    x, y = np.log(BATCHES[:5]), np.log(steps)
    closed = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert loglog_slope(BATCHES[:5], steps) == pytest.approx(closed, rel=1e-10)
    assert loglog_slope(BATCHES[:3], 1000 / BATCHES[:3]) == pytest.approx(-1)
    # S_min (1 + B_crit/B) has slope −(B_crit/B)/(1 + B_crit/B): −1 far below B_crit, 0 far above
    assert loglog_slope([1.0, 1.001], 1 + 1e4 / np.array([1.0, 1.001])) == pytest.approx(-1, abs=1e-3)


def test_non_finite_inputs_give_nan_never_a_skipped_point():
    assert math.isnan(loglog_slope(BATCHES[:3], [100.0, math.nan, 20.0]))
    assert math.isnan(loglog_slope(BATCHES[:3], [100.0, 0.0, 20.0]))
    assert math.isnan(fit_steps_vs_batch(BATCHES[:3], [1.0, math.nan, 2.0]).b_crit)
    with pytest.raises(UserError):
        fit_steps_vs_batch(BATCHES, [1.0, 2.0])
