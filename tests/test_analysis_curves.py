"""Curve statistics against brute force and hand-worked cases: the most prominent bump, the largest value, the
first crossing of a level, how far apart two sizes are, log-spaced steps; and a non-finite point (a diverged run)
leaving every one of them unmeasured instead of being skipped."""

import math

import numpy as np
import pytest

from phenomena.analysis import bump, first_below, fold, log_steps, peak


def test_bump_finds_the_most_prominent_interior_peak():
    k, left, right = bump([0.9, 0.5, 0.3, 0.45, 0.2])  # underfitting at the left edge is not a bump
    assert k == 3 and left == pytest.approx(0.15) and right == pytest.approx(0.25)
    k, left, right = bump([0.5, 0.4, 0.3, 0.2])  # monotone: every candidate has a negative excess
    assert min(left, right) < 0
    e = np.random.default_rng(0).random(12)  # brute force over all interior k
    best = max(range(1, 11), key=lambda i: min(e[i] - e[:i].min(), e[i] - e[-1]))
    k, left, right = bump(e)
    assert k == best and left == pytest.approx(e[k] - e[:k].min()) and right == pytest.approx(e[k] - e[-1])


def test_bump_of_a_curve_without_interior_points_is_nan():
    k, left, right = bump([0.3, 0.2])
    assert k is None and np.isnan(left) and np.isnan(right)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 1, 2, 3, 4])
def test_a_non_finite_point_anywhere_leaves_the_bump_unmeasured(bad, where):
    e = [0.9, 0.5, 0.3, 0.45, 0.2]
    assert bump(e)[0] == 3  # finite: the bump at index 3
    e[where] = bad
    k, left, right = bump(e)  # skipping the point would report a bump of the rest (e.g. at 3 or 1)
    assert k is None and math.isnan(left) and math.isnan(right)


def test_peak_is_the_first_largest_value_and_none_with_a_non_finite_value():
    assert peak([1.0, 3.0, 2.0, 3.0]) == 1
    v = np.random.default_rng(1).random(20)
    assert peak(v) == int(np.argmax(v))
    for bad in (math.nan, math.inf):
        assert peak([1.0, bad, 2.0]) is None and peak([bad, 1.0]) is None and peak([1.0, 2.0, bad]) is None
    assert peak([]) is None


def test_first_below_is_the_first_crossing_and_unknown_after_a_non_finite_value():
    assert first_below([0.5, 0.2, 0.005, 0.0], 0.01) == 2
    assert first_below([0.5, 0.2], 0.01) is None  # never below
    assert first_below([0.5, math.nan, 0.0], 0.01) is None  # the nan might have been the first below
    assert first_below([0.5, 0.0, math.nan], 0.01) == 1  # a nan after the crossing does not move it


def test_fold_is_symmetric_and_nan_for_a_missing_size():
    assert fold(48, 96) == fold(96, 48) == 2.0 and fold(61, 61) == 1.0
    assert fold(104, 47) == pytest.approx(104 / 47)
    for a, b in ((math.nan, 61), (61, math.nan), (0, 61), (61, math.inf)):
        assert math.isnan(fold(a, b))


def test_log_steps_start_at_zero_and_end_at_the_last_step():
    steps = log_steps(100_000, 60)
    assert steps[:3] == [0, 1, 2] and steps[-1] == 100_000 and steps == sorted(set(steps)) and len(steps) <= 61
    assert log_steps(100, 3) == [0, 1, 10, 100]
