"""Curve statistics against brute force and hand-worked cases: the most prominent bump, log-spaced steps."""

import numpy as np
import pytest

from phenomena.analysis import bump, log_steps


def test_bump_finds_the_most_prominent_interior_peak():
    k, left, right = bump([0.9, 0.5, 0.3, 0.45, 0.2])  # underfitting at the left edge is not a bump
    assert k == 3 and left == pytest.approx(0.15) and right == pytest.approx(0.25)
    k, left, right = bump([0.5, 0.4, 0.3, 0.2])  # monotone: every candidate has a negative excess
    assert min(left, right) < 0
    e = np.random.default_rng(0).random(12)  # brute force over all interior k
    best = max(range(1, 11), key=lambda i: min(e[i] - e[:i].min(), e[i] - e[-1]))
    assert bump(e)[0] == best


def test_bump_of_a_curve_without_interior_points_is_nan():
    k, left, right = bump([0.3, 0.2])
    assert k == 0 and np.isnan(left) and np.isnan(right)


def test_log_steps_start_at_zero_and_end_at_the_last_step():
    steps = log_steps(100_000, 60)
    assert steps[:3] == [0, 1, 2] and steps[-1] == 100_000 and steps == sorted(set(steps)) and len(steps) <= 61
    assert log_steps(100, 3) == [0, 1, 10, 100]
