"""Learning curves of kernel regression: the exponent against the slope of the eigenlearning curve on a long
spectrum, the truncated problem's tail sums against Hurwitz zeta, and the closed-form risk against Monte Carlo."""

import math

import numpy as np
import pytest
from scipy.special import zeta

from phenomena.errors import UserError
from phenomena.kernels.eigenlearning import eigenlearning_predict
from phenomena.kernels.learning_curves import kernel_regression_risk, learning_curve_exponent, power_law_problem


@pytest.mark.parametrize(
    ("a", "b", "ridge"),
    [(2.0, 2.5, False), (1.5, 2.0, False), (1.5, 5.0, False), (2.0, 2.5, True), (1.5, 3.0, True)],
)
def test_learning_curve_exponent_is_the_slope_of_the_eigenlearning_curve_at_large_n(a, b, ridge):
    # Independent of the closed form: solve the eigenlearning equations on 2·10^6 modes and read the local log-log
    # slope of the predicted test MSE between n = 2000 and 8000 (ridge: 20,000 and 80,000, where κ ≈ δ/n has
    # fallen far enough below the learned modes' eigenvalues for the asymptote; at 2000-8000 (1.5, 3) reads 1.41).
    k = np.arange(1, 2_000_001, dtype=np.float64)
    lam, v = k**-a, k ** (-b / 2)
    delta = 1.0 if ridge else 0.0
    ns = (20_000, 80_000) if ridge else (2000, 8000)
    mse = [eigenlearning_predict(lam, n, v, ridge=delta).test_mse for n in ns]
    slope = -math.log(mse[1] / mse[0]) / math.log(ns[1] / ns[0])
    assert slope == pytest.approx(learning_curve_exponent(a, b, ridge), abs=0.06)


def test_learning_curve_exponent_rejects_exponents_at_or_below_one():
    with pytest.raises(UserError, match="a > 1 and b > 1"):
        learning_curve_exponent(1.0, 2.0)


@pytest.mark.parametrize(("modes", "a", "b"), [(50, 2.0, 2.5), (300, 1.5, 3.0), (40, 3.0, 1.5)])
def test_power_law_problem_tails_are_the_hurwitz_zeta_sums(modes, a, b):
    lam, v, tail, power = power_law_problem(modes, a, b)
    assert lam.size == v.size == modes and lam[0] == 1 and v[1] ** 2 == pytest.approx(2.0**-b)
    # Σ_{k>M} k^-p = ζ(p, M + 1), the midpoint integral is accurate to O(M^-(p+2)) relative to it
    assert tail == pytest.approx(zeta(a, modes + 1), rel=2e-3)
    assert power == pytest.approx(zeta(b, modes + 1), rel=2e-3)
    with pytest.raises(UserError, match="a > 1 and b > 1"):
        power_law_problem(modes, 1.0, b)


def test_closed_form_risk_matches_monte_carlo_over_test_points_and_label_noise():
    lam, v, _, _ = power_law_problem(40, 1.5, 2.0)
    n, ridge, noise = 12, 0.05, 0.3
    closed = kernel_regression_risk(lam, v, n, np.random.default_rng(7), ridge=ridge, noise=noise)
    rng = np.random.default_rng(7)
    z = rng.standard_normal((n, lam.size)) * np.sqrt(lam)  # the same draw of the training inputs
    y_clean = z @ (v / np.sqrt(lam))
    mc = np.random.default_rng(1)
    eps = mc.standard_normal((4000, n)) * math.sqrt(noise)  # label-noise draws
    coef = np.linalg.solve(z @ z.T + ridge * np.eye(n), (y_clean + eps).T)  # (n, draws)
    zt = mc.standard_normal((4000, lam.size)) * np.sqrt(lam)  # test points
    pred = (zt @ z.T) @ coef  # (tests, draws)
    target = zt @ (v / np.sqrt(lam)) + mc.standard_normal(4000) * math.sqrt(noise)
    mse = float(np.mean((pred - target[:, None]) ** 2))
    assert mse == pytest.approx(closed, rel=0.05)


def test_the_average_risk_over_draws_approaches_eigenlearning():
    # many draws at a moderate size: the mean exact risk agrees with the eigenlearning estimate (the entry's check 1)
    lam, v, tail, power = power_law_problem(400, 2.0, 2.5)
    rng = np.random.default_rng(3)
    mean = np.mean([kernel_regression_risk(lam, v, 40, rng, ridge=tail, noise=power) for _ in range(60)])
    theory = eigenlearning_predict(lam, 40, v, noise_variance=power, ridge=tail).test_mse
    assert mean == pytest.approx(theory, rel=0.1)
